package director

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/depot-backup/depot/repository"
	"github.com/depot-backup/depot/schedules"
)

// TestDaemonReloadKeepsRunningJob reloads a changed config while big runs:
// the run goes on, the new schedule applies at once, and its first time,
// coming while the old start still runs, is skipped.
func TestDaemonReloadKeepsRunningJob(t *testing.T) {
	start := time.Date(2026, 12, 7, 21, 30, 0, 0, time.UTC)
	w := newDaemonWorld(t, start)
	reload := make(chan struct{})
	next := *w.cfg
	next.Sets = append([]SetConfig(nil), w.cfg.Sets...)
	next.Sets[1].JobTiming.Schedule = "30 * * * *"
	cron, err := schedules.ParseCron("30 * * * *")
	if err != nil {
		t.Fatal(err)
	}
	next.Sets[1].JobTiming.cron = cron
	d := New(w.cfg, slog.New(slog.NewTextHandler(&lockedWriter{w: w.logs, mu: &w.logMu}, nil)), io.Discard, "test")
	dm, err := NewDaemon(d, DaemonOptions{Clock: w.clock, Reload: reload, OnJob: func(ev JobEvent) { w.events <- ev },
		Load: func(string) (*Config, error) { return &next, nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- dm.Run(ctx) }()
	defer func() { cancel(); <-done }()
	var pending []JobEvent
	w.wait(t, &pending, "mirror-copy") // web's catch-up, then the mirror
	w.wait(t, &pending, "set-web")

	w.clock.Advance(30 * time.Minute) // 22:00: big starts and blocks
	waitFile(t, w.sleeping)
	reload <- struct{}{}
	waitNextRun(t, dm, "set-big", start.Add(time.Hour))
	w.clock.Advance(30 * time.Minute) // 22:30: the new schedule's first time
	if ev := w.wait(t, &pending, "set-big"); ev.Skipped != "still running" || !ev.Start.Equal(start.Add(time.Hour)) {
		t.Fatalf("big at 22:30: %+v, want a skip", ev)
	}
	w.clock.Advance(7*time.Hour + 30*time.Minute) // to 06:00, when the window closes
	for {
		ev := w.wait(t, &pending, "set-big")
		if ev.Skipped != "" {
			continue // the half hours of the night, fired late as the clock jumps
		}
		if !errors.Is(ev.Err, ErrStopped) {
			t.Fatalf("big at 06:00: %+v, want it stopped", ev)
		}
		break
	}
	if !strings.Contains(w.logText(), `msg="config reloaded"`) || !strings.Contains(w.logText(), `schedule="30 * * * *"`) {
		t.Errorf("the reload and the new next run are not logged:\n%s", w.logText())
	}
}

// TestDaemonRespectsTheLock: a job finding the repository locked by a depot
// run started by hand waits --wait for it, then fails without touching
// the repository; the next start runs.
func TestDaemonRespectsTheLock(t *testing.T) {
	start := time.Date(2026, 12, 7, 11, 0, 0, 0, time.UTC)
	w := newDaemonWorld(t, start)
	repo := repository.Repo{Root: w.repo}
	lock, err := repo.Lock(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	d := New(w.cfg, slog.New(slog.NewTextHandler(&lockedWriter{w: w.logs, mu: &w.logMu}, nil)), io.Discard, "test")
	dm, err := NewDaemon(d, DaemonOptions{Clock: w.clock, Wait: 200 * time.Millisecond, OnJob: func(ev JobEvent) { w.events <- ev }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- dm.Run(ctx) }()
	defer func() { cancel(); <-done }()
	var pending []JobEvent
	if ev := w.wait(t, &pending, "set-web"); !errors.Is(ev.Err, repository.ErrLocked) {
		t.Fatalf("web while locked: %+v, want ErrLocked", ev)
	}
	if snaps, _ := repo.Snapshots(context.Background(), "web"); len(snaps) != 0 {
		t.Fatalf("a locked repository got snapshots: %+v", snaps)
	}
	if _, err := os.Stat(repo.PartialDir("web", "")); err == nil {
		t.Errorf("a locked repository got a .partial")
	}
	lock.Unlock()
	w.clock.Advance(time.Hour) // 12:00
	if ev := w.wait(t, &pending, "set-web"); ev.Err != nil {
		t.Fatalf("web after the lock was released: %+v", ev)
	}
	// After the job's turn, what list shows is recorded already.
	if _, err := os.Stat(filepath.Join(w.repo, ".depot", "frees", "web.json")); err != nil {
		t.Errorf("no frees record after a daemon run: %v", err)
	}
}

// waitNextRun waits until the scheduler has job's next run at want: a
// reload has been applied.
func waitNextRun(t *testing.T, dm *Daemon, job string, want time.Time) {
	t.Helper()
	for range 3000 {
		dm.mu.Lock()
		j, ok := dm.jobs[job]
		dm.mu.Unlock()
		if ok {
			if next, err := j.NextRun(); err == nil && next.Equal(want) {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s is never scheduled at %v", job, want)
}
