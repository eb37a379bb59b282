package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/depot-backup/depot/director"
	"github.com/depot-backup/depot/internal/testenv"
	"github.com/depot-backup/depot/repository"
)

func TestRunTwiceListRestore(t *testing.T) {
	e := newSizedEnv(t, 10, 200, 64<<10)
	mustDepot(t, "--config", e.config, "run")
	mustDepot(t, "--config", e.config, "run")
	snaps := e.snapshots(t)
	if len(snaps) != 2 {
		t.Fatalf("%d snapshots, want 2", len(snaps))
	}
	want := e.sourceTree(t)
	for _, s := range snaps {
		sameTree(t, e.snapshotTree(t, s), want)
	}

	// The second snapshot shares every file with the first.
	first, second := snaps[0], snaps[1]
	shared := 0
	for rel, entry := range want {
		if !entry.Mode.IsRegular() {
			continue
		}
		a, _ := os.Stat(filepath.Join(first.Path, "site", e.src, rel))
		b, _ := os.Stat(filepath.Join(second.Path, "site", e.src, rel))
		if !os.SameFile(a, b) {
			t.Errorf("%s is not a hard link to the first snapshot's copy", rel)
		}
		shared++
	}
	m := readManifest(t, second)
	if got := m.Items[0].Stats; got.FilesTransferred != 0 || got.Files != int64(shared) {
		t.Errorf("second run stats %+v, want 0 transferred of %d files", got, shared)
	}
	if m.Base != "holding/"+first.Stamp {
		t.Errorf("manifest base %q", m.Base)
	}
	// The second snapshot adds less than 1% of the tree's size.
	var treeBytes int64
	for _, entry := range want {
		treeBytes += entry.Size
	}
	added, err := repository.LocalFS{}.ExclusiveSize(context.Background(), second.Path)
	if err != nil {
		t.Fatal(err)
	}
	if float64(added) > 0.01*float64(treeBytes) {
		t.Errorf("second snapshot adds %d bytes, more than 1%% of the tree's %d", added, treeBytes)
	}

	// list
	list := decodeJSON[[]director.ListEntry](t, mustDepot(t, "--config", e.config, "list", "--json"))
	if len(list) != 2 || list[0].Stamp != first.Stamp || list[1].State != "complete" || list[1].Files != int64(shared) {
		t.Fatalf("list: %+v", list)
	}
	if list[0].Frees < list[1].Frees || list[1].Frees != added {
		t.Errorf("frees %d and %d; the second should free only its own %d", list[0].Frees, list[1].Frees, added)
	}
	table := mustDepot(t, "--config", e.config, "list")
	if !strings.Contains(table, "STAMP") || !strings.Contains(table, second.Stamp) {
		t.Errorf("list table:\n%s", table)
	}

	// restore the newest, then an older one by stamp prefix
	to := filepath.Join(e.dir, "restored")
	mustDepot(t, "--config", e.config, "restore", "web", "--item", "site", "--to", to)
	sameTree(t, readTree(t, filepath.Join(to, e.src), nil), want)

	code, _, errs := depot(t, "--config", e.config, "restore", "web@"+strings.TrimSuffix(first.Stamp, "Z"), "--to", to)
	if code != 2 || !strings.Contains(errs, "not empty") {
		t.Fatalf("restore into a non-empty directory: exit %d, %q", code, errs)
	}
	mustDepot(t, "--config", e.config, "restore", "web@"+first.Stamp, "--to", to, "--force")
	sameTree(t, readTree(t, filepath.Join(to, "site", e.src), nil), want)
}

