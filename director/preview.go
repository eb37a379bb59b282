package director

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/depot-backup/depot/repository"
)

// DefaultPreviewEvery is how often plan --at assumes a run happens.
const DefaultPreviewEvery = 24 * time.Hour

// maxPreviewRuns bounds the runs plan --at simulates per set.
const maxPreviewRuns = 100_000

// maxPreviewYears bounds how far ahead plan --at looks, well within what a
// time.Duration holds (292 years).
const maxPreviewYears = 100

// PreviewOptions say what plan --at simulates: a successful run every
// Every, the first now, the last at or before At. An Every of whole days
// keeps the time of day in the permanent section's time zone.
type PreviewOptions struct {
	At    time.Time
	Every time.Duration
}

// Preview is a set as retention will have left it at a future time.
type Preview struct {
	Set      string    `json:"set"`
	At       time.Time `json:"at"`
	Every    string    `json:"every"`
	FirstRun time.Time `json:"first_run"`
	Runs     int       `json:"simulated_runs"`
	// Held are the snapshots the set holds at At, newest first, each with
	// the reason retention keeps it.
	Held []PreviewSnapshot `json:"held"`
	// Gone are today's snapshots that retention deletes before At.
	Gone []PreviewSnapshot `json:"gone"`
	// SimulatedGone counts the simulated snapshots deleted before At.
	SimulatedGone int            `json:"simulated_gone"`
	loc           *time.Location // the rules' zone, for people
}

// PreviewSnapshot is one snapshot in a Preview.
type PreviewSnapshot struct {
	Snapshot  string    `json:"snapshot"`  // section/set/stamp at At, or when deleted
	Simulated bool      `json:"simulated"` // made by a simulated run
	Migrated  time.Time `json:"migrated,omitzero"`
	Deleted   time.Time `json:"deleted,omitzero"`
	Reason    string    `json:"reason"`
}

// ParseAt reads plan --at's TIME in the permanent rules' time zone (see
// Director.location): 2027-01-01 (its midnight), 2027-01-01T02:00,
// 2027-01-01T02:00:30, or RFC 3339 with an offset.
func (d *Director) ParseAt(ctx context.Context, s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	loc, err := d.location(ctx, d.repo())
	if err != nil {
		return time.Time{}, err
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, &UsageError{Msg: fmt.Sprintf("--at %q: want a time such as 2027-01-01 or 2027-01-01T02:00 (in %s)", s, zoneName(loc))}
}

// Preview simulates retention for the named sets from now until opts.At:
// a successful run every opts.Every, the first one now, each followed by
// migration and pruning, exactly as depot run would do them. Nothing is
// changed. Runs that fail or do not happen, and changes to the config, are
// beyond it.
func (d *Director) Preview(ctx context.Context, names []string, opts PreviewOptions) ([]Preview, error) {
	sets, err := d.selectSets(names)
	if err != nil {
		return nil, err
	}
	now := d.Now()
	switch {
	case !opts.At.After(now):
		return nil, &UsageError{Msg: fmt.Sprintf("--at %s is not in the future", opts.At.Format(time.DateTime))}
	case opts.At.After(now.AddDate(maxPreviewYears, 0, 0)):
		return nil, &UsageError{Msg: fmt.Sprintf("--at %s is more than %d years ahead", opts.At.Format(time.DateOnly), maxPreviewYears)}
	case opts.Every < time.Minute:
		return nil, &UsageError{Msg: fmt.Sprintf("--every %s: want at least 1m", opts.Every)}
	}
	if n := int(opts.At.Sub(now)/opts.Every) + 1; n > maxPreviewRuns {
		return nil, &UsageError{Msg: fmt.Sprintf("--at %s with --every %s means %d runs; at most %d are simulated", opts.At.Format(time.DateOnly), opts.Every, n, maxPreviewRuns)}
	}
	repo := d.repo()
	policy, err := d.policy(ctx, repo)
	if err != nil {
		return nil, err
	}
	runs := previewRuns(now, opts, policy.Location)
	var out []Preview
	for _, set := range sets {
		snaps, err := retentionSnapshots(ctx, repo, set.Name)
		if err != nil {
			return nil, err
		}
		pv := Preview{loc: policy.Location, Set: set.Name, At: opts.At, Every: shortDuration(opts.Every), FirstRun: now, Runs: len(runs), Held: []PreviewSnapshot{}, Gone: []PreviewSnapshot{}}
		existing := map[string]bool{}
		stamps := map[string]bool{} // existing and simulated
		for _, s := range snaps {
			existing[s.Stamp], stamps[s.Stamp] = true, true
		}
		migrated := map[string]time.Time{}
		for _, at := range runs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			stamp := repository.Stamp(at) // from the clock, as a run's
			if stamps[stamp] {
				continue // a set has one snapshot a second
			}
			stamps[stamp] = true
			snaps = append(snaps, repository.Snapshot{Section: repository.Holding, Set: set.Name, Stamp: stamp, Complete: true})
			ds := repository.Decide(snaps, policy)
			for _, dec := range ds {
				switch {
				case dec.Action == repository.Migrate:
					migrated[dec.Snapshot.Stamp] = at
				case dec.Action == repository.Delete && existing[dec.Snapshot.Stamp]:
					pv.Gone = append(pv.Gone, PreviewSnapshot{Snapshot: dec.Snapshot.Name(), Migrated: migrated[dec.Snapshot.Stamp], Deleted: at, Reason: dec.Reason})
				case dec.Action == repository.Delete:
					pv.SimulatedGone++
				}
			}
			snaps = repository.Apply(snaps, ds)
		}
		for _, dec := range repository.Decide(snaps, policy) {
			pv.Held = append(pv.Held, PreviewSnapshot{
				Snapshot:  dec.Snapshot.Name(),
				Simulated: !existing[dec.Snapshot.Stamp],
				Migrated:  migrated[dec.Snapshot.Stamp],
				Reason:    dec.Reason,
			})
		}
		out = append(out, pv)
	}
	return out, nil
}

