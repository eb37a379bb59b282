package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/depot-backup/depot/director"
	"github.com/depot-backup/depot/repository"
)

// runDays backs up the env's set once a day at 02:00 UTC from first, days
// times, through a director whose clock the test sets: the CLI has no clock
// to inject. It returns the stamps made.
func runDays(t testing.TB, e *testEnv, first time.Time, days int) []string {
	t.Helper()
	cfg, err := director.Load(e.config)
	if err != nil {
		t.Fatal(err)
	}
	d := director.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard, "test")
	defer d.Close()
	var stamps []string
	for i := range days {
		at := first.AddDate(0, 0, i)
		d.Now = func() time.Time { return at }
		if err := d.Run(context.Background(), nil, director.RunOptions{}); err != nil {
			t.Fatalf("run at %s: %v", at, err)
		}
		stamps = append(stamps, repository.Stamp(at))
	}
	return stamps
}

// setRetention replaces what the env's config says between the repository's
// path and the sets: its holding and permanent sections.
func setRetention(t testing.TB, e *testEnv, retention string) {
	t.Helper()
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	head, rest, ok := strings.Cut(string(cfg), "  path: "+e.repo+"\n")
	_, sets, ok2 := strings.Cut(rest, "sets:\n")
	if !ok || !ok2 {
		t.Fatalf("unexpected config:\n%s", cfg)
	}
	cfg = []byte(head + "  path: " + e.repo + "\n" + retention + "sets:\n" + sets)
	if err := os.WriteFile(e.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (e *testEnv) sectionStamps(t testing.TB, section string) []string {
	t.Helper()
	var out []string
	for _, s := range e.snapshots(t) {
		if s.Section == section {
			out = append(out, s.Stamp)
		}
	}
	return out
}

func TestMigrateAndPruneVerbs(t *testing.T) {
	e := newEnv(t, 100)
	stamps := runDays(t, e, time.Date(2026, 1, 29, 2, 0, 0, 0, time.UTC), 34) // Jan 29 to Mar 3
	feb1, mar1 := stamps[3], stamps[31]
	if feb1 != "2026-02-01T020000Z" || mar1 != "2026-03-01T020000Z" {
		t.Fatalf("stamps %s and %s", feb1, mar1)
	}
	file := filepath.Join("site", e.src, "d0", "sub0", "file-000.dat")
	inode := func(section, stamp string) os.FileInfo {
		t.Helper()
		fi, err := os.Stat(filepath.Join(e.repo, section, "web", stamp, file))
		if err != nil {
			t.Fatal(err)
		}
		return fi
	}
	before := inode(repository.Holding, feb1)

	setRetention(t, e, `  holding: {max_recent_backups: 3}
  permanent:
    timezone: UTC
    rules:
      - {name: monthly, days: [1], keep: 2}
`)
	plan := mustDepot(t, "--config", e.config, "plan")
	for _, want := range []string{
		"migrate  holding/web/" + feb1 + ": first snapshot of Sun 2026-02-01 in UTC; matches rule monthly: day 1, 2nd of the newest 2 kept",
		// With the run's own snapshot, the newest, Feb 28 is 4th in holding;
		// 30 deletions at once are held back.
		"hold     holding/web/2026-02-28T020000Z: 4th newest in holding, beyond max_recent_backups 3",
		"held back: retention would delete 30 snapshots of web, 29 of them beyond the normal roll-over, more than max_delete 8",
	} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}

	// migrate moves, by rename, and deletes nothing.
	code, out, logs := depot(t, "--config", e.config, "migrate", "--json")
	if code != 0 {
		t.Fatalf("migrate: exit %d\n%s", code, logs)
	}
	reports := decodeJSON[[]director.RetentionReport](t, out)
	if len(reports) != 1 || len(reports[0].Done) != 2 || len(reports[0].Left) != 34-2-3 {
		t.Fatalf("migrate report: %+v", reports)
	}
	if a := reports[0].Done[0]; a.Action != "migrate" || a.To != "permanent/web/"+mar1 {
		t.Errorf("first migration %+v", a)
	}
	if !strings.Contains(logs, "msg=migrating set=web snapshot=holding/web/"+feb1+` reason="first snapshot of Sun 2026-02-01`) {
		t.Errorf("migration not logged with its reason:\n%s", logs)
	}
	if got := e.sectionStamps(t, repository.Permanent); !slices.Equal(got, []string{feb1, mar1}) {
		t.Fatalf("permanent after migrate: %v", got)
	}
	if n := len(e.sectionStamps(t, repository.Holding)); n != 32 {
		t.Fatalf("migrate left %d in holding, want 32: it must delete nothing", n)
	}
	if !os.SameFile(before, inode(repository.Permanent, feb1)) {
		t.Error("the migrated snapshot's file is a new inode")
	}

	// prune deletes with reasons and keeps what permanent wants; so many
	// deletions at once wait for --confirm.
	code, out, logs = depot(t, "--config", e.config, "prune")
	if code != 0 || !strings.Contains(out, "held back: retention would delete 29 snapshots of web") || len(e.sectionStamps(t, repository.Holding)) != 32 {
		t.Fatalf("prune without --confirm: exit %d\n%s\n%s", code, out, logs)
	}
	code, out, logs = depot(t, "--config", e.config, "prune", "--confirm")
	if code != 0 {
		t.Fatalf("prune: exit %d\n%s", code, logs)
	}
	for _, want := range []string{"set web: 29 deleted, 5 kept", "deleted  holding/web/2026-02-27T020000Z  4th newest in holding, beyond max_recent_backups 3"} {
		if !strings.Contains(out, want) {
			t.Errorf("prune output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(logs, `msg=pruning set=web snapshot=holding/web/2026-02-27T020000Z reason="4th newest in holding, beyond max_recent_backups 3"`) {
		t.Errorf("deletion not logged with its reason:\n%s", logs)
	}
	// A migrated snapshot is out of holding: holding keeps 3 others.
	wantHolding := []string{stamps[30], stamps[32], stamps[33]}
	if got := e.sectionStamps(t, repository.Holding); !slices.Equal(got, wantHolding) {
		t.Errorf("holding after prune %v, want %v", got, wantHolding)
	}

	// A rule that keeps fewer lets the older monthly go.
	setRetention(t, e, "  holding: {max_recent_backups: 3}\n  permanent:\n    timezone: UTC\n    rules: [{name: monthly, days: [1], keep: 1}]\n")
	reports = decodeJSON[[]director.RetentionReport](t, mustDepot(t, "--config", e.config, "prune", "--json"))
	want := director.RetentionAction{Snapshot: "permanent/web/" + feb1, Action: "delete", Reason: "rule monthly keeps the newest 1; this is the 2nd"}
	if len(reports) != 1 || len(reports[0].Done) != 1 || reports[0].Done[0] != want {
		t.Fatalf("prune report %+v, want only %+v", reports, want)
	}
	// Nothing left to do.
	if out := mustDepot(t, "--config", e.config, "prune"); strings.TrimSpace(out) != "set web: 4 kept" {
		t.Errorf("second prune: %q", out)
	}
}

func TestPlanAt(t *testing.T) {
	e := newEnv(t, 3)
	setRetention(t, e, "  holding: {max_recent_backups: 3}\n  permanent:\n    timezone: UTC\n    rules: [{name: monthly, days: [1], keep: 1}]\n")
	stamps := runDays(t, e, time.Date(2026, 2, 27, 2, 0, 0, 0, time.UTC), 5) // Feb 27 to Mar 3
	mar1 := stamps[2]

	// Forty days from now hold at least one simulated 1st of a month: it
	// replaces Mar 1, and simulated runs replace all of holding.
	at := time.Now().UTC().AddDate(0, 0, 40).Format("2006-01-02T15:04")
	previews := decodeJSON[[]director.Preview](t, mustDepot(t, "--config", e.config, "plan", "--at", at, "--json"))
	if len(previews) != 1 || previews[0].Runs < 40 {
		t.Fatalf("previews %+v", previews)
	}
	p := previews[0]
	var held []string
	for _, h := range p.Held {
		section, _, _ := strings.Cut(h.Snapshot, "/")
		held = append(held, section)
		if !h.Simulated || h.Reason == "" {
			t.Errorf("held at %s: %+v, want a simulated snapshot with a reason", at, h)
		}
		if stamp := path.Base(h.Snapshot); section == repository.Permanent && stamp[8:10] != "01" {
			t.Errorf("permanent holds %s, not a 1st", h.Snapshot)
		}
	}
	if !slices.Equal(held, []string{"holding", "holding", "holding", "permanent"}) {
		t.Errorf("held sections %v, want 3 in holding and 1 in permanent", held)
	}
	gone := map[string]string{}
	for _, g := range p.Gone {
		gone[g.Snapshot] = g.Reason
	}
	if len(gone) != 4 || gone["permanent/web/"+mar1] != "rule monthly keeps the newest 1; this is the 2nd" {
		t.Errorf("gone %v, want the 3 in holding and Mar 1 with its reason", gone)
	}
	text := mustDepot(t, "--config", e.config, "plan", "--at", at)
	for _, want := range []string{"3 in holding, 1 in permanent", "deleted  permanent/web/" + mar1, "Nothing is changed."} {
		if !strings.Contains(text, want) {
			t.Errorf("plan --at lacks %q:\n%s", want, text)
		}
	}
	if got := e.snapshots(t); len(got) != 4 {
		t.Errorf("plan --at changed the repository: %d snapshots, want 4", len(got))
	}

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"past", []string{"--at", "2020-01-01"}, "is not in the future"},
		{"not a time", []string{"--at", "soon"}, `--at "soon": want a time such as 2027-01-01`},
		{"every without at", []string{"--every", "1h"}, "--every goes with --at"},
		{"too many runs", []string{"--at", "2099-01-01", "--every", "1m"}, "at most 100000 are simulated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := depot(t, append([]string{"--config", e.config, "plan"}, tt.args...)...)
			if code != 2 || !strings.Contains(errs, tt.want) {
				t.Fatalf("exit %d, %q; want 2 and %q", code, errs, tt.want)
			}
		})
	}
}

