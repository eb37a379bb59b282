package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// copierEnv is newSizedEnv with no exclude pattern in its item: a first
// run copies with depot's copier.
func copierEnv(t testing.TB, n, size int) *testEnv {
	t.Helper()
	e := newSizedEnv(t, 5, n, size)
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg = bytes.Replace(cfg, []byte("        exclude: [\"*.log\"]\n"), nil, 1)
	if err := os.WriteFile(e.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestFirstCopyByCopier: plan says depot's copier makes the first copy of a
// local tree and the run has it do so; the snapshot is the source, the
// file list took the hashes read while copying (verify reads every file
// and compares), and the next run goes the quick way from its list.
func TestFirstCopyByCopier(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the copier copies as root only")
	}
	e := copierEnv(t, 200, 4000)
	if plan := mustDepot(t, "--config", e.config, "plan"); !strings.Contains(plan, "depot's own copier") || strings.Contains(plan, "rsync -a") {
		t.Errorf("plan does not say the copier copies:\n%s", plan)
	}
	code, _, logs := depot(t, "--config", e.config, "run")
	if code != 0 || !strings.Contains(logs, `msg="copier done"`) {
		t.Fatalf("first run: exit %d, copier done: %v\n%s", code, strings.Contains(logs, "copier done"), logs)
	}
	m := regexp.MustCompile(`msg="item done".* files=(\d+) .* files_hashed=(\d+) files_prehashed=(\d+)`).FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("no item figures:\n%s", logs)
	}
	if files, _ := strconv.Atoi(m[1]); m[3] == "0" || files < 200 {
		t.Errorf("files %s, of them %s took the copier's hash; want 200 and more, most of them", m[1], m[3])
	}
	snaps := e.snapshots(t)
	sameTree(t, e.snapshotTree(t, snaps[0]), readTree(t, e.src, nil))
	if code, out, errs := depot(t, "--config", e.config, "verify"); code != 0 {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errs)
	}
	code, _, logs = depot(t, "--config", e.config, "run")
	if code != 0 || !strings.Contains(logs, `msg="quick path"`) {
		t.Fatalf("second run: exit %d, quick path: %v\n%s", code, strings.Contains(logs, "quick path"), logs)
	}
}

// TestCopierKilledLeavesPartial: depot stopped while its copier copies
// publishes nothing and leaves no process; the next run resumes the
// partial with rsync (plan says so), and the snapshot is the source.
func TestCopierKilledLeavesPartial(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the copier copies as root only")
	}
	e := copierEnv(t, 3000, 8<<10)
	cmd := exec.Command(depotBinary, "--config", e.config, "run")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if !waitForPartialFiles(e, 100, 20*time.Second) {
		cmd.Process.Kill()
		t.Fatalf("nothing was written into .partial:\n%s", stderr.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err == nil || cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("stopped run: %v, want exit 1:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "copying with depot's copier") {
		t.Fatalf("the copier was not copying:\n%s", stderr.String())
	}
	checkNoHalfSnapshots(t, e)
	if len(e.snapshots(t)) != 0 {
		t.Fatal("a snapshot was published")
	}
	if plan := mustDepot(t, "--config", e.config, "plan"); !strings.Contains(plan, "interrupted run's copy") {
		t.Errorf("plan does not say rsync completes the interrupted copy:\n%s", plan)
	}
	code, _, logs := depot(t, "--config", e.config, "run")
	if code != 0 || !strings.Contains(logs, "resuming interrupted run") || strings.Contains(logs, "copier done") {
		t.Fatalf("run after the stop: exit %d\n%s", code, logs)
	}
	sameTree(t, e.snapshotTree(t, e.snapshots(t)[0]), readTree(t, e.src, nil))
	checkNoHalfSnapshots(t, e)
}

// TestCopierUnreadableFails: a file depot cannot read fails the item with
// the copier as with rsync (its exit 23): the same exit, the same state of
// the snapshot, the file named. depot runs as root without the capability
// to read what it does not own (setpriv), like root on NFS.
func TestCopierUnreadableFails(t *testing.T) {
	setpriv, err := exec.LookPath("setpriv")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and setpriv")
	}
	for _, tc := range []struct {
		name, extra, says string
	}{
		{name: "copier", says: "copying with depot's copier"},
		{name: "rsync", extra: "        exclude: [\"*.nothing\"]\n", says: "copying with rsync's own walk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := copierEnv(t, 20, 1000)
			if tc.extra != "" {
				cfg, _ := os.ReadFile(e.config)
				if err := os.WriteFile(e.config, append(cfg, tc.extra...), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			locked := filepath.Join(e.src, "d1", "locked")
			if err := os.WriteFile(locked, []byte("no one reads this"), 0); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(setpriv, "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search",
				depotBinary, "--config", e.config, "run")
			out, err := cmd.CombinedOutput()
			if err == nil || cmd.ProcessState.ExitCode() != 1 {
				t.Fatalf("run: %v, want exit 1\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.says) || !strings.Contains(string(out), locked) || !strings.Contains(string(out), "partial transfer due to error") {
				t.Errorf("the run does not say %q, name %s and the partial transfer:\n%s", tc.says, locked, out)
			}
			if len(e.snapshots(t)) != 0 {
				t.Errorf("a snapshot was published")
			}
		})
	}
}
