package backupitems

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/depot-backup/depot/hosts"
)

// prevEntries is a PrevTree whose list is held in memory.
type prevEntries []PrevEntry

func (b prevEntries) List(context.Context) (PrevList, error) {
	return &b, nil
}

func (b *prevEntries) Next() (PrevEntry, error) {
	if len(*b) == 0 {
		return PrevEntry{}, io.EOF
	}
	e := (*b)[0]
	*b = (*b)[1:]
	return e, nil
}

func (b *prevEntries) Close() error { return nil }

func (prevEntries) Link(context.Context, []string, func(func(PrevEntry) error) error, []string) ([]string, error) {
	return nil, nil
}

// TestCompareTrustsOnlyEquality: a path is linked only when every recorded
// attribute equals the walk's and its ctime is clear of the base's walk; any
// difference, an old list without ctimes, or a racy ctime sends it to rsync
// (careful when rsync's quick check would be fooled, plain otherwise).
func TestCompareTrustsOnlyEquality(t *testing.T) {
	const cutoff = 1_000_000_000_000
	base := PrevEntry{Path: "srv/f", Mode: unix.S_IFREG | 0o644, Size: 10, Mtime: 5e11, Ctime: 6e11, Uid: 7, Gid: 8}
	walk := sourceEntry{path: "srv/f", mode: unix.S_IFREG | 0o644, size: 10, mtime: 5e11, ctime: 6e11, uid: 7, gid: 8, nlink: 1}
	tests := []struct {
		name string
		edit func(w *sourceEntry, b *PrevEntry)
		want string // link, careful or plain
	}{
		{"all equal", func(*sourceEntry, *PrevEntry) {}, "link"},
		{"all equal, a hard-link group", func(w *sourceEntry, _ *PrevEntry) { w.nlink = 2 }, "link"},
		{"ctime newer", func(w *sourceEntry, _ *PrevEntry) { w.ctime++ }, "careful"},
		{"ctime older (a clock set back)", func(w *sourceEntry, _ *PrevEntry) { w.ctime -= 3600e9 }, "careful"},
		{"owner", func(w *sourceEntry, _ *PrevEntry) { w.uid = 0 }, "careful"},
		{"group", func(w *sourceEntry, _ *PrevEntry) { w.gid = 0 }, "careful"},
		{"mode", func(w *sourceEntry, _ *PrevEntry) { w.mode = unix.S_IFREG | 0o600 }, "careful"},
		{"size", func(w *sourceEntry, _ *PrevEntry) { w.size++ }, "plain"},
		{"mtime", func(w *sourceEntry, _ *PrevEntry) { w.mtime++ }, "plain"},
		{"type", func(w *sourceEntry, _ *PrevEntry) { w.mode = unix.S_IFLNK | 0o777 }, "plain"},
		{"a version 1 list: no ctime", func(_ *sourceEntry, b *PrevEntry) { b.Ctime, b.Uid, b.Gid = 0, 0, 0 }, "careful"},
		{"racy: ctime at the base's walk", func(w *sourceEntry, b *PrevEntry) { w.ctime, b.Ctime = cutoff, cutoff }, "careful"},
		{"racy: ctime after the base's walk", func(w *sourceEntry, b *PrevEntry) { w.ctime, b.Ctime = cutoff+1, cutoff+1 }, "careful"},
		{"not in the base", func(_ *sourceEntry, b *PrevEntry) { b.Path = "srv/other" }, "plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, b := walk, base
			tt.edit(&w, &b)
			dir := sourceEntry{path: "srv", mode: unix.S_IFDIR | 0o755, nlink: 2}
			p, err := compare(context.Background(), []sourceEntry{dir, w}, prevEntries{{Path: "srv", Mode: unix.S_IFDIR | 0o755}, b}, cutoff)
			if err != nil {
				t.Fatal(err)
			}
			defer p.spill.close()
			got := "plain"
			switch {
			case p.nLinked == 1:
				got = "link"
			case p.nCareful == 1:
				got = "careful"
			}
			if got != tt.want {
				t.Errorf("%s, want %s (plan %+v)", got, tt.want, p)
			}
		})
	}
}

