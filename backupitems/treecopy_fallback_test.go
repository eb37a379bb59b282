package backupitems

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/rsync"
)

// TestCopierFallsBack: what the copier does not reproduce exactly makes
// the first copy rsync's, as plan says beforehand, and the copy is what
// rsync makes: an exclude, a fifo, a file with holes, an xattr of the
// security namespace (met during the copy: what the copier wrote goes), a
// directory that is not empty (a resumed run).
func TestCopierFallsBack(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name    string
		exclude []string
		prepare func(t *testing.T, src, dir string)
		planned bool // plan knows it: the walk sees it
	}{
		{name: "exclude", exclude: []string{"*.tmp"}, planned: true},
		{name: "fifo", planned: true, prepare: func(t *testing.T, src, _ string) {
			if err := syscall.Mkfifo(filepath.Join(src, "a", "fifo"), 0o640); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "sparse", planned: true, prepare: func(t *testing.T, src, _ string) {
			makeHoled(t, filepath.Join(src, "a", "b", "holed"))
		}},
		{name: "security xattr", prepare: func(t *testing.T, src, _ string) {
			// Late in the walk's order, so the copier has written much.
			p := filepath.Join(src, "with space", "x y")
			if err := unix.Lsetxattr(p, "security.depot-test", []byte("x"), 0); err != nil {
				t.Skipf("no security xattrs here: %v", err)
			}
		}},
		{name: "resumed", planned: true, prepare: func(t *testing.T, _, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "left-by-an-interrupted-run"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, byDepot, byRsync := t.TempDir(), t.TempDir(), t.TempDir()
			src := filepath.Join(base, "src")
			makeRichTree(t, src)
			if tc.prepare != nil {
				tc.prepare(t, src, byDepot)
			}
			setTreeTimes(t, src)
			f := &Filesystem{Paths: []string{src}, Exclude: tc.exclude}
			var logs bytes.Buffer
			env := Env{Source: hosts.Local{}, Repo: hosts.Local{}, Dir: byDepot, Log: slog.New(slog.NewTextHandler(&logs, nil))}
			p := f.PlanTree(context.Background(), env, TreeEnv{})
			if got := p.Method == copyMethod; got == tc.planned {
				t.Errorf("plan says the copier copies: %v\n%+v", got, p)
			}
			_, list, err := f.BackupTree(context.Background(), env, TreeEnv{})
			if err != nil {
				t.Fatalf("%v\n%s", err, logs.String())
			}
			list.Close()
			if !strings.Contains(logs.String(), "copying with rsync's own walk") || strings.Contains(logs.String(), "copier done") {
				t.Fatalf("rsync did not copy:\n%s", logs.String())
			}
			o := f.transfer(Env{Dir: byRsync}, TreeEnv{})
			if tc.name == "resumed" {
				os.Remove(filepath.Join(byDepot, "left-by-an-interrupted-run")) // rsync keeps it; not the point
			}
			if _, err := rsync.Run(context.Background(), hosts.Local{}, o); err != nil {
				t.Fatal(err)
			}
			got, want := readCopy(t, byDepot), readCopy(t, byRsync)
			dropSharedTimes(src, got, want)
			compareCopies(t, got, want)
		})
	}
}

// TestCopierVanished: a file gone between the walk and its copy is a
// warning, as rsync's exit 24 is; the rest is copied.
func TestCopierVanished(t *testing.T) {
	f, env, q, src := walkedRichTree(t)
	dir := env.Dir
	for _, gone := range []string{"a/plain", "a/rel-link", "a/linked"} {
		if err := os.Remove(filepath.Join(src, gone)); err != nil {
			t.Fatal(err)
		}
	}
	res, list, err := f.copyTree(context.Background(), env, q)
	if err != nil {
		t.Fatal(err)
	}
	list.Close()
	w := strings.Join(res.Warnings, "\n")
	if !strings.Contains(w, "3 source files vanished") || !strings.Contains(w, `file has vanished: "`+src+`/a/plain"`) {
		t.Errorf("warnings:\n%s", w)
	}
	for p, want := range map[string]bool{"a/plain": false, "a/rel-link": false, "a/b/c/big": true, "a/b/linked-too": true, "with space/linked-3": true, "a/b/rel-link-hard": true} {
		_, err := os.Lstat(filepath.Join(dir, src, p))
		if got := err == nil; got != want {
			t.Errorf("%s copied: %v, want %v (%v)", p, got, want, err)
		}
	}
	var a, b unix.Stat_t
	if unix.Lstat(filepath.Join(dir, src, "a/b/linked-too"), &a) != nil || unix.Lstat(filepath.Join(dir, src, "with space/linked-3"), &b) != nil || a.Ino != b.Ino || a.Nlink != 2 {
		t.Errorf("the names left of a linked file are not linked to each other")
	}
}

// TestCopierCancelled: a cancelled copy stops with ctx's error.
func TestCopierCancelled(t *testing.T) {
	f, env, q, _ := walkedRichTree(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := f.copyTree(ctx, env, q); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

// walkedRichTree makes a rich tree (see makeRichTree) at src and walks it
// for a first copy by f into env.Dir, as BackupTree does before copying.
func walkedRichTree(t *testing.T) (f *Filesystem, env Env, q *quickWalk, src string) {
	t.Helper()
	requireRoot(t)
	base, dir := t.TempDir(), t.TempDir()
	src = filepath.Join(base, "src")
	makeRichTree(t, src)
	f = &Filesystem{Paths: []string{src}}
	env = Env{Source: hosts.Local{}, Repo: hosts.Local{}, Dir: dir, Log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))}
	q, err := f.walk(context.Background(), env, TreeEnv{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.spill.close)
	return f, env, q, src
}
