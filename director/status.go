package director

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/depot-backup/depot/repository"
)

// ErrStale means a set's last success is older than its alert_after (or
// status --max-age), or it never succeeded: status exits 1, which
// monitoring systems (Nagios and the like) take as an alert.
var ErrStale = errors.New("a set's last success is too old")

// SetStatus is one set in `depot status`.
type SetStatus struct {
	Set         string         `json:"set"`
	LastRun     *HistoryRecord `json:"last_run,omitempty"`
	LastSuccess *time.Time     `json:"last_success,omitempty"`
	// AgeSeconds is how long ago the last success finished.
	AgeSeconds *float64 `json:"last_success_age_seconds,omitempty"`
	// NextRun is the set's next scheduled run; nil when it has no schedule.
	NextRun     *time.Time     `json:"next_run,omitempty"`
	Snapshots   map[string]int `json:"snapshots"` // per section
	Newest      string         `json:"newest,omitempty"`
	Files       int64          `json:"files"` // of the newest complete snapshot
	Bytes       int64          `json:"bytes"`
	Partials    []string       `json:"partials"`     // stamps of leftover .partial snapshots
	FailedItems []string       `json:"failed_items"` // of the last run
	// MaxAgeSeconds is the age limit that applies, 0 for none.
	MaxAgeSeconds float64 `json:"max_age_seconds,omitempty"`
	Alert         string  `json:"alert,omitempty"` // why the set is stale
	// Drills are each item's last restore drill (depot drill).
	Drills []DrillRecord `json:"drills,omitempty"`
}

// StatusOptions tune status.
type StatusOptions struct {
	MaxAge time.Duration // overrides alert_after for every set when > 0
}

// Status reports on every set of the config: its runs from the history, its
// snapshots from the repository.
func (d *Director) Status(ctx context.Context, opts StatusOptions) ([]SetStatus, error) {
	repo := d.repo()
	hist, err := d.readHistory(ctx, repo, "")
	if err != nil {
		return nil, err
	}
	drills, err := d.readDrills(ctx, repo)
	if err != nil {
		return nil, err
	}
	now := d.Now()
	var out []SetStatus
	for i := range d.Config.Sets {
		set := &d.Config.Sets[i]
		st := SetStatus{Set: set.Name, Snapshots: map[string]int{}, Partials: []string{}, FailedItems: []string{}, Drills: lastDrills(drills, set.Name)}
		var lastOK time.Time
		for j := len(hist) - 1; j >= 0; j-- {
			r := hist[j]
			if r.Set != set.Name {
				continue
			}
			if st.LastRun == nil {
				st.LastRun = &r
				st.FailedItems = append(st.FailedItems, r.FailedItems...)
			}
			if r.Succeeded() {
				lastOK = r.Finished
				break
			}
		}
		snaps, err := repo.Snapshots(ctx, set.Name)
		if err != nil {
			return nil, err
		}
		for _, s := range snaps {
			st.Snapshots[s.Section]++
		}
		if newest, ok := newestComplete(snaps); ok {
			st.Newest = newest.Section + "/" + newest.Stamp
			if m, err := repo.ReadManifest(ctx, newest.Path); err == nil {
				t := m.Totals()
				st.Files, st.Bytes = t.Files, t.Bytes
				// A history rotated away, or runs made elsewhere: the
				// snapshot itself says when it was finished.
				if m.Finished.After(lastOK) && !slices.ContainsFunc(m.Items, func(it repository.ItemRecord) bool { return it.Status == repository.StatusFailed }) {
					lastOK = m.Finished
				}
			}
		}
		if st.Partials, err = repo.Partials(ctx, set.Name); err != nil {
			return nil, err
		}
		if st.Partials == nil {
			st.Partials = []string{}
		}
		if !lastOK.IsZero() {
			t, age := lastOK.UTC(), now.Sub(lastOK).Seconds()
			st.LastSuccess, st.AgeSeconds = &t, &age
		}
		if t, ok := d.nextRunOf(set.Name); ok {
			st.NextRun = &t
		}
		limit := d.Config.alertAfter(set)
		if opts.MaxAge > 0 {
			limit = opts.MaxAge
		}
		st.MaxAgeSeconds = limit.Seconds()
		switch {
		case limit == 0:
		case lastOK.IsZero():
			st.Alert = "never succeeded"
		case now.Sub(lastOK) > limit:
			st.Alert = fmt.Sprintf("last success %s ago, more than %s", fmtAge(now.Sub(lastOK)), fmtAge(limit))
		}
		out = append(out, st)
	}
	return out, nil
}

func newestComplete(snaps []repository.Snapshot) (repository.Snapshot, bool) {
	var best repository.Snapshot
	for _, s := range snaps {
		if s.Complete && s.Stamp > best.Stamp {
			best = s
		}
	}
	return best, best.Stamp != ""
}

// fmtAge prints a duration the way people say ages: 3d4h, 26h0m, 5m12s.
func fmtAge(d time.Duration) string {
	d = d.Round(time.Second)
	if d >= 72*time.Hour {
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	}
	if d >= time.Hour {
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	return d.String()
}

// PrintStatus writes the status as a table or as JSON, and returns ErrStale
// when a set is stale.
func (d *Director) PrintStatus(sts []SetStatus, asJSON bool) error {
	stale := slices.ContainsFunc(sts, func(s SetStatus) bool { return s.Alert != "" })
	if asJSON {
		if sts == nil {
			sts = []SetStatus{}
		}
		enc := json.NewEncoder(d.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sts); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(d.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SET\tLAST RUN\tSTATUS\tLAST SUCCESS\tAGE\tNEXT RUN\tSNAPSHOTS\tSIZE\tPARTIALS\tFAILED ITEMS")
		for _, s := range sts {
			lastRun, status, lastOK, age, next := "-", "-", "-", "-", "-"
			if s.LastRun != nil {
				lastRun, status = s.LastRun.Started.Local().Format("2006-01-02 15:04"), s.LastRun.Status
			}
			if s.LastSuccess != nil {
				lastOK, age = s.LastSuccess.Local().Format("2006-01-02 15:04"), fmtAge(time.Duration(*s.AgeSeconds*float64(time.Second)))
			}
			if s.NextRun != nil {
				next = s.NextRun.Local().Format("2006-01-02 15:04")
			}
			if s.Alert != "" {
				age += " STALE"
			}
			failed := strings.Join(s.FailedItems, ",")
			if failed == "" {
				failed = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", s.Set, lastRun, status, lastOK, age, next,
				sections(s.Snapshots), humanBytes(s.Bytes), len(s.Partials), failed)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		d.printDrillStatus(sts)
	}
	if stale {
		for _, s := range sts {
			if s.Alert != "" {
				d.Log.Error("set is stale", "set", s.Set, "reason", s.Alert)
			}
		}
		return ErrStale
	}
	return nil
}

// sections prints snapshot counts as "holding 7, permanent 3".
func sections(n map[string]int) string {
	if len(n) == 0 {
		return "0"
	}
	var parts []string
	for _, sec := range []string{"holding", "permanent"} {
		if n[sec] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", sec, n[sec]))
		}
	}
	return strings.Join(parts, ", ")
}
