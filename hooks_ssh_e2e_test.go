package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/depot-backup/depot/internal/sshtest"
)

// TestHookWhereSource runs a hook on a pulled set's source host: it runs
// over SSH there, with the DEPOT_* variables, and a failing one fails the
// set naming the host.
func TestHookWhereSource(t *testing.T) {
	e := newTwoHostEnv(t, "pull", 10, sshtest.Options{})
	s := e.server
	// Under the source path, which only the source host sees.
	marker := filepath.Join(e.src, "on-source")
	appendConfig(t, e.config, fmt.Sprintf(`    hooks:
      before: [{command: [sh, -c, 'echo "$DEPOT_HOOK $DEPOT_SET $SSH_CONNECTION" > %s'], where: source}]
`, marker))
	mustDepot(t, "--config", e.config, "run")
	if _, err := os.Stat(marker); err == nil {
		t.Error("the hook on the source ran on this machine")
	}
	got, err := os.ReadFile(s.Remote(marker))
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(string(got)); len(f) != 6 || f[0] != "before" || f[1] != "web" || f[4] != "127.0.0.1" || f[5] != fmt.Sprint(s.Port) {
		t.Errorf("the hook on the source wrote %q; want it run over SSH to port %d", got, s.Port)
	}

	appendConfig(t, e.config, "      after: [{command: [sh, -c, 'exit 9'], where: source}]\n")
	code, _, errs := depot(t, "--config", e.config, "run")
	if code != 0 || !strings.Contains(errs, "on "+s.Addr()) || !strings.Contains(errs, "sh exited 9") {
		t.Errorf("a failing after hook on the source: exit %d, want 0 with a warning naming the host:\n%s", code, errs)
	}
}