func TestChangedFilesAreCopiedAndHashed(t *testing.T) {
	e := newEnv(t, 10)
	mustDepot(t, "--config", e.config, "run")
	changed := filepath.Join(e.src, "d1", "sub1", "file-001.dat")
	if err := os.WriteFile(changed, []byte("new content, other size\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(e.src, "empty")); err != nil {
		t.Fatal(err)
	}
	mustDepot(t, "--config", e.config, "run")
	snaps := e.snapshots(t)
	latest := snaps[len(snaps)-1]
	sameTree(t, e.snapshotTree(t, latest), e.sourceTree(t))
	m := readManifest(t, latest)
	if st := m.Items[0].Stats; st.FilesTransferred != 1 || st.BytesTransferred != 24 {
		t.Errorf("stats %+v, want 1 file of 24 bytes transferred", st)
	}
	entries := fileList(t, latest, m.Items[0])
	rel := strings.TrimPrefix(changed, "/")
	if got := entries[rel].Hash; got != sha256Hex("new content, other size\n") {
		t.Errorf("changed file's listed hash %s", got)
	}
	if _, ok := entries[strings.TrimPrefix(filepath.Join(e.src, "empty"), "/")]; ok {
		t.Error("deleted file still listed")
	}
}

func fileList(t testing.TB, s repository.Snapshot, it repository.ItemRecord) map[string]repository.Entry {
	t.Helper()
	r, err := repository.Repo{}.OpenFileList(context.Background(), filepath.Join(s.Path, it.FileList))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := map[string]repository.Entry{}
	for {
		e, err := r.Next()
		if err != nil {
			return out
		}
		out[e.Path] = e
	}
}

func TestRetentionKeepsNewest(t *testing.T) {
	e := newEnv(t, 2)
	for range 4 {
		mustDepot(t, "--config", e.config, "run")
	}
	snaps := e.snapshots(t)
	if len(snaps) != 2 {
		t.Fatalf("%d snapshots after 4 runs with max_recent_backups 2", len(snaps))
	}
	plan := mustDepot(t, "--config", e.config, "plan")
	for _, want := range []string{"delete   holding/web/" + snaps[0].Stamp, "3rd newest in holding, beyond max_recent_backups 2", "(this run)"} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
}

func TestPlanJSON(t *testing.T) {
	e := newEnv(t, 3)
	plans := decodeJSON[[]director.SetPlan](t, mustDepot(t, "--config", e.config, "plan", "--json"))
	if len(plans) != 1 || plans[0].Base != "" || len(plans[0].Items) != 1 {
		t.Fatalf("plan before any run: %+v", plans)
	}
	it := plans[0].Items[0]
	if it.Name != "site" || it.Sources[0] != e.src || !strings.Contains(strings.Join(it.Command, " "), "--exclude=*.log") {
		t.Errorf("item plan %+v", it)
	}
	for _, dir := range []string{"holding", ".partial"} {
		if _, err := os.Stat(filepath.Join(e.repo, dir)); !os.IsNotExist(err) {
			t.Errorf("plan created %s in the repository", dir)
		}
	}
	mustDepot(t, "--config", e.config, "run")
	plans = decodeJSON[[]director.SetPlan](t, mustDepot(t, "--config", e.config, "plan", "web", "--json"))
	snaps := e.snapshots(t)
	if plans[0].Base != snaps[0].Path || !strings.Contains(strings.Join(plans[0].Items[0].Command, " "), "--link-dest="+snaps[0].Path) {
		t.Errorf("plan after a run: base %q, command %q", plans[0].Base, plans[0].Items[0].Command)
	}
}

func TestMissingSourceFailsTheSet(t *testing.T) {
	e := newEnv(t, 3)
	if err := os.RemoveAll(e.src); err != nil {
		t.Fatal(err)
	}
	code, _, errs := depot(t, "--config", e.config, "run")
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(errs, "item site: source path "+e.src+" does not exist") {
		t.Errorf("stderr lacks the cause:\n%s", errs)
	}
	if snaps := e.snapshots(t); len(snaps) != 0 {
		t.Fatalf("published %v from a missing source", snaps)
	}
}

func TestLockedRepositoryExits3(t *testing.T) {
	e := newEnv(t, 3)
	lock, err := repository.Repo{Root: e.repo}.Lock(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	lockedThenWaits(t, e, lock, 300*time.Millisecond)
}

// lockedThenWaits checks that a run exits 3 naming the holder of lock, and
// that a run with --wait succeeds once the lock is released after delay.
func lockedThenWaits(t testing.TB, e *testEnv, lock repository.Unlocker, delay time.Duration) {
	t.Helper()
	code, _, errs := depot(t, "--config", e.config, "run")
	if code != 3 || !strings.Contains(errs, "locked by pid") {
		t.Fatalf("exit %d, %q; want 3 and who holds the lock", code, errs)
	}
	go func() {
		time.Sleep(delay)
		lock.Unlock()
	}()
	mustDepot(t, "--config", e.config, "run", "--wait", "20s")
	if len(e.snapshots(t)) != 1 {
		t.Fatal("run with --wait made no snapshot")
	}
}

func TestUsageErrors(t *testing.T) {
	e := newEnv(t, 3)
	bad := filepath.Join(e.dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\nrepository: {path: relative}\nsets: []\nextra: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"validate ok", []string{"--config", e.config, "validate"}, 0, ""},
		{"bad config", []string{"--config", bad, "validate"}, 2, "bad.yaml:4:1: unknown key \"extra\""},
		{"missing config", []string{"--config", filepath.Join(e.dir, "nope.yaml"), "run"}, 2, "does not exist"},
		{"unknown set", []string{"--config", e.config, "run", "nope"}, 2, `no set "nope"`},
		{"unknown flag", []string{"--config", e.config, "run", "--bogus"}, 2, "unknown flag"},
		{"unknown verb", []string{"frobnicate"}, 2, "unknown command"},
		{"unknown verb after flags", []string{"--config", e.config, "frobnicate", "x"}, 2, `unknown command "frobnicate" for "depot"`},
		{"too many arguments", []string{"--config", e.config, "restore", "web", "mail"}, 2, "accepts 1 arg(s), received 2"},
		{"restore without --to", []string{"--config", e.config, "restore", "web"}, 2, "exactly one of --to DIR"},
		{"restore with two targets", []string{"--config", e.config, "restore", "web", "--to", e.dir, "--to-database", "x"}, 2, "exactly one of --to DIR"},
		{"restore a tree into a database", []string{"--config", e.config, "restore", "web", "--to-database", "x"}, 1, "no complete snapshot"},
		{"bad log format", []string{"--log-format", "xml", "--config", e.config, "list"}, 2, "want text or json"},
		{"restore from empty repo", []string{"--config", e.config, "restore", "web", "--to", filepath.Join(e.dir, "x")}, 1, "no complete snapshot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := depot(t, tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errs, tt.code, tt.want)
			}
		})
	}
}

