package repository

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/depot-backup/depot/hosts"
)

// TestLinkTree: the new tree holds exactly the directories and links asked
// for, the links share the base's inodes, and the base is untouched, on
// every FS.
func TestLinkTree(t *testing.T) {
	forEachFS(t, func(t *testing.T, newRepo func(testing.TB) Repo) {
		r := newRepo(t)
		base, dst := filepath.Join(r.Root, "base"), filepath.Join(r.Root, "new")
		var files []string
		for i := range 3000 { // enough for several goroutines
			files = append(files, fmt.Sprintf("d%d/f%04d", i%7, i))
		}
		files = append(files, "top", "gone/deep/file", "was-dir/x")
		for _, f := range files {
			p := filepath.Join(base, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Mkdir(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		// Keep d0..d6 and top; leave out d3/f0003 (changed), gone/ (deleted)
		// and was-dir/ (a file now, which rsync will bring).
		dirs := []string{"d0", "d1", "d2", "d3", "d4", "d5", "d6", "newdir"}
		var links []string
		for _, f := range files {
			if f != "d3/f0003" && !strings.HasPrefix(f, "gone/") && !strings.HasPrefix(f, "was-dir/") {
				links = append(links, f)
			}
		}
		drop := []string{"d3/f0003", "gone", "was-dir"}
		if err := r.FS.LinkTree(context.Background(), base, dst, dirs, links, drop); err != nil {
			t.Fatal(err)
		}
		var got []string
		filepath.Walk(dst, func(p string, info os.FileInfo, err error) error {
			if err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(dst, p)
			if rel == "." || info.IsDir() {
				return nil
			}
			got = append(got, rel)
			b, err := os.Stat(filepath.Join(base, rel))
			if err != nil || !os.SameFile(b, info) {
				t.Errorf("%s is not the base's inode: %v", rel, err)
			}
			return nil
		})
		slices.Sort(got)
		want := slices.Clone(links)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("new tree has %d files, want %d (first: %v)", len(got), len(want), got[:min(5, len(got))])
		}
		for _, gone := range []string{"gone", "was-dir"} {
			if _, err := os.Lstat(filepath.Join(dst, gone)); err == nil {
				t.Errorf("%s is in the new tree", gone)
			}
		}
		if _, err := os.Stat(filepath.Join(base, "gone", "deep", "file")); err != nil {
			t.Errorf("the base lost a file: %v", err)
		}
	})
}

// TestLinkTreeNeedsEmptyTarget: a host FS refuses to clone into a directory
// that holds something, rather than mixing trees.
func TestLinkTreeNeedsEmptyTarget(t *testing.T) {
	r := Repo{Root: t.TempDir(), FS: newHostFS(t, hosts.Local{})}
	base, dst := filepath.Join(r.Root, "base"), filepath.Join(r.Root, "new")
	for _, d := range []string{base, dst} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dst, "stale"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.FS.LinkTree(context.Background(), base, dst, nil, nil, nil); err == nil {
		t.Fatal("linked into a directory that was not empty")
	}
}