// previewRuns returns the times of the simulated runs: now, then every
// opts.Every up to opts.At. An interval of whole days keeps the time of day
// on the wall clock of loc, as cron does across DST changes.
func previewRuns(now time.Time, opts PreviewOptions, loc *time.Location) []time.Time {
	var out []time.Time
	for k := 0; k <= maxPreviewRuns; k++ {
		at := now.Add(time.Duration(k) * opts.Every)
		if opts.Every%(24*time.Hour) == 0 {
			at = now.In(loc).AddDate(0, 0, k*int(opts.Every/(24*time.Hour)))
		}
		if at.After(opts.At) {
			return out
		}
		out = append(out, at)
	}
	return out
}

// PrintPreview writes previews for people, or as JSON.
func (d *Director) PrintPreview(previews []Preview, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(d.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(previews)
	}
	tw := tabwriter.NewWriter(d.Out, 0, 4, 2, ' ', 0)
	for i, p := range previews {
		loc := p.loc
		if loc == nil {
			loc = time.Local
		}
		when := func(t time.Time) string { return t.In(loc).Format("Mon 2006-01-02 15:04 MST") }
		if i > 0 {
			fmt.Fprintln(tw)
		}
		counts := map[string]int{}
		for _, h := range p.Held {
			counts[strings.SplitN(h.Snapshot, "/", 2)[0]]++
		}
		fmt.Fprintf(tw, "set %s at %s: %d in holding, %d in permanent\n", p.Set, when(p.At), counts[repository.Holding], counts[repository.Permanent])
		fmt.Fprintf(tw, "  assuming a successful run every %s from %s (%d runs), each followed by migrate and prune;\n  (simulated) marks a snapshot those runs make. Nothing is changed.\n", p.Every, when(p.FirstRun), p.Runs)
		for _, h := range p.Held {
			name := h.Snapshot
			if h.Simulated {
				name += " (simulated)"
			}
			reason := h.Reason
			if !h.Migrated.IsZero() {
				reason = "migrated " + when(h.Migrated) + "; " + reason
			}
			fmt.Fprintf(tw, "  keep\t%s\t%s\n", name, reason)
		}
		if len(p.Gone) > 0 {
			fmt.Fprintf(tw, "  snapshots there now and deleted by then:\n")
		}
		for _, g := range p.Gone {
			fmt.Fprintf(tw, "  deleted\t%s\t%s: %s\n", g.Snapshot, when(g.Deleted), g.Reason)
		}
		if p.SimulatedGone > 0 {
			fmt.Fprintf(tw, "  and %d simulated snapshots deleted along the way\n", p.SimulatedGone)
		}
	}
	return tw.Flush()
}

// shortDuration writes 24h0m0s as 24h and 1h30m0s as 1h30m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// zoneName names a time zone for people.
func zoneName(loc *time.Location) string {
	if loc == time.Local {
		return "local time"
	}
	return loc.String()
}
