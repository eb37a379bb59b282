package director

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/depot-backup/depot/backupitems"
	"github.com/depot-backup/depot/repository"
)

// Stamps come from the clock. A clock behind the set's newest snapshot (set
// back, or a run made while it was ahead) is warned about, naming both
// times, and the new snapshot is stamped with the clock's time all the same:
// no stamp is derived from another, so one run dated in the future never
// dates the later ones. Snapshots dated after the clock are flagged by list,
// plan and check.

// futureDated returns the complete snapshots in snaps dated after now.
func futureDated(snaps []repository.Snapshot, now time.Time) []repository.Snapshot {
	var out []repository.Snapshot
	for _, s := range snaps {
		if s.Complete && s.Time().After(now) {
			out = append(out, s)
		}
	}
	return out
}

// baseCandidates returns the snapshots of snaps (oldest first) that may
// serve a snapshot started at now as bases: those not dated after now; when
// no complete one is, all of them. A base dated in the future is a choice,
// and logged as one, with the base taken.
func baseCandidates(snaps []repository.Snapshot, now time.Time, log *slog.Logger) []repository.Snapshot {
	future := futureDated(snaps, now)
	if len(future) == 0 {
		return snaps
	}
	var past []repository.Snapshot
	for _, s := range snaps {
		if !s.Time().After(now) {
			past = append(past, s)
		}
	}
	out := past
	if _, ok := latestComplete(past); !ok {
		out = snaps
	}
	if log != nil {
		base, _ := latestComplete(out)
		log.Warn("snapshots dated in the future; the base is chosen among the others when there are any",
			"future", len(future), "newest", future[len(future)-1].Name(), "base", base.Name(), "now", now.UTC().Format(time.RFC3339))
	}
	return out
}

// startTime reads the clock for a new snapshot of set and returns it with
// the set's snapshots. When the set has a snapshot of that very second (two
// runs in one second), it waits for the next second; a clock that does not
// move on is an error. A clock behind the newest snapshot is warned about.
func (d *Director) startTime(ctx context.Context, repo repository.Repo, set string, log *slog.Logger) (time.Time, []repository.Snapshot, error) {
	snaps, err := repo.Snapshots(ctx, set)
	if err != nil {
		return time.Time{}, nil, err
	}
	taken := map[string]bool{}
	for _, s := range snaps {
		taken[s.Stamp] = true
	}
	now := d.Now()
	if taken[repository.Stamp(now)] {
		select {
		case <-ctx.Done():
			return time.Time{}, nil, ctx.Err()
		case <-time.After(time.Until(time.Now().Truncate(time.Second).Add(time.Second))):
		}
		if now = d.Now(); taken[repository.Stamp(now)] {
			return time.Time{}, nil, fmt.Errorf("set %s has a snapshot stamped %s already, and the clock still says %s", set, repository.Stamp(now), now.UTC().Format(time.RFC3339))
		}
	}
	if n := len(snaps); n > 0 && snaps[n-1].Time().After(now) {
		log.Warn("the clock is behind the newest snapshot: the new one is stamped with the clock's time and sorts before it",
			"now", now.UTC().Format(time.RFC3339), "newest", snaps[n-1].Name(), "newest_time", snaps[n-1].Time().Format(time.RFC3339))
	}
	return now, snaps, nil
}

// futureWarnings describes set's snapshots dated after now, for plan and
// check.
func futureWarnings(snaps []repository.Snapshot, now time.Time) []string {
	var out []string
	for _, s := range futureDated(snaps, now) {
		out = append(out, fmt.Sprintf("%s is dated %s, after the clock's %s: made while the clock was ahead?",
			s.Name(), s.Time().Format(time.RFC3339), now.UTC().Format(time.RFC3339)))
	}
	return out
}

// checkClock fails for each set with a snapshot dated after the clock.
func (d *Director) checkClock(ctx context.Context) []backupitems.Check {
	repo := d.repo()
	var out []backupitems.Check
	for _, set := range d.Config.Sets {
		snaps, err := repo.Snapshots(ctx, set.Name)
		if err != nil {
			return append(out, backupitems.Check{What: "snapshot dates of " + set.Name, Err: err})
		}
		c := backupitems.Check{What: "snapshot dates of " + set.Name, Detail: "none after the clock"}
		if w := futureWarnings(snaps, d.Now()); len(w) > 0 {
			c.Err = fmt.Errorf("%d dated in the future; the newest: %s", len(w), w[len(w)-1])
		}
		out = append(out, c)
	}
	return out
}
