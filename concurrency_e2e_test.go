package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/depot-backup/depot/internal/sshtest"
	"github.com/depot-backup/depot/repository"
)

// setsEnv is a repository and a config of several sets, each backing up a
// small tree of its own, with the given extra lines for each set.
type setsEnv struct {
	dir, repo, config string
}

func newSetsEnv(t testing.TB, concurrency int, top string, sets map[string]string) *setsEnv {
	t.Helper()
	dir := t.TempDir()
	e := &setsEnv{dir: dir, repo: filepath.Join(dir, "repo"), config: filepath.Join(dir, "depot.yaml")}
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\nconcurrency: %d\n%srepository:\n  path: %s\nsets:\n", concurrency, top, e.repo)
	for _, name := range sortedKeys(sets) {
		src := filepath.Join(dir, "src-"+name)
		makeTree(t, src, 6, 1<<10)
		fmt.Fprintf(&b, "  - name: %s\n%s    items:\n      - { name: files, type: filesystem, paths: [%s] }\n", name, sets[name], src)
	}
	if err := os.WriteFile(e.config, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	initRepo(t, e.config)
	return e
}

func sortedKeys(m map[string]string) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[j] < keys[i] {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	return keys
}

func (e *setsEnv) snapshots(t testing.TB, set string) int {
	t.Helper()
	s, err := repository.Repo{Root: e.repo}.Snapshots(context.Background(), set)
	if err != nil {
		t.Fatal(err)
	}
	return len(s)
}

// TestConcurrentSets: with concurrency 2, sets a and b run at once: each
// one's before hook waits for the other's to have started, which one after
// another never happens (the control, concurrency 1, fails both ways).
func TestConcurrentSets(t *testing.T) {
	for _, tc := range []struct {
		concurrency int
		wantCode    int
	}{{2, 0}, {1, 1}} {
		t.Run(fmt.Sprint("concurrency ", tc.concurrency), func(t *testing.T) {
			dir := t.TempDir()
			// meet marks its set as started, then waits for the other.
			meet := writeExec(t, dir, "meet", `touch "`+dir+`/$1"; i=0; while [ ! -e "`+dir+`/$2" ]; do i=$((i+1)); [ $i -lt 60 ] || exit 1; sleep 0.05; done`)
			hook := func(me, other string) string {
				return fmt.Sprintf("    hooks: { before: [{ command: [%s, %s, %s], timeout: 10s }] }\n", meet, me, other)
			}
			e := newSetsEnv(t, tc.concurrency, "", map[string]string{"a": hook("a", "b"), "b": hook("b", "a"), "c": ""})
			code, _, errs := depot(t, "--config", e.config, "run")
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\n%s", code, tc.wantCode, errs)
			}
			if tc.wantCode == 0 {
				for _, set := range []string{"a", "b", "c"} {
					if n := e.snapshots(t, set); n != 1 {
						t.Errorf("set %s: %d snapshots, want 1\n%s", set, n, errs)
					}
				}
			}
		})
	}
}

// TestSetLock: a set another run holds fails with exit 3 naming the
// holder, while another set runs beside it (a run whose only failures are
// held sets exits 3 too); prune waits for every run.
func TestSetLock(t *testing.T) {
	e := newSetsEnv(t, 1, "", map[string]string{"web": "", "db": ""})
	repo := repository.Repo{Root: e.repo}
	ctx := context.Background()
	runs, err := repo.LockRuns(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer runs.Unlock()
	web, err := repo.LockSet(ctx, "web", 0)
	if err != nil {
		t.Fatal(err)
	}
	code, _, errs := depot(t, "--config", e.config, "run", "web")
	if code != 3 || !strings.Contains(errs, "depot: repository locked by pid") || !strings.Contains(errs, "holding set web") {
		t.Fatalf("run of a held set: exit %d, want 3 naming the holder\n%s", code, errs)
	}
	mustDepot(t, "--config", e.config, "run", "db")
	if e.snapshots(t, "db") != 1 || e.snapshots(t, "web") != 0 {
		t.Fatalf("snapshots: db %d, web %d; want 1 and 0", e.snapshots(t, "db"), e.snapshots(t, "web"))
	}
	code, _, errs = depot(t, "--config", e.config, "run")
	if code != 3 || e.snapshots(t, "db") != 2 {
		t.Fatalf("run of both: exit %d, want 3 (web held) and db saved\n%s", code, errs)
	}
	if code, _, errs := depot(t, "--config", e.config, "prune"); code != 3 {
		t.Fatalf("prune beside a run: exit %d, want 3\n%s", code, errs)
	}
	web.Unlock()
	mustDepot(t, "--config", e.config, "run", "web")
}

// TestConcurrencyOnePerSourceHost: two sets pulled from one host never run
// at once, even with room for both; their hooks' spans do not overlap.
func TestConcurrencyOnePerSourceHost(t *testing.T) {
	s := sshtest.Start(t, sshtest.Options{})
	dir := t.TempDir()
	spans := filepath.Join(dir, "spans")
	span := writeExec(t, dir, "span", `echo "start $1" >> "`+spans+`"; sleep 0.3; echo "end $1" >> "`+spans+`"`)
	set := func(name string) string {
		return fmt.Sprintf("    source: %s\n    hooks: { before: [[%s, %s]] }\n", s.Addr(), span, name)
	}
	top := fmt.Sprintf("ssh: { identity_file: %s, known_hosts: %s }\n", s.IdentityFile, s.KnownHosts)
	e := newSetsEnv(t, 4, top, map[string]string{"one": set("one"), "two": set("two")})
	mustDepot(t, "--config", e.config, "run")
	data, err := os.ReadFile(spans)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "start") || !strings.HasPrefix(lines[1], "end") || !strings.HasPrefix(lines[2], "start") {
		t.Fatalf("sets of one host overlapped:\n%s", data)
	}
	if e.snapshots(t, "one") != 1 || e.snapshots(t, "two") != 1 {
		t.Fatal("a set made no snapshot")
	}
}
