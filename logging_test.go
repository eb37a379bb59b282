package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestQuietAndLogLevel: --quiet makes a successful run silent, for cron;
// --log-level picks the level; a bad level is a usage error.
func TestQuietAndLogLevel(t *testing.T) {
	e := newEnv(t, 2)
	tests := []struct {
		name      string
		args      []string
		code      int
		wantErr   string // in stderr; "" means stderr must be empty
		wantNoOut bool
	}{
		{"quiet success prints nothing", []string{"--quiet", "run"}, 0, "", true},
		{"log-level warn is quiet", []string{"--log-level", "warn", "run"}, 0, "", true},
		{"default logs info", []string{"run"}, 0, "level=INFO msg=\"set done\"", true},
		{"bad level", []string{"--log-level", "loud", "run"}, 2, `--log-level "loud": want debug, info, warn or error`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := depot(t, append([]string{"--config", e.config}, tt.args...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s", code, tt.code, errs)
			}
			if tt.wantErr == "" && errs != "" || !strings.Contains(errs, tt.wantErr) {
				t.Errorf("stderr %q, want %q", errs, tt.wantErr)
			}
			if tt.wantNoOut && out != "" {
				t.Errorf("stdout %q", out)
			}
		})
	}

	// A failure still speaks under --quiet.
	if err := os.RemoveAll(e.src); err != nil {
		t.Fatal(err)
	}
	code, _, errs := depot(t, "--config", e.config, "--quiet", "run")
	if code != 1 || !strings.Contains(errs, "level=ERROR") || strings.Contains(errs, "level=INFO") {
		t.Errorf("quiet failing run: exit %d\n%s", code, errs)
	}
}

// TestJSONLogsCarryTheFinalError: with --log-format json every stderr line
// is a JSON record, the final error included; durations are seconds.
func TestJSONLogsCarryTheFinalError(t *testing.T) {
	e := newEnv(t, 2)
	records := func(errs string) []map[string]any {
		t.Helper()
		var out []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(errs), "\n") {
			var r map[string]any
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatalf("not a JSON record: %q", l)
			}
			out = append(out, r)
		}
		return out
	}
	_, _, errs := depot(t, "--config", e.config, "--log-format", "json", "run")
	var done map[string]any
	for _, r := range records(errs) {
		if r["msg"] == "set done" {
			done = r
		}
	}
	if s, ok := done["seconds"].(float64); !ok || s <= 0 || s > 60 {
		t.Errorf("set done: seconds %v, want a number of seconds\n%s", done["seconds"], errs)
	}

	if err := os.RemoveAll(e.src); err != nil {
		t.Fatal(err)
	}
	code, _, errs := depot(t, "--config", e.config, "--log-format", "json", "run")
	rs := records(errs)
	last := rs[len(rs)-1]
	if code != 1 || last["level"] != "ERROR" || last["msg"] != "depot failed" || last["exit"] != float64(1) || !strings.Contains(last["err"].(string), "failed") {
		t.Errorf("exit %d, last record %v", code, last)
	}
}
