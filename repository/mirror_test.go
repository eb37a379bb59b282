package repository

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/internal/sshtest"
)

// snapshotWith publishes a snapshot of set whose files are hard links to
// prev's, except those in changed, which get new content.
func snapshotWith(t testing.TB, r Repo, set string, at time.Time, prev *Snapshot, files []string, changed map[string]string) Snapshot {
	t.Helper()
	b, err := r.Begin(ctx, set, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(b.Dir, "item"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		dst := filepath.Join(b.Dir, "item", f)
		if c, ok := changed[f]; ok || prev == nil {
			if !ok {
				c = f + " first version " + string(bytes.Repeat([]byte("x"), 64<<10))
			}
			if err := os.WriteFile(dst, []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.Link(filepath.Join(prev.Path, "item", f), dst); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.WriteManifest(ctx, &Manifest{Format: ManifestFormat, Set: set, Stamp: b.Stamp}); err != nil {
		t.Fatal(err)
	}
	s, err := b.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func diskUsage(t testing.TB, dir string) int64 {
	t.Helper()
	u := newUsage()
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil {
			st := info.Sys().(*syscall.Stat_t)
			u.add(st.Ino, uint64(st.Nlink), st.Blocks*512, info.IsDir())
		}
		return nil
	})
	// Every link inside dir counts once: sum all inodes seen.
	total := u.sum
	for _, s := range u.shared {
		total += s.blocks
	}
	return total
}

func TestMirror(t *testing.T) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// The ssh target is a second machine: its mirrors live in directories
	// that only it sees at their paths, and it does not see the
	// repositories.
	remoteRoot, localRoot := t.TempDir(), t.TempDir()
	s := sshtest.Start(t, sshtest.Options{Separate: []string{remoteRoot, localRoot}})
	h, err := hosts.NewSSH(s.Addr(), hosts.SSHOptions{IdentityFile: s.IdentityFile, KnownHosts: s.KnownHosts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	targets := []struct {
		name string
		fs   func(testing.TB) FS
		root func(testing.TB) string // the target's root on its host
		seen func(string) string     // where this process sees a path of the target
	}{
		{"local", func(testing.TB) FS { return LocalFS{} }, func(tb testing.TB) string { return tb.TempDir() }, func(p string) string { return p }},
		{"ssh", func(tb testing.TB) FS { return newHostFS(tb, h) }, func(tb testing.TB) string {
			root := filepath.Join(remoteRoot, "mirror")
			if err := os.MkdirAll(s.Remote(root), 0o755); err != nil {
				tb.Fatal(err)
			}
			return root
		}, s.Remote},
	}
	for _, target := range targets {
		t.Run(target.name, func(t *testing.T) {
			src := Repo{Root: filepath.Join(localRoot, target.name)}
			if err := os.Mkdir(src.Root, 0o700); err != nil {
				t.Fatal(err)
			}
			dst := Repo{Root: target.root(t), FS: target.fs(t)}
			files := []string{"a", "b", "c", "d"}
			s1 := snapshotWith(t, src, "web", t0, nil, files, nil)
			s2 := snapshotWith(t, src, "web", t0.Add(time.Hour), &s1, files, map[string]string{"a": "changed once"})
			s3 := snapshotWith(t, src, "web", t0.Add(2*time.Hour), &s2, files, map[string]string{"b": "changed twice"})
			opts := MirrorOptions{Delete: true, Log: log}

			st, err := Mirror(ctx, src, dst, opts)
			if err != nil {
				t.Fatal(err)
			}
			if st.Copied != 3 {
				t.Fatalf("first mirror %+v, want 3 copied", st)
			}
			for _, snap := range []Snapshot{s1, s2, s3} {
				want, _ := os.ReadFile(filepath.Join(snap.Path, ManifestName))
				got, err := os.ReadFile(target.seen(filepath.Join(dst.Dir(Holding, "web", snap.Stamp), ManifestName)))
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("mirrored manifest of %s differs: %v", snap.Stamp, err)
				}
			}
			// Unchanged files share inodes on the mirror as in the repository.
			c1, _ := os.Stat(target.seen(filepath.Join(dst.Dir(Holding, "web", s1.Stamp), "item", "c")))
			c3, _ := os.Stat(target.seen(filepath.Join(dst.Dir(Holding, "web", s3.Stamp), "item", "c")))
			if !os.SameFile(c1, c3) {
				t.Error("an unchanged file is not shared between mirrored snapshots")
			}
			srcDU, dstDU := diskUsage(t, filepath.Join(src.Root, Holding)), diskUsage(t, target.seen(filepath.Join(dst.Root, Holding)))
			if float64(dstDU) > 1.05*float64(srcDU) {
				t.Errorf("mirror uses %d bytes, the repository %d: more than 5%% over", dstDU, srcDU)
			}

			// Again: nothing to do.
			if st, err := Mirror(ctx, src, dst, opts); err != nil || st.Copied+st.Moved+st.Deleted != 0 || st.Kept != 3 {
				t.Fatalf("second mirror %+v, %v", st, err)
			}

			// The repository migrates s1, prunes s2 and makes s4.
			if err := os.MkdirAll(filepath.Join(src.Root, Permanent, "web"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(s1.Path, src.Dir(Permanent, "web", s1.Stamp)); err != nil {
				t.Fatal(err)
			}
			rec := &Record{Format: RecordFormat, Day: "2026-11-21", Zone: "UTC", Rules: []string{"daily"}}
			if err := src.WriteRecord(ctx, src.Dir(Permanent, "web", s1.Stamp), rec); err != nil {
				t.Fatal(err)
			}
			if err := src.RecordDeletion(ctx, s2, "test", t0); err != nil {
				t.Fatal(err)
			}
			if err := src.Delete(ctx, s2); err != nil {
				t.Fatal(err)
			}
			snapshotWith(t, src, "web", t0.Add(3*time.Hour), &s3, files, map[string]string{"d": "new d"})
			st, err = Mirror(ctx, src, dst, opts)
			if err != nil {
				t.Fatal(err)
			}
			if st.Copied != 1 || st.Moved != 1 || st.Deleted != 1 {
				t.Fatalf("third mirror %+v, want 1 copied, 1 moved, 1 deleted", st)
			}
			got, _ := dst.Snapshots(ctx, "web")
			want, _ := src.Snapshots(ctx, "web")
			dst.ReadRecords(ctx, got)
			if got[0].Record == nil || got[0].Record.Rules[0] != "daily" {
				t.Errorf("the moved snapshot's record: %+v", got[0].Record)
			}
			if len(got) != len(want) {
				t.Fatalf("mirror has %v, repository %v", got, want)
			}
			for i := range got {
				if got[i].Stamp != want[i].Stamp || got[i].Section != want[i].Section || !got[i].Complete {
					t.Fatalf("mirror snapshot %+v, repository %+v", got[i], want[i])
				}
			}
		})
	}
}

func TestMirrorKeepsWhatTheRepositoryDropsWithoutDelete(t *testing.T) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	src, dst := Repo{Root: t.TempDir()}, Repo{Root: t.TempDir()}
	s1 := snapshotWith(t, src, "web", t0, nil, []string{"a"}, nil)
	if _, err := Mirror(ctx, src, dst, MirrorOptions{Log: log}); err != nil {
		t.Fatal(err)
	}
	if err := src.Delete(ctx, s1); err != nil {
		t.Fatal(err)
	}
	snapshotWith(t, src, "web", t0.Add(time.Hour), nil, []string{"a"}, nil)
	if _, err := Mirror(ctx, src, dst, MirrorOptions{Log: log}); err != nil {
		t.Fatal(err)
	}
	if got, _ := dst.Snapshots(ctx, "web"); len(got) != 2 {
		t.Fatalf("mirror without delete has %d snapshots, want 2", len(got))
	}
}

// TestMirrorResumesAfterACut cancels a mirror while rsync is copying: nothing
// is published on the mirror, and the next mirror completes.
func TestMirrorResumesAfterACut(t *testing.T) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	src, dst := Repo{Root: t.TempDir()}, Repo{Root: t.TempDir()}
	snapshotWith(t, src, "web", t0, nil, []string{"a", "b", "c", "d", "e", "f"}, nil)
	cut, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	_, err := Mirror(cut, src, dst, MirrorOptions{BwLimit: "64", Log: log})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cut mirror: %v", err)
	}
	if got, _ := dst.Snapshots(ctx, "web"); len(got) != 0 {
		t.Fatalf("a cut mirror published %v", got)
	}
	if p, _ := dst.Partials(ctx, "web"); len(p) != 1 {
		t.Fatalf("partials after the cut: %v", p)
	}
	if _, err := Mirror(ctx, src, dst, MirrorOptions{Log: log}); err != nil {
		t.Fatal(err)
	}
	if got, _ := dst.Snapshots(ctx, "web"); len(got) != 1 || !got[0].Complete {
		t.Fatalf("after resuming: %v", got)
	}
	if p, _ := dst.Partials(ctx, "web"); len(p) != 0 {
		t.Fatalf("partials left: %v", p)
	}
}

// TestMirrorBatchResumesAfterACut cuts a new mirror's single rsync of several
// snapshots; nothing is published, and the next mirror completes them all
// with their hard links.
func TestMirrorBatchResumesAfterACut(t *testing.T) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	src, dst := Repo{Root: t.TempDir()}, Repo{Root: t.TempDir()}
	files := []string{"a", "b", "c", "d", "e", "f"}
	s1 := snapshotWith(t, src, "web", t0, nil, files, nil)
	s2 := snapshotWith(t, src, "web", t0.Add(time.Hour), &s1, files, map[string]string{"a": "new a"})
	cut, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, err := Mirror(cut, src, dst, MirrorOptions{BwLimit: "64", Log: log}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cut mirror: %v", err)
	}
	if got, _ := dst.Snapshots(ctx, "web"); len(got) != 0 {
		t.Fatalf("a cut mirror published %v", got)
	}
	st, err := Mirror(ctx, src, dst, MirrorOptions{Log: log})
	if err != nil || st.Copied != 2 {
		t.Fatalf("resumed mirror %+v, %v", st, err)
	}
	b1, _ := os.Stat(filepath.Join(dst.Dir(Holding, "web", s1.Stamp), "item", "b"))
	b2, _ := os.Stat(filepath.Join(dst.Dir(Holding, "web", s2.Stamp), "item", "b"))
	if !os.SameFile(b1, b2) {
		t.Error("the batch copy lost the hard link between snapshots")
	}
}
