package main

import (
	"os"
	"strings"
	"testing"
)

// TestDrillSchedule: repository.drill schedules depot drill in the daemon,
// in plan and in the generated crontab; a drill without a schedule is a
// config error.
func TestDrillSchedule(t *testing.T) {
	e := newEnv(t, 10)
	cfg, _ := os.ReadFile(e.config)
	with := strings.Replace(string(cfg), "  holding:", "  drill: {schedule: \"0 7 * * 6\"}\n  holding:", 1)
	if err := os.WriteFile(e.config, []byte(with), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := mustDepot(t, "--config", e.config, "plan"); !strings.Contains(out, "drill          restore drill of every set: ") {
		t.Errorf("plan shows no drill job:\n%s", out)
	}
	if out := mustDepot(t, "--config", e.config, "schedule", "--cron"); !strings.Contains(out, "0 7 * * 6 ") || !strings.Contains(out, " drill --quiet") {
		t.Errorf("crontab has no drill line:\n%s", out)
	}
	without := strings.Replace(string(cfg), "  holding:", "  drill: {jitter: 5m}\n  holding:", 1)
	if err := os.WriteFile(e.config, []byte(without), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := depot(t, "--config", e.config, "validate"); code != 2 || !strings.Contains(errs, `repository.drill: missing key "schedule"`) {
		t.Errorf("drill without a schedule: exit %d\n%s", code, errs)
	}
}