// mountTmpfs mounts a tmpfs of size bytes at dir for the test. It needs root;
// under CI=true not having it fails the test rather than skipping it.
func mountTmpfs(t testing.TB, dir string, size int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size))
	testenv.Need(t, "mounting a tmpfs (needs root, as in CI)", err)
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
}

func TestDiskFullFailsCleanlyAndResumes(t *testing.T) {
	e := newSizedEnv(t, 3, 64, 64<<10) // about 4 MiB
	mountTmpfs(t, e.repo, 1<<20)
	initRepo(t, e.config)
	code, _, errs := depot(t, "--config", e.config, "run")
	if code != 1 {
		t.Fatalf("run into a full disk: exit %d, want 1\n%s", code, errs)
	}
	if !strings.Contains(errs, "No space left on device") || !strings.Contains(errs, "item site: rsync to") {
		t.Errorf("the error does not say the disk is full:\n%s", errs)
	}
	if snaps := e.snapshots(t); len(snaps) != 0 {
		t.Fatalf("published %v from a run that filled the disk", snaps)
	}
	// Room again: the next run resumes and completes.
	if err := unix.Mount("tmpfs", e.repo, "tmpfs", unix.MS_REMOUNT, "size=64m"); err != nil {
		t.Fatal(err)
	}
	mustDepot(t, "--config", e.config, "run")
	snaps := e.snapshots(t)
	if len(snaps) != 1 {
		t.Fatalf("%d snapshots after freeing space", len(snaps))
	}
	sameTree(t, e.snapshotTree(t, snaps[0]), e.sourceTree(t))
}

