package backupitems

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWalkSpill: records come back as written, in order, flags included,
// from independent readers; source answers paths asked in order, and
// nothing for a path the walk did not see.
func TestWalkSpill(t *testing.T) {
	s, err := newWalkSpill()
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	in := []sourceEntry{
		{path: "srv", mode: unix.S_IFDIR | 0o755, mtime: 1, ctime: 2, nlink: 3, uid: 4, gid: 5},
		{path: "srv/a", mode: unix.S_IFREG | 0o644, size: 1 << 40, mtime: -7, ctime: 9e18, nlink: 1, uid: 1 << 31, gid: 0},
		{path: "srv/a b/\tc", mode: unix.S_IFLNK | 0o777, size: 3, mtime: 10, ctime: 11, nlink: 1},
		{path: "srv/ab", mode: unix.S_IFREG, nlink: 2},
		{path: "srw", mode: unix.S_IFREG},
	}
	for i, e := range in {
		if err := s.add(e, byte(i%2)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.done(); err != nil {
		t.Fatal(err)
	}
	src := s.source()
	var got []sourceEntry
	err = s.each(func(e sourceEntry, flags byte) error {
		if want := byte(len(got) % 2); flags != want {
			t.Errorf("%q: flags %d, want %d", e.path, flags, want)
		}
		got = append(got, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, in) {
		t.Errorf("read back\n%+v\nwant\n%+v", got, in)
	}
	for _, probe := range []struct {
		path string
		ok   bool
	}{{"srv", true}, {"srv/0", false}, {"srv/a b/\tc", true}, {"srv/aa", false}, {"srw", true}, {"zzz", false}} {
		st, ok := src(probe.path)
		if ok != probe.ok {
			t.Errorf("source(%q) found %v, want %v", probe.path, ok, probe.ok)
		}
		if i := slices.IndexFunc(in, func(e sourceEntry) bool { return e.path == probe.path }); ok && (st.Ctime != in[i].ctime || st.Uid != in[i].uid) {
			t.Errorf("source(%q) = %+v, want the walk's", probe.path, st)
		}
	}
}

// TestWalkSorter: entries in any order come out in file list order, through
// runs spilled to disk and merged as through memory alone.
func TestWalkSorter(t *testing.T) {
	paths := []string{"b", "a/b", "a", "a.b", "a/b/c", "a-b", "a/a", "b/x", "a b", "c", "a/b.c", "a/b/d"}
	want := slices.Clone(paths)
	slices.SortFunc(want, comparePaths)
	for _, max := range []int{1, 3, 5, sortRun} {
		s := newWalkSorter()
		s.max = max
		for i, p := range paths {
			if err := s.add(sourceEntry{path: p, size: int64(i)}); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		err := s.each(func(e sourceEntry) error {
			if paths[e.size] != e.path {
				t.Errorf("run %d: %q came with another's attributes", max, e.path)
			}
			got = append(got, e.path)
			return nil
		})
		s.close()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("runs of %d: %q, want %q", max, got, want)
		}
	}
}
