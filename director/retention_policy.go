package director

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/depot-backup/depot/repository"
)

// location returns the time zone whose calendar days the permanent rules
// match: the config's timezone, else the one depot init recorded in the
// repository, else this machine's local time (a repository made before
// depot init recorded zones).
func (d *Director) location(ctx context.Context, repo repository.Repo) (*time.Location, error) {
	if d.Config.Repository.Permanent.Timezone != "" {
		return d.Config.Repository.Permanent.Location(), nil
	}
	loc, err := repo.Zone(ctx)
	if err != nil {
		return nil, fmt.Errorf("repository time zone: %w", err)
	}
	if loc == nil {
		return time.Local, nil
	}
	return loc, nil
}

// policy returns the retention policy in force for repo.
func (d *Director) policy(ctx context.Context, repo repository.Repo) (repository.Policy, error) {
	p := d.Config.policy()
	loc, err := d.location(ctx, repo)
	if err != nil {
		return p, err
	}
	p.Location = loc
	return p, nil
}

// retentionSnapshots lists set's snapshots, each permanent one with the
// record of why it migrated.
func retentionSnapshots(ctx context.Context, repo repository.Repo, set string) ([]repository.Snapshot, error) {
	snaps, err := repo.Snapshots(ctx, set)
	if err != nil {
		return nil, err
	}
	repo.ReadRecords(ctx, snaps)
	return snaps, nil
}

// hasRule reports whether the config has a permanent rule called name.
func (c *Config) hasRule(name string) bool {
	for _, r := range c.Repository.Permanent.Rules {
		if r.Name == name {
			return true
		}
	}
	return false
}

// heldBack remembers, per set, why the guard against mass deletion held
// back the deletions of the set's last retention, until the run's end event
// takes it: daemon and cron runs notify it as a warning.
type heldBack struct {
	mu  sync.Mutex
	why map[string]string
}

func (h *heldBack) note(set, why string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.why == nil {
		h.why = map[string]string{}
	}
	h.why[set] = why
}

// take returns and forgets why set's deletions were held back, if they were.
func (h *heldBack) take(set string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	why := h.why[set]
	delete(h.why, set)
	return why
}
