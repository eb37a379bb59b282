package director

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/depot-backup/depot/repository"
)

// calendarEnv is a source tree and a config with permanent rules, run by a
// director whose clock the test sets.
type calendarEnv struct {
	src   string
	repo  repository.Repo
	d     *Director
	logs  *bytes.Buffer
	clock time.Time
}

func newCalendarEnv(t *testing.T, permanent string) *calendarEnv {
	t.Helper()
	dir := t.TempDir()
	e := &calendarEnv{src: filepath.Join(dir, "src"), repo: repository.Repo{Root: filepath.Join(dir, "repo")}, logs: &bytes.Buffer{}}
	for _, f := range []string{"a", "b/c"} {
		p := filepath.Join(e.src, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("content of "+f+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := parse(t, fmt.Sprintf(`version: 1
repository:
  path: %s
  holding: {max_recent_backups: 3}
%s
sets:
  - name: web
    items: [{name: site, type: filesystem, paths: [%s]}]
`, e.repo.Root, permanent, e.src))
	e.d = New(cfg, slog.New(slog.NewTextHandler(e.logs, nil)), io.Discard, "test")
	e.d.Now = func() time.Time { return e.clock }
	t.Cleanup(e.d.Close)
	if err := e.d.Init(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	return e
}

// runDaily runs the set once a day at the clock's time of day, up to before end.
func (e *calendarEnv) runDaily(t *testing.T, end time.Time) {
	t.Helper()
	for ; e.clock.Before(end); e.clock = e.clock.Add(24 * time.Hour) {
		if err := e.d.Run(context.Background(), nil, RunOptions{}); err != nil {
			t.Fatalf("run at %s: %v\n%s", e.clock, err, e.logs)
		}
	}
}

func (e *calendarEnv) stamps(t *testing.T, section string) []string {
	t.Helper()
	snaps, err := e.repo.Snapshots(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range snaps {
		if s.Section == section {
			out = append(out, s.Stamp)
		}
	}
	return out
}

// TestRunMigratesOnTheCalendar backs up daily at 23:30 UTC for three and a
// half months: in Berlin that is already the next day, so the run that
// migrates as the 1st of a month is the one on the last day of the month
// before in UTC.
func TestRunMigratesOnTheCalendar(t *testing.T) {
	e := newCalendarEnv(t, `  permanent:
    timezone: Europe/Berlin
    rules:
      - {name: monthly, days: [1], keep: 2}
      - {name: yearly, days: [1], months: [jan], keep: 0}`)
	e.clock = time.Date(2025, 12, 28, 23, 30, 0, 0, time.UTC)
	e.runDaily(t, time.Date(2026, 4, 3, 0, 0, 0, 0, time.UTC))

	// Jan 1 (yearly), then Mar 1 and Apr 1 (the newest 2 monthlies); Feb 1
	// migrated, then went when Apr 1 came.
	wantPermanent := []string{"2025-12-31T233000Z", "2026-02-28T233000Z", "2026-03-31T233000Z"}
	if got := e.stamps(t, repository.Permanent); !slices.Equal(got, wantPermanent) {
		t.Errorf("permanent %v, want %v", got, wantPermanent)
	}
	wantHolding := []string{"2026-03-30T233000Z", "2026-04-01T233000Z", "2026-04-02T233000Z"}
	if got := e.stamps(t, repository.Holding); !slices.Equal(got, wantHolding) {
		t.Errorf("holding %v, want %v", got, wantHolding)
	}
	for _, want := range []string{
		`msg=migrating set=web stamp=2025-12-31T233000Z snapshot=holding/web/2025-12-31T233000Z reason="first snapshot of Thu 2026-01-01 in Europe/Berlin; matches rule monthly: day 1, 1st of the newest 2 kept; matches rule yearly: Jan 1, kept forever (keep 0)"`,
		`msg=pruning set=web stamp=2026-03-31T233000Z snapshot=permanent/web/2026-01-31T233000Z reason="rule monthly keeps the newest 2; this is the 3rd"`,
		`msg=pruning set=web stamp=2026-04-02T233000Z snapshot=holding/web/2026-03-29T233000Z reason="4th newest in holding, beyond max_recent_backups 3"`,
	} {
		if !strings.Contains(e.logs.String(), want) {
			t.Errorf("logs lack\n%s", want)
		}
	}

	// A migrated snapshot keeps its hard links: the unchanged file is one
	// inode in the yearly and in the newest snapshot, and the run after a
	// migration took the permanent snapshot as its base.
	first, err := os.Stat(filepath.Join(e.repo.Dir(repository.Permanent, "web", wantPermanent[0]), "site", e.src, "a"))
	if err != nil {
		t.Fatal(err)
	}
	last, err := os.Stat(filepath.Join(e.repo.Dir(repository.Holding, "web", wantHolding[2]), "site", e.src, "a"))
	if err != nil || !os.SameFile(first, last) {
		t.Errorf("the newest snapshot's file is not the yearly's inode (%v)", err)
	}
	m, err := e.repo.ReadManifest(context.Background(), e.repo.Dir(repository.Holding, "web", wantHolding[1]))
	if err != nil || m.Base != "permanent/2026-03-31T233000Z" {
		t.Errorf("base of the run after a migration: %q, %v; want the migrated snapshot", m.Base, err)
	}

	// Retention has nothing more to do.
	reports, err := e.d.Prune(context.Background(), nil, RunOptions{})
	if err != nil || len(reports) != 1 || len(reports[0].Done) != 0 || reports[0].Kept != 6 {
		t.Errorf("prune after the runs: %+v, %v", reports, err)
	}
}

// TestRunKeepsFirstSnapshotOfTheDay runs hourly over a DST change and checks
// that each day's migrating snapshot is its first, at local midnight.
func TestRunKeepsFirstSnapshotOfTheDay(t *testing.T) {
	e := newCalendarEnv(t, `  permanent:
    timezone: Europe/Berlin
    rules:
      - {name: daily, keep: 0}`)
	e.clock = time.Date(2026, 10, 24, 20, 0, 0, 0, time.UTC)
	for ; e.clock.Before(time.Date(2026, 10, 26, 0, 0, 0, 0, time.UTC)); e.clock = e.clock.Add(time.Hour) {
		if err := e.d.Run(context.Background(), nil, RunOptions{}); err != nil {
			t.Fatalf("run at %s: %v", e.clock, err)
		}
	}
	// The first run is 22:00 CEST on Oct 24; Oct 25 has 25 hours and
	// begins at 22:00 UTC; Oct 26 begins at 23:00 UTC.
	want := []string{"2026-10-24T200000Z", "2026-10-24T220000Z", "2026-10-25T230000Z"}
	if got := e.stamps(t, repository.Permanent); !slices.Equal(got, want) {
		t.Errorf("permanent %v, want %v", got, want)
	}
	wantHolding := []string{"2026-10-25T200000Z", "2026-10-25T210000Z", "2026-10-25T220000Z"}
	if got := e.stamps(t, repository.Holding); !slices.Equal(got, wantHolding) {
		t.Errorf("holding %v, want %v", got, wantHolding)
	}
}
