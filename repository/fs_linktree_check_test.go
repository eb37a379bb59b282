package repository

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// findRecord is find's record of a regular file of 3 bytes, 0644, mtime 1e9 s.
func findRecord(path string) string { return "f 644 3 1000000000.0000000000 0 0 " + path + "\x00" }

// askFile is a LinkFile that findRecord's record matches.
func askFile(path string) LinkFile {
	return LinkFile{Path: path, Mode: unix.S_IFREG | 0o644, Size: 3, Mtime: 1e18}
}

// TestCheckCloneMerge: the sorted merge of find's records with what was
// asked, for each way the records can differ from it: a path not asked for
// is removed (outermost only, and never one that could leave dst), one
// missing is copied, records in find's order (any order) give what sorted
// ones give, and a path listed twice fails; files asked for out of order
// or not clean fail as depot's own fault (askedError).
func TestCheckCloneMerge(t *testing.T) {
	asked := []LinkFile{askFile("a/1"), askFile("a/2"), askFile("b"), askFile("c/d/e")}
	honest := findRecord("a/1") + findRecord("a/2") + findRecord("b") + findRecord("c/d/e")
	for _, tc := range []struct {
		name                 string
		records              string
		files                []LinkFile // asked, in this order
		copies, extra        []string
		err, askedErr, wrong bool
	}{
		{name: "honest", records: honest},
		{name: "find's order", records: findRecord("c/d/e") + findRecord("b") + findRecord("a/2") + findRecord("a/1")},
		{name: "not asked for", records: honest + findRecord("a/3") + "d 755 4096 1.0 0 0 z\x00" + findRecord("z/under") + findRecord("a-b"),
			extra: []string{"a/3", "a-b", "z"}},
		{name: "missing", records: findRecord("a/1") + findRecord("c/d/e"), copies: []string{"a/2", "b"}},
		{name: "all missing", records: "", copies: []string{"a/1", "a/2", "b", "c/d/e"}},
		{name: "changed", records: strings.Replace(honest, "f 644 3 1000000000.0000000000 0 0 b", "f 644 4 1000000000.0000000000 0 0 b", 1), copies: []string{"b"}},
		{name: "listed twice", records: honest + findRecord("b"), err: true},
		{name: "listed twice, not asked for", records: honest + findRecord("x") + findRecord("x"), err: true},
		{name: "leaves dst", records: honest + findRecord("../outside"), err: true},
		{name: "absolute", records: honest + findRecord("/etc/passwd"), err: true},
		{name: "empty segment", records: honest + findRecord("a//x"), err: true},
		{name: "not find's", records: honest + "f 644 3 b\x00", err: true},
		{name: "asked out of order", records: honest, files: []LinkFile{asked[1], asked[0]}, err: true, askedErr: true},
		{name: "asked twice", records: honest, files: []LinkFile{asked[0], asked[0]}, err: true, askedErr: true},
		{name: "asked, not clean", records: honest, files: []LinkFile{askFile("a/../b")}, err: true, askedErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := tc.files
			if files == nil {
				files = asked
			}
			stream := func(fn func(LinkFile) error) error {
				for _, f := range files { // as given: no sorting
					if err := fn(f); err != nil {
						return err
					}
				}
				return nil
			}
			copies, dirCopies, extra, err := checkClone(strings.NewReader(tc.records), []string{"a", "c", "c/d"}, stream)
			var ae *askedError
			switch {
			case tc.err != (err != nil):
				t.Fatalf("error %v, want one: %v", err, tc.err)
			case tc.err && tc.askedErr != errors.As(err, &ae):
				t.Fatalf("error %v: askedError %v, want %v", err, !tc.askedErr, tc.askedErr)
			case tc.err:
				return
			}
			if !slices.Equal(copies, tc.copies) || len(dirCopies) != 0 || !slices.Equal(extra, tc.extra) {
				t.Errorf("copies %q, directories %q, extra %q; want %q, none, %q", copies, dirCopies, extra, tc.copies, tc.extra)
			}
		})
	}
}

// TestCheckCloneMemory: checking a clone of many files holds neither the
// records nor the files asked for: the live heap, sampled as the files
// are read, stays far below what a map of every path takes (about 100
// bytes a path, 20 MB here).
func TestCheckCloneMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 200,000 records")
	}
	const n = 200_000
	name := func(i int) string { return fmt.Sprintf("dir%03d/file-with-a-longish-name-%07d", i%500, i) }
	// find's records, made as they are read, in find's order (not sorted).
	pr, pw := io.Pipe()
	go func() {
		for i := range n {
			if _, err := io.WriteString(pw, findRecord(name((i*7919)%n))); err != nil {
				return
			}
		}
		pw.Close()
	}()
	var dirs []string
	for d := range 500 {
		dirs = append(dirs, fmt.Sprintf("dir%03d", d))
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before, peak := ms.HeapAlloc, uint64(0)
	files := func(fn func(LinkFile) error) error {
		k := 0
		for d := range 500 {
			for i := d; i < n; i += 500 {
				if k++; k%20_000 == 0 {
					runtime.GC()
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapAlloc)
				}
				if err := fn(askFile(name(i))); err != nil {
					return err
				}
			}
		}
		return nil
	}
	copies, dirCopies, extra, err := checkClone(pr, dirs, files)
	if err != nil || len(copies)+len(dirCopies)+len(extra) != 0 {
		t.Fatalf("copies %d, directories %d, extra %d, %v; want none", len(copies), len(dirCopies), len(extra), err)
	}
	t.Logf("live heap grew by %.1f MB", float64(int64(peak)-int64(before))/(1<<20))
	if grew := int64(peak) - int64(before); grew > 12<<20 {
		t.Errorf("the live heap grew by %d MB checking %d files, want at most 12", grew>>20, n)
	}
}
