package director

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/depot-backup/depot/repository"
)

// initTestRepository makes a repository (or mirror target) at root as depot
// init does: the one place the daemon tests create one.
func initTestRepository(t testing.TB, root string) string {
	t.Helper()
	if _, err := (repository.Repo{Root: root}).Init(context.Background(), time.Now(), "UTC"); err != nil {
		t.Fatal(err)
	}
	return root
}

// daemonWorld is a source, a repository, a mirror and a config whose
// schedules the simulated week follows: set "web" every day at 12:00, set
// "big" at 22:00 and 02:00 within the window 22:00-06:00, and a mirror that
// follows the runs. big's second item blocks on its first two starts, like
// a first backup too large for one night.
type daemonWorld struct {
	dir, repo, mirror string
	count, sleeping   string // big's start counter, and the file it makes while it blocks
	cfg               *Config
	logs              *bytes.Buffer
	logMu             sync.Mutex // guards logs
	clock             *clockwork.FakeClock
	events            chan JobEvent
}

func newDaemonWorld(t *testing.T, start time.Time) *daemonWorld {
	t.Helper()
	dir := t.TempDir()
	w := &daemonWorld{dir: dir, mirror: filepath.Join(dir, "mirror"), count: filepath.Join(dir, "count"),
		sleeping: filepath.Join(dir, "sleeping"), logs: &bytes.Buffer{}, clock: clockwork.NewFakeClockAt(start), events: make(chan JobEvent, 100)}
	w.repo = initTestRepository(t, filepath.Join(dir, "repo"))
	initTestRepository(t, w.mirror)
	for _, name := range []string{"web/index.html", "big/a/one.dat", "big/b/two.dat", "big/c/three.dat"} {
		p := filepath.Join(dir, "src", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, bytes.Repeat([]byte(name), 1000), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	script := fmt.Sprintf(`n=$(cat %[1]s 2>/dev/null || echo 0); echo $((n+1)) > %[1]s; if [ "$n" -lt 2 ]; then touch %[2]s; exec sleep 600; fi; echo done`, w.count, w.sleeping)
	src := fmt.Sprintf(`version: 1
repository:
  path: %s
sets:
  - name: web
    schedule: "0 12 * * *"
    items:
      - {name: site, type: filesystem, paths: [%s]}
  - name: big
    schedule: "0 22,2 * * *"
    windows: ["22:00-06:00"]
    items:
      - {name: data, type: filesystem, paths: [%s]}
      - {name: slow, type: command, command: [sh, -c, %q]}
mirrors:
  - {name: copy, target: %s, schedule: after-runs}
`, w.repo, filepath.Join(dir, "src", "web"), filepath.Join(dir, "src", "big"), script, w.mirror)
	w.cfg = parse(t, src)
	w.cfg.File = filepath.Join(dir, "depot.yaml")
	return w
}

// start runs a daemon on the world's clock until the returned stop is
// called.
func (w *daemonWorld) start(t *testing.T) (*Daemon, func()) {
	t.Helper()
	d := New(w.cfg, slog.New(slog.NewTextHandler(&lockedWriter{w: w.logs, mu: &w.logMu}, nil)), io.Discard, "test")
	dm, err := NewDaemon(d, DaemonOptions{Clock: w.clock, Grace: time.Minute, OnJob: func(ev JobEvent) { w.events <- ev }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- dm.Run(ctx) }()
	return dm, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	}
}

// logText returns what the daemon logged so far.
func (w *daemonWorld) logText() string {
	w.logMu.Lock()
	defer w.logMu.Unlock()
	return w.logs.String()
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// wait returns the next event of job, keeping the others for later.
func (w *daemonWorld) wait(t *testing.T, pending *[]JobEvent, job string) JobEvent {
	t.Helper()
	for {
		for i, ev := range *pending {
			if ev.Job == job {
				*pending = append((*pending)[:i], (*pending)[i+1:]...)
				return ev
			}
		}
		select {
		case ev := <-w.events:
			*pending = append(*pending, ev)
		case <-time.After(60 * time.Second):
			t.Fatalf("at %v: no event of %s; pending %+v\nlogs:\n%s", w.clock.Now(), job, *pending, w.logText())
		}
	}
}

// waitFile waits until path exists: a blocking start has reached its block.
func waitFile(t *testing.T, path string) {
	t.Helper()
	for i := 0; i < 3000; i++ {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
}

// TestDaemonSimulatedWeek drives a week of schedules through gocron's fake
// clock against real runs into a temporary repository, with the daemon
// stopped for two days in the middle. Every set runs at its times and never
// overlaps itself (big's 02:00 start is skipped while its 22:00 start still
// runs), the mirror follows each successful run, a set whose runs were
// missed runs at once when the daemon starts again, and big's first backup,
// cut at the window's end twice, resumes in the next window without copying
// its tree again.
func TestDaemonSimulatedWeek(t *testing.T) {
	monday := time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC)
	w := newDaemonWorld(t, monday)
	var pending []JobEvent
	var all []JobEvent
	wait := func(job string) JobEvent {
		t.Helper()
		ev := w.wait(t, &pending, job)
		all = append(all, ev)
		return ev
	}
	_, stop := w.start(t)
	// First start: web never succeeded, so it runs at once; big's window
	// is closed.
	if ev := wait("set-web"); ev.Err != nil || !ev.Start.Equal(monday) {
		t.Fatalf("catch-up of web: %+v", ev)
	}
	wait("mirror-copy")

	bigStarts := 0 // how many times big's command has started
	bigBlocked := false
	restart := time.Date(2026, 12, 9, 13, 0, 0, 0, time.UTC) // Wednesday: the daemon stops
	resume := time.Date(2026, 12, 11, 14, 0, 0, 0, time.UTC) // Friday: it starts again
	end := monday.Add(7 * 24 * time.Hour)
	for now := monday.Truncate(time.Hour).Add(time.Hour); now.Before(end); now = now.Add(time.Hour) {
		if now.Equal(restart) {
			w.clock.Advance(now.Sub(w.clock.Now()))
			stop()
			w.clock.Advance(resume.Sub(now))
			_, stop = w.start(t)
			// web's runs of Thursday and Friday 12:00 were missed.
			if ev := wait("set-web"); ev.Err != nil || !ev.Start.Equal(resume) {
				t.Fatalf("catch-up of web on Friday: %+v", ev)
			}
			wait("mirror-copy")
			now = resume
			continue
		}
		w.clock.Advance(now.Sub(w.clock.Now()))
		switch h := now.Hour(); {
		case h == 12:
			if ev := wait("set-web"); ev.Err != nil {
				t.Fatalf("web at %v: %v", now, ev.Err)
			}
			wait("mirror-copy")
		case (h == 22 || h == 2) && bigBlocked:
			if ev := wait("set-big"); ev.Skipped != "still running" {
				t.Fatalf("big at %v while running: %+v", now, ev)
			}
		case (h == 22 || h == 2) && bigStarts < 2:
			waitFile(t, w.sleeping)
			bigStarts++
			bigBlocked = true
		case h == 22 || h == 2:
			if ev := wait("set-big"); ev.Err != nil {
				t.Fatalf("big at %v: %v", now, ev.Err)
			}
			wait("mirror-copy")
		case h == 6 && bigBlocked:
			ev := wait("set-big")
			if !errors.Is(ev.Err, ErrStopped) {
				t.Fatalf("big at the window's end: %+v", ev)
			}
			os.Remove(w.sleeping)
			bigBlocked = false
		}
	}
	stop()
	if len(pending) > 0 {
		t.Errorf("unexpected events: %+v", pending)
	}

	var webStarts []string
	for _, ev := range all {
		if ev.Job == "set-web" && ev.Skipped == "" {
			webStarts = append(webStarts, ev.Start.Format("Mon 15:04"))
		}
	}
	want := []string{"Mon 09:30", "Mon 12:00", "Tue 12:00", "Wed 12:00", "Fri 14:00", "Sat 12:00", "Sun 12:00"}
	if strings.Join(webStarts, ", ") != strings.Join(want, ", ") {
		t.Errorf("web ran at %v, want %v", webStarts, want)
	}
	checkNoOverlap(t, all)

	// big: stopped twice at 06:00, then complete from Friday night on, its
	// tree carried over from the first night's .partial.
	ctx := context.Background()
	repo := repository.Repo{Root: w.repo}
	snaps, err := repo.Snapshots(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) == 0 || snaps[0].Stamp != "2026-12-11T220000Z" {
		t.Fatalf("big's snapshots: %+v, want the first at Friday 22:00", snaps)
	}
	first, err := repo.ReadManifest(ctx, snaps[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	if tree := first.Items[0]; tree.Stats.Files != 3 || tree.Stats.FilesTransferred != 0 {
		t.Errorf("big's first snapshot: tree item %+v, want 3 files and none transferred (resumed)", tree.Stats)
	}
	if !strings.Contains(w.logText(), "job skipped: still running") || !strings.Contains(w.logText(), "stopped at window end, will resume") {
		t.Errorf("logs lack the skip or the stop:\n%s", w.logText())
	}
	mirrored, err := repository.Repo{Root: w.mirror}.Snapshots(ctx, "web")
	if err != nil || len(mirrored) == 0 {
		t.Errorf("mirror has no web snapshots: %v", err)
	}
}

// checkNoOverlap fails if two runs of one job overlap in time.
func checkNoOverlap(t *testing.T, events []JobEvent) {
	t.Helper()
	last := map[string]JobEvent{}
	for _, ev := range events {
		if ev.Skipped != "" {
			continue
		}
		if prev, ok := last[ev.Job]; ok && ev.Start.Before(prev.End) {
			t.Errorf("%s: a run from %v overlaps the one from %v to %v", ev.Job, ev.Start, prev.Start, prev.End)
		}
		last[ev.Job] = ev
	}
}

// TestDaemonJitter: a start waits for the delay the jitter drew, on the
// daemon's clock, and the snapshot carries the later time.
func TestDaemonJitter(t *testing.T) {
	dir := t.TempDir()
	repo := initTestRepository(t, filepath.Join(dir, "repo"))
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := parse(t, fmt.Sprintf("version: 1\nrepository: {path: %s}\nsets:\n  - name: web\n    schedule: \"0 12 * * *\"\n    jitter: 10m\n    items:\n      - {name: site, type: filesystem, paths: [%s]}\n", repo, src))
	clock := clockwork.NewFakeClockAt(time.Date(2026, 12, 7, 11, 0, 0, 0, time.UTC))
	events := make(chan JobEvent, 10)
	var drawn []time.Duration
	d := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard, "test")
	dm, err := NewDaemon(d, DaemonOptions{Clock: clock, OnJob: func(ev JobEvent) { events <- ev },
		Jitter: func(max time.Duration) time.Duration { drawn = append(drawn, max); return 7 * time.Minute }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- dm.Run(ctx) }()
	defer func() { cancel(); <-done }()

	for _, at := range []time.Time{clock.Now(), time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)} {
		clock.Advance(at.Sub(clock.Now()))
		// The job's timer for tomorrow and the jitter's delay.
		bctx, bcancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := clock.BlockUntilContext(bctx, 2)
		bcancel()
		if err != nil {
			t.Fatalf("at %v: the start does not wait for its jitter: %v", at, err)
		}
		select {
		case ev := <-events:
			t.Fatalf("the job ran before its jitter: %+v", ev)
		default:
		}
		clock.Advance(7 * time.Minute)
		if ev := <-events; ev.Err != nil {
			t.Fatal(ev.Err)
		}
	}
	snaps, err := repository.Repo{Root: repo}.Snapshots(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	var stamps []string
	for _, s := range snaps {
		stamps = append(stamps, s.Stamp)
	}
	if want := "2026-12-07T110700Z 2026-12-07T120700Z"; strings.Join(stamps, " ") != want {
		t.Errorf("stamps %v, want %s", stamps, want)
	}
	if len(drawn) != 2 || drawn[0] != 10*time.Minute {
		t.Errorf("jitter drawn with %v, want 10m twice", drawn)
	}
}
