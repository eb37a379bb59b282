package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/depot-backup/depot/repository"
)

// testEnv is a source tree, a repository and a config naming them.
type testEnv struct {
	dir    string
	src    string
	repo   string
	config string
}

// newEnv writes a config with one set "web" backing up a fresh source tree of
// 40 files of 16 KiB.
func newEnv(t testing.TB, maxRecent int) *testEnv {
	t.Helper()
	return newSizedEnv(t, maxRecent, 40, 16<<10)
}

// newSizedEnv is newEnv with n files of about size bytes.
func newSizedEnv(t testing.TB, maxRecent, n, size int) *testEnv {
	t.Helper()
	dir := t.TempDir()
	e := &testEnv{dir: dir, src: filepath.Join(dir, "src"), repo: filepath.Join(dir, "repo"), config: filepath.Join(dir, "depot.yaml")}
	makeTree(t, e.src, n, size)
	cfg := fmt.Sprintf(`version: 1
repository:
  path: %s
  holding: { max_recent_backups: %d }
sets:
  - name: web
    items:
      - name: site
        type: filesystem
        paths: [%s]
        exclude: ["*.log"]
`, e.repo, maxRecent, e.src)
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	initRepo(t, e.config)
	return e
}

// initRepo creates the repository a config names, as a user does with
// depot init before the first run: every test repository is made here.
func initRepo(t testing.TB, config string) {
	t.Helper()
	mustDepot(t, "--config", config, "init")
}

// makeTree writes a source tree with every kind of entry a snapshot must keep:
// nested directories, n files of about size bytes, an empty file, a symlink, a
// hard-linked pair, unusual modes, an old mtime, and a *.log to exclude.
func makeTree(t testing.TB, root string, n, size int) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		p := filepath.Join(root, fmt.Sprintf("d%d", i%4), fmt.Sprintf("sub%d", i%3), fmt.Sprintf("file-%03d.dat", i))
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		content := bytes.Repeat([]byte(fmt.Sprintf("%s line %d\n", p, i)), size/(len(p)+12)+1)
		must(os.WriteFile(p, content, 0o644))
	}
	must(os.WriteFile(filepath.Join(root, "empty"), nil, 0o644))
	must(os.WriteFile(filepath.Join(root, "secret"), []byte("s3cret\n"), 0o600))
	must(os.WriteFile(filepath.Join(root, "tool"), []byte("#!/bin/sh\n"), 0o755))
	must(os.Symlink("d0/sub0/file-000.dat", filepath.Join(root, "link")))
	must(os.Symlink("/nonexistent/target", filepath.Join(root, "dangling")))
	must(os.WriteFile(filepath.Join(root, "hard-a"), []byte("shared inode\n"), 0o644))
	must(os.Link(filepath.Join(root, "hard-a"), filepath.Join(root, "hard-b")))
	must(os.WriteFile(filepath.Join(root, "noise.log"), []byte("excluded\n"), 0o644))
	must(os.MkdirAll(filepath.Join(root, "private"), 0o700))
	must(os.WriteFile(filepath.Join(root, "private", "key"), []byte("k\n"), 0o400))
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	must(os.Chtimes(filepath.Join(root, "tool"), old, old))
	// rsync leaves a new symlink's time alone when it is within the same
	// second as the source's, as a just-made test link is: age the links.
	for _, l := range []string{"link", "dangling"} {
		ts := []unix.Timespec{unix.NsecToTimespec(old.UnixNano()), unix.NsecToTimespec(old.UnixNano() + 123)}
		must(unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(root, l), ts, unix.AT_SYMLINK_NOFOLLOW))
	}
}

// depot runs the CLI in this process and returns its exit status and output.
func depot(t testing.TB, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// mustDepot runs the CLI and fails the test unless it exits 0.
func mustDepot(t testing.TB, args ...string) string {
	t.Helper()
	code, out, errs := depot(t, args...)
	if code != 0 {
		t.Fatalf("depot %s: exit %d\n%s", strings.Join(args, " "), code, errs)
	}
	return out
}

// snapshots returns the published snapshots of set "web".
func (e *testEnv) snapshots(t testing.TB) []repository.Snapshot {
	t.Helper()
	s, err := repository.Repo{Root: e.repo}.Snapshots(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// treeEntry describes one path of a tree for comparison.
type treeEntry struct {
	Mode    fs.FileMode
	Size    int64
	Mtime   int64 // for files and symlinks; directory times change as a tree is written
	Content string
	Link    string // hard-link group: the first path that shares the inode
}

// readTree describes every path under root except those skip matches.
func readTree(t testing.TB, root string, skip func(rel string) bool) map[string]treeEntry {
	t.Helper()
	out := map[string]treeEntry{}
	inodes := map[uint64]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." || (skip != nil && skip(rel)) {
			return nil
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := treeEntry{Mode: info.Mode()}
		switch {
		case info.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			e.Content, e.Size, e.Mtime = hex.EncodeToString(sum[:]), info.Size(), info.ModTime().UnixNano()
			ino := info.Sys().(*syscall.Stat_t).Ino
			if first, ok := inodes[ino]; ok {
				e.Link = first
			} else {
				inodes[ino] = rel
			}
		case info.Mode()&fs.ModeSymlink != 0:
			e.Content, _ = os.Readlink(p)
			e.Mtime = info.ModTime().UnixNano()
		}
		out[rel] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameTree fails the test unless the trees match path by path.
func sameTree(t testing.TB, got, want map[string]treeEntry) {
	t.Helper()
	var diffs []string
	for p, w := range want {
		g, ok := got[p]
		if !ok {
			diffs = append(diffs, "missing "+p)
		} else if g != w {
			diffs = append(diffs, fmt.Sprintf("%s: got %+v, want %+v", p, g, w))
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			diffs = append(diffs, "extra "+p)
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		if len(diffs) > 10 {
			diffs = append(diffs[:10], fmt.Sprintf("... and %d more", len(diffs)-10))
		}
		t.Fatalf("trees differ:\n%s", strings.Join(diffs, "\n"))
	}
}

// sourceTree is what a snapshot of the env's source must contain.
func (e *testEnv) sourceTree(t testing.TB) map[string]treeEntry {
	t.Helper()
	return readTree(t, e.src, func(rel string) bool { return strings.HasSuffix(rel, ".log") })
}

// snapshotTree reads the source tree as stored in snapshot s.
func (e *testEnv) snapshotTree(t testing.TB, s repository.Snapshot) map[string]treeEntry {
	t.Helper()
	return readTree(t, filepath.Join(s.Path, "site", e.src), nil)
}

func readManifest(t testing.TB, s repository.Snapshot) *repository.Manifest {
	t.Helper()
	m, err := repository.Repo{}.ReadManifest(context.Background(), s.Path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func decodeJSON[T any](t testing.TB, data string) T {
	t.Helper()
	var v T
	if err := json.NewDecoder(strings.NewReader(data)).Decode(&v); err != nil && err != io.EOF {
		t.Fatalf("decode %q: %v", data, err)
	}
	return v
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
