package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/depot-backup/depot/internal/testenv"
	"github.com/depot-backup/depot/repository"
)

// The test account of the database servers (see internal/testenv).
const (
	testDBUser      = testenv.DBUser
	testDBPassword  = testenv.DBPassword
	testPasswordEnv = testenv.PasswordEnv
)

// itemYAML is the YAML of the item "db" of type typ with the given
// "key: value" lines, indented for newItemEnv's config.
func itemYAML(typ string, keys ...string) string {
	item := "      - name: db\n        type: " + typ
	for _, k := range keys {
		item += "\n        " + k
	}
	return item
}

// needService is testenv.Need: it skips a test whose service is missing,
// and fails it under CI=true.
var needService = testenv.Need

// uniqueName returns prefix and a random suffix, for databases that tests
// running at the same time must not share.
func uniqueName(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// dbEnv is a repository and a config with one set "web" holding one item.
type dbEnv struct {
	dir    string
	repo   string
	config string
}

// newItemEnv writes a config whose set "web" has the item given as YAML
// lines (indented as under "items:"), and sets the password variable.
func newItemEnv(t testing.TB, item string) *dbEnv {
	t.Helper()
	dir := t.TempDir()
	e := &dbEnv{dir: dir, repo: filepath.Join(dir, "repo"), config: filepath.Join(dir, "depot.yaml")}
	cfg := fmt.Sprintf("version: 1\nrepository:\n  path: %s\nsets:\n  - name: web\n    items:\n%s\n", e.repo, item)
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	initRepo(t, e.config)
	t.Setenv(testPasswordEnv, testDBPassword)
	return e
}

func (e *dbEnv) snapshots(t testing.TB) []repository.Snapshot {
	t.Helper()
	s, err := repository.Repo{Root: e.repo}.Snapshots(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// run backs up and returns the new snapshot and depot's stderr.
func (e *dbEnv) run(t testing.TB) (repository.Snapshot, string) {
	t.Helper()
	before := len(e.snapshots(t))
	code, _, errs := depot(t, "--config", e.config, "run")
	if code != 0 {
		t.Fatalf("depot run: exit %d\n%s", code, errs)
	}
	snaps := e.snapshots(t)
	if len(snaps) != before+1 {
		t.Fatalf("%d snapshots after a run, want %d", len(snaps), before+1)
	}
	return snaps[len(snaps)-1], errs
}

// sameInode fails unless name is one file in both snapshots' item "db".
func sameInode(t testing.TB, a, b repository.Snapshot, name string, want bool) {
	t.Helper()
	fa, err := os.Stat(filepath.Join(a.Path, "db", name))
	if err != nil {
		t.Fatal(err)
	}
	fb, err := os.Stat(filepath.Join(b.Path, "db", name))
	if err != nil {
		t.Fatal(err)
	}
	if os.SameFile(fa, fb) != want {
		t.Errorf("%s in %s and %s: same inode = %v, want %v", name, a.Stamp, b.Stamp, !want, want)
	}
}

// checkFailed checks what every failed run must leave: exit 1, one line that
// names the item and the cause, no snapshot, no temporary file, no password.
func (e *dbEnv) checkFailed(t testing.TB, code int, stderr, cause string) {
	t.Helper()
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, stderr)
	}
	found := false
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, "item db: ") && strings.Contains(line, cause) {
			found = true
		}
	}
	if !found {
		t.Errorf("no line names item db and %q:\n%s", cause, stderr)
	}
	if snaps := e.snapshots(t); len(snaps) != 0 {
		t.Errorf("a failed run published %v", snaps)
	}
	e.checkNoLeftovers(t, stderr)
}

// checkNoLeftovers fails if the repository holds a temporary file, or any
// file that contains the password, or if one of depot's logs shows it.
func (e *dbEnv) checkNoLeftovers(t testing.TB, logs ...string) {
	t.Helper()
	for _, log := range logs {
		if strings.Contains(log, testDBPassword) {
			t.Errorf("the password is in depot's output:\n%s", log)
		}
	}
	err := filepath.WalkDir(e.repo, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasPrefix(d.Name(), ".depot-tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
		data, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(data), testDBPassword) {
			t.Errorf("%s contains the password", p)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}

// waitForProcess waits until a process whose command line contains every one
// of words runs, and returns every command line seen at that moment.
func waitForProcess(t testing.TB, words ...string) []string {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		var all []string
		match := false
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err != nil || len(raw) == 0 {
				continue
			}
			line := strings.ReplaceAll(string(raw), "\x00", " ")
			all = append(all, line)
			hit := true
			for _, w := range words {
				hit = hit && strings.Contains(line, w)
			}
			match = match || hit
		}
		if match {
			return all
		}
	}
	t.Fatalf("no process with %q appeared", words)
	return nil
}

// runInBackground starts depot with args in this process and returns a
// function that waits for its exit status and stderr, and one that cancels
// it as SIGTERM would.
func runInBackground(args ...string) (wait func() (int, string), cancel func()) {
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		code int
		errs string
	}
	done := make(chan result, 1)
	go func() {
		var out, errb strings.Builder
		code := run(ctx, args, &out, &errb)
		done <- result{code, errb.String()}
	}()
	return func() (int, string) {
		r := <-done
		cancel()
		return r.code, r.errs
	}, cancel
}

// pathOnlySh returns a PATH directory holding only sh, so that every other
// tool is missing for the commands depot runs.
func pathOnlySh(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	sh, err := filepath.EvalSymlinks("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(sh, filepath.Join(dir, "sh")); err != nil {
		t.Fatal(err)
	}
	return dir
}
