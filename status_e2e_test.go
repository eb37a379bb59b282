package main

import (
	"strings"
	"testing"

	"github.com/depot-backup/depot/director"
)

func TestStatusAndHistoryCLI(t *testing.T) {
	e := newEnv(t, 10)
	mustDepot(t, "--config", e.config, "run")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"status", []string{"status"}, 0, "holding 1", ""},
		{"fresh enough", []string{"status", "--max-age", "26h"}, 0, "web", ""},
		{"stale", []string{"status", "--max-age", "1ns"}, 1, "STALE", "set is stale"},
		{"stale, as JSON", []string{"status", "--json", "--max-age", "1ns"}, 1, `"alert": "last success`, ""},
		{"bad --max-age", []string{"status", "--max-age", "soon"}, 2, "", `--max-age: "soon" is not an age`},
		{"status takes no set", []string{"status", "web"}, 2, "", "unknown command"},
		{"history", []string{"history"}, 0, "web", ""},
		{"history of a set", []string{"history", "web", "--last", "1"}, 0, "ok", ""},
		{"history of an unknown set", []string{"history", "nosuch"}, 2, "", `no set "nosuch"`},
		{"negative --last", []string{"history", "--last", "-1"}, 2, "", "--last"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := depot(t, append([]string{"--config", e.config}, tt.args...)...)
			if code != tt.wantCode || !strings.Contains(out, tt.wantOut) || !strings.Contains(errs, tt.wantErr) {
				t.Errorf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out, errs)
			}
		})
	}
	sts := decodeJSON[[]director.SetStatus](t, mustDepot(t, "--config", e.config, "status", "--json"))
	if len(sts) != 1 || sts[0].LastRun == nil || sts[0].LastRun.Status != "ok" || sts[0].LastSuccess == nil || sts[0].Snapshots["holding"] != 1 || sts[0].Files == 0 {
		t.Errorf("status: %+v", sts)
	}
}

func TestProgressOnlyWhenAsked(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		progress bool
	}{
		{"not a terminal: none", nil, 0, false},
		{"--progress", []string{"--progress"}, 0, true},
		{"--no-progress", []string{"--no-progress"}, 0, false},
		{"both", []string{"--progress", "--no-progress"}, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 10)
			code, _, errs := depot(t, append([]string{"--config", e.config, "run"}, tt.args...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\n%s", code, tt.wantCode, errs)
			}
			if got := strings.Contains(errs, "web, 0 files, 0 B written"); got != tt.progress {
				t.Errorf("progress shown: %v, want %v\n%s", got, tt.progress, errs)
			}
		})
	}
}
