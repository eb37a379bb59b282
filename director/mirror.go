package director

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/repository"
)

// MirrorOptions tune depot mirror.
type MirrorOptions struct {
	Wait time.Duration // how long to wait for a lock
	Init bool          // initialise a mirror target that is not a repository yet
	// Confirm lets a mirror delete more of a set at once than
	// repository.MirrorMaxDelete.
	Confirm bool
}

// Mirror copies the repository to the named mirrors (all when none are
// named). It runs where the repository is, holding the repository's lock so
// no run prunes under it, and each mirror's own.
func (d *Director) Mirror(ctx context.Context, names []string, o MirrorOptions) error {
	if d.Config.Repository.Host != "" {
		return &UsageError{Msg: "mirrors copy a repository on this machine, and repository.host is set: run depot mirror on " + d.Config.Repository.Host + ", or pull with depot mirror --from"}
	}
	mirrors, err := d.selectMirrors(names)
	if err != nil {
		return err
	}
	repo, err := d.openRepo(ctx)
	if err != nil {
		return err
	}
	lock, err := repo.Lock(ctx, o.Wait)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	var failed []string
	var last error
	for _, m := range mirrors {
		var err error
		if m.IsRestic() {
			err = d.mirrorRestic(ctx, repo, m, o)
		} else {
			addr, dir, _ := ParseTarget(m.Target)
			job := mirrorJob{what: "mirror " + m.Name, host: d.hosts.get(addr), dir: dir, bwlimit: m.BwLimit, del: m.DeleteOrDefault()}
			err = d.mirrorTo(ctx, repo, job, o)
		}
		if err != nil {
			d.Log.Error("mirror failed", "mirror", m.Name, "err", err)
			failed, last = append(failed, m.Name), err
		}
	}
	switch {
	case len(failed) == 1:
		// The reason itself, for the exit message and notifications.
		return fmt.Errorf("mirror %s: %w", failed[0], last)
	case len(failed) > 1:
		return fmt.Errorf("%w: %s (each reason is logged above)", ErrMirrorsFailed, strings.Join(failed, ", "))
	}
	return nil
}

// ErrMirrorsFailed means more than one mirror failed; each failure has been
// logged.
var ErrMirrorsFailed = errors.New("mirrors failed")

// PullMirror copies the repository at from (user@host[:port]:/path) into the
// directory to, on this machine: an offsite host pulls, so a compromised
// repository host cannot reach the offsite copy.
func (d *Director) PullMirror(ctx context.Context, from, to, bwlimit string, del bool, o MirrorOptions) error {
	addr, dir, err := ParseTarget(from)
	if err != nil || addr == "" {
		return &UsageError{Msg: fmt.Sprintf("--from %q: want user@host[:port]:/path", from)}
	}
	if !strings.HasPrefix(to, "/") {
		return &UsageError{Msg: fmt.Sprintf("--to %q: want an absolute path", to)}
	}
	if bwlimit != "" && !validBwLimit.MatchString(bwlimit) {
		return &UsageError{Msg: fmt.Sprintf("--bwlimit %q: want KiB per second, or with a suffix: 500, 10M", bwlimit)}
	}
	srcHost := d.hosts.get(addr)
	src := repository.Repo{Root: dir, FS: repository.NewHostFS(srcHost)}
	defer src.FS.(*repository.HostFS).Close()
	if err := d.openAt(ctx, src, from); err != nil {
		return err
	}
	lock, err := src.Lock(ctx, o.Wait)
	if err != nil {
		return fmt.Errorf("lock the repository on %s: %w", addr, err)
	}
	defer lock.Unlock()
	return d.mirrorTo(ctx, src, mirrorJob{what: "mirror from " + from, host: hosts.Local{}, dir: to, bwlimit: bwlimit, del: del}, o)
}

// mirrorJob is where one mirror goes and how.
type mirrorJob struct {
	what    string     // "mirror NAME", for messages
	host    hosts.Host // the mirror's host
	dir     string     // its root there
	bwlimit string
	del     bool // delete what the repository's retention deleted
}

// mirrorTo mirrors src into the job's target under the mirror's own lock.
func (d *Director) mirrorTo(ctx context.Context, src repository.Repo, job mirrorJob, o MirrorOptions) error {
	what, dir := job.what, job.dir
	dst := repository.Repo{Root: dir}
	if remote(job.host) {
		fs := repository.NewHostFS(job.host)
		defer fs.Close()
		dst.FS = fs
	}
	if err := d.openMirror(ctx, dst, what, o.Init); err != nil {
		return err
	}
	lock, err := dst.Lock(ctx, o.Wait)
	if err != nil {
		return fmt.Errorf("%s: lock %s: %w", what, dir, err)
	}
	defer lock.Unlock()
	start := d.Now()
	st, err := repository.Mirror(ctx, src, dst, repository.MirrorOptions{BwLimit: job.bwlimit, Delete: job.del, Confirm: o.Confirm, Log: d.Log.With("mirror", what)})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	d.Log.Info("mirror done", "mirror", what, "copied", st.Copied, "moved", st.Moved, "deleted", st.Deleted, "unchanged", st.Kept,
		"held_back", st.Held, "spared", st.Spared, "repaired", st.Repaired,
		"bytes_transferred", st.BytesTransferred, "seconds", seconds(d.Now().Sub(start)))
	return nil
}

func (d *Director) selectMirrors(names []string) ([]MirrorConfig, error) {
	if len(d.Config.Mirrors) == 0 {
		return nil, &UsageError{Msg: "no mirrors in " + d.Config.File + "; add a mirrors: list, or pull with depot mirror --from"}
	}
	if len(names) == 0 {
		return d.Config.Mirrors, nil
	}
	var out []MirrorConfig
	for _, n := range names {
		m, ok := d.mirror(n)
		if !ok {
			return nil, &UsageError{Msg: fmt.Sprintf("no mirror %q in %s", n, d.Config.File)}
		}
		out = append(out, m)
	}
	return out, nil
}

func (d *Director) mirror(name string) (MirrorConfig, bool) {
	for _, m := range d.Config.Mirrors {
		if m.Name == name {
			return m, true
		}
	}
	return MirrorConfig{}, false
}
