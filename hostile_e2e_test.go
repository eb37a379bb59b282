package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"github.com/depot-backup/depot/repository"
)

// newestSnapshot returns the newest snapshot of set "web" and its copy of the
// source tree.
func (e *testEnv) newest(t testing.TB) (repository.Snapshot, string) {
	t.Helper()
	snaps := e.snapshots(t)
	if len(snaps) == 0 {
		t.Fatal("no snapshot")
	}
	s := snaps[len(snaps)-1]
	return s, filepath.Join(s.Path, "site", e.src)
}

// shiftWalkStart moves the time snapshot s says its walk started by secs, as
// a source whose clock was that far off during the run would have recorded.
// Forward also ages every file past the racy margin without a sleep.
func shiftWalkStart(t testing.TB, s repository.Snapshot, secs int64) {
	t.Helper()
	p := filepath.Join(s.Path, "manifest.json")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, it := range m["items"].([]any) {
		meta := it.(map[string]any)["meta"].(map[string]any)
		started, err := strconv.ParseInt(meta["walk_started"].(string), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		meta["walk_started"] = strconv.FormatInt(started+secs, 10)
	}
	if data, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// runQuick runs depot and fails unless it exits 0 through the quick path.
func runQuick(t testing.TB, e *testEnv, what string) (linked, toRsync int, logs string) {
	t.Helper()
	code, _, logs := depot(t, "--config", e.config, "run")
	if code != 0 {
		t.Fatalf("%s: exit %d\n%s", what, code, logs)
	}
	linked, toRsync, ok := quickFigures(t, logs)
	if !ok {
		t.Fatalf("%s: not the quick path\n%s", what, logs)
	}
	return linked, toRsync, logs
}

// TestBaseIsNeverTrusted: a base copy deleted from the newest snapshot or
// overwritten in place there is copied from the source, not linked and not
// dropped; the run succeeds and says so.
func TestBaseIsNeverTrusted(t *testing.T) {
	for _, tt := range []struct {
		name   string
		damage func(t *testing.T, copy string)
		// quickBase damages a base made by the quick path, whose
		// directories the next run keeps when they pass the check.
		quickBase bool
	}{
		{"deleted from the newest snapshot", func(t *testing.T, copy string) {
			if err := os.Remove(copy); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"overwritten in place", func(t *testing.T, copy string) {
			data, err := os.ReadFile(copy)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(copy, bytes.ToUpper(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"a directory gone", func(t *testing.T, copy string) {
			if err := os.RemoveAll(filepath.Dir(copy)); err != nil {
				t.Fatal(err)
			}
		}, false},
		// A directory keeps its base copy's attributes only when they
		// are still what the base's list says.
		{"a directory's permissions changed", func(t *testing.T, copy string) {
			if err := os.Chmod(filepath.Dir(copy), 0o700); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"a directory's mtime changed", func(t *testing.T, copy string) {
			later := time.Now().Add(time.Hour)
			if err := os.Chtimes(filepath.Dir(copy), later, later); err != nil {
				t.Fatal(err)
			}
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 10)
			mustDepot(t, "--config", e.config, "run")
			base, baseDir := e.newest(t)
			shiftWalkStart(t, base, 10)
			if tt.quickBase {
				runQuick(t, e, "the base")
				base, baseDir = e.newest(t)
				shiftWalkStart(t, base, 10)
			}
			tt.damage(t, filepath.Join(baseDir, "d1/sub1/file-001.dat"))

			_, _, logs := runQuick(t, e, "after the damage")
			if !strings.Contains(logs, "missing or changed since it was made") {
				t.Errorf("no warning about the base\n%s", logs)
			}
			_, latestDir := e.newest(t)
			sameAsSource(t, e.src, latestDir)
			sameTree(t, readTree(t, latestDir, nil), e.sourceTree(t))
			// And the run after is whole too.
			snaps := e.snapshots(t)
			shiftWalkStart(t, snaps[len(snaps)-1], 10)
			runQuick(t, e, "the run after")
			_, latestDir = e.newest(t)
			sameAsSource(t, e.src, latestDir)
		})
	}
}

// TestClockAheadCannotHideChanges: the source's clock was an hour ahead
// during one run (its snapshot says its walk started an hour late); owner,
// xattr and mode changes made after it are still seen, run after run.
func TestClockAheadCannotHideChanges(t *testing.T) {
	e := newEnv(t, 10)
	mustDepot(t, "--config", e.config, "run")
	base, _ := e.newest(t)
	shiftWalkStart(t, base, 3600)
	src := func(p string) string { return filepath.Join(e.src, p) }
	if err := unix.Setxattr(src("d2/sub2/file-002.dat"), "user.depot-test", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(src("d1/sub1/file-001.dat"), 0o640); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() == 0 {
		if err := os.Lchown(src("d3/sub0/file-003.dat"), 4321, 4321); err != nil {
			t.Fatal(err)
		}
	}
	for run := 1; run <= 3; run++ {
		_, toRsync, _ := runQuick(t, e, fmt.Sprintf("run %d after the clock was ahead", run))
		if run == 1 && toRsync < 2 {
			t.Errorf("run 1: %d paths to rsync; the changed files were linked", toRsync)
		}
		s, dir := e.newest(t)
		sameAsSource(t, e.src, dir)
		shiftWalkStart(t, s, 3600) // every run's clock is ahead
	}
}

// TestDamagedBaseFileList: a base file list with a bad line sends the item
// to rsync's walk and the new list is written anyway, run after run.
func TestDamagedBaseFileList(t *testing.T) {
	e := newEnv(t, 10)
	mustDepot(t, "--config", e.config, "run")
	base, _ := e.newest(t)
	rewriteList(t, base, func(lines []string) []string {
		lines[len(lines)/2] = "damaged"
		return lines
	})
	for run := 1; run <= 2; run++ {
		code, _, logs := depot(t, "--config", e.config, "run")
		if code != 0 {
			t.Fatalf("run %d after the damage: exit %d\n%s", run, code, logs)
		}
		_, dir := e.newest(t)
		sameAsSource(t, e.src, dir)
	}
	// verify flags the damaged list, and only it.
	if code, out, _ := depot(t, "--config", e.config, "verify"); code != 1 || !strings.Contains(out, "2 verified, 1 failed") {
		t.Fatalf("verify: exit %d, want 1 with the damaged list only\n%s", code, out)
	}
}

// rewriteList replaces the file list of snapshot s's item "site" with what
// edit makes of its text.
func rewriteList(t testing.TB, s repository.Snapshot, edit func(lines []string) []string) {
	t.Helper()
	list := filepath.Join(s.Path, repository.FileListDir, "site.tsv.zst")
	data, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	dec, _ := zstd.NewReader(nil)
	plain, err := dec.DecodeAll(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	lines := edit(strings.Split(strings.TrimSuffix(string(plain), "\n"), "\n"))
	enc, _ := zstd.NewWriter(nil)
	if err := os.WriteFile(list, enc.EncodeAll([]byte(strings.Join(lines, "\n")+"\n"), nil), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestVersion1BaseList: a base whose list predates ctimes (version 1) is
// read; the quick path proves nothing unchanged from it, so every file goes
// to rsync's content check once, and the run after links again.
func TestVersion1BaseList(t *testing.T) {
	e := newEnv(t, 10)
	mustDepot(t, "--config", e.config, "run")
	base, _ := e.newest(t)
	shiftWalkStart(t, base, 10)
	rewriteList(t, base, func(lines []string) []string {
		lines[0] = "depot-filelist 1"
		for i, l := range lines[1:] {
			f := strings.Split(l, "\t")
			lines[i+1] = strings.Join(append(f[:3:3], f[6:]...), "\t")
		}
		return lines
	})
	linked, toRsync, _ := runQuick(t, e, "from a version 1 list")
	if linked != 0 || toRsync == 0 {
		t.Errorf("from a version 1 list: %d linked, %d to rsync; want none linked", linked, toRsync)
	}
	s, dir := e.newest(t)
	sameAsSource(t, e.src, dir)
	shiftWalkStart(t, s, 10)
	if linked, toRsync, _ := runQuick(t, e, "the run after"); linked == 0 || toRsync != 0 {
		t.Errorf("the run after: %d linked, %d to rsync; want all linked", linked, toRsync)
	}
}

// TestExcludeWithRulePrefix: rsync reads "- dash" as a rule excluding "dash";
// the walk cannot follow that, so rsync's walk copies, and the snapshot holds
// what rsync keeps: the file named "- dash", not "dash".
func TestExcludeWithRulePrefix(t *testing.T) {
	e := newEnv(t, 10)
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(e.config, bytes.Replace(cfg, []byte(`exclude: ["*.log"]`), []byte(`exclude: ["*.log", "- dash"]`), 1), 0o644)
	for _, n := range []string{"- dash", "dash"} {
		if err := os.WriteFile(filepath.Join(e.src, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for run := 1; run <= 2; run++ {
		mustDepot(t, "--config", e.config, "run")
		_, dir := e.newest(t)
		if _, err := os.Lstat(filepath.Join(dir, "- dash")); err != nil {
			t.Errorf("run %d: the file named \"- dash\" is missing: %v", run, err)
		}
		if _, err := os.Lstat(filepath.Join(dir, "dash")); err == nil {
			t.Errorf("run %d: \"dash\", which rsync excludes, is in the snapshot", run)
		}
	}
}

// TestSourcePathNearPathMax: a source file whose path is 4,041 bytes is
// backed up, run after run, by rsync's walk and the quick path.
func TestSourcePathNearPathMax(t *testing.T) {
	e := newEnv(t, 10)
	rel := ""
	for len(e.src)+1+len(rel) < 4041-210 {
		rel = filepath.Join(rel, strings.Repeat("p", 200))
	}
	name := strings.Repeat("f", 4041-len(e.src)-1-len(rel)-1)
	rel = filepath.Join(rel, name)
	if n := len(filepath.Join(e.src, rel)); n != 4041 {
		t.Fatalf("path of %d bytes", n)
	}
	writeDeep(t, e.src, rel, "deep\n")
	mustDepot(t, "--config", e.config, "run")
	base, _ := e.newest(t)
	shiftWalkStart(t, base, 10)
	linked, _, _ := runQuick(t, e, "second run")
	if linked == 0 {
		t.Error("nothing linked")
	}
	_, dir := e.newest(t)
	if got := readDeep(t, dir, rel); got != "deep\n" {
		t.Errorf("the deep file holds %q", got)
	}
}

// walkDeep opens the directory of rel under root one name at a time, as no
// single call can name a path beyond PATH_MAX, and returns it and rel's name.
func walkDeep(t testing.TB, root, rel string, create bool) (int, string) {
	t.Helper()
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	names := strings.Split(rel, "/")
	for _, n := range names[:len(names)-1] {
		if create {
			if err := unix.Mkdirat(fd, n, 0o755); err != nil && err != unix.EEXIST {
				t.Fatal(err)
			}
		}
		next, err := unix.Openat(fd, n, unix.O_PATH|unix.O_DIRECTORY, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
	}
	return fd, names[len(names)-1]
}

func writeDeep(t testing.TB, root, rel, content string) {
	t.Helper()
	dir, name := walkDeep(t, root, rel, true)
	defer unix.Close(dir)
	fd, err := unix.Openat(dir, name, unix.O_CREAT|unix.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(fd, []byte(content))
	unix.Close(fd)
}

func readDeep(t testing.TB, root, rel string) string {
	t.Helper()
	dir, name := walkDeep(t, root, rel, false)
	defer unix.Close(dir)
	fd, err := unix.Openat(dir, name, unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 100)
	n, _ := unix.Read(fd, buf)
	return string(buf[:n])
}

// TestForgedItemizedLines: rsync's itemized output names only paths depot
// gave it; a line naming another path (outside the item, or through "..")
// fails the item instead of being hashed into the file list.
func TestForgedItemizedLines(t *testing.T) {
	shim := t.TempDir()
	real, err := exec.LookPath("rsync")
	if err != nil {
		t.Fatal(err)
	}
	script := `#!/bin/sh
"` + real + `" "$@" || exit
case " $* " in *" -ii "*) printf '%s\n' "$DEPOT_TEST_ITEMIZED" ;; esac
`
	if err := os.WriteFile(filepath.Join(shim, "rsync"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", shim+":"+os.Getenv("PATH"))
	for _, tt := range []struct{ name, line string }{
		{"a path outside the item", ">f+++++++++ etc/shadow"},
		{"dot-dot", "hf          ../../../etc/shadow"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 10)
			t.Setenv("DEPOT_TEST_ITEMIZED", "")
			mustDepot(t, "--config", e.config, "run")
			shiftWalkStart(t, e.snapshots(t)[0], 10)
			// A new ctime sends the file to rsync's careful, itemized run.
			if err := os.Chmod(filepath.Join(e.src, "secret"), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("DEPOT_TEST_ITEMIZED", tt.line)
			code, _, logs := depot(t, "--config", e.config, "run")
			if code != 1 || !strings.Contains(logs, "itemized a path it was not given") {
				t.Fatalf("exit %d, want 1 refusing the forged line\n%s", code, logs)
			}
			if n := len(e.snapshots(t)); n != 1 {
				t.Errorf("%d snapshots after the forged run", n)
			}
		})
	}
}

// TestStrayNamesAreReported: a directory in a set's folder that is not a
// stamp is ignored by the run, never counted as a snapshot, and reported.
func TestStrayNamesAreReported(t *testing.T) {
	e := newEnv(t, 1)
	mustDepot(t, "--config", e.config, "run")
	stray := filepath.Join(e.repo, "holding", "web", "not-a-stamp")
	if err := os.Mkdir(stray, 0o700); err != nil {
		t.Fatal(err)
	}
	code, _, logs := depot(t, "--config", e.config, "run")
	if code != 0 || !strings.Contains(logs, "not snapshots are ignored") || !strings.Contains(logs, "holding/not-a-stamp") {
		t.Fatalf("exit %d, want 0 and a warning naming the stray\n%s", code, logs)
	}
	if n := len(e.snapshots(t)); n != 1 {
		t.Errorf("%d snapshots with max_recent_backups 1", n)
	}
	if _, err := os.Stat(stray); err != nil {
		t.Errorf("the stray was removed: %v", err)
	}
}
