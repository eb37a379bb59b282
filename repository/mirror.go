package repository

import (
	"context"
	"fmt"
	"log/slog"
	"path"
	"sort"
	"strings"

	"github.com/depot-backup/depot/rsync"
)

// MirrorOptions tune a mirror.
type MirrorOptions struct {
	BwLimit string // rsync --bwlimit, e.g. "10M"
	// Delete removes the mirror's snapshots that the repository's own
	// retention deleted (see Repo.Deleted), after every new snapshot is
	// complete on the mirror.
	Delete bool
	// Confirm lets one mirror delete more of a set than MirrorMaxDelete.
	Confirm bool
	Log     *slog.Logger
	repair  map[string]bool // set/stamp copied again over a damaged copy
}

// MirrorStats are what a mirror did.
type MirrorStats struct {
	Copied, Moved, Deleted, Kept int
	BytesTransferred             int64
	// Held counts the snapshots not deleted for want of --confirm, and
	// Spared those the repository lacks but never deleted.
	Held, Spared int
	Repaired     int // damaged snapshots copied again
}

// Mirror copies src's snapshots to dst, a repository of its own with the same
// layout, one snapshot at a time, oldest first. Each is rsync'd into dst's
// .partial with --link-dest to the mirror's previous snapshot of its set, so
// the mirror keeps the repository's hard-link sharing; its manifest is
// written last and one rename publishes it, in the same section as in src.
// A snapshot migrated to permanent in src is renamed on the mirror, not
// copied again. A cut mirror resumes from its .partial. rsync runs here: at
// most one of src and dst may be on another host.
func Mirror(ctx context.Context, src, dst Repo, o MirrorOptions) (MirrorStats, error) {
	var st MirrorStats
	sets, err := src.Sets(ctx)
	if err != nil {
		return st, err
	}
	wanted := map[string]map[string]bool{} // set → stamps src has
	// What verify --mirror found damaged is copied again, comparing
	// content, whether it is still published or was moved back into
	// .partial by a mirror cut short.
	damaged, err := readDamaged(ctx, dst)
	if err != nil {
		return st, err
	}
	o.repair = damaged
	run := &mirrorRun{src: src, dst: dst, o: o, st: &st}
	for _, set := range sets {
		srcSnaps, err := src.Snapshots(ctx, set)
		if err != nil {
			return st, err
		}
		dstSnaps, err := dst.Snapshots(ctx, set)
		if err != nil {
			return st, err
		}
		wanted[set] = map[string]bool{}
		have := map[string]Snapshot{}
		srcHas := map[string]bool{}
		for _, s := range srcSnaps {
			srcHas[s.Stamp] = s.Complete
		}
		for _, s := range dstSnaps {
			switch {
			case !s.Complete:
			case damaged[set+"/"+s.Stamp] && srcHas[s.Stamp]:
				if err := reopenDamaged(ctx, dst, s); err != nil {
					return st, err
				}
				o.Log.Info("mirror: copying a damaged snapshot again", "snapshot", s.Name())
				st.Repaired++
			default:
				have[s.Stamp] = s
			}
		}
		if err := run.first(ctx, srcSnaps, have); err != nil {
			return st, fmt.Errorf("mirror %s: %w", set, err)
		}
		for _, s := range srcSnaps {
			if !s.Complete {
				continue
			}
			wanted[set][s.Stamp] = true
			if err := ctx.Err(); err != nil {
				return st, err
			}
			m, ok := have[s.Stamp]
			switch {
			case ok && m.Section == s.Section:
				st.Kept++
				continue
			case ok:
				// Migrated in the repository since the last mirror: the
				// record of why goes with it.
				to := dst.Dir(s.Section, set, s.Stamp)
				if err := dst.Files().MkdirAll(ctx, path.Dir(to)); err != nil {
					return st, err
				}
				if err := copyRecord(ctx, src, s, dst, m.Path); err != nil {
					return st, fmt.Errorf("mirror %s/%s: %w", set, s.Stamp, err)
				}
				if err := dst.Files().Rename(ctx, m.Path, to); err != nil {
					return st, fmt.Errorf("mirror %s/%s: move to %s: %w", set, s.Stamp, s.Section, err)
				}
				o.Log.Info("mirror: moved", "set", set, "stamp", s.Stamp, "to", s.Section)
				st.Moved++
			default:
				base := newestBefore(have, s.Stamp)
				n, err := run.one(ctx, s, base)
				if err != nil {
					return st, fmt.Errorf("mirror %s: %w", s.Name(), err)
				}
				o.Log.Info("mirror: copied", "snapshot", s.Name(), "bytes_transferred", n)
				st.Copied++
				st.BytesTransferred += n
			}
			have[s.Stamp] = Snapshot{Section: s.Section, Set: set, Stamp: s.Stamp, Path: dst.Dir(s.Section, set, s.Stamp), Complete: true}
		}
		if err := removeStalePartials(ctx, dst, set, o.Log); err != nil {
			return st, err
		}
	}
	if len(damaged) > 0 {
		// Every snapshot the repository has is whole on the mirror now;
		// what stays damaged is what the repository no longer has.
		var left []string
		for k := range damaged {
			set, stamp, _ := strings.Cut(k, "/")
			if !wanted[set][stamp] {
				left = append(left, k)
			}
		}
		if err := WriteDamaged(ctx, dst, left); err != nil {
			return st, err
		}
	}
	if !o.Delete {
		return st, nil
	}
	// Only now, with every new snapshot complete, remove what the
	// repository's retention deleted.
	if err := run.deletions(ctx, wanted); err != nil {
		return st, err
	}
	return st, dst.EmptyTrash(ctx)
}

