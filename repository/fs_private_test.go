package repository

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestFSPrivateModes: whatever the umask, the directories an FS makes are
// 0700 and its files 0600; Chmod and Mode round-trip; Writable writes
// nothing.
func TestFSPrivateModes(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	forEachFS(t, func(t *testing.T, newRepo func(testing.TB) Repo) {
		ctx := context.Background()
		r := newRepo(t)
		fsys := r.Files()
		dir := filepath.Join(r.Root, "a", "b")
		if err := fsys.MkdirAll(ctx, dir); err != nil {
			t.Fatal(err)
		}
		w, err := fsys.Create(ctx, filepath.Join(dir, "created"))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		for name, write := range map[string]func(string) error{
			"written":  func(p string) error { return fsys.WriteFile(ctx, p, []byte("x")) },
			"appended": func(p string) error { return fsys.Append(ctx, p, []byte("x")) },
		} {
			if err := write(filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
		want := map[string]fs.FileMode{
			filepath.Join(r.Root, "a"): 0o700, dir: 0o700,
			filepath.Join(dir, "created"): 0o600, filepath.Join(dir, "written"): 0o600, filepath.Join(dir, "appended"): 0o600,
		}
		for p, mode := range want {
			st, err := os.Stat(p)
			if err != nil || st.Mode().Perm() != mode {
				t.Errorf("%s: %v %v, want %04o", p, st.Mode(), err, mode)
			}
		}
		if err := fsys.Chmod(ctx, dir, 0o750); err != nil {
			t.Fatal(err)
		}
		if m, err := fsys.Mode(ctx, dir); err != nil || m != 0o750 {
			t.Errorf("Mode after Chmod 0750: %04o %v", m, err)
		}
		before, _ := os.ReadDir(dir)
		if err := fsys.Writable(ctx, dir); err != nil {
			t.Errorf("Writable(%s): %v", dir, err)
		}
		if after, _ := os.ReadDir(dir); len(after) != len(before) {
			t.Errorf("Writable wrote into %s", dir)
		}
		if err := fsys.Writable(ctx, filepath.Join(r.Root, "missing")); err == nil {
			t.Error("Writable of a missing directory: no error")
		}
	})
}

// TestInitAndOpen: init makes the marker once; Open refuses a root without
// one and adopts a root with depot snapshots.
func TestInitAndOpen(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		prepare func(t *testing.T, r Repo)
		adopted bool
		err     error
	}{
		{"missing root", func(t *testing.T, r Repo) { os.RemoveAll(r.Root) }, false, ErrNotRepository},
		{"empty root", func(t *testing.T, r Repo) {}, false, ErrNotRepository},
		{"initialised", func(t *testing.T, r Repo) {
			if _, err := r.Init(ctx, now, "UTC"); err != nil {
				t.Fatal(err)
			}
		}, false, nil},
		{"made before markers", func(t *testing.T, r Repo) { publish(t, r, "web", now) }, true, nil},
		{"incomplete snapshots only", func(t *testing.T, r Repo) {
			if err := os.MkdirAll(r.Dir(Holding, "web", Stamp(now)), 0o700); err != nil {
				t.Fatal(err)
			}
		}, false, ErrNotRepository},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Repo{Root: t.TempDir()}
			tt.prepare(t, r)
			m, adopted, err := r.Open(ctx, now, "Europe/Berlin")
			if !errors.Is(err, tt.err) || adopted != tt.adopted {
				t.Fatalf("Open: adopted %v, %v; want %v, %v", adopted, err, tt.adopted, tt.err)
			}
			if err == nil && (m.ID == "" || m.Format != MarkerFormat) {
				t.Errorf("marker %+v", m)
			}
			if tt.err != nil {
				if _, err := os.Stat(r.MarkerPath()); !os.IsNotExist(err) {
					t.Errorf("Open wrote a marker: %v", err)
				}
			}
		})
	}
}
