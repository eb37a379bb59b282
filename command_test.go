package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func commandItem(argv string, extra ...string) string {
	return itemYAML("command", append([]string{"command: " + argv}, extra...)...)
}

func TestCommandItem(t *testing.T) {
	script := `echo "report line"; echo side > "$DEPOT_ITEM_DIR/side.txt"`
	e := newItemEnv(t, commandItem(`[sh, -c, '`+script+`']`, "stdout_file: report.txt"))
	s1, _ := e.run(t)
	s2, _ := e.run(t)
	got, err := os.ReadFile(filepath.Join(s2.Path, "db", "report.txt"))
	if err != nil || string(got) != "report line\n" {
		t.Fatalf("report.txt = %q, %v", got, err)
	}
	sameInode(t, s1, s2, "report.txt", true)
	if side, err := os.ReadFile(filepath.Join(s2.Path, "db", "side.txt")); err != nil || string(side) != "side\n" {
		t.Errorf("the file written into $DEPOT_ITEM_DIR: %q, %v", side, err)
	}
	to := filepath.Join(e.dir, "restored")
	mustDepot(t, "--config", e.config, "restore", "web", "--item", "db", "--to", to)
	if got, _ := os.ReadFile(filepath.Join(to, "report.txt")); string(got) != "report line\n" {
		t.Errorf("restored report.txt = %q", got)
	}
	code, _, errs := depot(t, "--config", e.config, "restore", "web", "--item", "db", "--to-database", "x")
	if code != 2 || !strings.Contains(errs, "restores with --to DIR only") {
		t.Errorf("restore of a command item into a database: exit %d\n%s", code, errs)
	}
}

func TestCommandFailures(t *testing.T) {
	tests := []struct {
		name  string
		argv  string
		cause string
	}{
		{"non-zero exit", `[sh, -c, 'echo partial; echo "it broke" >&2; exit 3']`, `command [\"sh\" \"-c\" \"echo partial; echo \\\"it broke\\\" >&2; exit 3\"]: sh exited 3: it broke`},
		{"no such program", `[/nonexistent/tool, --flag]`, "/nonexistent/tool: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newItemEnv(t, commandItem(tt.argv))
			code, _, errs := depot(t, "--config", e.config, "run")
			e.checkFailed(t, code, errs, tt.cause)
		})
	}
}
