package director

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/depot-backup/depot/backupitems"
	"github.com/depot-backup/depot/hosts"
)

// ErrChecksFailed means at least one check failed.
var ErrChecksFailed = errors.New("checks failed")

// Check reaches every host, binary and source the config needs and tests that
// the repository is writable, printing one line per check and a summary.
func (d *Director) Check(ctx context.Context) error {
	var checks []backupitems.Check
	warnings := 0
	add := func(c ...backupitems.Check) {
		for _, one := range c {
			status := "ok  "
			detail := one.Detail
			switch {
			case one.Err != nil:
				status, detail = "FAIL", one.Err.Error()
			case strings.HasPrefix(detail, warnPrefix):
				status, detail = "WARN", strings.TrimPrefix(detail, warnPrefix)
				warnings++
			}
			fmt.Fprintf(d.Out, "%s  %s: %s\n", status, one.What, detail)
		}
		checks = append(checks, c...)
	}
	add(rsyncVersion(ctx, hosts.Local{}))
	repoOK := true
	if h, ok := d.repoHost().(*hosts.SSH); ok {
		c := d.checkHost(ctx, h)
		add(c...)
		repoOK = c[len(c)-1].Err == nil
	}
	if repoOK {
		add(d.checkRepository(ctx)...)
		add(d.checkClock(ctx)...)
	}
	checked := map[string]bool{}
	for i := range d.Config.Sets {
		set := &d.Config.Sets[i]
		src := d.source(set)
		srcOK := true
		if h, ok := src.(*hosts.SSH); ok && !checked[h.Name()] {
			checked[h.Name()] = true
			c := d.checkHost(ctx, h)
			add(c...)
			srcOK = c[len(c)-1].Err == nil
		}
		if !srcOK {
			continue
		}
		for _, it := range set.Items {
			if ch, ok := it.Item.(backupitems.Checker); ok {
				env, _ := d.itemEnv(d.repo(), set, it.Header(), "", goodCopy{})
				c := ch.Check(ctx, env)
				for i := range c {
					c[i].What = "item " + set.Name + "/" + it.Header().Name + ": " + c[i].What
				}
				add(c...)
			}
		}
	}
	add(d.checkResticMirrors(ctx)...)
	failed := 0
	for _, c := range checks {
		if c.Err != nil {
			failed++
		}
	}
	summary := fmt.Sprintf("%d checks: %d passed, %d failed", len(checks), len(checks)-failed, failed)
	if warnings > 0 {
		summary += fmt.Sprintf(" (%d with a warning)", warnings)
	}
	fmt.Fprintln(d.Out, summary)
	if failed > 0 {
		return ErrChecksFailed
	}
	return nil
}

// checkHost checks a remote host step by step, stopping at the first
// failure: TCP, then SSH (host key and login), then rsync. The last check
// returned says whether the host is usable.
func (d *Director) checkHost(ctx context.Context, h *hosts.SSH) []backupitems.Check {
	addr := net.JoinHostPort(h.Host, strconv.Itoa(h.Port))
	start := time.Now()
	conn, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return []backupitems.Check{{What: "reach " + addr, Err: err}}
	}
	conn.Close()
	checks := []backupitems.Check{{What: "reach " + addr, Detail: fmt.Sprintf("TCP connect in %v", time.Since(start).Round(time.Millisecond))}}
	if err := h.Connect(ctx); err != nil {
		return append(checks, backupitems.Check{What: "ssh " + h.Name(), Err: err})
	}
	checks = append(checks, backupitems.Check{What: "ssh " + h.Name(), Detail: "host key verified, logged in"})
	return append(checks, rsyncVersion(ctx, h))
}

// rsyncVersion checks that rsync runs on h.
func rsyncVersion(ctx context.Context, h hosts.Host) backupitems.Check {
	var out bytes.Buffer
	c := backupitems.Check{What: "rsync on " + h.Name()}
	if err := h.Run(ctx, hosts.Command{Argv: []string{"rsync", "--version"}, Stdout: &out}); err != nil {
		c.Err = fmt.Errorf("not runnable: %w", err)
		return c
	}
	c.Detail, _, _ = strings.Cut(out.String(), "\n")
	c.Detail = strings.Join(strings.Fields(c.Detail), " ")
	return c
}

// warnPrefix marks a check's Detail as a warning: it passed, but something
// deserves attention.
const warnPrefix = "warning: "

// checkRepository tests that the repository is one (its marker), private,
// and writable, and reports its free space. It writes nothing.
func (d *Director) checkRepository(ctx context.Context) []backupitems.Check {
	repo := d.repo()
	what := "repository " + d.repoWhere()
	if err := d.openAt(ctx, repo, d.repoWhere()); err != nil {
		return []backupitems.Check{{What: what, Err: err}}
	}
	fsys := repo.Files()
	var checks []backupitems.Check
	if mode, err := fsys.Mode(ctx, repo.Root); err != nil {
		checks = append(checks, backupitems.Check{What: "permissions of " + repo.Root, Err: err})
	} else if mode&0o077 != 0 {
		checks = append(checks, backupitems.Check{What: "permissions of " + repo.Root, Detail: fmt.Sprintf("%s%04o lets other users in; chmod 700 %s", warnPrefix, mode, repo.Root)})
	} else {
		checks = append(checks, backupitems.Check{What: "permissions of " + repo.Root, Detail: fmt.Sprintf("%04o, private", mode)})
	}
	var err error
	for _, dir := range []string{repo.Root, repo.StateDir()} {
		if err == nil {
			err = fsys.Writable(ctx, dir)
		}
	}
	if err != nil {
		return append(checks, backupitems.Check{What: what, Err: fmt.Errorf("not writable: %w", err)})
	}
	free, err := fsys.Free(ctx, repo.Root)
	if err != nil {
		return append(checks, backupitems.Check{What: what, Detail: "writable"}, backupitems.Check{What: "free space in " + repo.Root, Err: err})
	}
	checks = append(checks, backupitems.Check{What: what, Detail: fmt.Sprintf("writable, %s free", humanBytes(free))})
	return append(checks, d.checkStrayPartials(ctx, repo)...)
}
