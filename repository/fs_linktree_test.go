package repository

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/internal/relpath"
)

// describeFiles describes the files under base as a file list would.
func describeFiles(t testing.TB, base string, paths []string) []LinkFile {
	t.Helper()
	out := make([]LinkFile, len(paths))
	for i, p := range paths {
		var st syscall.Stat_t
		if err := syscall.Lstat(filepath.Join(base, p), &st); err != nil {
			t.Fatal(err)
		}
		out[i] = LinkFile{Path: p, Mode: st.Mode, Size: st.Size, Mtime: st.Mtim.Nano(), Uid: st.Uid, Gid: st.Gid}
	}
	return out
}

// TestLinkTreeKeepsDirs: a directory among the files gets its base copy's
// permissions, owner and mtime, after everything is linked into it; one
// whose base copy is not what the list says (permissions, mtime) is
// returned for rsync to set, and keeps what was linked into it; on every FS.
func TestLinkTreeKeepsDirs(t *testing.T) {
	forEachFS(t, func(t *testing.T, newRepo func(testing.TB) Repo) {
		r := newRepo(t)
		base, dst := filepath.Join(r.Root, "base"), filepath.Join(r.Root, "new")
		names := []string{"kept/f", "kept/sub/g", "chmodded/f", "touched/f"}
		for _, n := range names {
			p := filepath.Join(base, n)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(n), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Mkdir(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		dirs := []string{"chmodded", "kept", "kept/sub", "touched"}
		old := time.Date(2001, 2, 3, 4, 5, 6, 789, time.UTC)
		for i, d := range dirs {
			os.Chmod(filepath.Join(base, d), fs.FileMode(0o750-i*0o10))
			if err := os.Chtimes(filepath.Join(base, d), old, old.Add(time.Duration(i)*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		files := append(describeFiles(t, base, names), describeFiles(t, base, dirs)...)
		os.Chmod(filepath.Join(base, "chmodded"), 0o700)
		os.Chtimes(filepath.Join(base, "touched"), old, old)

		copies, err := r.FS.LinkTree(context.Background(), base, dst, dirs, files, nil)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(copies)
		if want := []string{"chmodded", "touched"}; !slices.Equal(copies, want) {
			t.Errorf("to copy %q, want %q", copies, want)
		}
		for _, n := range names {
			if _, err := os.Lstat(filepath.Join(dst, n)); err != nil {
				t.Errorf("%s was not linked: %v", n, err)
			}
		}
		for _, d := range []string{"kept", "kept/sub"} {
			var b, n unix.Stat_t
			if err := errors.Join(unix.Lstat(filepath.Join(base, d), &b), unix.Lstat(filepath.Join(dst, d), &n)); err != nil {
				t.Fatal(err)
			}
			if n.Mode != b.Mode || n.Mtim != b.Mtim || n.Uid != b.Uid || n.Gid != b.Gid {
				t.Errorf("%s: mode %o mtime %v, want the base's %o %v", d, n.Mode, n.Mtim, b.Mode, b.Mtim)
			}
		}
	})
}

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
		copies, err := r.FS.LinkTree(context.Background(), base, dst, dirs, describeFiles(t, base, links), drop)
		if err != nil || len(copies) != 0 {
			t.Fatalf("LinkTree: %q to copy, %v", copies, err)
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
	if _, err := r.FS.LinkTree(context.Background(), base, dst, nil, nil, nil); err == nil {
		t.Fatal("linked into a directory that was not empty")
	}
}

// TestLinkTreeTrustsNoBase: a base copy deleted, overwritten in place (other
// size, or same size and a new mtime), or replaced by a symlink since its
// snapshot was made is returned for copying, never linked; a path that is
// not clean is refused before anything is made; nothing is created through
// a symlink in the base; on every FS.
func TestLinkTreeTrustsNoBase(t *testing.T) {
	forEachFS(t, func(t *testing.T, newRepo func(testing.TB) Repo) {
		r := newRepo(t)
		base, dst := filepath.Join(r.Root, "base"), filepath.Join(r.Root, "new")
		outside := filepath.Join(r.Root, "outside")
		for _, d := range []string{filepath.Join(base, "d"), dst, outside} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		names := []string{"d/deleted", "d/grown", "d/touched", "d/kept", "d/now-link", "lost/x"}
		for _, n := range names {
			os.MkdirAll(filepath.Dir(filepath.Join(base, n)), 0o755)
			if err := os.WriteFile(filepath.Join(base, n), []byte("data"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		files := describeFiles(t, base, names)
		os.Remove(filepath.Join(base, "d/deleted"))
		os.WriteFile(filepath.Join(base, "d/grown"), []byte("more data"), 0o644)
		later := time.Now().Add(time.Hour)
		os.WriteFile(filepath.Join(base, "d/touched"), []byte("DATA"), 0o644)
		os.Chtimes(filepath.Join(base, "d/touched"), later, later)
		os.Remove(filepath.Join(base, "d/now-link"))
		os.Symlink("kept", filepath.Join(base, "d/now-link"))
		os.RemoveAll(filepath.Join(base, "lost"))
		os.Symlink(outside, filepath.Join(base, "lost"))

		copies, err := r.FS.LinkTree(context.Background(), base, dst, []string{"d", "lost"}, files, nil)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(copies)
		if want := []string{"d/deleted", "d/grown", "d/now-link", "d/touched", "lost/x"}; !slices.Equal(copies, want) {
			t.Errorf("to copy %q, want %q", copies, want)
		}
		if _, err := os.Lstat(filepath.Join(dst, "d/kept")); err != nil {
			t.Errorf("the unchanged file was not linked: %v", err)
		}
		for _, n := range []string{"d/grown", "d/touched", "d/now-link"} {
			if st, err := os.Lstat(filepath.Join(dst, n)); err == nil && st.Mode().IsRegular() {
				b, _ := os.Lstat(filepath.Join(base, n))
				if os.SameFile(st, b) {
					t.Errorf("%s: the changed base copy was linked", n)
				}
			}
		}
		if left, _ := os.ReadDir(outside); len(left) != 0 {
			t.Errorf("%d names created through the base's symlink", len(left))
		}
	})
}

// TestLinkTreeRefusesUnsafePaths: a path that could leave dst fails before
// anything is created, on every FS.
func TestLinkTreeRefusesUnsafePaths(t *testing.T) {
	forEachFS(t, func(t *testing.T, newRepo func(testing.TB) Repo) {
		for _, tt := range []struct {
			name  string
			dirs  []string
			files []LinkFile
			drop  []string
		}{
			{name: "dir with ..", dirs: []string{"../escaped"}},
			{name: "absolute dir", dirs: []string{"/tmp/escaped"}},
			{name: "file with ..", files: []LinkFile{{Path: "d/../../f"}}},
			{name: "drop with ..", drop: []string{"../../holding"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				r := newRepo(t)
				base, dst := filepath.Join(r.Root, "base"), filepath.Join(r.Root, "a", "new")
				os.MkdirAll(base, 0o755)
				os.MkdirAll(dst, 0o755)
				_, err := r.FS.LinkTree(context.Background(), base, dst, tt.dirs, tt.files, tt.drop)
				if !errors.Is(err, relpath.ErrUnsafe) {
					t.Fatalf("LinkTree: %v, want ErrUnsafe", err)
				}
				if _, err := os.Lstat(filepath.Join(r.Root, "a", "escaped")); err == nil {
					t.Error("a directory was created outside dst")
				}
				if _, err := os.Lstat(base); err != nil {
					t.Error("the base was removed")
				}
			})
		}
	})
}

// TestLinkTreeDeepPaths: a path that is longer than PATH_MAX with dst in
// front of it (but within it relative to dst) is created and linked.
func TestLinkTreeDeepPaths(t *testing.T) {
	root := t.TempDir()
	long := strings.Repeat("r", 100) // dst's own path is long too
	base, dst := filepath.Join(root, "base"+long), filepath.Join(root, "new"+long)
	var dirs []string
	d := ""
	for range 20 {
		d = path.Join(d, strings.Repeat("d", 200))
		dirs = append(dirs, d)
	}
	file := d + "/f"
	if len(filepath.Join(dst, file)) <= 4096 || relpath.Check(file) != nil {
		t.Fatalf("a path of %d bytes: not what the test needs", len(file))
	}
	for _, dir := range []string{base, dst} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := mkdirs(base, dirs); err != nil {
		t.Fatal(err)
	}
	chain, err := openDirChain(base, false)
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()
	dfd, err := chain.open(d)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Openat(dfd, "f", unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(fd, []byte("x"))
	var st unix.Stat_t
	unix.Fstat(fd, &st)
	unix.Close(fd)
	files := []LinkFile{{Path: file, Mode: st.Mode, Size: st.Size, Mtime: st.Mtim.Nano()}}
	copies, err := LocalFS{}.LinkTree(context.Background(), base, dst, dirs, files, nil)
	if err != nil || len(copies) != 0 {
		t.Fatalf("LinkTree: %q to copy, %v", copies, err)
	}
	into, err := openDirChain(dst, false)
	if err != nil {
		t.Fatal(err)
	}
	defer into.Close()
	ifd, err := into.open(d)
	if err != nil {
		t.Fatal(err)
	}
	var got unix.Stat_t
	if err := unix.Fstatat(ifd, "f", &got, unix.AT_SYMLINK_NOFOLLOW); err != nil || got.Ino != st.Ino {
		t.Fatalf("the deep file is not linked: %v", err)
	}
}

// TestCheckClone: find's records of a clone sort the asked-for files into
// good and to copy, kept directories into good and for rsync, and the rest
// into extra (outermost only); a record that is not find's fails.
func TestCheckClone(t *testing.T) {
	files := []LinkFile{
		{Path: "d/good", Mode: unix.S_IFREG | 0o644, Size: 3, Mtime: 1_500_000_000_250_000_000},
		{Path: "d/grown", Mode: unix.S_IFREG | 0o644, Size: 3, Mtime: 1e18},
		{Path: "d/missing", Mode: unix.S_IFREG | 0o644, Size: 3, Mtime: 1e18},
		{Path: "d", Mode: unix.S_IFDIR | 0o750, Mtime: 1e18, Uid: 7, Gid: 8},
		{Path: "e", Mode: unix.S_IFDIR | 0o750, Mtime: 1e18, Uid: 7, Gid: 8},
	}
	records := "d 750 4096 1000000000.0000000000 7 8 d\x00" +
		"f 644 3 1500000000.2500000000 0 0 d/good\x00" +
		"f 644 4 1000000000.0000000000 0 0 d/grown\x00" +
		"d 750 4096 1000000000.0000000000 7 9 e\x00" +
		"d 755 4096 1000000000.0000000000 0 0 x\x00" +
		"f 644 1 1000000000.0000000000 0 0 x/under\x00"
	copies, dirCopies, extra, err := checkClone(strings.NewReader(records), []string{"d", "e"}, linkFilesOf(files))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"d/grown", "d/missing"}; !slices.Equal(copies, want) {
		t.Errorf("copies %q, want %q", copies, want)
	}
	if want := []string{"e"}; !slices.Equal(dirCopies, want) {
		t.Errorf("directories for rsync %q, want %q", dirCopies, want)
	}
	if want := []string{"x"}; !slices.Equal(extra, want) {
		t.Errorf("extra %q, want %q", extra, want)
	}
	for _, bad := range []string{"f 644 3 d/good\x00", "no spaces\x00", strings.Repeat("x", relpath.Max+300)} {
		if _, _, _, err := checkClone(strings.NewReader(bad), nil, linkFilesOf(files)); err == nil {
			t.Errorf("%.40q: accepted", bad)
		}
	}
}
