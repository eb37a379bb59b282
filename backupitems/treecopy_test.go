package backupitems

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/internal/testenv"
	"github.com/depot-backup/depot/rsync"
)

// TestCopierMatchesRsync: depot's copier makes of a rich tree exactly what
// rsync -aHAX --numeric-ids --relative (the item's transfer) makes of it:
// every path's type, mode, owner, group, size, mtime to the ns and link
// count, link groups, symlink targets, xattrs and ACLs, contents; and the
// hashes it hands the file list are those of the copies.
func TestCopierMatchesRsync(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name          string
		acls, xattrs  bool
		wantACL, want bool // whether the copies have ACLs, user xattrs
	}{
		{name: "acls and xattrs", acls: true, xattrs: true},
		{name: "xattrs only", xattrs: true},
		{name: "acls only", acls: true},
		{name: "neither"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, byCopier, byRsync := t.TempDir(), t.TempDir(), t.TempDir()
			src := filepath.Join(base, "src")
			makeRichTree(t, src)
			f := &Filesystem{Paths: []string{src}, ACLs: &tc.acls, Xattrs: &tc.xattrs}

			var logs bytes.Buffer
			env := Env{Source: hosts.Local{}, Repo: hosts.Local{}, Dir: byCopier, Log: slog.New(slog.NewTextHandler(&logs, nil))}
			res, list, err := f.BackupTree(context.Background(), env, TreeEnv{})
			if err != nil {
				t.Fatalf("copier: %v\n%s", err, logs.String())
			}
			if !strings.Contains(logs.String(), "copier done") {
				t.Fatalf("not copied by the copier:\n%s", logs.String())
			}
			if len(res.Warnings) != 0 {
				t.Errorf("warnings: %q", res.Warnings)
			}
			o := f.transfer(Env{Dir: byRsync}, TreeEnv{})
			o.Sparse = false
			if _, err := rsync.Run(context.Background(), hosts.Local{}, o); err != nil {
				t.Fatal(err)
			}
			got, want := readCopy(t, byCopier), readCopy(t, byRsync)
			dropSharedTimes(src, got, want)
			compareCopies(t, got, want)
			if want[strings.TrimPrefix(src, "/")+"/acl-file xattrs"] == "" && tc.acls {
				t.Errorf("rsync copied no ACL: the tree does not test ACLs")
			}
			checkCopyHashes(t, byCopier, list)
			list.Close()
		})
	}
}

// oldTime is a time long past, with nanoseconds.
var oldTime = time.Date(2021, 5, 6, 7, 8, 9, 123456789, time.UTC)

// requireRoot skips a test that needs root: owners, trusted xattrs.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Need(t, "root (the copier copies owners only as root)", errors.New("not running as root"))
	}
}

// makeRichTree makes at src a tree of everything the copier copies:
// nested and empty directories, odd names, symlinks (one dangling, one
// hard-linked), hard links across directories, xattrs, ACLs, odd modes,
// other owners, times to the nanosecond.
func makeRichTree(t testing.TB, src string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"a/b/c", "empty", "sticky", "locked", "with space/deeper", "acl-dir"} {
		must(os.MkdirAll(filepath.Join(src, d), 0o755))
	}
	big := make([]byte, 3<<20+17)
	for i := range big {
		big[i] = byte(i*7 + i>>11)
	}
	files := map[string][]byte{
		"a/b/c/big":            big,
		"a/plain":              []byte("plain\n"),
		"a/empty-file":         nil,
		"with space/x y":       []byte("spaces"),
		"with space/new\nline": []byte("newline"),
		"a/\xff\xfe-latin":     []byte("not utf-8"),
		"locked/inside":        []byte("in a 0000 dir"),
		"sticky/f":             []byte("sticky"),
		"a/setuid":             []byte("#!/bin/sh\n"),
		"a/zero-mode":          []byte("0000"),
		"a/linked":             []byte("three names"),
		"acl-file":             []byte("acl"),
	}
	for name, data := range files {
		must(os.WriteFile(filepath.Join(src, name), data, 0o644))
	}
	// acl-dir has a default ACL: the file made in it after inherits it.
	if setfacl, err := exec.LookPath("setfacl"); err == nil {
		for _, args := range [][]string{
			{"-m", "u:1234:rwx,g:99:r", filepath.Join(src, "acl-file")},
			{"-d", "-m", "u:1234:rx", filepath.Join(src, "acl-dir")},
		} {
			if out, err := exec.Command(setfacl, args...).CombinedOutput(); err != nil {
				t.Fatalf("setfacl %q: %v: %s", args, err, out)
			}
		}
	}
	must(os.WriteFile(filepath.Join(src, "acl-dir", "inherits"), []byte("inherited"), 0o640))
	must(os.Link(filepath.Join(src, "a/linked"), filepath.Join(src, "a/b/linked-too")))
	must(os.Link(filepath.Join(src, "a/linked"), filepath.Join(src, "with space/linked-3")))
	must(os.Symlink("plain", filepath.Join(src, "a/rel-link")))
	must(os.Symlink("/nowhere/at/all", filepath.Join(src, "a/dangling")))
	must(os.Symlink("../a/b", filepath.Join(src, "with space/dir-link")))
	must(os.Link(filepath.Join(src, "a/rel-link"), filepath.Join(src, "a/b/rel-link-hard")))
	must(unix.Setxattr(filepath.Join(src, "a/plain"), "user.note", []byte("hello\x00bin"), 0))
	must(unix.Setxattr(filepath.Join(src, "a/plain"), "trusted.t", []byte("root only"), 0))
	must(unix.Setxattr(filepath.Join(src, "a/b"), "user.dir", []byte("on a dir"), 0))
	must(unix.Lsetxattr(filepath.Join(src, "a/dangling"), "trusted.link", []byte("on a link"), 0))
	for name, own := range map[string][2]int{"a/setuid": {1234, 5678}, "a/zero-mode": {42, 0}, "sticky": {0, 100}, "a/dangling": {77, 88}, "with space/x y": {65534, 65534}} {
		must(os.Lchown(filepath.Join(src, name), own[0], own[1]))
	}
	for name, mode := range map[string]os.FileMode{"a/setuid": 0o4755 | os.ModeSetuid, "a/zero-mode": 0, "sticky": 0o777 | os.ModeSticky, "locked": 0} {
		must(os.Chmod(filepath.Join(src, name), mode))
	}
	must(unix.Chmod(filepath.Join(src, "a/setuid"), 0o4755))
	must(unix.Chmod(filepath.Join(src, "sticky"), 0o1777))
	must(unix.Chmod(filepath.Join(src, "a/b/c"), 0o2750))
	setTreeTimes(t, src)
}

