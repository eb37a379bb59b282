package main

import (
	"strings"
	"testing"
)

// TestRestoreDatabaseFlags: restore's database flags that do not go
// together are usage errors (exit 2, one line), found before anything is
// read or made.
func TestRestoreDatabaseFlags(t *testing.T) {
	e := newItemEnv(t, mysqlItem("[shop]"))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"two targets", []string{"--to-server", "--to-database", "x"}, "restore needs exactly one of --to DIR, --to-database DB, --to-server and --to-svn PATH"},
		{"no target", []string{"--database", "shop"}, "restore needs exactly one of"},
		{"source without a new name", []string{"--database", "shop", "--to-server"}, "--database SOURCE goes with --to-database NEW"},
		{"server flags with a directory", []string{"--to", t.TempDir(), "--restore-host", "db2"}, "--restore-host and --restore-port go with --to-database or --to-server"},
		{"a port out of range", []string{"--to-server", "--restore-port", "70000"}, "--restore-port 70000 is not a TCP port (1-65535)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := depot(t, append([]string{"--config", e.config, "restore", "web", "--item", "db"}, tt.args...)...)
			if code != 2 || !strings.Contains(errs, tt.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
				t.Errorf("exit %d, want 2 and one line with %q:\n%s", code, tt.want, errs)
			}
		})
	}
}
