package director

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/depot-backup/depot/repository"
)

// TestMassDeletionGuard: lowering max_recent_backups from 10 to 2 would
// delete 6 of 8 snapshots at once; the guard holds them all back, plan
// shows each as held, and prune --confirm goes ahead. The normal roll-over
// (one snapshot pushed out per run) is never held.
func TestMassDeletionGuard(t *testing.T) {
	e := newCalendarEnv(t, "")
	ten, two := 10, 2
	e.d.Config.Repository.Holding.MaxRecentBackups = &ten
	e.clock = time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	e.runDaily(t, time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC))
	before := e.stamps(t, repository.Holding)
	if len(before) != 8 {
		t.Fatalf("holding %v", before)
	}

	e.d.Config.Repository.Holding.MaxRecentBackups = &two
	plans, err := e.d.Plan(context.Background(), []string{"web"})
	if err != nil {
		t.Fatal(err)
	}
	held := 0
	for _, a := range plans[0].Retention {
		if a.Action == repository.Delete && !a.HeldBack {
			t.Errorf("plan deletes %s without holding it back", a.Snapshot)
		}
		if a.HeldBack {
			held++
		}
	}
	if held != 7 || !strings.Contains(plans[0].HeldBecause, "would delete 7 snapshots of web, 6 of them beyond the normal roll-over, more than max_delete 3") {
		t.Errorf("plan holds %d back: %q", held, plans[0].HeldBecause)
	}

	reports, err := e.d.Prune(context.Background(), nil, RunOptions{})
	if err != nil || len(reports[0].Done) != 0 || len(reports[0].Held) != 6 || !strings.Contains(reports[0].HeldBecause, "depot prune --confirm web") {
		t.Fatalf("prune: %+v, %v", reports, err)
	}
	if got := e.stamps(t, repository.Holding); !slices.Equal(got, before) {
		t.Fatalf("prune deleted despite the guard: %v", got)
	}
	if !strings.Contains(e.logs.String(), "deletions held back") {
		t.Errorf("no warning logged:\n%s", e.logs)
	}
	// A run is pruned the same way: its snapshot is made, nothing deleted.
	e.clock = e.clock.Add(24 * time.Hour)
	if err := e.d.Run(context.Background(), nil, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := e.stamps(t, repository.Holding); len(got) != 9 {
		t.Fatalf("after a guarded run: %v", got)
	}

	reports, err = e.d.Prune(context.Background(), nil, RunOptions{Confirm: true})
	if err != nil || len(reports[0].Done) != 7 {
		t.Fatalf("prune --confirm: %+v, %v", reports, err)
	}
	if got := e.stamps(t, repository.Holding); len(got) != 2 {
		t.Fatalf("after prune --confirm: %v", got)
	}
	deleted, err := e.repo.Deleted(context.Background())
	if err != nil || len(deleted) != 7 || !deleted["web/"+before[0]] {
		t.Errorf("deletion log: %v, %v", deleted, err)
	}

	// A limit of its own lets the same deletion through.
	e.d.Config.Repository.Holding.MaxRecentBackups = &ten
	e.clock = e.clock.Add(24 * time.Hour)
	e.runDaily(t, e.clock.Add(5*24*time.Hour))
	six := 6
	e.d.Config.Repository.MaxDelete = &six
	e.d.Config.Repository.Holding.MaxRecentBackups = &two
	if reports, err = e.d.Prune(context.Background(), nil, RunOptions{}); err != nil || len(reports[0].Done) != 5 || len(reports[0].Held) != 0 {
		t.Fatalf("prune with max_delete 6: %+v, %v", reports, err)
	}
}

