package director

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/depot-backup/depot/repository"
)

// ListEntry is one snapshot in `depot list`.
type ListEntry struct {
	Section string `json:"section"`
	Set     string `json:"set"`
	Stamp   string `json:"stamp"`
	State   string `json:"state"` // "complete", "warning", "partial" or "incomplete"
	// Failed names the items a partial snapshot lacks: they failed.
	Failed []string `json:"failed_items,omitempty"`
	Files  int64    `json:"files"`
	Bytes  int64    `json:"bytes"` // apparent size of its files
	Frees  int64    `json:"frees"` // disk space deleting it would free
	Path   string   `json:"path"`
	Future bool     `json:"future,omitempty"` // dated after the clock
	// Rules are those recorded when a permanent snapshot migrated, and
	// Unconfigured those of them no longer in the config: they keep it
	// until depot forget.
	Rules        []string `json:"rules,omitempty"`
	Unconfigured []string `json:"unconfigured_rules,omitempty"`
}

// List returns the snapshots of the named set, or of every set in the config
// and the repository, oldest first within each set.
func (d *Director) List(ctx context.Context, set string) ([]ListEntry, error) {
	repo, err := d.openRepo(ctx)
	if err != nil {
		return nil, err
	}
	names := []string{set}
	if set != "" {
		if err := checkSetName(set); err != nil {
			return nil, err
		}
		if err := d.knownSet(ctx, repo, set); err != nil {
			return nil, err
		}
	}
	if set == "" {
		inRepo, err := repo.Sets(ctx)
		if err != nil {
			return nil, err
		}
		names = d.setNames()
		for _, n := range inRepo {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	var out []ListEntry
	for _, name := range names {
		snaps, err := retentionSnapshots(ctx, repo, name)
		if err != nil {
			return nil, err
		}
		frees := repo.Frees(ctx, name, snaps)
		if frees.Ignored != nil {
			d.Log.Warn("walking every snapshot instead", "err", frees.Ignored)
		}
		if frees.SaveErr != nil {
			d.Log.Debug("what deleting each snapshot frees is not recorded", "set", name, "err", frees.SaveErr)
		}
		for i, s := range snaps {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			e := ListEntry{Section: s.Section, Set: s.Set, Stamp: s.Stamp, State: "incomplete", Path: s.Path, Future: s.Time().After(d.Now())}
			if m := s.Manifest; m != nil {
				e.State = "complete"
				for _, it := range m.Items {
					if it.Status != repository.StatusOK {
						e.State = "warning"
					}
				}
				if e.Failed = s.FailedItems(); len(e.Failed) > 0 {
					e.State = "partial"
				}
				t := m.Totals()
				e.Files, e.Bytes = t.Files, t.Bytes
			}
			if s.Record != nil {
				e.Rules = s.Record.Rules
				for _, r := range s.Record.Rules {
					if !d.Config.hasRule(r) {
						e.Unconfigured = append(e.Unconfigured, r)
					}
				}
			}
			if e.Frees = frees.Bytes[i]; e.Frees < 0 {
				d.Log.Warn("cannot tell what deleting a snapshot frees", "snapshot", s.Path, "err", frees.Errs[i])
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// RecordFrees brings the record of what deleting each snapshot of sets
// frees up to date (see repository.Repo.Frees), so that list answers at
// once: the daemon calls it after a job's turn, when the walks it takes
// (a new snapshot and its neighbours) delay no backup.
func (d *Director) RecordFrees(ctx context.Context, sets []string) {
	repo, err := d.openRepo(ctx)
	if err != nil {
		return
	}
	for _, set := range sets {
		snaps, err := repo.Snapshots(ctx, set)
		if err != nil {
			d.Log.Debug("what deleting each snapshot frees is not recorded", "set", set, "err", err)
			continue
		}
		if f := repo.Frees(ctx, set, snaps); f.SaveErr != nil {
			d.Log.Debug("what deleting each snapshot frees is not recorded", "set", set, "err", f.SaveErr)
		}
	}
}

// PrintList writes snapshots as a table or as JSON.
func (d *Director) PrintList(entries []ListEntry, asJSON bool) error {
	if asJSON {
		if entries == nil {
			entries = []ListEntry{}
		}
		enc := json.NewEncoder(d.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	if len(entries) == 0 {
		_, err := fmt.Fprintln(d.Out, "no snapshots yet")
		return err
	}
	tw := tabwriter.NewWriter(d.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SECTION\tSET\tSTAMP\tSTATE\tFILES\tSIZE\tFREES\t")
	for _, e := range entries {
		frees := "?"
		if e.Frees >= 0 {
			frees = humanBytes(e.Frees)
		}
		state := e.State
		if len(e.Failed) > 0 {
			state += ": " + strings.Join(e.Failed, ", ")
		}
		if e.Future {
			state += ", dated in the future"
		}
		if len(e.Unconfigured) > 0 {
			state += ", kept by " + strings.Join(e.Unconfigured, ", ") + " (no longer configured: depot forget)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t\n", e.Section, e.Set, e.Stamp, state, e.Files, humanBytes(e.Bytes), frees)
	}
	return tw.Flush()
}

// humanBytes writes n in binary units: 1.5 GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
