package director

import (
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/depot-backup/depot/backupitems"
)

// initRestic creates a restic mirror's repository; one that exists already
// is fine when tolerant (depot mirror --init).
func (d *Director) initRestic(ctx context.Context, m MirrorConfig, tolerant bool) error {
	err := m.restic().Init(ctx)
	if err != nil && tolerant && strings.Contains(err.Error(), "already") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mirror %s: %w", m.Name, err)
	}
	d.Log.Info("initialised", "mirror", m.Name, "restic repository", m.Where())
	return nil
}

// checkResticMirrors reaches each restic mirror's repository and counts its
// snapshots.
func (d *Director) checkResticMirrors(ctx context.Context) []backupitems.Check {
	var out []backupitems.Check
	for _, m := range d.Config.Mirrors {
		if !m.IsRestic() {
			continue
		}
		c := backupitems.Check{What: "mirror " + m.Name}
		if _, err := exec.LookPath("restic"); err != nil {
			c.Err = fmt.Errorf("restic is not installed: apt-get install restic")
			out = append(out, c)
			continue
		}
		snaps, err := m.restic().Snapshots(ctx)
		if err != nil {
			c.Err = fmt.Errorf("restic repository %s: %w", m.Where(), err)
		} else {
			c.Detail = fmt.Sprintf("restic repository %s: %d snapshots", m.Where(), len(snaps))
		}
		out = append(out, c)
	}
	return out
}

// PrintResticPlans writes what depot mirror would do for each restic
// mirror: the snapshots it would send, retag and forget, and why.
func (d *Director) PrintResticPlans(ctx context.Context) error {
	var b strings.Builder
	for _, m := range d.Config.Mirrors {
		if !m.IsRestic() {
			continue
		}
		fmt.Fprintf(&b, "\nmirror %s (restic, %s):\n", m.Name, m.Where())
		repo, err := d.openRepo(ctx)
		if err != nil {
			return err
		}
		p, err := d.planRestic(ctx, repo, m, false)
		if err != nil {
			fmt.Fprintf(&b, "  cannot plan: %v\n", err)
			continue
		}
		fmt.Fprintf(&b, "  on the mirror  %d snapshots\n", len(p.Have))
		for _, s := range p.Send {
			fmt.Fprintf(&b, "    send     %s/%s/%s (restic backup, dated %s, tags set, section, stamp)\n", s.Section, s.Set, s.Stamp, s.Stamp)
		}
		for _, t := range p.Retag {
			fmt.Fprintf(&b, "    retag    %s/%s: now in %s\n", t.snap.Set, t.snap.Stamp, t.section)
		}
		for _, f := range p.Forget {
			fmt.Fprintf(&b, "    forget   %s/%s: %s\n", f.snap.Set, f.snap.Stamp, f.reason)
		}
		for _, key := range p.Spared {
			fmt.Fprintf(&b, "    keep     %s: not in the repository, but its retention did not delete it\n", key)
		}
		for set, why := range p.Held {
			fmt.Fprintf(&b, "    hold     %s: %s\n", set, why)
		}
		if len(p.Send)+len(p.Retag)+len(p.Forget) == 0 {
			b.WriteString("    nothing to do: the mirror is up to date\n")
		}
	}
	_, err := fmt.Fprint(d.Out, b.String())
	return err
}
