package main

import (
	"bytes"
	"context"
	"fmt"
	"github.com/depot-backup/depot/internal/objtest"
	"github.com/depot-backup/depot/internal/proctest"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/depot-backup/depot/director"
	"github.com/depot-backup/depot/repository"
)

// depotBinary is built once by TestMain for the tests that kill depot.
var depotBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "depot-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	depotBinary = filepath.Join(dir, "depot")
	build := exec.Command("go", "build", "-o", depotBinary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build depot:", err)
		os.Exit(1)
	}
	code := m.Run()
	objtest.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestCrashAnywhere kills depot at every step of a run, with SIGKILL and with
// SIGTERM, and checks what must hold after any crash: nothing outside .partial
// lacks a complete manifest, list shows no partial, no rsync survives, and the
// next run succeeds with a snapshot identical to the source.
func TestCrashAnywhere(t *testing.T) {
	steps := []string{"locked", "begun", "item-copied", "item-listed", "items-done", "manifest-written", "published", "pruned-one"}
	type crash struct {
		name   string
		env    string // DEPOT_TEST_CRASH_AT, or "" to signal mid-rsync from outside
		signal syscall.Signal
	}
	var cases []crash
	for _, s := range steps {
		cases = append(cases, crash{s + "/KILL", s, syscall.SIGKILL}, crash{s + "/TERM", s + ":TERM", syscall.SIGTERM})
	}
	cases = append(cases, crash{"mid-rsync/KILL", "", syscall.SIGKILL}, crash{"mid-rsync/TERM", "", syscall.SIGTERM})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := 300
			if c.env == "" {
				files = 3000 // enough for rsync to be caught in the act
			}
			e := newSizedEnv(t, 1, files, 8<<10)
			mustDepot(t, "--config", e.config, "run")
			// Change the source so the crashed run has work to do.
			if err := os.WriteFile(filepath.Join(e.src, "d0", "new-file"), []byte("after the first run\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(e.src, "empty")); err != nil {
				t.Fatal(err)
			}

			cmd := exec.Command(depotBinary, "--config", e.config, "run")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if c.env != "" {
				cmd.Env = append(os.Environ(), "DEPOT_TEST_CRASH_AT="+c.env)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if c.env == "" {
				if !waitForPartialFiles(e, 100, 20*time.Second) {
					cmd.Process.Kill()
					t.Fatalf("rsync never wrote into .partial:\n%s", stderr.String())
				}
				cmd.Process.Signal(c.signal)
			}
			err := cmd.Wait()
			if err == nil {
				t.Fatalf("crashed run exited 0:\n%s", stderr.String())
			}
			if c.signal == syscall.SIGTERM && cmd.ProcessState.ExitCode() != 1 {
				t.Fatalf("SIGTERM: exit %d, want 1:\n%s", cmd.ProcessState.ExitCode(), stderr.String())
			}

			checkNoHalfSnapshots(t, e)
			if pids := proctest.Mentioning(t, e.dir); len(pids) > 0 {
				t.Fatalf("processes survive the crash: %v", pids)
			}

			code, _, errs := depot(t, "--config", e.config, "run")
			if code != 0 {
				t.Fatalf("run after the crash: exit %d\n%s", code, errs)
			}
			if c.env == "" && !strings.Contains(errs, "resuming interrupted run") {
				t.Errorf("the run after a mid-rsync crash did not resume the partial:\n%s", errs)
			}
			snaps := e.snapshots(t)
			if len(snaps) != 1 {
				t.Fatalf("%d snapshots after the recovery run, want 1 (max_recent_backups 1)", len(snaps))
			}
			sameTree(t, e.snapshotTree(t, snaps[0]), e.sourceTree(t))
			checkNoHalfSnapshots(t, e)
			if p, _ := (repository.Repo{Root: e.repo}).Partials(context.Background(), "web"); len(p) != 0 {
				t.Errorf("partials left after a successful run: %v", p)
			}
			if trash, _ := os.ReadDir(filepath.Join(e.repo, ".depot", "trash")); len(trash) != 0 {
				t.Errorf("trash not emptied: %v", trash)
			}
		})
	}
}

// waitForPartialFiles waits until rsync has written at least n entries into a
// .partial snapshot.
func waitForPartialFiles(e *testEnv, n int, timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		count := 0
		filepath.WalkDir(filepath.Join(e.repo, ".partial"), func(string, fs.DirEntry, error) error {
			count++
			if count >= n {
				return fs.SkipAll
			}
			return nil
		})
		if count >= n {
			return true
		}
	}
	return false
}

// checkNoHalfSnapshots fails unless every directory in holding and permanent
// has a manifest naming it, and list shows exactly those, all complete.
func checkNoHalfSnapshots(t testing.TB, e *testEnv) {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(e.repo, "*", "web", "*"))
	published := map[string]bool{}
	for _, dir := range dirs {
		if strings.Contains(dir, "/.partial/") {
			continue
		}
		m, err := repository.Repo{}.ReadManifest(context.Background(), dir)
		if err != nil {
			t.Fatalf("%s is published without a complete manifest: %v", dir, err)
		}
		if m.Stamp != filepath.Base(dir) || len(m.Items) != 1 || m.Items[0].FileList == "" {
			t.Fatalf("%s has manifest %+v", dir, m)
		}
		published[m.Stamp] = true
	}
	list := decodeJSON[[]director.ListEntry](t, mustDepot(t, "--config", e.config, "list", "--json"))
	if len(list) != len(published) {
		t.Fatalf("list shows %d snapshots, %d are published: %+v", len(list), len(published), list)
	}
	for _, l := range list {
		if !published[l.Stamp] || l.State != "complete" {
			t.Fatalf("list shows %+v", l)
		}
	}
}
