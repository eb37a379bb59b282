package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/depot-backup/depot/director"
)

func TestHooks(t *testing.T) {
	tests := []struct {
		name      string
		top, set  string // hooks: mappings
		wantCode  int
		wantErr   string // in stderr
		wantOrder string // the hooks that ran, in order
		snapshot  bool
		status    string // in the history
	}{
		{"all succeed", `{before: [[rec, top-before]], after: [[rec, top-after]], finally: [[rec, top-finally]]}`,
			`{before: [[rec, set-before]], after: [[rec, set-after]], on_error: [[rec, set-on_error]], finally: [[rec, set-finally]]}`,
			0, "", "top-before set-before set-after top-after set-finally top-finally", true, "ok"},
		{"before fails the set", `{on_error: [[rec, top-on_error]]}`,
			`{before: [[rec, set-before], [sh, -c, "echo service busy >&2; exit 5"], [rec, never]], after: [[rec, set-after]], on_error: [[rec, set-on_error]], finally: [[rec, set-finally]]}`,
			1, `hook before [sh -c echo service busy >&2; exit 5] on local: sh exited 5: service busy`, "set-before set-on_error top-on_error set-finally", false, "failed"},
		{"before times out", ``, `{before: [{command: [sleep, "30"], timeout: 300ms}], finally: [[rec, set-finally]]}`,
			1, `hook before [sleep 30] on local: timed out after 300ms`, "set-finally", false, "failed"},
		{"after fails: a warning", ``, `{after: [[sh, -c, "exit 3"], [rec, set-after]], finally: [[rec, set-finally]]}`,
			0, "after hook failed", "set-after set-finally", true, "warning"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 10)
			order := filepath.Join(e.dir, "order")
			// rec records its argument and what the run told it.
			rec := writeExec(t, e.dir, "rec", `echo "$1 $DEPOT_HOOK set=$DEPOT_SET stamp=$DEPOT_STAMP status=$DEPOT_STATUS snapshot=$DEPOT_SNAPSHOT error=$DEPOT_ERROR" >> "`+order+`"`)
			cfg, _ := os.ReadFile(e.config)
			text := string(cfg)
			if tt.set != "" {
				text += "    hooks: " + tt.set + "\n"
			}
			if tt.top != "" {
				text += "hooks: " + tt.top + "\n"
			}
			text = strings.ReplaceAll(text, "[rec,", "["+rec+",")
			if err := os.WriteFile(e.config, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			code, _, errs := depot(t, "--log-format", "json", "--config", e.config, "run")
			if code != tt.wantCode || !strings.Contains(errs, strings.ReplaceAll(tt.wantErr, `"`, `\"`)) {
				t.Fatalf("exit %d, want %d with %q:\n%s", code, tt.wantCode, tt.wantErr, errs)
			}
			data, _ := os.ReadFile(order)
			var ran []string
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			for _, l := range lines {
				if l != "" {
					ran = append(ran, strings.Fields(l)[0])
				}
			}
			if got := strings.Join(ran, " "); got != tt.wantOrder {
				t.Errorf("hooks ran: %q, want %q", got, tt.wantOrder)
			}
			snaps := e.snapshots(t)
			if (len(snaps) == 1) != tt.snapshot {
				t.Fatalf("%d snapshots", len(snaps))
			}
			// What the hooks were told.
			for _, l := range lines {
				f := strings.Fields(l)
				if len(f) < 2 {
					continue
				}
				switch phase := f[1]; {
				case phase == "before":
					if !strings.Contains(l, "set=web stamp= status=running snapshot= error=") {
						t.Errorf("a before hook was told: %q", l)
					}
				case phase == "after" || phase == "finally" && tt.snapshot:
					if want := fmt.Sprintf("set=web stamp=%s status=ok snapshot=%s error=", snaps[0].Stamp, snaps[0].Path); !strings.Contains(l, want) {
						t.Errorf("an after hook was told %q, want %q", l, want)
					}
				case phase == "on_error", phase == "finally":
					if !strings.Contains(l, "status=failed") || !strings.Contains(l, "error=hook before") {
						t.Errorf("an on_error hook was told: %q", l)
					}
				}
			}
			recs := decodeJSON[[]director.HistoryRecord](t, mustDepot(t, "--config", e.config, "history", "web", "--json"))
			if len(recs) != 1 || recs[0].Status != tt.status {
				t.Errorf("history %+v, want status %s", recs, tt.status)
			}
		})
	}
}

func TestHookConfigErrorsExit2(t *testing.T) {
	e := newEnv(t, 10)
	appendConfig(t, e.config, "hooks: {before: [\"systemctl stop worker\"]}\n")
	code, _, errs := depot(t, "--config", e.config, "run")
	if code != 2 || !strings.Contains(errs, "hook: want the command as a list") {
		t.Errorf("exit %d:\n%s", code, errs)
	}
	if _, err := os.Stat(e.repo); err == nil {
		if snaps := e.snapshots(t); len(snaps) != 0 {
			t.Errorf("a bad config made %d snapshots", len(snaps))
		}
	}
}

// TestHooksAndNotifyAfterSIGTERM stops depot in the middle of a set: the
// on_error and finally hooks still run (a service stopped before the backup
// is started again) and the failure is still told.
func TestHooksAndNotifyAfterSIGTERM(t *testing.T) {
	e := newEnv(t, 10)
	order := filepath.Join(e.dir, "order")
	rec := writeExec(t, e.dir, "rec", `echo "$1 $DEPOT_STATUS" >> "`+order+`"`)
	events := filepath.Join(e.dir, "events")
	notifier := writeExec(t, e.dir, "notifier", `cat >> "`+events+`"; echo >> "`+events+`"`)
	text, _ := os.ReadFile(e.config)
	cfg := strings.ReplaceAll(string(text)+fmt.Sprintf(`    hooks: {before: [[rec, stop]], after: [[rec, after]], on_error: [[rec, start-again]], finally: [[rec, finally]]}
notify:
  - { type: command, command: [%s] }
`, notifier), "[rec,", "["+rec+",")
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(depotBinary, "--config", e.config, "run")
	cmd.Env = append(os.Environ(), "DEPOT_TEST_CRASH_AT=item-copied:TERM")
	out, err := cmd.CombinedOutput()
	if err == nil || cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("exit %v:\n%s", err, out)
	}
	got, _ := os.ReadFile(order)
	if string(got) != "stop running\nstart-again failed\nfinally failed\n" {
		t.Errorf("hooks ran:\n%s\ndepot said:\n%s", got, out)
	}
	evs, _ := os.ReadFile(events)
	if strings.Count(string(evs), `"event":"failure"`) != 1 || !strings.Contains(string(evs), "context canceled") {
		t.Errorf("events:\n%s", evs)
	}
}
