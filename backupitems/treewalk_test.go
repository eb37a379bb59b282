package backupitems

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/depot-backup/depot/hosts"
)

// makeWalkTree builds a tree whose names exercise the exclude rules.
func makeWalkTree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "src")
	files := []string{
		"a.log", "a.txt", "abc", "axc", "b/a.log", "b/keep", "b/cache/x", "b/cache/y.log",
		"cache/z", "c/sub/d.tmp", "c/sub/e.txt", "c/d.tmp", "deep/x/y/z", "deep/y/z",
		"dir.with.dots/f", "space name/f g", "x/y/file", "x/y2/file", ".hidden/f", "ab/c",
	}
	for _, f := range files {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a.txt", filepath.Join(root, "link.log")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "emptydir"), 0o700); err != nil {
		t.Fatal(err)
	}
	return root
}

// rsyncPaths copies root with rsync -aR and the excludes and lists what the
// copy holds, relative to the copy's root.
func rsyncPaths(t *testing.T, root string, excludes []string) []string {
	t.Helper()
	dst := t.TempDir()
	args := []string{"-aR"}
	for _, e := range excludes {
		args = append(args, "--exclude="+e)
	}
	args = append(args, root, dst+"/")
	if out, err := exec.Command("rsync", args...).CombinedOutput(); err != nil {
		t.Fatalf("rsync: %v: %s", err, out)
	}
	var paths []string
	filepath.Walk(dst, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if p != dst {
			paths = append(paths, strings.TrimPrefix(p, dst+"/"))
		}
		return nil
	})
	slices.SortFunc(paths, func(a, b string) int {
		if pathLess(a, b) {
			return -1
		}
		return strings.Compare(a, b)
	})
	return paths
}

// sameWalk fails unless the find walk saw what the local walk saw. Above
// root (/tmp, say) only names and types count: other processes change those
// directories' times at any moment.
func sameWalk(t *testing.T, root string, find, local []sourceEntry) {
	t.Helper()
	if len(find) != len(local) {
		t.Fatalf("find walk: %d entries, local walk %d:\n%v\n%v", len(find), len(local), find, local)
	}
	inside := strings.TrimPrefix(root, "/")
	for i := range find {
		f, l := find[i], local[i]
		if f.path != inside && !strings.HasPrefix(f.path, inside+"/") {
			f.size, f.mtime, f.ctime, f.nlink = l.size, l.mtime, l.ctime, l.nlink
		}
		// find does not report blocks: its files all may be sparse.
		if f.blocks != 0 || f.mayBeSparse() != (f.mode&unix.S_IFMT == unix.S_IFREG && f.size > 0) {
			t.Errorf("find walk %+v: blocks %d, may be sparse %v", f, f.blocks, f.mayBeSparse())
		}
		f.blocks = l.blocks
		if f != l {
			t.Errorf("find walk %+v, local walk %+v", f, l)
		}
	}
}

func walkPaths(entries []sourceEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.path
	}
	return out
}

// TestWalkExcludesAsRsyncDoes compares the walks with what real rsync copies,
// pattern by pattern.
func TestWalkExcludesAsRsyncDoes(t *testing.T) {
	if _, err := exec.LookPath("rsync"); err != nil {
		t.Fatal("rsync is needed: ", err)
	}
	root := makeWalkTree(t)
	rel := strings.TrimPrefix(root, "/")
	cases := [][]string{
		nil,
		{"*.log"},
		{"cache/"},
		{"cache"},
		{"/" + rel + "/cache"},
		{"/" + rel + "/b/cache/"},
		{"b/cache"},
		{"sub/*.tmp"},
		{"*.tmp"},
		{"a?c"},
		{"x/y"},
		{"y/z"},
		{"deep/*/y"},
		{"f g"},
		{".hidden"},
		{"*.log", "emptydir/", "dir.with.dots"},
		{"a*"},
	}
	for _, excludes := range cases {
		want := rsyncPaths(t, root, excludes)
		ex, err := compileExcludes(excludes)
		if err != nil {
			t.Fatalf("%q: %v", excludes, err)
		}
		local, _, err := walkLocal(context.Background(), []string{root}, ex, false)
		if err != nil {
			t.Fatalf("%q: local walk: %v", excludes, err)
		}
		if got := walkPaths(local); !slices.Equal(got, want) {
			t.Errorf("excludes %q:\nwalkLocal %q\nrsync     %q", excludes, got, want)
		}
		remote, _, err := walkRemote(context.Background(), hosts.Local{}, []string{root}, ex, false)
		if err != nil {
			t.Fatalf("%q: find walk: %v", excludes, err)
		}
		sameWalk(t, root, remote, local)
	}
}

func TestQuickRefusesTheRoot(t *testing.T) {
	f := &Filesystem{Paths: []string{"/srv", "//"}}
	env := Env{Source: hosts.Local{}, Base: "/repo/holding/s/x/item"}
	env.PrevMeta = map[string]string{metaWalkKey: f.walkKey(env), metaWalkStarted: "1"}
	tree := TreeEnv{Prev: prevEntries(nil)}
	if _, _, err := f.quickReady(env, tree); !errors.Is(err, errNoQuickWalk) || !strings.Contains(err.Error(), "the path /") {
		t.Errorf("paths [/srv, //]: %v, want a refusal naming /", err)
	}
	f.Paths = []string{"/srv"}
	if _, _, err := f.quickReady(env, tree); err != nil {
		t.Errorf("paths [/srv]: %v", err)
	}
}

