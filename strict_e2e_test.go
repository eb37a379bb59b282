package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestStrictCommandLine: bad input on the command line exits 2 with one
// line naming it, before anything is done.
func TestStrictCommandLine(t *testing.T) {
	e := newEnv(t, 3)
	mustDepot(t, "--config", e.config, "run", "web", "web")
	if n := len(e.snapshots(t)); n != 1 {
		t.Fatalf("run web web made %d snapshots, want 1", n)
	}
	stamp := e.snapshots(t)[0].Stamp
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"empty --at", []string{"plan", "--at", ""}, "--at needs a time"},
		{"--at beyond a duration", []string{"plan", "--at", "2400-01-01", "--every", "30h"}, "more than 100 years ahead"},
		{"--every too short", []string{"plan", "--at", "2099-01-01", "--every", "1s"}, "want at least 1m"},
		{"restore into the repository", []string{"restore", "web", "--to", filepath.Join(e.repo, "holding", "web", "2029-01-01T000000Z")}, "is inside the repository"},
		{"restore into the repository's root", []string{"restore", "web", "--to", e.repo, "--force"}, "is inside the repository"},
		{"unknown stamp to restore", []string{"restore", "web@2001", "--to", filepath.Join(e.dir, "out")}, "set web has no snapshot 2001"},
		{"unknown stamp to verify", []string{"verify", "web@2001"}, "set web has no snapshot 2001"},
		{"unknown stamp to forget", []string{"forget", "web@2001-01-01T000000Z"}, "set web has no snapshot 2001-01-01T000000Z"},
		{"not a stamp to forget", []string{"forget", "web@" + stamp[:10]}, "is not a stamp"},
		{"unknown set to run", []string{"run", "mail"}, `no set "mail"`},
		{"unknown set to plan", []string{"plan", "mail"}, `no set "mail"`},
		{"unknown set to prune", []string{"prune", "mail"}, `no set "mail"`},
		{"unknown set to migrate", []string{"migrate", "mail"}, `no set "mail"`},
		{"set name with a path", []string{"list", "../holding/web"}, `"../holding/web" is not a set name`},
		{"set name with a path to run", []string{"run", "../web"}, `"../web" is not a set name`},
		{"set name with a path to restore", []string{"restore", "../holding/web", "--to", filepath.Join(e.dir, "out")}, `"../holding/web" is not a set name`},
		{"set name with a path to verify", []string{"verify", "web/.."}, `"web/.." is not a set name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := depot(t, append([]string{"--config", e.config}, tt.args...)...)
			if code != 2 || !strings.Contains(errs, tt.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
				t.Errorf("depot %s: exit %d, want 2 and one line with %q:\n%s", strings.Join(tt.args, " "), code, tt.want, errs)
			}
		})
	}
	if n := len(e.snapshots(t)); n != 1 {
		t.Errorf("%d snapshots after the refused commands, want 1", n)
	}
}
