package repository

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Build is a snapshot being written in .partial.
type Build struct {
	Repo    Repo
	Set     string
	Stamp   string
	Dir     string // the .partial directory items write into
	Resumed string // stamp of the interrupted run this build continues, if any
}

// Begin starts a snapshot of set at time now. If an earlier run left a
// .partial, the newest one is renamed to the new stamp and resumed, so rsync
// sends only what is missing; older partials are deleted.
func (r Repo) Begin(set string, now time.Time) (*Build, error) {
	stamp, err := r.NextStamp(set, now)
	if err != nil {
		return nil, err
	}
	b := &Build{Repo: r, Set: set, Stamp: stamp, Dir: r.PartialDir(set, stamp)}
	partials, err := r.Partials(set)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(b.Dir), 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", filepath.Dir(b.Dir), err)
	}
	if n := len(partials); n > 0 {
		for _, old := range partials[:n-1] {
			if err := r.removeDir(r.PartialDir(set, old)); err != nil {
				return nil, err
			}
		}
		b.Resumed = partials[n-1]
		if b.Resumed != b.Stamp {
			if err := os.Rename(r.PartialDir(set, b.Resumed), b.Dir); err != nil {
				return nil, fmt.Errorf("resume partial %s: %w", b.Resumed, err)
			}
		}
		// A manifest left by a run killed just before publishing describes
		// the old run; the new one writes its own.
		if err := os.Remove(filepath.Join(b.Dir, ManifestName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("resume partial %s: %w", b.Resumed, err)
		}
	} else if err := os.Mkdir(b.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", b.Dir, err)
	}
	return b, syncDir(filepath.Dir(b.Dir))
}

// NextStamp returns the stamp a snapshot of set started at now gets: the start
// time, or one second after the newest existing snapshot if that is later.
// Stamps order snapshots, so a new one must sort last even when two runs start
// in the same second or the clock was set back.
func (r Repo) NextStamp(set string, now time.Time) (string, error) {
	snaps, err := r.Snapshots(set)
	if err != nil {
		return "", err
	}
	t := now.UTC().Truncate(time.Second)
	if n := len(snaps); n > 0 {
		if next := snaps[n-1].Time().Add(time.Second); next.After(t) {
			t = next
		}
	}
	return Stamp(t), nil
}

// WriteManifest flushes the snapshot's data to disk, then writes m as its
// manifest: the last file of a snapshot.
func (b *Build) WriteManifest(m *Manifest) error {
	if err := syncTree(b.Dir); err != nil {
		return err
	}
	return writeManifest(b.Dir, m)
}

// Publish moves the snapshot into holding with one rename, after
// WriteManifest. Until that rename the snapshot does not exist.
func (b *Build) Publish() (Snapshot, error) {
	if _, err := os.Stat(filepath.Join(b.Dir, ManifestName)); err != nil {
		return Snapshot{}, fmt.Errorf("publish %s: no manifest: %w", b.Stamp, err)
	}
	dst := b.Repo.Dir(Holding, b.Set, b.Stamp)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return Snapshot{}, fmt.Errorf("publish %s: %w", b.Stamp, err)
	}
	if err := os.Rename(b.Dir, dst); err != nil {
		return Snapshot{}, fmt.Errorf("publish %s: %w", b.Stamp, err)
	}
	if err := errors.Join(syncDir(filepath.Dir(dst)), syncDir(filepath.Dir(b.Dir))); err != nil {
		return Snapshot{}, err
	}
	return Snapshot{Section: Holding, Set: b.Set, Stamp: b.Stamp, Path: dst, Complete: true}, nil
}

// syncTree flushes everything written into the snapshot before the manifest
// claims it is complete. syncfs covers the whole filesystem in one call, which
// costs far less than an fsync per file.
func syncTree(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer f.Close()
	if err := syncfs(f); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// Delete removes a snapshot. It is first moved into the trash with one rename,
// so a run killed while deleting never leaves half a snapshot in a section;
// the trash is emptied now and again by the next run.
func (r Repo) Delete(s Snapshot) error {
	if err := r.removeDir(s.Path); err != nil {
		return fmt.Errorf("delete %s/%s/%s: %w", s.Section, s.Set, s.Stamp, err)
	}
	return nil
}

func (r Repo) removeDir(dir string) error {
	trash := filepath.Join(r.StateDir(), trashDir)
	if err := os.MkdirAll(trash, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(trash, "del-")
	if err != nil {
		return err
	}
	if err := os.Rename(dir, filepath.Join(tmp, filepath.Base(dir))); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return err
	}
	return removeAll(tmp)
}

// EmptyTrash finishes deletions that a killed run left behind.
func (r Repo) EmptyTrash() error {
	trash := filepath.Join(r.StateDir(), trashDir)
	entries, err := os.ReadDir(trash)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("empty trash: %w", err)
	}
	for _, e := range entries {
		if err := removeAll(filepath.Join(trash, e.Name())); err != nil {
			return fmt.Errorf("empty trash: %w", err)
		}
	}
	return nil
}

// removeAll is os.RemoveAll that also gets through directories without write
// permission, which snapshots copy faithfully from their sources.
func removeAll(path string) error {
	err := os.RemoveAll(path)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	_ = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(path)
}
