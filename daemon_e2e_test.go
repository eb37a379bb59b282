package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/depot-backup/depot/internal/proctest"
	"github.com/depot-backup/depot/repository"
)

// initTestRepository runs depot init for config: the one place the tests
// of depot daemon and depot schedule create a repository.
func initTestRepository(t testing.TB, config string) {
	t.Helper()
	initRepo(t, config)
}

// scheduledEnv is a source tree and a config whose set "web" is scheduled;
// its command item blocks while the file block exists.
type scheduledEnv struct {
	dir, src, repo, config string
	block, sleeping        string
}

func newScheduledEnv(t testing.TB) *scheduledEnv {
	t.Helper()
	dir := t.TempDir()
	e := &scheduledEnv{dir: dir, src: filepath.Join(dir, "src"), config: filepath.Join(dir, "depot.yaml"),
		block: filepath.Join(dir, "block"), sleeping: filepath.Join(dir, "sleeping")}
	e.repo = filepath.Join(dir, "repo")
	makeTree(t, e.src, 40, 4<<10)
	e.writeConfig(t, "@every 2s", "")
	initTestRepository(t, e.config)
	return e
}

func (e *scheduledEnv) writeConfig(t testing.TB, schedule, more string) {
	t.Helper()
	script := fmt.Sprintf("if [ -e %s ]; then touch %s; exec sleep 120; fi; echo ok", e.block, e.sleeping)
	cfg := fmt.Sprintf(`version: 1
repository:
  path: %s
sets:
  - name: web
    schedule: %q
    items:
      - {name: site, type: filesystem, paths: [%s]}
      - {name: slow, type: command, command: [sh, -c, %q]}
%s`, e.repo, schedule, e.src, script, more)
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// daemonProc is a running depot daemon and its log.
type daemonProc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  bytes.Buffer
	done chan error
}

func (p *daemonProc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.Write(b)
}

func (p *daemonProc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

func startDaemon(t *testing.T, args ...string) *daemonProc {
	t.Helper()
	p := &daemonProc{done: make(chan error, 1)}
	p.cmd = exec.Command(depotBinary, args...)
	p.cmd.Stderr = p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitLog waits until the log holds want count times.
func (p *daemonProc) waitLog(t *testing.T, want string, count int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Count(p.logs(), want) >= count {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the daemon did not log %q %d times:\n%s", want, count, p.logs())
}

// stop sends sig and waits for the daemon to exit, returning its status.
func (p *daemonProc) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the daemon did not exit after %v:\n%s", sig, p.logs())
	}
	return p.cmd.ProcessState.ExitCode()
}

// TestDaemonProcess runs depot daemon with a schedule every two seconds,
// reloads a changed and then a broken config with SIGHUP, and stops it with
// SIGTERM in the middle of a run. The stopped run leaves its .partial and no
// process behind, the daemon exits 0, and the next start resumes the run.
func TestDaemonProcess(t *testing.T) {
	e := newScheduledEnv(t)
	p := startDaemon(t, "--config", e.config, "daemon", "--grace", "1s")
	p.waitLog(t, `msg="set done" set=web`, 2)

	// A changed config: a second set appears, with its next run logged.
	e.writeConfig(t, "@every 2s", fmt.Sprintf("  - name: etc\n    schedule: \"@every 3s\"\n    items:\n      - {name: etc, type: filesystem, paths: [%s]}\n", filepath.Join(e.src, "d0")))
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, `msg="config reloaded"`, 1)
	p.waitLog(t, `msg="set done" set=etc`, 1)

	// A broken config is refused with its position, and the old one runs on.
	if err := os.WriteFile(e.config, []byte("version: 1\nrepository: {path: relative}\nsets: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitLog(t, `msg="config reload refused; keeping the old config"`, 1)
	if !strings.Contains(p.logs(), `depot.yaml:2:20: repository.path: \"relative\" is relative`) {
		t.Errorf("the refusal does not say why:\n%s", p.logs())
	}
	etcRuns := strings.Count(p.logs(), `msg="set done" set=etc`)
	p.waitLog(t, `msg="set done" set=etc`, etcRuns+1)

	// SIGTERM in the middle of a run: the run gets its grace, is stopped,
	// and keeps its .partial.
	e.writeConfig(t, "@every 2s", "")
	if err := os.WriteFile(e.block, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFile(t, e.sleeping)
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("daemon exit %d after SIGTERM, want 0:\n%s", code, p.logs())
	}
	for _, want := range []string{"running jobs may finish", "grace over", "stopped at daemon shutdown, will resume", `msg="daemon stopped"`} {
		if !strings.Contains(p.logs(), want) {
			t.Errorf("the daemon's log lacks %q:\n%s", want, p.logs())
		}
	}
	if left := proctest.Mentioning(t, "sleep 120"); len(left) > 0 {
		t.Errorf("processes left running: %v", left)
	}
	repo := repository.Repo{Root: e.repo}
	partials, err := repo.Partials(context.Background(), "web")
	if err != nil || len(partials) != 1 {
		t.Fatalf("partials of web after SIGTERM: %v, %v; want one", partials, err)
	}
	before := len(e.snapshotsOf(t, "web"))

	// The next start resumes the run at once (its last success is older
	// than the previous scheduled time) and publishes it.
	os.Remove(e.block)
	p = startDaemon(t, "--config", e.config, "daemon")
	p.waitLog(t, `msg="set done" set=web`, 1)
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("second daemon exit %d:\n%s", code, p.logs())
	}
	for _, want := range []string{`msg="missed run: running now" job=set-web`, `msg="resuming interrupted run" set=web`} {
		if !strings.Contains(p.logs(), want) {
			t.Errorf("the second daemon's log lacks %q:\n%s", want, p.logs())
		}
	}
	snaps := e.snapshotsOf(t, "web")
	if len(snaps) <= before {
		t.Fatalf("no new snapshot after the restart: %d before, %d after", before, len(snaps))
	}
	for _, s := range snaps {
		if !s.Complete {
			t.Errorf("snapshot %s is incomplete", s.Stamp)
		}
	}
	sameTree(t, readTree(t, filepath.Join(snaps[len(snaps)-1].Path, "site", e.src), nil), readTree(t, e.src, nil))
}

func (e *scheduledEnv) snapshotsOf(t testing.TB, set string) []repository.Snapshot {
	t.Helper()
	s, err := repository.Repo{Root: e.repo}.Snapshots(context.Background(), set)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitFile waits until path exists.
func waitFile(t *testing.T, path string) {
	t.Helper()
	for range 3000 {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
}
