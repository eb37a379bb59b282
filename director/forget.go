package director

import (
	"context"
	"fmt"
	"strings"

	"github.com/depot-backup/depot/repository"
)

// Forget deletes one snapshot, named SET@STAMP with its whole stamp, that
// retention keeps and will not delete by itself: one kept by a permanent
// rule no longer configured, or one without a record of why it is in
// permanent. The deletion is logged and entered in the deletion log, so
// mirrors drop it too.
func (d *Director) Forget(ctx context.Context, target string, opts RunOptions) (repository.Snapshot, error) {
	set, stamp, ok := strings.Cut(target, "@")
	if !ok || stamp == "" {
		return repository.Snapshot{}, &UsageError{Msg: fmt.Sprintf("forget %q: want SET@STAMP with the whole stamp, e.g. web@2026-01-01T020000Z (see depot list)", target)}
	}
	if err := checkSetName(set); err != nil {
		return repository.Snapshot{}, err
	}
	if _, err := repository.ParseStamp(stamp); err != nil {
		return repository.Snapshot{}, &UsageError{Msg: fmt.Sprintf("forget %s: %q is not a stamp such as 2026-01-01T020000Z (see depot list %s)", target, stamp, set)}
	}
	repo, lock, err := d.lock(ctx, opts.Wait, true)
	if err != nil {
		return repository.Snapshot{}, err
	}
	defer lock.Unlock()
	snaps, err := repo.Snapshots(ctx, set)
	if err != nil {
		return repository.Snapshot{}, err
	}
	for _, s := range snaps {
		if s.Stamp != stamp {
			continue
		}
		reason := "forgotten by depot forget"
		d.Log.Info("forgetting", "snapshot", s.Name(), "reason", reason)
		if err := repo.RecordDeletion(ctx, s, reason, d.Now()); err != nil {
			return s, err
		}
		return s, repo.Delete(ctx, s)
	}
	return repository.Snapshot{}, &UsageError{Msg: fmt.Sprintf("set %s has no snapshot %s (see depot list %s)", set, stamp, set)}
}