// TestRetentionKeepsRecordedReasons: a yearly snapshot migrated under
// Europe/Berlin keeps its record; judged again in UTC (where its day is Dec
// 31, which a last-day rule has let go) it stays. Removing the rule that
// migrated a snapshot keeps it, listed for depot forget.
func TestRetentionKeepsRecordedReasons(t *testing.T) {
	e := newCalendarEnv(t, `  permanent:
    timezone: Europe/Berlin
    rules:
      - {name: monthly, days: [1], keep: 1}
      - {name: yearly, days: [1], months: [jan], keep: 0}
      - {name: last-day, days: [last], keep: 1}`)
	e.clock = time.Date(2025, 12, 29, 23, 0, 0, 0, time.UTC)
	e.runDaily(t, time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC))
	yearly := "2025-12-31T230000Z"
	data, err := os.ReadFile(filepath.Join(e.repo.Dir(repository.Permanent, "web", yearly), repository.RecordName))
	if err != nil {
		t.Fatal(err)
	}
	var rec repository.Record
	if err := json.Unmarshal(data, &rec); err != nil || rec.Day != "2026-01-01" || rec.Zone != "Europe/Berlin" || !slices.Equal(rec.Rules, []string{"monthly", "yearly"}) {
		t.Fatalf("record %s: %+v, %v", data, rec, err)
	}

	e.d.Config.Repository.Permanent.Timezone = "UTC"
	if _, err := e.d.Prune(context.Background(), nil, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := e.stamps(t, repository.Permanent); !slices.Contains(got, yearly) {
		t.Fatalf("the yearly went when the zone changed: permanent %v", got)
	}

	// Without yearly, its snapshot is kept by a rule no longer configured.
	e.d.Config.Repository.Permanent.Rules = slices.DeleteFunc(e.d.Config.Repository.Permanent.Rules, func(r RuleConfig) bool { return r.Name == "yearly" })
	plans, err := e.d.Plan(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "kept by rule yearly no longer configured: depot forget web@" + yearly + " deletes it"
	found := false
	for _, a := range plans[0].Retention {
		if strings.HasSuffix(a.Snapshot, yearly) {
			found = a.Action == repository.Keep && strings.Contains(a.Reason, want)
		}
	}
	if !found {
		t.Fatalf("plan does not keep %s with %q: %+v", yearly, want, plans[0].Retention)
	}
	entries, err := e.d.List(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	for _, le := range entries {
		if le.Stamp == yearly && (!slices.Equal(le.Unconfigured, []string{"yearly"}) || !slices.Equal(le.Rules, []string{"monthly", "yearly"})) {
			t.Errorf("list: %+v", le)
		}
	}
	if _, err := e.d.Prune(context.Background(), nil, RunOptions{Confirm: true}); err != nil {
		t.Fatal(err)
	}
	if got := e.stamps(t, repository.Permanent); !slices.Contains(got, yearly) {
		t.Fatalf("the yearly went with its rule: permanent %v", got)
	}

	var usage *UsageError
	for _, bad := range []string{"web", "web@", "../holding/web@" + yearly, "web@2026-13-01T000000Z", "web@2020-01-01T000000Z", "mail@" + yearly} {
		if _, err := e.d.Forget(context.Background(), bad, RunOptions{}); !errors.As(err, &usage) {
			t.Errorf("forget %s: %v, want a usage error", bad, err)
		}
	}
	s, err := e.d.Forget(context.Background(), "web@"+yearly, RunOptions{})
	if err != nil || s.Section != repository.Permanent {
		t.Fatalf("forget: %+v, %v", s, err)
	}
	if got := e.stamps(t, repository.Permanent); slices.Contains(got, yearly) {
		t.Fatalf("forget left %s: %v", yearly, got)
	}
	if deleted, _ := e.repo.Deleted(context.Background()); !deleted["web/"+yearly] {
		t.Errorf("forget is not in the deletion log: %v", deleted)
	}
}

// TestRepositoryZone: without a timezone in the config, days are those of
// the zone in the repository's marker, not the process's TZ.
func TestRepositoryZone(t *testing.T) {
	e := newCalendarEnv(t, `  permanent:
    rules:
      - {name: monthly, days: [1], keep: 3}`)
	if err := os.MkdirAll(e.repo.StateDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.repo.StateDir(), repository.MarkerName), []byte(`{"timezone": "Asia/Kolkata"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	e.clock = time.Date(2026, 2, 28, 20, 0, 0, 0, time.UTC) // 01:30 on March 1 in Kolkata
	e.runDaily(t, e.clock.Add(time.Hour))
	if got := e.stamps(t, repository.Permanent); !slices.Equal(got, []string{"2026-02-28T200000Z"}) {
		t.Fatalf("permanent %v\n%s", got, e.logs)
	}
	if !strings.Contains(e.logs.String(), "first snapshot of Sun 2026-03-01 in Asia/Kolkata") {
		t.Errorf("logs:\n%s", e.logs)
	}
	plans, err := e.d.Plan(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	e.d.Out = &out
	if err := e.d.PrintPlan(plans, false); err != nil || !strings.Contains(out.String(), "permanent rules monthly (day 1, keep 3) in Asia/Kolkata") {
		t.Errorf("plan: %v\n%s", err, out.String())
	}
	at, err := e.d.ParseAt(context.Background(), "2026-03-05")
	if err != nil || at.Location().String() != "Asia/Kolkata" {
		t.Errorf("--at 2026-03-05: %v, %v", at, err)
	}
}
