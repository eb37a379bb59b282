package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/depot-backup/depot/repository"
)

// TestMirrorOfAMissingRepository: with the repository's disk unmounted (its
// path missing, or an empty directory), depot mirror fails, creates
// nothing and deletes nothing from the mirror.
func TestMirrorOfAMissingRepository(t *testing.T) {
	e := newEnv(t, 10)
	mirror := filepath.Join(e.dir, "mirror")
	cfg, _ := os.ReadFile(e.config)
	cfg = append(cfg, fmt.Sprintf("mirrors:\n  - { name: disk, target: %s }\n", mirror)...)
	if err := os.WriteFile(e.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	runDays(t, e, time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC), 4)
	mustDepot(t, "--config", e.config, "mirror", "--init")
	mirrored := func() int {
		got, err := repository.Repo{Root: mirror}.Snapshots(context.Background(), "web")
		if err != nil {
			t.Fatal(err)
		}
		return len(got)
	}
	if n := mirrored(); n != 4 {
		t.Fatalf("mirror has %d snapshots", n)
	}

	if err := os.Rename(e.repo, e.repo+".away"); err != nil {
		t.Fatal(err)
	}
	for _, state := range []string{"missing", "empty"} {
		if state == "empty" {
			if err := os.Mkdir(e.repo, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		code, _, errs := depot(t, "--config", e.config, "mirror")
		if code == 0 || !strings.Contains(errs, "is not a depot repository") {
			t.Errorf("mirror of a %s repository: exit %d\n%s", state, code, errs)
		}
		if n := mirrored(); n != 4 {
			t.Fatalf("mirror of a %s repository left %d snapshots on the mirror", state, n)
		}
		if _, err := os.Stat(filepath.Join(e.repo, ".depot")); err == nil {
			t.Errorf("mirror of a %s repository made its .depot", state)
		}
	}
	if err := os.Remove(e.repo); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(e.repo+".away", e.repo); err != nil {
		t.Fatal(err)
	}

	// What retention deletes, the mirror deletes.
	setRetention(t, e, "  holding: { max_recent_backups: 2 }\n")
	mustDepot(t, "--config", e.config, "prune")
	mustDepot(t, "--config", e.config, "mirror")
	if n := mirrored(); n != 2 {
		t.Fatalf("mirror after prune has %d snapshots, want 2", n)
	}
}

// TestPruneGuardVerbs: lowering max_recent_backups from 10 to 2 over 8
// snapshots: plan marks each held deletion, prune deletes nothing and says
// how to go ahead, prune --confirm deletes.
func TestPruneGuardVerbs(t *testing.T) {
	e := newEnv(t, 10)
	runDays(t, e, time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC), 8)
	setRetention(t, e, "  holding: { max_recent_backups: 2 }\n")
	plan := mustDepot(t, "--config", e.config, "plan")
	if n := strings.Count(plan, "    hold     holding/web/"); n != 7 || !strings.Contains(plan, "held back: retention would delete 7 snapshots of web") {
		t.Errorf("plan holds %d back:\n%s", n, plan)
	}
	out := mustDepot(t, "--config", e.config, "prune")
	if !strings.Contains(out, "held back: retention would delete 6 snapshots of web, 5 of them beyond the normal roll-over, more than max_delete 3: none deleted; check them with depot plan web, then run depot prune --confirm web") {
		t.Errorf("prune:\n%s", out)
	}
	if n := len(e.snapshots(t)); n != 8 {
		t.Fatalf("prune deleted past the guard: %d left", n)
	}
	out = mustDepot(t, "--config", e.config, "prune", "--confirm")
	if n := len(e.snapshots(t)); n != 2 || !strings.Contains(out, "6 deleted") {
		t.Fatalf("prune --confirm left %d:\n%s", n, out)
	}
}

// TestGuardIsNotified: a run whose retention the guard holds back ends
// with a warning event naming why.
func TestGuardIsNotified(t *testing.T) {
	e := newEnv(t, 10)
	runDays(t, e, time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC), 8)
	log := filepath.Join(e.dir, "events.log")
	notifier := writeExec(t, e.dir, "notifier", `cat >> "`+log+`"; echo >> "`+log+`"`)
	setRetention(t, e, "  holding: { max_recent_backups: 2 }\n")
	appendConfig(t, e.config, fmt.Sprintf("notify:\n  - { type: command, command: [%s], on: [warning] }\n", notifier))
	mustDepot(t, "--config", e.config, "run")
	data, err := os.ReadFile(log)
	if err != nil || !strings.Contains(string(data), `"event":"warning"`) || !strings.Contains(string(data), "more than max_delete 3: none deleted; check them with depot plan web") {
		t.Fatalf("events: %s (%v)", data, err)
	}
	if n := len(e.snapshots(t)); n != 9 {
		t.Errorf("%d snapshots after a guarded run, want 9", n)
	}
}

// TestMirrorFailureSaysWhich: a failed mirror's exit message names the
// mirror and gives the reason, not "one or more sets failed"; with two
// failed, it names both.
func TestMirrorFailureSaysWhich(t *testing.T) {
	e := newEnv(t, 10)
	cfg, _ := os.ReadFile(e.config)
	cfg = append(cfg, fmt.Sprintf("mirrors:\n  - { name: disk, target: %s }\n  - { name: usb, target: %s }\n",
		filepath.Join(e.dir, "disk"), filepath.Join(e.dir, "usb"))...)
	if err := os.WriteFile(e.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	runDays(t, e, time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC), 1)
	// Neither mirror is initialised: both fail.
	code, _, errs := depot(t, "--config", e.config, "mirror")
	last := finalLine(errs)
	if code != 1 || !strings.Contains(last, "mirrors failed: disk, usb") || strings.Contains(errs, "sets failed") {
		t.Errorf("two failed mirrors: exit %d, last line %q\n%s", code, last, errs)
	}
	code, _, errs = depot(t, "--config", e.config, "mirror", "usb")
	last = finalLine(errs)
	if code != 1 || !strings.HasPrefix(last, "depot: mirror usb: ") || strings.Contains(errs, "sets failed") {
		t.Errorf("one failed mirror: exit %d, last line %q\n%s", code, last, errs)
	}
}

func finalLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
