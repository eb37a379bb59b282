package repository

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Build is a snapshot being written in .partial.
type Build struct {
	Repo    Repo
	Set     string
	Stamp   string
	Dir     string // the .partial directory items write into
	Resumed string // stamp of the interrupted run this build continues, if any

	manifest *Manifest // written by WriteManifest
}

// Time is the build's start time, from its stamp.
func (b *Build) Time() time.Time {
	t, _ := ParseStamp(b.Stamp)
	return t
}

// AppendHistory adds a line to the run history, .depot/history.jsonl.
func (r Repo) AppendHistory(ctx context.Context, line []byte) error {
	return r.Files().Append(ctx, filepath.Join(r.StateDir(), "history.jsonl"), line)
}

// Begin starts a snapshot of set at time now. If an earlier run left a
// .partial, the newest one is renamed to the new stamp and resumed, so rsync
// sends only what is missing; older partials are deleted.
func (r Repo) Begin(ctx context.Context, set string, now time.Time) (*Build, error) {
	stamp, err := r.NextStamp(ctx, set, now)
	if err != nil {
		return nil, err
	}
	b := &Build{Repo: r, Set: set, Stamp: stamp, Dir: r.PartialDir(set, stamp)}
	partials, err := r.Partials(ctx, set)
	if err != nil {
		return nil, err
	}
	fsys := r.Files()
	n := len(partials)
	if n == 0 {
		if err := fsys.MkdirAll(ctx, b.Dir); err != nil {
			return nil, fmt.Errorf("create %s: %w", b.Dir, err)
		}
		return b, nil
	}
	for _, old := range partials[:n-1] {
		if err := r.removeDir(ctx, r.PartialDir(set, old)); err != nil {
			return nil, err
		}
	}
	b.Resumed = partials[n-1]
	if b.Resumed != b.Stamp {
		if err := fsys.Rename(ctx, r.PartialDir(set, b.Resumed), b.Dir); err != nil {
			return nil, fmt.Errorf("resume partial %s: %w", b.Resumed, err)
		}
	}
	// A manifest left by a run killed just before publishing describes the
	// old run; the new one writes its own.
	if err := fsys.Remove(ctx, filepath.Join(b.Dir, ManifestName)); err != nil {
		return nil, fmt.Errorf("resume partial %s: %w", b.Resumed, err)
	}
	return b, nil
}

// NextStamp returns the stamp a snapshot of set started at now gets: its
// start time, from the clock, never derived from another stamp (a run dated
// in the future would date every later one). A set has at most one
// snapshot a second: a stamp taken already is ErrStampTaken, and the caller
// waits for the next second.
func (r Repo) NextStamp(ctx context.Context, set string, now time.Time) (string, error) {
	stamp := Stamp(now)
	// A look at the two names, not a listing of every snapshot with its
	// manifest: one round trip on a remote host.
	sections := []string{Holding, Permanent}
	taken, err := r.Files().Exists(ctx, r.Dir(Holding, set, stamp), r.Dir(Permanent, set, stamp))
	if err != nil {
		return "", fmt.Errorf("list snapshots: %w", err)
	}
	for i, section := range sections {
		if taken[i] {
			return "", fmt.Errorf("%w: %s/%s/%s", ErrStampTaken, section, set, stamp)
		}
	}
	return stamp, nil
}

// ErrStampTaken means a set has a snapshot of that second already.
var ErrStampTaken = errors.New("a snapshot of this second exists already")

// WriteManifest flushes the snapshot's data to disk, then writes m as its
// manifest: the last file of a snapshot.
func (b *Build) WriteManifest(ctx context.Context, m *Manifest) error {
	data, err := marshalManifest(m)
	if err != nil {
		return err
	}
	if err := b.Repo.writeFileAtomic(ctx, filepath.Join(b.Dir, ManifestName), data); err != nil {
		return err
	}
	b.manifest = m
	return nil
}

// Publish moves the snapshot into holding with one rename, after
// WriteManifest. Until that rename the snapshot does not exist.
func (b *Build) Publish(ctx context.Context) (Snapshot, error) {
	return b.publish(ctx, Holding)
}

