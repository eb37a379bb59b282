package director

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/depot-backup/depot/repository"
)

// TestVerifyGone: a snapshot that is no longer there after its check (a
// prune deleted it meanwhile) is reported gone, not failed, and its files
// are not searched for good copies; one that is still there with the same
// problems fails.
func TestVerifyGone(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	repo := repository.Repo{Root: root}
	dir := filepath.Join(root, "holding", "web", "2026-12-03T000000Z")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	s := repository.Snapshot{Section: repository.Holding, Set: "web", Stamp: "2026-12-03T000000Z", Path: dir}

	cache := newHashCache()
	cache.noteBad(filepath.Join(dir, "tree", "f"), repository.Entry{Path: "f", Mode: 0o100644, Hash: "ab"})
	cache.noteBad(filepath.Join(dir+"0", "tree", "f"), repository.Entry{Path: "f", Mode: 0o100644, Hash: "ab"})
	_, problems, gone := verifyOrGone(ctx, repo, s, cache)
	if gone || len(problems) == 0 {
		t.Fatalf("a snapshot without a manifest, still there: problems %q, gone %v; want failed", problems, gone)
	}
	if len(cache.bad) != 2 {
		t.Fatalf("%d bad files kept for a snapshot still there, want 2", len(cache.bad))
	}

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	_, problems, gone = verifyOrGone(ctx, repo, s, cache)
	if !gone || len(problems) != 0 {
		t.Fatalf("a deleted snapshot: problems %q, gone %v; want gone", problems, gone)
	}
	if len(cache.bad) != 1 || cache.bad[0].path != filepath.Join(dir+"0", "tree", "f") {
		t.Fatalf("bad files after the snapshot went: %+v; want only the other snapshot's", cache.bad)
	}
}
