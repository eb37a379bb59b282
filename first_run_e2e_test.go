package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestFirstSnapshotListsWhatItHolds: a first snapshot with
// hash_while_copying hashes each file as rsync sends it; a copy that changes after it was read (here an rsync that
// rewrites the first directory's copied files in place once it is done,
// keeping size and mtime, as a stray writer could) is read again, so the file list holds the
// hashes of what the snapshot holds (verify reads every file and compares),
// never those read during the copy. Unchanged copies keep the hash read
// beside rsync.
func TestFirstSnapshotListsWhatItHolds(t *testing.T) {
	realRsync, err := exec.LookPath("rsync")
	if err != nil {
		t.Fatal(err)
	}
	// Enough files that the first directory's are read during the copy
	// (256 files after them), before they change.
	e := newSizedEnv(t, 10, 600, 2000)
	addItemSetting(t, e, "hash_while_copying: true")
	shim := t.TempDir()
	// The last argument is the destination. The pause lets depot read the
	// files rsync reported before they change.
	script := `#!/bin/sh
for last; do :; done
"` + realRsync + `" "$@" || exit $?
sleep 1
find "$last" -path '*/d0/sub0/file-*.dat' -type f | while read -r f; do
	m=$(stat -c %y "$f")
	printf X | dd of="$f" bs=1 count=1 conv=notrunc 2>/dev/null
	touch -m -d "$m" "$f"
done
`
	if err := os.WriteFile(filepath.Join(shim, "rsync"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", shim+":"+os.Getenv("PATH"))
	code, _, logs := depot(t, "--config", e.config, "run")
	if code != 0 {
		t.Fatalf("first run: exit %d\n%s", code, logs)
	}
	m := regexp.MustCompile(`msg="item done".* files=(\d+) .* files_hashed=(\d+) files_prehashed=(\d+)`).FindStringSubmatch(logs)
	if m == nil || !strings.Contains(logs, `msg="hashed while copying"`) {
		t.Fatalf("no figures of hashing while copying:\n%s", logs)
	}
	files, _ := strconv.Atoi(m[1])
	prehashed, _ := strconv.Atoi(m[3])
	// 50 files are in d0/sub0; others' hashes were read beside rsync.
	if prehashed == 0 || prehashed > files-50 {
		t.Errorf("%d of %d files took the hash read while copying; want some, and none of the 50 rewritten\n%s", prehashed, files, logs)
	}
	snap := e.snapshots(t)[0]
	data, err := os.ReadFile(filepath.Join(snap.Path, "site", e.src, "d0", "sub0", "file-000.dat"))
	if err != nil || data[0] != 'X' {
		t.Fatalf("the copy was not rewritten (%v)", err)
	}
	if code, out, errs := depot(t, "--config", e.config, "verify"); code != 0 {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errs)
	}
}

// TestFirstSnapshotHashWhileCopyingPlan: plan asks rsync for the per-file
// output that hashing while copying reads only when the run will hash while
// copying, and the run does so only then.
func TestFirstSnapshotHashWhileCopyingPlan(t *testing.T) {
	for _, tc := range []struct {
		name    string
		setting string
		hashes  bool
	}{
		{name: "default"},
		{name: "on", setting: "hash_while_copying: true", hashes: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSizedEnv(t, 10, 20, 500)
			addItemSetting(t, e, tc.setting)
			plan := mustDepot(t, "--config", e.config, "plan")
			if got := strings.Contains(plan, "%b"); got != tc.hashes {
				t.Errorf("plan asks rsync for what it sent: %v, want %v\n%s", got, tc.hashes, plan)
			}
			code, _, logs := depot(t, "--config", e.config, "run")
			if code != 0 {
				t.Fatalf("first run: exit %d\n%s", code, logs)
			}
			if got := strings.Contains(logs, `msg="hashed while copying"`); got != tc.hashes {
				t.Errorf("hashed while copying: %v, want %v\n%s", got, tc.hashes, logs)
			}
			if code, out, errs := depot(t, "--config", e.config, "verify"); code != 0 {
				t.Fatalf("verify: exit %d\n%s%s", code, out, errs)
			}
		})
	}
}

// addItemSetting adds a line of settings to the item of e's config (one
// made by newSizedEnv); an empty line adds nothing.
func addItemSetting(t testing.TB, e *testEnv, line string) {
	t.Helper()
	if line == "" {
		return
	}
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	const anchor = `exclude: ["*.log"]`
	if !strings.Contains(string(cfg), anchor) {
		t.Fatalf("no item settings to add to in %s", e.config)
	}
	cfg = []byte(strings.Replace(string(cfg), anchor, anchor+"\n        "+line, 1))
	if err := os.WriteFile(e.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
}