func (b *Build) publish(ctx context.Context, section string) (Snapshot, error) {
	fsys := b.Repo.Files()
	ok, err := fsys.Exists(ctx, filepath.Join(b.Dir, ManifestName))
	if err != nil {
		return Snapshot{}, fmt.Errorf("publish %s: %w", b.Stamp, err)
	}
	if !ok[0] {
		return Snapshot{}, fmt.Errorf("publish %s: no manifest", b.Stamp)
	}
	dst := b.Repo.Dir(section, b.Set, b.Stamp)
	if err := fsys.MkdirAll(ctx, filepath.Dir(dst)); err != nil {
		return Snapshot{}, fmt.Errorf("publish %s: %w", b.Stamp, err)
	}
	// The data and the manifest are durable already (WriteManifest synced
	// them). LocalFS makes the rename durable by syncing both directories;
	// on a host with POSIX tools only, a rename lost in a crash puts the
	// snapshot back in .partial, where the next run resumes it.
	if err := fsys.Rename(ctx, b.Dir, dst); err != nil {
		return Snapshot{}, fmt.Errorf("publish %s: %w", b.Stamp, err)
	}
	return Snapshot{Section: section, Set: b.Set, Stamp: b.Stamp, Path: dst, Complete: true, Manifest: b.manifest}, nil
}

// Migrate moves a snapshot from holding into permanent with one rename:
// instant, and the snapshot keeps its hard links. A crash leaves it whole in
// one section or the other.
func (r Repo) Migrate(ctx context.Context, s Snapshot) (Snapshot, error) {
	if s.Section != Holding {
		return Snapshot{}, fmt.Errorf("migrate %s: not in holding", s.Name())
	}
	fsys := r.Files()
	src, dst := r.Dir(Holding, s.Set, s.Stamp), r.Dir(Permanent, s.Set, s.Stamp)
	if err := fsys.MkdirAll(ctx, filepath.Dir(dst)); err != nil {
		return Snapshot{}, fmt.Errorf("migrate %s/%s: %w", s.Set, s.Stamp, err)
	}
	exists, err := fsys.Exists(ctx, dst)
	if err != nil {
		return Snapshot{}, fmt.Errorf("migrate %s/%s: %w", s.Set, s.Stamp, err)
	}
	if exists[0] {
		return Snapshot{}, fmt.Errorf("migrate %s/%s: %s already exists", s.Set, s.Stamp, dst)
	}
	if err := fsys.Rename(ctx, src, dst); err != nil {
		return Snapshot{}, fmt.Errorf("migrate %s/%s: %w", s.Set, s.Stamp, err)
	}
	s.Section, s.Path = Permanent, dst
	return s, nil
}

// Delete removes a snapshot. It is first moved into the trash with one rename,
// so a run killed while deleting never leaves half a snapshot in a section;
// the trash is emptied now and again by the next run.
func (r Repo) Delete(ctx context.Context, s Snapshot) error {
	if err := r.removeDir(ctx, s.Path); err != nil {
		return fmt.Errorf("delete %s: %w", s.Name(), err)
	}
	return nil
}

// Trash takes a snapshot out of its section with one rename into the
// trash, where EmptyTrash (or the next run) removes it: the snapshot is gone
// at once, and the unlinking waits for a moment when it delays no one.
func (r Repo) Trash(ctx context.Context, s Snapshot) error {
	if _, err := r.moveToTrash(ctx, s.Path); err != nil {
		return fmt.Errorf("delete %s/%s/%s: %w", s.Section, s.Set, s.Stamp, err)
	}
	return nil
}

func (r Repo) removeDir(ctx context.Context, dir string) error {
	tmp, err := r.moveToTrash(ctx, dir)
	if err != nil {
		return err
	}
	return r.Files().RemoveAll(ctx, tmp)
}

func (r Repo) moveToTrash(ctx context.Context, dir string) (string, error) {
	fsys := r.Files()
	trash := filepath.Join(r.StateDir(), trashDir)
	if err := fsys.MkdirAll(ctx, trash); err != nil {
		return "", err
	}
	// Unique among runs: a set's lock admits one run of it, and time moves
	// on.
	tmp := filepath.Join(trash, filepath.Base(filepath.Dir(dir))+"."+filepath.Base(dir)+"."+strconv.FormatInt(time.Now().UnixNano(), 36))
	return tmp, fsys.Rename(ctx, dir, tmp)
}

// EmptyTrash finishes deletions that a killed run left behind.
func (r Repo) EmptyTrash(ctx context.Context) error {
	trash := filepath.Join(r.StateDir(), trashDir)
	entries, err := r.Files().ReadDir(ctx, trash)
	if err != nil {
		return fmt.Errorf("empty trash: %w", err)
	}
	for _, e := range entries {
		if err := r.Files().RemoveAll(ctx, filepath.Join(trash, e.Name)); err != nil {
			return fmt.Errorf("empty trash: %w", err)
		}
	}
	return nil
}

// hostname names this machine in lock files.
func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}
