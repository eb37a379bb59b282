package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/depot-backup/depot/internal/sshtest"
)

// quickFigures reads the "quick path" log line of a run: how many paths were
// hard-linked from the base and how many went to rsync. ok is false when the
// run copied with rsync's own walk.
func quickFigures(t testing.TB, logs string) (linked, toRsync int, ok bool) {
	t.Helper()
	m := regexp.MustCompile(`msg="quick path".* linked=(\d+) to_rsync=(\d+)`).FindStringSubmatch(logs)
	if m == nil {
		return 0, 0, false
	}
	linked, _ = strconv.Atoi(m[1])
	toRsync, _ = strconv.Atoi(m[2])
	return linked, toRsync, true
}

// sameAsSource fails unless rsync, comparing checksums, owners, ACLs, xattrs
// and hard links, finds nothing to change between src and the copy in dir.
func sameAsSource(t testing.TB, src, dir string) {
	t.Helper()
	out, err := exec.Command("rsync", "-naHAXc", "--numeric-ids", "--delete", "--exclude=*.log", "-i", src+"/", dir+"/").CombinedOutput()
	if err != nil {
		t.Fatalf("rsync -n: %v: %s", err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Fatalf("the snapshot differs from the source:\n%s", s)
	}
}

// TestQuickPathFollowsEveryChange: after a quick run, a snapshot equals its
// source whatever changed, including changes that leave size and mtime alone,
// and the base snapshot, whose files the new one shares, is untouched.
func TestQuickPathFollowsEveryChange(t *testing.T) {
	e := newEnv(t, 10)
	// Files the base's walk saw less than a second or two old count as
	// changed (ctime is coarse); age the tree past that.
	time.Sleep(2100 * time.Millisecond)
	mustDepot(t, "--config", e.config, "run")
	code, _, logs := depot(t, "--config", e.config, "run")
	if code != 0 {
		t.Fatalf("second run: exit %d\n%s", code, logs)
	}
	linked, toRsync, ok := quickFigures(t, logs)
	want := 0
	for _, entry := range e.sourceTree(t) {
		if !entry.Mode.IsDir() {
			want++
		}
	}
	if !ok || linked != want || toRsync != 0 {
		t.Fatalf("unchanged tree: quick path %v, linked %d (want %d), to rsync %d\n%s", ok, linked, want, toRsync, logs)
	}
	snaps := e.snapshots(t)
	base := snaps[len(snaps)-1]
	baseDir := filepath.Join(base.Path, "site", e.src)
	sameAsSource(t, e.src, baseDir)
	baseBefore := readTree(t, baseDir, nil)

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	src := func(p string) string { return filepath.Join(e.src, p) }
	keepTimes := func(p string, f func()) {
		t.Helper()
		st, err := os.Lstat(p)
		must(err)
		f()
		must(os.Chtimes(p, st.ModTime(), st.ModTime()))
	}
	// Same size, same mtime, other bytes: only ctime tells.
	keepTimes(src("d0/sub0/file-000.dat"), func() {
		data, err := os.ReadFile(src("d0/sub0/file-000.dat"))
		must(err)
		data[0] ^= 0xff
		must(os.WriteFile(src("d0/sub0/file-000.dat"), data, 0o644))
	})
	must(os.Chmod(src("d1/sub1/file-001.dat"), 0o640))
	must(unix.Setxattr(src("d2/sub2/file-002.dat"), "user.depot-test", []byte("v"), 0))
	if os.Getuid() == 0 {
		must(os.Lchown(src("d3/sub0/file-003.dat"), 4321, 4321))
	}
	must(os.Rename(src("d0/sub1/file-004.dat"), src("d0/sub2/file-008.dat")))
	must(os.Remove(src("d1/sub2/file-005.dat")))
	must(os.RemoveAll(src("d3/sub1")))
	must(os.MkdirAll(src("new/dir"), 0o755))
	must(os.WriteFile(src("new/dir/file"), []byte("new\n"), 0o644))
	must(os.RemoveAll(src("d2/sub1")))
	must(os.WriteFile(src("d2/sub1"), []byte("a file where a directory was\n"), 0o644))
	must(os.Remove(src("tool")))
	must(os.MkdirAll(src("tool/inner"), 0o755))
	linkTime, err := os.Lstat(src("link"))
	must(err)
	must(os.Remove(src("link")))
	must(os.Symlink("d0/sub0/file-012.dat", src("link")))
	ts := []unix.Timespec{unix.NsecToTimespec(linkTime.ModTime().UnixNano()), unix.NsecToTimespec(linkTime.ModTime().UnixNano())}
	must(unix.UtimesNanoAt(unix.AT_FDCWD, src("link"), ts, unix.AT_SYMLINK_NOFOLLOW))
	must(os.Link(src("hard-a"), src("hard-c")))
	later := time.Now().Add(-time.Hour)
	must(os.Chtimes(src("d0/sub1/file-016.dat"), later, later))

	code, _, logs = depot(t, "--config", e.config, "run")
	if code != 0 {
		t.Fatalf("third run: exit %d\n%s", code, logs)
	}
	if _, toRsync, ok := quickFigures(t, logs); !ok || toRsync == 0 {
		t.Fatalf("changed tree: quick path %v, to rsync %d\n%s", ok, toRsync, logs)
	}
	snaps = e.snapshots(t)
	latest := snaps[len(snaps)-1]
	latestDir := filepath.Join(latest.Path, "site", e.src)
	sameAsSource(t, e.src, latestDir)
	sameTree(t, e.snapshotTree(t, latest), e.sourceTree(t))

	// The base is as it was: no attribute or byte of a shared file changed.
	sameTree(t, readTree(t, baseDir, nil), baseBefore)
	if _, err := unix.Getxattr(filepath.Join(baseDir, "d2/sub2/file-002.dat"), "user.depot-test", make([]byte, 8)); err == nil {
		t.Error("the xattr set after the base snapshot appeared in the base")
	}
	var st unix.Stat_t
	must(unix.Lstat(filepath.Join(baseDir, "d3/sub0/file-003.dat"), &st))
	if st.Uid != 0 && os.Getuid() == 0 {
		t.Errorf("the base's copy changed owner to %d", st.Uid)
	}
	// Unchanged files are the base's.
	for _, rel := range []string{"d0/sub2/file-020.dat", "d1/sub0/file-009.dat", "secret", "private/key"} {
		a, err := os.Stat(filepath.Join(baseDir, rel))
		must(err)
		b, err := os.Stat(filepath.Join(latestDir, rel))
		must(err)
		if !os.SameFile(a, b) {
			t.Errorf("%s: not a hard link to the base's copy", rel)
		}
	}
	if code, out, errs := depot(t, "--config", e.config, "verify"); code != 0 {
		t.Fatalf("verify: exit %d\n%s\n%s", code, out, errs)
	}
}

// TestQuickPathFallsBack: settings that change what a copy holds, or an
// exclude the walk cannot read as rsync does, send the run through rsync's
// own walk, and the snapshot is still right.
func TestQuickPathFallsBack(t *testing.T) {
	e := newEnv(t, 10)
	time.Sleep(2100 * time.Millisecond)
	if plan := mustDepot(t, "--config", e.config, "plan"); !strings.Contains(plan, "method   rsync over the whole tree: no base snapshot") {
		t.Errorf("plan before the first run:\n%s", plan)
	}
	mustDepot(t, "--config", e.config, "run")
	if plan := mustDepot(t, "--config", e.config, "plan"); !strings.Contains(plan, "method   quick:") {
		t.Errorf("plan after the first run:\n%s", plan)
	}
	// A damaged base file list costs only the speed.
	first := e.snapshots(t)[0]
	list := filepath.Join(first.Path, readManifest(t, first).Items[0].FileList)
	if err := os.WriteFile(list, []byte("not zstd"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, logs := depot(t, "--config", e.config, "run")
	if code != 0 || !strings.Contains(logs, "rsync's own walk") || !strings.Contains(logs, "the base's file list") {
		t.Fatalf("damaged base list: exit %d, want a run by rsync's walk\n%s", code, logs)
	}
	snaps := e.snapshots(t)
	sameTree(t, e.snapshotTree(t, snaps[len(snaps)-1]), e.sourceTree(t))
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	// Without xattrs now: the base's copies carry them, so linking them
	// would keep what the new settings drop.
	changed := strings.Replace(string(cfg), `exclude: ["*.log"]`, "exclude: [\"*.log\"]\n        xattrs: false", 1)
	if err := os.WriteFile(e.config, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	if plan := mustDepot(t, "--config", e.config, "plan"); !strings.Contains(plan, "method   rsync over the whole tree: the base snapshot was made by rsync's walk or with other settings") {
		t.Errorf("plan after the settings changed:\n%s", plan)
	}
	code, _, logs = depot(t, "--config", e.config, "run")
	if code != 0 || !strings.Contains(logs, "other settings") {
		t.Fatalf("changed settings: exit %d, want a run by rsync's walk\n%s", code, logs)
	}
	changed = strings.Replace(changed, `exclude: ["*.log"]`, `exclude: ["**/*.log"]`, 1)
	if err := os.WriteFile(e.config, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	mustDepot(t, "--config", e.config, "run") // the settings changed again
	code, _, logs = depot(t, "--config", e.config, "run")
	if code != 0 || !strings.Contains(logs, `exclude pattern \"**/*.log\"`) {
		t.Fatalf("exclude with **: exit %d, want a run by rsync's walk\n%s", code, logs)
	}
	snaps = e.snapshots(t)
	sameTree(t, e.snapshotTree(t, snaps[len(snaps)-1]), e.sourceTree(t))
}

// TestQuickPathWithoutGNUTools: a pushed-to repository host without cp -al
// or find -printf (which checks the clone), or a pulled source without find
// -printf, gets plain rsync runs, and the snapshots are as good.
func TestQuickPathWithoutGNUTools(t *testing.T) {
	for _, tc := range []struct{ mode, missing string }{{"push", "cp"}, {"push", "find"}, {"pull", "find"}} {
		t.Run(tc.mode+" without "+tc.missing, func(t *testing.T) {
			e := newTwoHostEnv(t, tc.mode, 20, sshtest.Options{Config: []string{"SetEnv PATH=" + pathWithout(t, tc.missing)}})
			time.Sleep(2100 * time.Millisecond)
			mustDepot(t, "--config", e.config, "run")
			code, _, logs := depot(t, "--config", e.config, "run")
			if code != 0 {
				t.Fatalf("second run: exit %d\n%s", code, logs)
			}
			if !strings.Contains(logs, "copying with rsync's own walk") || !strings.Contains(logs, tc.missing) {
				t.Fatalf("want a fallback naming %s:\n%s", tc.missing, logs)
			}
			snaps := e.snapshots(t)
			if len(snaps) != 2 {
				t.Fatalf("%d snapshots", len(snaps))
			}
			sameTree(t, e.snapshotTree(t, snaps[1]), e.sourceTree(t))
			unchanged := filepath.Join("site", e.src, "d0", "sub0", "file-000.dat")
			a, _ := os.Stat(filepath.Join(snaps[0].Path, unchanged))
			b, _ := os.Stat(filepath.Join(snaps[1].Path, unchanged))
			if !os.SameFile(a, b) {
				t.Error("an unchanged file is not a hard link to the base's copy")
			}
		})
	}
}