func TestACLsAndXattrsArePreserved(t *testing.T) {
	if _, err := exec.LookPath("setfacl"); err != nil {
		t.Fatal("setfacl is missing: scripts/test.sh installs the acl package")
	}
	tests := []struct {
		name       string
		extra      string // item keys added to the config
		wantACL    bool
		wantXattrs bool
	}{
		{"default keeps both", "", true, true},
		{"acls false", "acls: false", false, true},
		{"xattrs false", "xattrs: false", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 3)
			if tt.extra != "" {
				appendToItem(t, e, tt.extra)
			}
			f := filepath.Join(e.src, "secret")
			if err := unix.Setxattr(f, "user.origin", []byte("depot-test"), 0); err != nil {
				t.Fatalf("setxattr: %v", err)
			}
			if out, err := exec.Command("setfacl", "-m", "u:65534:r", f).CombinedOutput(); err != nil {
				t.Fatalf("setfacl: %v: %s", err, out)
			}
			mustDepot(t, "--config", e.config, "run")
			to := filepath.Join(e.dir, "restored")
			mustDepot(t, "--config", e.config, "restore", "web", "--item", "site", "--to", to)
			for _, copy := range []string{filepath.Join(e.snapshots(t)[0].Path, "site", f), filepath.Join(to, f)} {
				buf := make([]byte, 64)
				n, err := unix.Getxattr(copy, "user.origin", buf)
				if gotX := err == nil && string(buf[:n]) == "depot-test"; gotX != tt.wantXattrs {
					t.Errorf("%s: xattr kept = %v, want %v (%v)", copy, gotX, tt.wantXattrs, err)
				}
				acl, _ := exec.Command("getfacl", "-cn", copy).Output()
				if gotACL := strings.Contains(string(acl), "user:65534:r"); gotACL != tt.wantACL {
					t.Errorf("%s: ACL kept = %v, want %v:\n%s", copy, gotACL, tt.wantACL, acl)
				}
			}
		})
	}
}

// appendToItem adds YAML lines to the env's only item.
func appendToItem(t testing.TB, e *testEnv, lines string) {
	t.Helper()
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg = append(cfg, []byte("        "+lines+"\n")...)
	if err := os.WriteFile(e.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRestoreTreeIntoDatabaseIsRefused(t *testing.T) {
	e := newEnv(t, 3)
	mustDepot(t, "--config", e.config, "run")
	code, _, errs := depot(t, "--config", e.config, "restore", "web", "--to-database", "x")
	if code != 2 || !strings.Contains(errs, "item site is a filesystem item, which restores with --to DIR only") {
		t.Fatalf("exit %d, %q", code, errs)
	}
}

// TestVerifyDumpedFiles checks the file list of an item written through
// Output, whose hashes come from the write itself, against the disk.
func TestVerifyDumpedFiles(t *testing.T) {
	e := newEnv(t, 3)
	cfg, _ := os.ReadFile(e.config)
	cfg = append(cfg, []byte("      - { name: report, type: command, command: [sh, -c, 'seq 1 50000'] }\n")...)
	if err := os.WriteFile(e.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	mustDepot(t, "--config", e.config, "run")
	mustDepot(t, "--config", e.config, "run")
	out := mustDepot(t, "--config", e.config, "verify")
	if !strings.Contains(out, "2 snapshots: 2 verified, 0 failed") {
		t.Fatalf("verify:\n%s", out)
	}
	snaps := e.snapshots(t)
	m := readManifest(t, snaps[1])
	list := fileList(t, snaps[1], m.Items[1])
	if len(list) != 1 || list["stdout"].Size == 0 {
		t.Fatalf("the command item's file list: %+v", list)
	}
	a, _ := os.Stat(filepath.Join(snaps[0].Path, "report", "stdout"))
	b, _ := os.Stat(filepath.Join(snaps[1].Path, "report", "stdout"))
	if !os.SameFile(a, b) {
		t.Error("identical command output is not stored once")
	}
}
