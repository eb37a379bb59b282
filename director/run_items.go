package director

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"

	"github.com/depot-backup/depot/repository"
)

// ItemsFailedError means a set's snapshot was published partial: the items
// named failed (each logged with its cause), the others were saved.
type ItemsFailedError struct {
	Snapshot string   // section/set/stamp
	Items    []string // the failed items
}

func (e *ItemsFailedError) Error() string {
	return fmt.Sprintf("partial snapshot %s: item(s) %s failed", e.Snapshot, strings.Join(e.Items, ", "))
}

// backupItems runs every item of set into build, appending each item's
// record to m, and returns the items that failed. A failing item costs only
// itself: it is logged in one line, recorded as failed (its error, no
// content) and the next item runs. The error is for a snapshot that must
// not be published: the run was interrupted, or every item failed (there is
// nothing good to keep).
func (d *Director) backupItems(ctx context.Context, set *SetConfig, build *repository.Build, m *repository.Manifest, copies map[string]goodCopy, log *slog.Logger) ([]string, error) {
	var failed []string
	var errs []error
	for _, it := range set.Items {
		h := it.Header()
		if c, ok := copies[h.Name]; ok && c.snapshot != m.Base {
			log.Info("item's base is its newest good copy, older than the set's base", "item", h.Name, "base", c.snapshot)
		}
		rec, err := d.backupItem(ctx, set, it, build, copies[h.Name].ofType(h.Type), log)
		if err == nil {
			m.Items = append(m.Items, rec)
			continue
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("item %s: %w", h.Name, err)
		}
		log.Error("item failed", "item", h.Name, "type", h.Type, "err", err)
		failed = append(failed, h.Name)
		errs = append(errs, fmt.Errorf("item %s: %w", h.Name, err))
		// Whatever the item left is not trusted: it has no content.
		if rerr := build.Repo.Files().RemoveAll(ctx, path.Join(build.Dir, h.Name)); rerr != nil {
			return nil, fmt.Errorf("item %s: remove its partial content: %w", h.Name, rerr)
		}
		m.Items = append(m.Items, repository.ItemRecord{Name: h.Name, Type: h.Type, Status: repository.StatusFailed, Error: err.Error()})
	}
	if len(failed) > 0 && len(failed) == len(set.Items) {
		return failed, errors.Join(errs...)
	}
	return failed, nil
}

// latestComplete is the newest complete snapshot among snaps (oldest
// first): the snapshot a new one names as its base.
func latestComplete(snaps []repository.Snapshot) (repository.Snapshot, bool) {
	for i := len(snaps) - 1; i >= 0; i-- {
		if snaps[i].Complete {
			return snaps[i], true
		}
	}
	return repository.Snapshot{}, false
}

// goodCopies returns, for every item, its newest good copy among snaps
// (oldest first), its base: an item that failed in the newest snapshot
// takes its base from an older one, so its last good data is linked, not
// copied again, and a failed (empty) copy is never a base.
func goodCopies(snaps []repository.Snapshot) map[string]goodCopy {
	items := map[string]goodCopy{}
	for i := len(snaps) - 1; i >= 0; i-- {
		s := snaps[i]
		if !s.Complete || s.Manifest == nil {
			continue
		}
		for _, it := range s.Manifest.Items {
			if _, ok := items[it.Name]; ok || it.Status == repository.StatusFailed {
				continue
			}
			c := goodCopy{typ: it.Type, base: repository.ItemBase{Dir: path.Join(s.Path, it.Name)}, meta: it.Meta, snapshot: s.Section + "/" + s.Stamp, files: it.Stats.Files}
			if it.FileList != "" {
				c.base.FileList = path.Join(s.Path, it.FileList)
			}
			items[it.Name] = c
		}
	}
	return items
}
