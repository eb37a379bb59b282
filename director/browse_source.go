package director

import (
	"context"
	"fmt"

	"github.com/depot-backup/depot/backupitems"
	"github.com/depot-backup/depot/repository"
)

// diffSource compares the newest snapshot of a set with its live source,
// walked as the quick path walks it. Only tree items have a source to walk;
// the others are named and skipped.
func (d *Director) diffSource(ctx context.Context, o DiffOptions) error {
	if o.New != "" {
		return &UsageError{Msg: "diff --source compares one snapshot with the source: name one SET or SET@STAMP"}
	}
	set, ok := d.Config.Set(splitTarget(o.Old))
	if !ok {
		return &UsageError{Msg: fmt.Sprintf("diff --source needs set %s in the config, to know its source", splitTarget(o.Old))}
	}
	snap, err := d.findSnapshot(ctx, o.Old)
	if err != nil {
		return err
	}
	if err := d.connect(ctx, set); err != nil {
		return err
	}
	repo := d.repo()
	p := d.newDiffPrinter(o.JSON, snap.Name(), "source")
	for _, it := range set.Items {
		name := it.Header().Name
		walker, ok := it.Item.(backupitems.SourceWalker)
		if !ok {
			d.Log.Info("not a tree: no source to compare", "item", name, "type", it.Header().Type)
			continue
		}
		walked, err := walker.WalkSource(ctx, backupitems.Env{Source: d.source(set), Repo: d.repoHost(), Log: d.Log})
		if err != nil {
			return fmt.Errorf("item %s: walk the source: %w", name, err)
		}
		live := make([]repository.Entry, len(walked))
		for i, w := range walked {
			live[i] = repository.Entry{Path: w.Path, Mode: w.Mode, Size: w.Size, Mtime: w.Mtime, Ctime: w.Ctime, Uid: w.Uid, Gid: w.Gid}
		}
		oldR, err := itemReader(ctx, repo, snap, name)
		if err != nil {
			return err
		}
		err = mergeLists(ctx, oldR, repository.EntriesReader(live), func(oe, ne *repository.Entry) error { return p.entry(name, oe, ne, changedOnSource) })
		closeReader(oldR)
		if err != nil {
			return err
		}
	}
	return p.finish()
}

// changedOnSource compares a snapshot's entry with what a walk of the source
// sees now: type and permissions, owner where the list records it, and for a
// file its size and mtime (the source is not read to hash it).
func changedOnSource(o, n repository.Entry) bool {
	switch {
	case o.Mode != n.Mode:
		return true
	case o.HasSource() && (o.Uid != n.Uid || o.Gid != n.Gid):
		return true
	case n.IsDir():
		return false
	case n.IsRegular():
		return o.Size != n.Size || o.Mtime != n.Mtime
	}
	return o.Size != n.Size
}