// TestPruneKilledMidMigration kills depot prune after its first migration
// and checks that no snapshot is lost or half-moved, and that the next
// prune finishes the job.
func TestPruneKilledMidMigration(t *testing.T) {
	e := newEnv(t, 100)
	stamps := runDays(t, e, time.Date(2026, 1, 30, 2, 0, 0, 0, time.UTC), 31) // Jan 30 to Mar 1
	setRetention(t, e, "  holding: {max_recent_backups: 2}\n  permanent:\n    timezone: UTC\n    rules: [{name: monthly, days: [1], keep: 0}]\n")
	cmd := exec.Command(depotBinary, "--config", e.config, "prune")
	cmd.Env = append(os.Environ(), "DEPOT_TEST_CRASH_AT=migrated-one")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		t.Fatalf("the killed prune exited 0:\n%s", stderr.String())
	}
	checkNoHalfSnapshots(t, e)
	var all []string
	for _, s := range e.snapshots(t) {
		all = append(all, s.Stamp)
	}
	if !slices.Equal(all, stamps) {
		t.Fatalf("snapshots after the kill %v, want all %d", all, len(stamps))
	}
	if got := e.sectionStamps(t, repository.Permanent); len(got) != 1 {
		t.Fatalf("permanent after one migration: %v", got)
	}
	mustDepot(t, "--config", e.config, "prune", "--confirm")
	if got := e.sectionStamps(t, repository.Permanent); !slices.Equal(got, []string{"2026-02-01T020000Z", "2026-03-01T020000Z"}) {
		t.Errorf("permanent %v", got)
	}
	if got := e.sectionStamps(t, repository.Holding); !slices.Equal(got, stamps[28:30]) {
		t.Errorf("holding %v, want %v", got, stamps[28:30])
	}
}