// setTreeTimes gives every path under src (and src) a time long past, each
// its own nanoseconds, deepest first. rsync leaves the time of its copy on
// a path whose time is within the second of its copy, so recent ones would
// differ between two copies. The directories above src are the test's own
// too: their times are set as well, but those above them, shared with
// other processes, are left out by dropSharedTimes.
func setTreeTimes(t testing.TB, src string) {
	t.Helper()
	var paths []string
	if err := filepath.WalkDir(src, func(p string, _ os.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	paths = append(paths, filepath.Dir(src), filepath.Dir(filepath.Dir(src)))
	slices.Reverse(paths[:len(paths)-2])
	for i, p := range paths {
		ts := []unix.Timespec{unix.NsecToTimespec(oldTime.UnixNano() + int64(i)*1_000_000_123)}
		ts = append(ts, ts[0])
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Fatal(err)
		}
	}
}

// dropSharedTimes leaves out of two copies of src (made by makeRichTree in
// a t.TempDir) the times of the directories above the test's own, which
// other processes change.
func dropSharedTimes(src string, copies ...map[string]string) {
	for dir := filepath.Dir(filepath.Dir(filepath.Dir(src))); dir != "/"; dir = filepath.Dir(dir) {
		for _, c := range copies {
			delete(c, strings.TrimPrefix(dir, "/")+" mtime")
		}
	}
}

// readCopy reads everything compared of a copy under dir: per path, one
// key per attribute ("<path> mode"), and per inode with more than one link
// its group of names.
func readCopy(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	groups := map[uint64][]string{}
	err := filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel := strings.TrimPrefix(p, dir+"/")
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		out[rel+" mode"] = fmt.Sprintf("%o", st.Mode)
		out[rel+" owner"] = fmt.Sprintf("%d:%d", st.Uid, st.Gid)
		out[rel+" nlink"] = fmt.Sprint(st.Nlink)
		out[rel+" mtime"] = fmt.Sprint(st.Mtim.Nano())
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			out[rel+" size"] = fmt.Sprint(st.Size)
		}
		if st.Nlink > 1 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			groups[st.Ino] = append(groups[st.Ino], rel)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel+" target"] = target
		case unix.S_IFREG:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel+" sha256"] = fmt.Sprintf("%x", sha256.Sum256(data))
		}
		list, err := readXattr(func(dest []byte) (int, error) { return unix.Llistxattr(p, dest) })
		if err != nil {
			return err
		}
		var attrs []string
		for _, a := range strings.Split(string(list), "\x00") {
			if a == "" {
				continue
			}
			val, err := readXattr(func(dest []byte) (int, error) { return unix.Lgetxattr(p, a, dest) })
			if err != nil {
				return err
			}
			attrs = append(attrs, fmt.Sprintf("%s=%q", a, val))
		}
		sort.Strings(attrs)
		out[rel+" xattrs"] = strings.Join(attrs, " ")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		sort.Strings(g)
		out["links "+g[0]] = strings.Join(g, " | ")
	}
	return out
}

func compareCopies(t testing.TB, got, want map[string]string) {
	t.Helper()
	var diffs []string
	for k, w := range want {
		if g, ok := got[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%q: missing from the copier's copy (rsync: %q)", k, w))
		} else if g != w {
			diffs = append(diffs, fmt.Sprintf("%q: copier %q, rsync %q", k, g, w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%q: only in the copier's copy (%q)", k, g))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("the copies differ:\n%s", strings.Join(diffs, "\n"))
	}
	if len(want) < 100 {
		t.Errorf("only %d attributes compared", len(want))
	}
}

// checkCopyHashes checks that each regular file's hash in list.Hashed, if
// any, is its copy's, and that most files have one.
func checkCopyHashes(t testing.TB, dir string, list TreeListing) {
	t.Helper()
	if list.Hashed == nil {
		t.Fatal("the copier hands the file list no hashes")
	}
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, strings.TrimPrefix(p, dir+"/"))
		}
		return err
	})
	slices.SortFunc(files, comparePaths)
	hashed := 0
	for _, rel := range files {
		h, ok := list.Hashed(rel)
		if !ok {
			continue
		}
		hashed++
		f, err := os.Open(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.New()
		io.Copy(sum, f)
		f.Close()
		if !bytes.Equal(sum.Sum(nil), h.SHA256[:]) {
			t.Errorf("%s: hash handed on is not the copy's", rel)
		}
	}
	if hashed < len(files)/2 {
		t.Errorf("%d of %d files hashed while copying", hashed, len(files))
	}
}
