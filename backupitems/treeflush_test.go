package backupitems

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/depot-backup/depot/hosts"
)

// TestFirstCopyWritesBehind: once a first copy's listing is closed (after
// the file list read the copy), none of the copy is left dirty in the page
// cache (cachestat(2)): it went to the disk beside the file list, not in the
// sync before the manifest.
func TestFirstCopyWritesBehind(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "data"), bytes.Repeat([]byte("depot"), 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	env := localItemEnv(t, dir)
	item := env.Dir
	f := &Filesystem{Paths: []string{src}}
	_, list, err := f.BackupTree(context.Background(), env, TreeEnv{})
	if err != nil {
		t.Fatal(err)
	}
	if list.Close == nil {
		t.Fatal("the listing of a copy on this machine has nothing to wait for")
	}
	list.Close()
	if n := dirtyPages(t, filepath.Join(item, src, "data")); n != 0 {
		t.Fatalf("%d pages of the copy still dirty or under writeback after the listing closed", n)
	}
}

// TestWriteBehindMissingDir: a directory that cannot be opened costs only
// the speed-up, and wait may be called twice.
func TestWriteBehindMissingDir(t *testing.T) {
	wait := writeBehind(filepath.Join(t.TempDir(), "gone"))
	wait()
	wait()
}

// dirtyPages is how many pages of the file at p are dirty or being written
// out, by cachestat(2).
func dirtyPages(t testing.TB, p string) uint64 {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cs unix.Cachestat_t
	if err := unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{}, &cs, 0); err != nil {
		t.Skipf("cachestat: %v", err)
	}
	return cs.Dirty + cs.Writeback
}

// localItemEnv is the Env of an item copied from this machine into a new
// item directory under dir, on this machine too.
func localItemEnv(t testing.TB, dir string) Env {
	t.Helper()
	item := filepath.Join(dir, "item")
	if err := os.Mkdir(item, 0o700); err != nil {
		t.Fatal(err)
	}
	return Env{Source: hosts.Local{}, Repo: hosts.Local{}, Dir: item, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}