// newestBefore returns the newest snapshot in have older than stamp: the
// --link-dest base for copying stamp.
func newestBefore(have map[string]Snapshot, stamp string) *Snapshot {
	var stamps []string
	for s := range have {
		if s < stamp {
			stamps = append(stamps, s)
		}
	}
	if len(stamps) == 0 {
		return nil
	}
	sort.Strings(stamps)
	s := have[stamps[len(stamps)-1]]
	return &s
}

// mirrorRun is one run of Mirror: from src to dst with o, counted in st.
type mirrorRun struct {
	src, dst Repo
	o        MirrorOptions
	st       *MirrorStats
}

// first copies, in one rsync, the snapshots of a set that the mirror
// lacks and that are older than every snapshot it has (all of them, on a new
// mirror). With -H, rsync keeps the hard links among them in one pass over
// the tree instead of one pass per snapshot: a new mirror costs about what
// `rsync -aH` of the repository does. Each lands in .partial and is
// published, oldest first, after its manifest. have gains what was copied.
func (m *mirrorRun) first(ctx context.Context, srcSnaps []Snapshot, have map[string]Snapshot) error {
	src, dst, o, st := m.src, m.dst, m.o, m.st
	oldest := ""
	for stamp := range have {
		if oldest == "" || stamp < oldest {
			oldest = stamp
		}
	}
	var batch []Snapshot
	for _, s := range srcSnaps {
		if s.Complete && (oldest == "" || s.Stamp < oldest) && !o.repair[s.Set+"/"+s.Stamp] {
			batch = append(batch, s)
		}
	}
	if len(batch) < 2 {
		return nil // the per-snapshot copy does as well
	}
	set := batch[0].Set
	dir := path.Dir(dst.PartialDir(set, batch[0].Stamp))
	if err := dst.Files().MkdirAll(ctx, dir); err != nil {
		return err
	}
	opts := rsync.Options{
		Dest:       dir + "/",
		HardLinks:  true,
		ACLs:       true,
		Xattrs:     true,
		NumericIDs: true,
		Sparse:     true,
		Excludes:   []string{"/*/" + ManifestName, "/*/" + ManifestName + ".tmp"},
		BwLimit:    o.BwLimit,
	}
	for _, s := range batch {
		opts.Sources = append(opts.Sources, s.Path)
	}
	res, err := rsync.RunBetween(ctx, src.Host(), dst.Host(), opts)
	if err != nil {
		return err
	}
	st.BytesTransferred += res.Stats.BytesTransferred
	for _, s := range batch {
		b := &Build{Repo: dst, Set: set, Stamp: s.Stamp, Dir: dst.PartialDir(set, s.Stamp)}
		if err := copyManifestAndPublish(ctx, src, b, s); err != nil {
			return fmt.Errorf("%s/%s: %w", s.Section, s.Stamp, err)
		}
		o.Log.Info("mirror: copied", "snapshot", s.Name())
		st.Copied++
		have[s.Stamp] = Snapshot{Section: s.Section, Set: set, Stamp: s.Stamp, Path: dst.Dir(s.Section, set, s.Stamp), Complete: true}
	}
	return nil
}

// copyManifestAndPublish writes s's manifest into the build, last, and
// publishes it in s's section.
func copyManifestAndPublish(ctx context.Context, src Repo, b *Build, s Snapshot) error {
	manifest, err := src.Files().ReadFile(ctx, path.Join(s.Path, ManifestName))
	if err != nil {
		return err
	}
	if err := b.Repo.writeFileAtomic(ctx, path.Join(b.Dir, ManifestName), manifest); err != nil {
		return err
	}
	_, err = b.publish(ctx, s.Section)
	return err
}

// one copies one snapshot into dst's .partial, manifest last, and
// publishes it. It returns the bytes rsync transferred.
func (m *mirrorRun) one(ctx context.Context, s Snapshot, base *Snapshot) (int64, error) {
	src, dst, o := m.src, m.dst, m.o
	b := &Build{Repo: dst, Set: s.Set, Stamp: s.Stamp, Dir: dst.PartialDir(s.Set, s.Stamp)}
	if err := dst.Files().MkdirAll(ctx, b.Dir); err != nil {
		return 0, err
	}
	opts := rsync.Options{
		Sources:    []string{s.Path + "/"},
		Dest:       b.Dir + "/",
		HardLinks:  true,
		ACLs:       true,
		Xattrs:     true,
		NumericIDs: true,
		Sparse:     true,
		Delete:     true,
		Excludes:   []string{"/" + ManifestName, "/" + ManifestName + ".tmp"},
		BwLimit:    o.BwLimit,
		// A damaged copy may have kept its size and time: compare content.
		Checksum: o.repair[s.Set+"/"+s.Stamp],
	}
	if base != nil {
		opts.LinkDest = base.Path
	}
	res, err := rsync.RunBetween(ctx, src.Host(), dst.Host(), opts)
	if err != nil {
		return 0, err
	}
	return res.Stats.BytesTransferred, copyManifestAndPublish(ctx, src, b, s)
}
