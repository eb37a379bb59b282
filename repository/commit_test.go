package repository

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	t0  = time.Date(2026, 11, 21, 2, 0, 0, 0, time.UTC)
	ctx = context.Background()
)

// publish makes a complete snapshot of set at t with one file, item/data.
func publish(t testing.TB, r Repo, set string, at time.Time) Snapshot {
	t.Helper()
	return snapshotWith(t, r, set, at, nil, []string{"data"}, nil)
}

func TestPublishMakesCompleteSnapshot(t *testing.T) {
	forEachFS(t, func(t *testing.T, newRepo func(testing.TB) Repo) {
		r := newRepo(t)
		s := publish(t, r, "web", t0)
		if s.Stamp != "2026-11-21T020000Z" || s.Section != Holding {
			t.Fatalf("snapshot %+v", s)
		}
		m, err := r.ReadManifest(ctx, s.Path)
		if err != nil || m.Stamp != s.Stamp {
			t.Fatalf("manifest %+v, %v", m, err)
		}
		if p, _ := r.Partials(ctx, "web"); len(p) != 0 {
			t.Fatalf("partials left: %v", p)
		}
		latest, ok, err := r.Latest(ctx, "web")
		if err != nil || !ok || latest.Stamp != s.Stamp || !latest.Complete {
			t.Fatalf("Latest = %+v %v %v", latest, ok, err)
		}
	})
}

