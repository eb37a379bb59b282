package director

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/depot-backup/depot/repository"
)

// statusEnv is a repository whose run history the test writes, read by a
// director whose clock the test sets.
type statusEnv struct {
	repo repository.Repo
	d    *Director
	out  *bytes.Buffer
	logs *bytes.Buffer
}

var statusNow = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func newStatusEnv(t *testing.T, extra string) *statusEnv {
	t.Helper()
	dir := t.TempDir()
	e := &statusEnv{repo: repository.Repo{Root: filepath.Join(dir, "repo")}, out: &bytes.Buffer{}, logs: &bytes.Buffer{}}
	if err := os.MkdirAll(e.repo.StateDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse("depot.yaml", []byte(fmt.Sprintf(`version: 1
repository:
  path: %s
%s
sets:
  - { name: web, items: [{ name: etc, type: filesystem, paths: [/etc] }] }
  - { name: db, alert_after: 8d, items: [{ name: etc, type: filesystem, paths: [/etc] }] }
`, e.repo.Root, extra)))
	if err != nil {
		t.Fatal(err)
	}
	e.d = New(cfg, slog.New(slog.NewTextHandler(e.logs, nil)), e.out, "v-test")
	e.d.Now = func() time.Time { return statusNow }
	return e
}

// run is a fabricated history line: set, status, and how long before
// statusNow the run finished.
type run struct {
	set, status string
	ago         time.Duration
}

func (e *statusEnv) writeHistory(t *testing.T, file string, runs ...run) {
	t.Helper()
	var b bytes.Buffer
	for _, r := range runs {
		fin := statusNow.Add(-r.ago)
		rec := HistoryRecord{Set: r.set, Started: fin.Add(-time.Minute), Finished: fin, Status: r.status}
		if r.status == "failed" {
			rec.Error, rec.FailedItems = "item etc: boom", []string{"etc"}
		}
		line, _ := json.Marshal(rec)
		b.Write(append(line, '\n'))
	}
	if err := os.WriteFile(filepath.Join(e.repo.StateDir(), file), b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestStatusMaxAge(t *testing.T) {
	tests := []struct {
		name    string
		config  string // top-level keys
		maxAge  time.Duration
		history []run
		rotated []run // in history.jsonl.1
		stale   map[string]string
	}{
		{"nothing run: only the set with alert_after alerts", "", 0, nil, nil, map[string]string{"db": "never succeeded"}},
		{"fresh", "", 26 * time.Hour, []run{{"web", "ok", 2 * time.Hour}, {"db", "warning", 3 * time.Hour}}, nil, nil},
		{"stale", "", 26 * time.Hour, []run{{"web", "ok", 27 * time.Hour}, {"db", "ok", time.Hour}}, nil,
			map[string]string{"web": "last success 27h0m ago, more than 26h0m"}},
		{"never succeeded", "", 26 * time.Hour, []run{{"web", "failed", time.Hour}, {"db", "ok", time.Hour}}, nil,
			map[string]string{"web": "never succeeded"}},
		{"failures after an old success", "", 26 * time.Hour, []run{{"web", "ok", 50 * time.Hour}, {"web", "failed", 25 * time.Hour}, {"web", "failed", time.Hour}, {"db", "ok", time.Hour}}, nil,
			map[string]string{"web": "last success 50h0m ago, more than 26h0m"}},
		{"failure after a recent success", "", 26 * time.Hour, []run{{"web", "ok", 20 * time.Hour}, {"web", "failed", time.Hour}, {"db", "ok", time.Hour}}, nil, nil},
		{"success in the rotated file", "", 26 * time.Hour, []run{{"db", "ok", time.Hour}}, []run{{"web", "ok", 10 * time.Hour}}, nil},
		{"alert_after in the config, set override", "alert_after: 1d", 0, []run{{"web", "ok", 25 * time.Hour}, {"db", "ok", 7 * 24 * time.Hour}}, nil,
			map[string]string{"web": "last success 25h0m ago, more than 24h0m"}},
		{"--max-age overrides alert_after", "alert_after: 1d", 48 * time.Hour, []run{{"web", "ok", 25 * time.Hour}, {"db", "ok", 50 * time.Hour}}, nil,
			map[string]string{"db": "last success 50h0m ago, more than 48h0m"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newStatusEnv(t, tt.config)
			e.writeHistory(t, HistoryFile, tt.history...)
			if tt.rotated != nil {
				e.writeHistory(t, HistoryFile+".1", tt.rotated...)
			}
			sts, err := e.d.Status(context.Background(), StatusOptions{MaxAge: tt.maxAge})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, s := range sts {
				if s.Alert != "" {
					got[s.Set] = s.Alert
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(map[string]string(tt.stale)) {
				t.Errorf("stale sets %v, want %v", got, tt.stale)
			}
			err = e.d.PrintStatus(sts, false)
			if (len(tt.stale) > 0) != errors.Is(err, ErrStale) {
				t.Errorf("PrintStatus: %v with stale sets %v", err, tt.stale)
			}
			for set := range tt.stale {
				if !strings.Contains(e.logs.String(), "set=") || !strings.Contains(e.logs.String(), set) {
					t.Errorf("the log does not name stale set %s:\n%s", set, e.logs)
				}
			}
		})
	}
}

func TestStatusReportsLastRunAndSnapshots(t *testing.T) {
	e := newStatusEnv(t, "")
	e.writeHistory(t, HistoryFile, run{"web", "ok", 30 * time.Hour}, run{"web", "failed", time.Hour})
	for _, p := range []string{"holding/web/2026-11-30T020000Z", "holding/web/2026-12-01T020000Z", "permanent/web/2026-11-01T020000Z", ".partial/web/2026-12-02T020000Z"} {
		if err := os.MkdirAll(filepath.Join(e.repo.Root, p), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	m := repository.Manifest{Format: 1, Set: "web", Stamp: "2026-12-01T020000Z", Finished: statusNow.Add(-34 * time.Hour),
		Items: []repository.ItemRecord{{Name: "etc", Type: "filesystem", Status: "ok", Stats: repository.Stats{Files: 7, Bytes: 3 << 20}}}}
	data, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(e.repo.Root, "holding/web/2026-12-01T020000Z", repository.ManifestName), data, 0o600); err != nil {
		t.Fatal(err)
	}
	e.d.NextRun = func(set string) (time.Time, bool) { return statusNow.Add(14 * time.Hour), set == "web" }
	sts, err := e.d.Status(context.Background(), StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	web, db := sts[0], sts[1]
	if web.LastRun == nil || web.LastRun.Status != "failed" || fmt.Sprint(web.FailedItems) != "[etc]" {
		t.Errorf("last run %+v, failed items %v", web.LastRun, web.FailedItems)
	}
	if web.LastSuccess == nil || !web.LastSuccess.Equal(statusNow.Add(-30*time.Hour)) || *web.AgeSeconds != 30*3600 {
		t.Errorf("last success %v", web.LastSuccess)
	}
	if web.Snapshots["holding"] != 2 || web.Snapshots["permanent"] != 1 || web.Newest != "holding/2026-12-01T020000Z" ||
		web.Files != 7 || web.Bytes != 3<<20 || fmt.Sprint(web.Partials) != "[2026-12-02T020000Z]" {
		t.Errorf("snapshots %+v", web)
	}
	if web.NextRun == nil || db.NextRun != nil || db.LastRun != nil || db.LastSuccess != nil {
		t.Errorf("web next %v; db %+v", web.NextRun, db)
	}
	// db has alert_after and never succeeded.
	if err := e.d.PrintStatus(sts, false); !errors.Is(err, ErrStale) || db.Alert != "never succeeded" || web.Alert != "" {
		t.Errorf("PrintStatus: %v; alerts %q, %q", err, web.Alert, db.Alert)
	}
	table := e.out.String()
	for _, want := range []string{"SET ", "web ", "failed", "30h0m", "holding 2, permanent 1", "3.0 MiB", "etc", "-"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if lines := strings.Split(strings.TrimSpace(table), "\n"); len(lines) != 3 || !strings.Contains(lines[2], "db   ") || strings.Count(lines[2], " - ") < 3 {
		t.Errorf("db's line should show - for what it lacks:\n%s", table)
	}
}

func TestHistoryIsRotated(t *testing.T) {
	e := newStatusEnv(t, "")
	old := bytes.Repeat([]byte(`{"set":"web","started":"2026-01-01T00:00:00Z","finished":"2026-01-01T00:01:00Z","status":"ok"}`+"\n"), MaxHistoryBytes/90)
	file := filepath.Join(e.repo.StateDir(), HistoryFile)
	if err := os.WriteFile(file, old, 0o600); err != nil {
		t.Fatal(err)
	}
	rec := HistoryRecord{Set: "db", Started: statusNow, Finished: statusNow, Status: "failed", Error: "boom"}
	e.d.appendHistory(context.Background(), e.repo, rec)
	e.d.appendHistory(context.Background(), e.repo, rec)
	cur, _ := os.ReadFile(file)
	prev, _ := os.ReadFile(file + ".1")
	if len(prev) != len(old) || strings.Count(string(cur), "\n") != 2 {
		t.Errorf("after rotation: %d bytes in .1 (want %d), %d lines in the file", len(prev), len(old), strings.Count(string(cur), "\n"))
	}
	recs, err := e.d.History(context.Background(), "db", 0)
	if err != nil || len(recs) != 2 || recs[1].Error != "boom" {
		t.Fatalf("history of db: %+v, %v", recs, err)
	}
	all, _ := e.d.History(context.Background(), "", 3)
	if len(all) != 3 || all[0].Set != "web" || all[0].DurationSeconds != 60 {
		t.Errorf("last 3 runs: %+v", all)
	}
	if _, err := e.d.History(context.Background(), "nosuch", 0); err == nil {
		t.Error("history of an unknown set: no error")
	}
}

// Without a daemon, status takes a set's next run from its schedule.
func TestStatusNextRunFromSchedule(t *testing.T) {
	e := newStatusEnv(t, "")
	cfg, err := Parse("depot.yaml", []byte(fmt.Sprintf(`version: 1
repository: { path: %s }
sets:
  - { name: web, schedule: "0 2 * * *", items: [{ name: etc, type: filesystem, paths: [/etc] }] }
  - { name: db, items: [{ name: etc, type: filesystem, paths: [/etc] }] }
`, e.repo.Root)))
	if err != nil {
		t.Fatal(err)
	}
	e.d.Config = cfg
	sts, err := e.d.Status(context.Background(), StatusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := e.d.Config.NextRun("web", statusNow)
	if sts[0].NextRun == nil || !sts[0].NextRun.Equal(want) || want.Hour() != 2 || sts[1].NextRun != nil {
		t.Errorf("web next run %v, want %v; db %v", sts[0].NextRun, want, sts[1].NextRun)
	}
}
