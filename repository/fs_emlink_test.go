package repository

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ext4MaxLinks is ext4's limit of hard links to one inode.
const ext4MaxLinks = 65000

// linkToLimit gives file as many hard links (in a directory beside it) as
// its ext4 file system allows, so the next link fails with EMLINK. It skips
// the test on another file system, whose limit is out of reach.
func linkToLimit(t testing.TB, file string) {
	t.Helper()
	var fs unix.Statfs_t
	if err := unix.Statfs(file, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type != unix.EXT4_SUPER_MAGIC {
		t.Skipf("%s is not on ext4 (magic %#x): its link limit is out of reach", file, fs.Type)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(file, &st); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(filepath.Dir(file), fmt.Sprintf(".links-%d", st.Ino))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for i := int(st.Nlink); i < ext4MaxLinks; i++ {
		if err := os.Link(file, filepath.Join(dir, fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLinkAtTheLimitCopies: FS.Link copies a file that has reached the
// link limit, keeping its content, mode and mtime.
func TestLinkAtTheLimitCopies(t *testing.T) {
	forEachFS(t, func(t *testing.T, newRepo func(testing.TB) Repo) {
		r := newRepo(t)
		old, new := filepath.Join(r.Root, "old"), filepath.Join(r.Root, "new")
		if err := os.WriteFile(old, []byte("dump\n"), 0o640); err != nil {
			t.Fatal(err)
		}
		mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
		if err := os.Chtimes(old, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		linkToLimit(t, old)
		if err := os.Link(old, filepath.Join(r.Root, "probe")); !errors.Is(err, syscall.EMLINK) {
			t.Fatalf("a link past the limit: %v, want EMLINK", err)
		}
		if err := r.Files().Link(context.Background(), old, new); err != nil {
			t.Fatalf("Link at the limit: %v", err)
		}
		a, _ := os.Stat(old)
		b, err := os.Stat(new)
		if err != nil || os.SameFile(a, b) || b.Mode() != a.Mode() || !b.ModTime().Equal(mtime) {
			t.Fatalf("new: %v %v; want a copy with mode %v, mtime %v", b, err, a.Mode(), mtime)
		}
		if data, _ := os.ReadFile(new); string(data) != "dump\n" {
			t.Errorf("copy holds %q", data)
		}
	})
}