// TestCompareKeepsUnchangedDirs: a directory proven unchanged is linked
// (keeps the base's attributes) and stays off rsync's lists, unless a path
// directly in it goes to rsync or is dropped from the base.
func TestCompareKeepsUnchangedDirs(t *testing.T) {
	const cutoff = 1_000_000_000_000
	dir := func(p string) (sourceEntry, PrevEntry) {
		return sourceEntry{path: p, mode: unix.S_IFDIR | 0o755, mtime: 4e11, ctime: 6e11, uid: 1, gid: 2, nlink: 2},
			PrevEntry{Path: p, Mode: unix.S_IFDIR | 0o755, Mtime: 4e11, Ctime: 6e11, Uid: 1, Gid: 2}
	}
	file := func(p string) (sourceEntry, PrevEntry) {
		return sourceEntry{path: p, mode: unix.S_IFREG | 0o644, size: 3, mtime: 5e11, ctime: 6e11, uid: 1, gid: 2, nlink: 1},
			PrevEntry{Path: p, Mode: unix.S_IFREG | 0o644, Size: 3, Mtime: 5e11, Ctime: 6e11, Uid: 1, Gid: 2}
	}
	var walked []sourceEntry
	var base prevEntries
	add := func(mk func(string) (sourceEntry, PrevEntry), path string, edit func(*sourceEntry)) {
		w, b := mk(path)
		if edit != nil {
			edit(&w)
		}
		if w.path != "" {
			walked = append(walked, w)
		}
		base = append(base, b)
	}
	add(dir, "a", nil)
	add(file, "a/f", nil)
	add(dir, "b", nil)
	add(file, "b/f", func(w *sourceEntry) { w.size++ }) // changed
	add(dir, "c", nil)
	add(file, "c/gone", func(w *sourceEntry) { w.path = "" }) // deleted
	add(dir, "d", func(w *sourceEntry) { w.ctime++ })         // its own attributes changed
	add(dir, "e", nil)
	add(dir, "e/s", nil)
	add(file, "e/s/f", func(w *sourceEntry) { w.mtime++ }) // changed, two levels down
	p, err := compare(context.Background(), walked, base, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	defer p.spill.close()
	var kept []string
	err = p.linkFiles(func(l PrevEntry) error {
		if l.Mode&unix.S_IFMT == unix.S_IFDIR {
			kept = append(kept, l.Path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "e"}; !slices.Equal(kept, want) {
		t.Errorf("kept directories %q, want %q", kept, want)
	}
	if got, want := p.plain.String(), "b\x00b/f\x00c\x00d\x00e/s\x00e/s/f\x00"; got != want {
		t.Errorf("plain list %q, want %q", got, want)
	}
	if len(p.dirs) != 6 {
		t.Errorf("dirs to make %q, want all six", p.dirs)
	}
}

// TestQuickListing: the listing takes the spill's decisions, less the base
// copies that had to be copied afresh, plus the careful paths rsync linked;
// a path rsync itemized that the walk never saw fails the listing.
func TestQuickListing(t *testing.T) {
	spill, err := newWalkSpill()
	if err != nil {
		t.Fatal(err)
	}
	defer spill.close()
	for _, r := range []struct {
		path  string
		flags byte
	}{{"a", 0}, {"a/b", spillLinked}, {"a/c", 0}, {"a/d", spillLinked}, {"a/e", 0}} {
		if err := spill.add(sourceEntry{path: r.path}, r.flags); err != nil {
			t.Fatal(err)
		}
	}
	if err := spill.done(); err != nil {
		t.Fatal(err)
	}
	env := Env{Source: hosts.Local{}}
	// rsync's lines, in the order given; "+" before a path: linked. The
	// sorter holds two at a time, so that three or more are merged from
	// runs on disk.
	list := func(lines ...string) (string, error) {
		itemized := newItemizedPaths()
		defer itemized.close()
		itemized.s.max = 2
		for _, l := range lines {
			path, linked := strings.CutPrefix(l, "+")
			itemized.add(path, linked)
		}
		var got []string
		l := quickListing(env, spill, map[string]bool{"a/b": true}, itemized)
		err := l.Paths(func(p TreePath) error {
			got = append(got, fmt.Sprintf("%s=%v", p.Path, p.Linked))
			return nil
		})
		return strings.Join(got, " "), err
	}
	for _, tc := range []struct {
		name  string
		lines []string
	}{
		{"in order", []string{"a/b", "+a/c", "a/e"}},
		{"rsync's order", []string{"a/e", "+a/c", "a/b"}},
		{"twice", []string{"a/e", "a/c", "a/b", "+a/c", "a/e"}},
	} {
		got, err := list(tc.lines...)
		if want := "a=false a/b=false a/c=true a/d=true a/e=false"; err != nil || got != want {
			t.Errorf("%s: listing %q (%v), want %q", tc.name, got, err, want)
		}
	}
	if got, err := list(); err != nil || got != "a=false a/b=false a/c=false a/d=true a/e=false" {
		t.Errorf("nothing itemized: listing %q (%v)", got, err)
	}
	for _, extra := range []string{"a/0", "a/cc", "b", "0", "a/e/f"} {
		if _, err := list("a/e", "+a/c", extra, "a"); err == nil || !strings.Contains(err.Error(), "not given") {
			t.Errorf("rsync itemized %q: %v, want a refusal", extra, err)
		}
	}
}

// TestItemizedPathsMemory: the paths a whole-tree transfer itemizes are
// sorted on disk, not held: the live heap, sampled as they come back in
// file list order, stays far below what a map of every path takes (about
// 100 bytes a path, 20 MB here).
func TestItemizedPathsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("sorts 200,000 paths")
	}
	const n = 200_000
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before, peak := ms.HeapAlloc, uint64(0)
	sample := func() {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
	}
	p := newItemizedPaths()
	defer p.close()
	for i := range n {
		if i%20_000 == 0 {
			sample()
		}
		p.add(fmt.Sprintf("dir%03d/file-with-a-longish-name-%07d", (i*7919)%500, i), i%2 == 0)
	}
	k, last := 0, ""
	err := p.each(func(path string, _ bool) error {
		if k++; k%20_000 == 0 {
			sample()
		}
		if last != "" && !pathLess(last, path) {
			return fmt.Errorf("%q after %q", path, last)
		}
		last = path
		return nil
	})
	if err != nil || k != n {
		t.Fatalf("%d paths back, %v; want %d in file list order", k, err, n)
	}
	t.Logf("live heap grew by %.1f MB", float64(int64(peak)-int64(before))/(1<<20))
	if grew := int64(peak) - int64(before); grew > 12<<20 {
		t.Errorf("the live heap grew by %d MB sorting %d paths, want at most 12", grew>>20, n)
	}
}
