package repository

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// removableTree writes a tree with what snapshots hold: nested and deep
// directories, read-only and unsearchable ones, files of every mode,
// symlinks to directories and out of the tree, and hard links. It returns a
// file outside the tree that a symlink inside points to.
func removableTree(t testing.TB, root string) string {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	outside := filepath.Join(filepath.Dir(root), "outside")
	must(os.MkdirAll(outside, 0o755))
	must(os.WriteFile(filepath.Join(outside, "keep"), []byte("keep"), 0o644))
	for i := range 40 {
		dir := filepath.Join(root, fmt.Sprintf("d%d", i%5), fmt.Sprintf("e%d", i%7))
		must(os.MkdirAll(dir, 0o755))
		must(os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d", i)), []byte("x"), 0o400))
	}
	deep := root
	for i := range 120 {
		deep = filepath.Join(deep, fmt.Sprint(i))
	}
	must(os.MkdirAll(deep, 0o755))
	must(os.WriteFile(filepath.Join(deep, "bottom"), nil, 0o644))
	must(os.Symlink(outside, filepath.Join(root, "d0", "to-outside")))
	must(os.Symlink(filepath.Join(outside, "keep"), filepath.Join(root, "d1", "to-keep")))
	must(os.Link(filepath.Join(root, "d0", "e0", "f0"), filepath.Join(root, "d1", "hard")))
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{"d2/e2", 0o500}, {"d3", 0o000}, {"d4/e4", 0o100}} {
		must(os.Chmod(filepath.Join(root, d.path), d.mode))
	}
	return filepath.Join(outside, "keep")
}

func TestRemoveTree(t *testing.T) {
	for _, tc := range []struct {
		name     string
		removers int
	}{{"one", 1}, {"two at once", 2}} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "tree")
			keep := removableTree(t, root)
			var wg sync.WaitGroup
			errs := make([]error, tc.removers)
			for i := range tc.removers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = removeTree(context.Background(), root)
				}()
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if _, err := os.Lstat(root); !os.IsNotExist(err) {
				t.Fatalf("tree still there: %v", err)
			}
			if _, err := os.Stat(keep); err != nil {
				t.Fatalf("a file a symlink pointed to was removed: %v", err)
			}
		})
	}
	t.Run("missing, file, symlink", func(t *testing.T) {
		dir := t.TempDir()
		if err := removeTree(context.Background(), filepath.Join(dir, "none")); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "file"), nil, 0o644)
		os.Mkdir(filepath.Join(dir, "target"), 0o755)
		os.Symlink(filepath.Join(dir, "target"), filepath.Join(dir, "link"))
		for _, p := range []string{"file", "link"} {
			if err := removeTree(context.Background(), filepath.Join(dir, p)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "target")); err != nil {
			t.Fatalf("removing a symlink removed its target: %v", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		root := filepath.Join(t.TempDir(), "tree")
		removableTree(t, root)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := removeTree(ctx, root); err == nil || !strings.Contains(err.Error(), "canceled") {
			t.Fatalf("cancelled removal: %v", err)
		}
		if err := removeTree(context.Background(), root); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRemoveTreeLargeDirectory removes a directory whose listing takes
// many getdents reads, with subdirectories among its files, so that every
// read after the first one matters.
func TestRemoveTreeLargeDirectory(t *testing.T) {
	root := filepath.Join(t.TempDir(), "tree")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("n", 100)
	for i := range 3000 {
		p := filepath.Join(root, fmt.Sprintf("%s%05d", long, i))
		var err error
		if i%500 == 0 {
			err = os.Mkdir(p, 0o755)
		} else {
			err = os.WriteFile(p, nil, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if size := 3000 * (19 + len(long) + 6); size < 4*direntBufSize {
		t.Fatalf("%d bytes of entries fit in %d reads at most: make the names longer", size, size/direntBufSize+1)
	}
	if err := removeTree(context.Background(), root); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(root); !os.IsNotExist(err) {
		t.Fatalf("tree still there: %v", err)
	}
}

// TestIsDirUnknownType checks the lstat fallback for file systems whose
// getdents gives no type: a symlink to a directory is no directory.
func TestIsDirUnknownType(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "dir"), 0o755)
	os.WriteFile(filepath.Join(dir, "file"), nil, 0o644)
	os.Symlink("dir", filepath.Join(dir, "link"))
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(dfd) })
	for name, want := range map[string]bool{"dir": true, "file": false, "link": false, "gone": false} {
		got, err := isDir(dfd, name, unix.DT_UNKNOWN)
		if err != nil || got != want {
			t.Errorf("isDir(%s) = %v, %v; want %v", name, got, err, want)
		}
	}
}