func TestWalkRefusesWhatItCannotMatch(t *testing.T) {
	for _, p := range []string{"**/x", "[ab]", `a\*`, "a/**"} {
		if _, err := compileExcludes([]string{p}); !errors.Is(err, errNoQuickWalk) {
			t.Errorf("%q: %v, want errNoQuickWalk", p, err)
		}
	}
	root := makeWalkTree(t)
	// An exclude that matches a configured path or a directory above it:
	// rsync's rules for those are its own.
	for _, p := range []string{"src", filepath.Base(filepath.Dir(root)), "*"} {
		ex, _ := compileExcludes([]string{p})
		bothWalksRefuse(t, "exclude "+p, []string{root}, ex)
	}
}

// bothWalksRefuse fails unless the local and the find walk of paths each
// return errNoQuickWalk.
func bothWalksRefuse(t *testing.T, what string, paths []string, ex *excluder) {
	t.Helper()
	if _, _, err := walkLocal(context.Background(), paths, ex, false); !errors.Is(err, errNoQuickWalk) {
		t.Errorf("%s: local walk %v, want errNoQuickWalk", what, err)
	}
	if _, _, err := walkRemote(context.Background(), hosts.Local{}, paths, ex, false); !errors.Is(err, errNoQuickWalk) {
		t.Errorf("%s: find walk %v, want errNoQuickWalk", what, err)
	}
}

// TestWalkRefusesSymlinkedPath: a configured path that is a symlink is
// copied by rsync's rules (the link, or with a trailing slash its target).
func TestWalkRefusesSymlinkedPath(t *testing.T) {
	root := makeWalkTree(t)
	link := filepath.Join(filepath.Dir(root), "link")
	if err := os.Symlink(root, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{link, link + "/"} {
		bothWalksRefuse(t, p, []string{p}, nil)
	}
}

// TestWalkSeveralPaths: nested and sibling paths give one sorted walk with
// the directories above them, as rsync --relative copies them.
func TestWalkSeveralPaths(t *testing.T) {
	root := makeWalkTree(t)
	paths := []string{filepath.Join(root, "x"), filepath.Join(root, "b"), filepath.Join(root, "b", "cache"), filepath.Join(root, "a.txt")}
	want := rsyncPaths(t, root, nil)
	want = slices.DeleteFunc(want, func(p string) bool {
		for _, keep := range paths {
			k := strings.TrimPrefix(keep, "/")
			if p == k || strings.HasPrefix(p, k+"/") || strings.HasPrefix(k, p+"/") {
				return false
			}
		}
		return true
	})
	local, _, err := walkLocal(context.Background(), paths, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := walkPaths(local); !slices.Equal(got, want) {
		t.Errorf("walkLocal %q\nwant      %q", got, want)
	}
	remote, _, err := walkRemote(context.Background(), hosts.Local{}, paths, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	sameWalk(t, root, remote, local)
}

func TestParseFindTime(t *testing.T) {
	for in, want := range map[string]int64{
		"1763780080.6172631100": 1763780080617263110,
		"1763780080":            1763780080000000000,
		"1763780080.5":          1763780080500000000,
	} {
		if got, err := parseFindTime(in); err != nil || got != want {
			t.Errorf("%s: %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseFindRecord("f 644 12 1.0 1.0 1 relative"); err == nil {
		t.Error("a relative path in find's output was accepted")
	}
}

// TestFindWalkErrors: names vanishing during find's walk are counted; any
// other error (an unreadable directory), or a failed look at a directory above
// the path, means the walk may have missed files, and rsync's own walk must
// copy instead.
func TestFindWalkErrors(t *testing.T) {
	root := makeWalkTree(t)
	shim := t.TempDir()
	script := `#!/bin/sh
if [ "$2" = -maxdepth ] && [ -z "$DEPOT_TEST_FAIL_ABOVE" ]; then exec /usr/bin/find "$@"; fi
/usr/bin/find "$@" || exit
echo "find: '/gone': No such file or directory" >&2
if [ -n "$DEPOT_TEST_DENY" ]; then echo "find: '/secret': Permission denied" >&2; fi
exit 1
`
	if err := os.WriteFile(filepath.Join(shim, "find"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", shim+":"+os.Getenv("PATH"))
	entries, vanished, err := walkRemote(context.Background(), hosts.Local{}, []string{root}, nil, false)
	if err != nil || vanished != 1 || len(entries) != len(rsyncPaths(t, root, nil)) {
		t.Errorf("vanished names only: %d entries, %d vanished, %v; want the whole tree, 1 vanished, no error", len(entries), vanished, err)
	}
	t.Setenv("DEPOT_TEST_DENY", "1")
	if _, _, err := walkRemote(context.Background(), hosts.Local{}, []string{root}, nil, false); !errors.Is(err, errNoQuickWalk) || !strings.Contains(err.Error(), "Permission denied") {
		t.Errorf("an unreadable directory: %v, want errNoQuickWalk naming it", err)
	}
	t.Setenv("DEPOT_TEST_DENY", "")
	t.Setenv("DEPOT_TEST_FAIL_ABOVE", "1")
	if _, _, err := walkRemote(context.Background(), hosts.Local{}, []string{root}, nil, false); !errors.Is(err, errNoQuickWalk) {
		t.Errorf("a failed find of a directory above the path: %v, want errNoQuickWalk", err)
	}
}
