package repository

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
)

// MirrorMaxDelete is how many snapshots of a set one mirror may delete
// without confirmation: 3, or a quarter of the set's snapshots on the
// mirror, whichever is larger.
func MirrorMaxDelete(onMirror int) int { return DefaultMaxDelete(onMirror) }

// deletions deletes from dst the complete snapshots that src lacks
// (wanted maps each set src has to its stamps) and that src's deletion log
// names: what the repository's retention (or depot forget) deleted. Nothing
// else is deleted: a snapshot missing from the repository for another reason
// (an unmounted disk, an rm by hand) stays, and so does every snapshot of a
// set the repository lists none of. More than MirrorMaxDelete of one set
// are held back unless o.Confirm.
func (m *mirrorRun) deletions(ctx context.Context, wanted map[string]map[string]bool) error {
	src, dst, o, st := m.src, m.dst, m.o, m.st
	deleted, err := src.Deleted(ctx)
	if err != nil {
		return err
	}
	dstSets, err := dst.Sets(ctx)
	if err != nil {
		return err
	}
	for _, set := range dstSets {
		snaps, err := dst.Snapshots(ctx, set)
		if err != nil {
			return err
		}
		var doomed []Snapshot
		complete := 0
		for _, s := range snaps {
			if !s.Complete {
				continue
			}
			complete++
			switch name := s.Name(); {
			case wanted[set][s.Stamp]:
			case len(wanted[set]) == 0:
				o.Log.Warn("mirror: kept", "snapshot", name, "reason", "the repository lists no snapshot of this set: deleting nothing of it")
				st.Spared++
			case !deleted[set+"/"+s.Stamp]:
				o.Log.Warn("mirror: kept", "snapshot", name, "reason", "not in the repository, but its retention did not delete it; remove it from the mirror by hand if it should go")
				st.Spared++
			default:
				doomed = append(doomed, s)
			}
		}
		if limit := MirrorMaxDelete(complete); len(doomed) > limit && !o.Confirm {
			o.Log.Warn("mirror: deletions held back", "set", set, "why",
				fmt.Sprintf("the repository's retention deleted %d snapshots of %s that the mirror has, more than %d at once: none deleted; run depot mirror --confirm to go ahead", len(doomed), set, limit))
			st.Held += len(doomed)
			continue
		}
		for _, s := range doomed {
			if err := dst.Delete(ctx, s); err != nil {
				return err
			}
			o.Log.Info("mirror: deleted", "snapshot", s.Name(), "reason", "deleted by the repository's retention")
			st.Deleted++
		}
	}
	return nil
}

// removeStalePartials removes what is left in dst's .partial for set once
// every snapshot the repository has is on the mirror: a copy cut short of
// a snapshot that the repository has pruned since.
func removeStalePartials(ctx context.Context, dst Repo, set string, log *slog.Logger) error {
	stamps, err := dst.Partials(ctx, set)
	if err != nil {
		return err
	}
	for _, stamp := range stamps {
		if err := dst.removeDir(ctx, dst.PartialDir(set, stamp)); err != nil {
			return fmt.Errorf("remove stale partial %s/%s: %w", set, stamp, err)
		}
		log.Info("mirror: removed a stale partial", "set", set, "stamp", stamp)
	}
	return nil
}

// copyRecord writes src's record of a migrated snapshot into the mirror's
// copy at dir, before the mirror moves it into permanent.
func copyRecord(ctx context.Context, src Repo, s Snapshot, dst Repo, dir string) error {
	data, err := src.Files().ReadFile(ctx, path.Join(s.Path, RecordName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		ok, xerr := src.Files().Exists(ctx, path.Join(s.Path, RecordName))
		if xerr == nil && !ok[0] {
			return nil // an older depot migrated it, without a record
		}
		return fmt.Errorf("read %s: %w", RecordName, err)
	}
	return dst.writeFileAtomic(ctx, path.Join(dir, RecordName), data)
}
