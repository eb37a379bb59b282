package director

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const scheduledConfig = `version: 1
repository:
  path: %REPO%
  permanent: {timezone: Europe/Berlin, rules: [{name: monthly, days: [1], keep: 12}]}
  prune: {schedule: "30 5 * * *"}
sets:
  - name: web
    schedule: "0 2 * * *"
    jitter: 15m
    items:
      - {name: site, type: filesystem, paths: [/var/www]}
  - name: night
    schedule: "@hourly"
    windows: ["mon-fri 22:00-06:00"]
    items:
      - {name: data, type: filesystem, paths: [/srv/data]}
  - name: manual
    items:
      - {name: etc, type: filesystem, paths: [/etc]}
mirrors:
  - {name: offsite, target: /mnt/offsite, schedule: after-runs}
`

// TestNextRun: times are in the config's zone, and a set's next run skips
// the times its windows are closed.
func TestNextRun(t *testing.T) {
	cfg := parse(t, strings.ReplaceAll(scheduledConfig, "%REPO%", "/srv/depot"))
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	friday := time.Date(2026, 12, 11, 12, 0, 0, 0, berlin)
	tests := []struct {
		name string
		set  string
		at   time.Time
		want time.Time // zero: no next run
	}{
		{"daily, in the config's zone", "web", friday.UTC(), time.Date(2026, 12, 12, 2, 0, 0, 0, berlin)},
		{"hourly, waits for the window", "night", friday, time.Date(2026, 12, 11, 22, 0, 0, 0, berlin)},
		{"hourly, inside the window", "night", time.Date(2026, 12, 11, 23, 30, 0, 0, berlin), time.Date(2026, 12, 12, 0, 0, 0, 0, berlin)},
		{"hourly, skips the weekend", "night", time.Date(2026, 12, 12, 6, 0, 0, 0, berlin), time.Date(2026, 12, 14, 22, 0, 0, 0, berlin)},
		{"no schedule", "manual", friday, time.Time{}},
		{"no such set", "nope", friday, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := cfg.NextRun(tt.set, tt.at)
			if ok != !tt.want.IsZero() || !got.Equal(tt.want) {
				t.Fatalf("NextRun(%s, %v) = %v, %v; want %v", tt.set, tt.at, got, ok, tt.want)
			}
		})
	}
	if !cfg.PruneDeferred() {
		t.Error("a prune schedule does not defer the deletions")
	}
}

// TestPlanShowsSchedules: plan names each set's next run and the other
// jobs'.
func TestPlanShowsSchedules(t *testing.T) {
	cfg := parse(t, strings.ReplaceAll(scheduledConfig, "%REPO%", initTestRepository(t, filepath.Join(t.TempDir(), "repo"))))
	var out bytes.Buffer
	d := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), &out, "test")
	d.Now = func() time.Time { return time.Date(2026, 12, 11, 12, 0, 0, 0, time.UTC) }
	plans, err := d.Plan(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.PrintPlan(plans, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`next run   2026-12-12 02:00 CET (schedule "0 2 * * *", by depot daemon)`,
		`next run   2026-12-11 22:00 CET (schedule "@hourly", by depot daemon)`,
		"mirror-offsite mirror the repository to offsite: after the scheduled set runs",
		`prune          apply retention to every set: 2026-12-12 05:30 CET (schedule "30 5 * * *")`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Count(out.String(), "next run") != 2 {
		t.Errorf("plan gives a next run to a set without a schedule:\n%s", out.String())
	}
}
