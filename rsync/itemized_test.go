package rsync

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/depot-backup/depot/hosts"
)

// TestRunItemized: with Itemized, a ListAll transfer hands each path to it
// as Result.Paths would hold it (linked or not), leaves Paths nil, and
// still parses the stats.
func TestRunItemized(t *testing.T) {
	requireRsync(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	for _, name := range []string{"a/f", "a/new\nline", "b/c/g"} {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base := filepath.Join(dir, "base") + "/"
	if _, err := Run(context.Background(), hosts.Local{}, Options{Sources: []string{src}, Dest: base, Relative: true, NumericIDs: true}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "a/f"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(dst string, itemized func(string, bool)) Result {
		t.Helper()
		o := Options{Sources: []string{src}, Dest: filepath.Join(dir, dst) + "/", LinkDest: base, Relative: true, NumericIDs: true, ListAll: true, Itemized: itemized}
		res, err := Run(context.Background(), hosts.Local{}, o)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	want := run("mapped", nil).Paths
	got := map[string]bool{}
	res := run("streamed", func(path string, linked bool) {
		if _, twice := got[path]; twice {
			t.Errorf("%q itemized twice", path)
		}
		got[path] = linked
	})
	if !maps.Equal(got, want) || len(want) == 0 {
		t.Errorf("itemized %v, want Result.Paths's %v", got, want)
	}
	rel := strings.TrimPrefix(src, "/")
	if !got[rel+"/b/c/g"] || got[rel+"/a/f"] {
		t.Errorf("linked: %v; want b/c/g only", got)
	}
	if res.Paths != nil || res.Stats.Files != 3 || res.Stats.FilesTransferred != 1 {
		t.Errorf("paths %v, stats %+v; want none, and 3 files, 1 sent", res.Paths, res.Stats)
	}
}

// TestItemizedLinesKeepNone: itemized lines go to Itemized as they come;
// only the rest (the stats) is kept, whatever the number of paths.
func TestItemizedLinesKeepNone(t *testing.T) {
	n := 0
	s := &sentLines{itemized: func(string, bool) { n++ }}
	for i := range 100_000 {
		fmt.Fprintf(s, "hf          dir/file-%07d\n", i)
	}
	fmt.Fprintf(s, "Number of files: 100,000 (reg: 100,000)\n")
	if rest := s.flush(); n != 100_000 || len(rest) > 100 {
		t.Errorf("%d paths itemized, %d bytes kept; want 100000 and the stats line", n, len(rest))
	}
}