func TestPublishRefusesWithoutManifest(t *testing.T) {
	forEachFS(t, func(t *testing.T, newRepo func(testing.TB) Repo) {
		r := newRepo(t)
		b, err := r.Begin(ctx, "web", t0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Publish(ctx); err == nil {
			t.Fatal("published a snapshot without a manifest")
		}
		if snaps, _ := r.Snapshots(ctx, "web"); len(snaps) != 0 {
			t.Fatalf("snapshots: %v", snaps)
		}
	})
}

// TestBeginStampsFromTheClock: a stamp is the start time, even after a
// snapshot dated later; a second snapshot in the same second is refused.
func TestBeginStampsFromTheClock(t *testing.T) {
	forEachFS(t, func(t *testing.T, newRepo func(testing.TB) Repo) {
		r := newRepo(t)
		publish(t, r, "web", t0.Add(24*time.Hour)) // the clock was ahead
		a := publish(t, r, "web", t0)
		if a.Stamp != "2026-11-21T020000Z" {
			t.Fatalf("stamp %s after a future-dated snapshot, want the clock's", a.Stamp)
		}
		if _, err := r.Begin(ctx, "web", t0.Add(300*time.Millisecond)); !errors.Is(err, ErrStampTaken) {
			t.Fatalf("a second snapshot in one second: %v", err)
		}
		if b := publish(t, r, "web", t0.Add(time.Second)); b.Stamp != "2026-11-21T020001Z" {
			t.Fatalf("next second's stamp %s", b.Stamp)
		}
		// A stamp in permanent, even of a snapshot without its manifest,
		// is taken too.
		if err := r.Files().MkdirAll(ctx, r.Dir(Permanent, "web", "2026-11-21T020002Z")); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Begin(ctx, "web", t0.Add(2*time.Second)); !errors.Is(err, ErrStampTaken) {
			t.Fatalf("a stamp taken in permanent: %v", err)
		}
	})
}

func TestBeginResumesNewestPartial(t *testing.T) {
	forEachFS(t, func(t *testing.T, newRepo func(testing.TB) Repo) {
		r := newRepo(t)
		for _, at := range []time.Time{t0, t0.Add(time.Hour)} {
			b, err := r.Begin(ctx, "web", at)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(b.Dir, "from"), []byte(b.Stamp), 0o644); err != nil {
				t.Fatal(err)
			}
			// Killed just before publishing: the manifest is there, the rename not.
			if err := b.WriteManifest(ctx, &Manifest{Stamp: b.Stamp}); err != nil {
				t.Fatal(err)
			}
		}
		b, err := r.Begin(ctx, "web", t0.Add(2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if b.Resumed != "2026-11-21T030000Z" {
			t.Fatalf("resumed %q, want the newest partial", b.Resumed)
		}
		data, err := os.ReadFile(filepath.Join(b.Dir, "from"))
		if err != nil || string(data) != "2026-11-21T030000Z" {
			t.Fatalf("resumed content %q, %v", data, err)
		}
		if _, err := os.Stat(filepath.Join(b.Dir, ManifestName)); err == nil {
			t.Fatal("the interrupted run's manifest survived into the resumed build")
		}
		if p, _ := r.Partials(ctx, "web"); len(p) != 1 || p[0] != b.Stamp {
			t.Fatalf("partials %v, want only %s", p, b.Stamp)
		}
	})
}

func TestIncompleteSnapshotIsNeverABase(t *testing.T) {
	forEachFS(t, func(t *testing.T, newRepo func(testing.TB) Repo) {
		r := newRepo(t)
		good := publish(t, r, "web", t0)
		bad := r.Dir(Holding, "web", Stamp(t0.Add(time.Hour)))
		if err := os.MkdirAll(bad, 0o755); err != nil {
			t.Fatal(err)
		}
		latest, ok, err := r.Latest(ctx, "web")
		if err != nil || !ok || latest.Stamp != good.Stamp {
			t.Fatalf("Latest = %+v, want %s", latest, good.Stamp)
		}
	})
}

func TestDeleteGoesThroughTrash(t *testing.T) {
	forEachFS(t, func(t *testing.T, newRepo func(testing.TB) Repo) {
		r := newRepo(t)
		s := publish(t, r, "web", t0)
		// A read-only directory inside, as a source may have.
		ro := filepath.Join(s.Path, "ro")
		if err := os.Mkdir(ro, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ro, "f"), nil, 0o444); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(ro, 0o555); err != nil {
			t.Fatal(err)
		}
		if err := r.Delete(ctx, s); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(s.Path); !os.IsNotExist(err) {
			t.Fatalf("snapshot still there: %v", err)
		}
		entries, _ := os.ReadDir(filepath.Join(r.StateDir(), trashDir))
		if len(entries) != 0 {
			t.Fatalf("trash not emptied: %v", entries)
		}
	})
}

func TestMigrateRenamesIntoPermanent(t *testing.T) {
	forEachFS(t, func(t *testing.T, newRepo func(testing.TB) Repo) {
		r := newRepo(t)
		s := publish(t, r, "web", t0)
		before, err := os.Stat(filepath.Join(s.Path, "item", "data"))
		if err != nil {
			t.Fatal(err)
		}
		m, err := r.Migrate(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if want := r.Dir(Permanent, "web", s.Stamp); m.Path != want || m.Section != Permanent || !m.Complete {
			t.Fatalf("migrated %+v, want it at %s", m, want)
		}
		after, err := os.Stat(filepath.Join(m.Path, "item", "data"))
		if err != nil || !os.SameFile(before, after) {
			t.Fatalf("the migrated file is not the same inode: %v", err)
		}
		snaps, err := r.Snapshots(ctx, "web")
		if err != nil || len(snaps) != 1 || snaps[0].Path != m.Path || snaps[0].Section != m.Section || !snaps[0].Complete {
			t.Fatalf("snapshots %+v, %v; want only %+v", snaps, err, m)
		}
		if _, err := r.Migrate(ctx, m); err == nil || !strings.Contains(err.Error(), "not in holding") {
			t.Fatalf("migrating a permanent snapshot: %v", err)
		}
		// A name already taken in permanent is never overwritten.
		again := publish(t, r, "web", t0.Add(time.Hour))
		if err := os.MkdirAll(r.Dir(Permanent, "web", again.Stamp), 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Migrate(ctx, again); err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("migrating onto an existing directory: %v", err)
		}
		if _, err := os.Stat(filepath.Join(again.Path, ManifestName)); err != nil {
			t.Fatalf("the refused snapshot left holding: %v", err)
		}
	})
}

func TestEmptyTrashFinishesInterruptedDelete(t *testing.T) {
	forEachFS(t, func(t *testing.T, newRepo func(testing.TB) Repo) {
		r := newRepo(t)
		left := filepath.Join(r.StateDir(), trashDir, "del-1", "2026-11-21T020000Z")
		if err := os.MkdirAll(filepath.Join(left, "a", "b"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := r.EmptyTrash(ctx); err != nil {
			t.Fatal(err)
		}
		if entries, _ := os.ReadDir(filepath.Join(r.StateDir(), trashDir)); len(entries) != 0 {
			t.Fatalf("trash: %v", entries)
		}
	})
}

func TestLock(t *testing.T) {
	forEachFS(t, func(t *testing.T, newRepo func(testing.TB) Repo) {
		r := newRepo(t)
		held, err := r.Lock(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		// Another run has a file system of its own on the same root.
		r = Repo{Root: r.Root, FS: newRepo(t).Files()}
		_, err = r.Lock(ctx, 0)
		var locked *LockedError
		if !errors.As(err, &locked) || !errors.Is(err, ErrLocked) {
			t.Fatalf("second lock: %v, want LockedError", err)
		}
		if locked.PID != os.Getpid() || !strings.Contains(err.Error(), "locked by pid") {
			t.Fatalf("lock holder %+v (%v)", locked, err)
		}
		start := time.Now()
		_, err = r.Lock(ctx, 300*time.Millisecond)
		if !errors.Is(err, ErrLocked) || time.Since(start) < 250*time.Millisecond {
			t.Fatalf("waiting lock: %v after %v", err, time.Since(start))
		}
		go func() {
			time.Sleep(200 * time.Millisecond)
			held.Unlock()
		}()
		second, err := r.Lock(ctx, 5*time.Second)
		if err != nil {
			t.Fatalf("lock after release: %v", err)
		}
		second.Unlock()
		// The file system stays usable after its lock is released: a run
		// empties the trash then.
		if _, err := r.Files().ReadDir(ctx, r.Root); err != nil {
			t.Fatalf("after unlock: %v", err)
		}
		third, err := r.Lock(ctx, 0)
		if err != nil {
			t.Fatalf("lock again after unlock: %v", err)
		}
		third.Unlock()
	})
}

func TestExclusiveSize(t *testing.T) {
	forEachFS(t, func(t *testing.T, newRepo func(testing.TB) Repo) {
		r := newRepo(t)
		a := publish(t, r, "web", t0)
		b := publish(t, r, "web", t0.Add(time.Hour))
		big := make([]byte, 1<<20)
		if err := os.WriteFile(filepath.Join(a.Path, "big"), big, 0o644); err != nil {
			t.Fatal(err)
		}
		sizeA, err := r.Files().ExclusiveSize(ctx, a.Path)
		if err != nil {
			t.Fatal(err)
		}
		if sizeA < 1<<20 {
			t.Fatalf("exclusive size %d, want at least the 1 MiB file", sizeA)
		}
		if err := os.Link(filepath.Join(a.Path, "big"), filepath.Join(b.Path, "big")); err != nil {
			t.Fatal(err)
		}
		shared, err := r.Files().ExclusiveSize(ctx, a.Path)
		if err != nil {
			t.Fatal(err)
		}
		if shared >= 1<<20 {
			t.Fatalf("exclusive size %d counts a file shared with another snapshot", shared)
		}
	})
}

func TestBeginResumesWithinTheSameSecond(t *testing.T) {
	forEachFS(t, func(t *testing.T, newRepo func(testing.TB) Repo) {
		r := newRepo(t)
		first, err := r.Begin(ctx, "web", t0)
		if err != nil {
			t.Fatal(err)
		}
		again, err := r.Begin(ctx, "web", t0.Add(400*time.Millisecond))
		if err != nil {
			t.Fatalf("resume in the same second: %v", err)
		}
		if again.Resumed != first.Stamp || again.Dir != first.Dir {
			t.Fatalf("resumed %+v, want the build of %s", again, first.Stamp)
		}
	})
}
