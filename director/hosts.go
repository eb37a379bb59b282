package director

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/repository"
)

// hostSet makes the config's remote hosts on first use, one connection each.
type hostSet struct {
	opts   hosts.SSHOptions
	mu     sync.Mutex
	ssh    map[string]*hosts.SSH
	repoFS *repository.HostFS // the remote repository's, made on first use
}

// get returns the host at addr ("user@host[:port]"), or this machine for "".
func (hs *hostSet) get(addr string) hosts.Host {
	if addr == "" {
		return hosts.Local{}
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if h, ok := hs.ssh[addr]; ok {
		return h
	}
	h, err := hosts.NewSSH(addr, hs.opts)
	if err != nil {
		// The config was validated: an address that does not parse here is
		// a programming error.
		panic(fmt.Sprintf("host %q: %v", addr, err))
	}
	if hs.ssh == nil {
		hs.ssh = map[string]*hosts.SSH{}
	}
	hs.ssh[addr] = h
	return h
}

// fs returns the repository host's file system, made on first use so that
// its shell and lock live as long as the director.
func (hs *hostSet) fs(h hosts.Host) *repository.HostFS {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.repoFS == nil {
		hs.repoFS = repository.NewHostFS(h)
	}
	return hs.repoFS
}

func (hs *hostSet) close() {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.repoFS != nil {
		hs.repoFS.Close()
		hs.repoFS = nil
	}
	for _, h := range hs.ssh {
		h.Close()
	}
	hs.ssh = nil
}

// Close closes the connections to remote hosts.
func (d *Director) Close() { d.hosts.close() }

// repoHost returns the host the repository is on.
func (d *Director) repoHost() hosts.Host { return d.hosts.get(d.Config.Repository.Host) }

// repo returns the configured repository, on its host's file system.
func (d *Director) repo() repository.Repo {
	r := repository.Repo{Root: d.Config.Repository.Path}
	if d.Config.Repository.Host != "" {
		r.FS = d.hosts.fs(d.repoHost())
	}
	return r
}

// source returns the host a set's data lives on.
func (d *Director) source(set *SetConfig) hosts.Host { return d.hosts.get(set.Source) }

// remote reports whether h is another machine.
func remote(h hosts.Host) bool {
	_, ok := h.(hosts.Remote)
	return ok
}

// connect runs check's connection test on the remote hosts a set needs before
// anything else happens: SSH login with a verified host key, and rsync there.
// An unusable host fails the set at once, naming the host and the reason.
func (d *Director) connect(ctx context.Context, set *SetConfig) error {
	var errs []error
	for _, h := range []hosts.Host{d.repoHost(), d.source(set)} {
		s, ok := h.(*hosts.SSH)
		if !ok {
			continue
		}
		if err := s.Connect(ctx); err != nil {
			errs = append(errs, err)
			continue
		}
		var err error
		if h == d.repoHost() {
			// The repository's shell is needed anyway: ask it.
			fsys := d.repo().Files().(*repository.HostFS)
			if _, err = fsys.Script(ctx, "rsync --version >/dev/null"); err != nil {
				err = fmt.Errorf("rsync on %s: not runnable: %w", s.Name(), err)
			}
		} else if c := rsyncVersion(ctx, s); c.Err != nil {
			err = fmt.Errorf("%s: %w", c.What, c.Err)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
