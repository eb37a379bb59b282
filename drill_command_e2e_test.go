package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/depot-backup/depot/internal/sshtest"
	"github.com/depot-backup/depot/repository"
)

// TestDrillCommandItemsAndLock: a command item without drill_command is
// reported as skipped (not silently left out, not recorded); one with
// drill_command is drilled with its stored output on stdin, and fails when
// the check fails; a drill waits for no prune: while another holds the
// repository's lock it exits 3.
func TestDrillCommandItemsAndLock(t *testing.T) {
	e := newEnv(t, 10)
	cfg, _ := os.ReadFile(e.config)
	write := func(check string) {
		t.Helper()
		items := "        exclude: [\"*.log\"]\n" +
			"      - { name: ldap, type: command, command: [echo, \"dn: x\"] }\n" +
			"      - { name: checked, type: command, command: [echo, hello], drill_command: " + check + " }\n"
		s := strings.Replace(string(cfg), "        exclude: [\"*.log\"]\n", items, 1)
		if err := os.WriteFile(e.config, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("[grep, -qx, hello]")
	args := []string{"--config", e.config}
	mustDepot(t, append(args, "run")...)

	out := mustDepot(t, append(args, "drill")...)
	for _, want := range []string{
		"ok    web/site (filesystem) holding/web/",
		"skip  web/ldap (command): skipped: command items have no drill",
		"ok    web/checked (command) holding/web/",
		"drill_command grep -qx hello passed",
		"2 items drilled: 2 ok, 0 failed, 1 skipped",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("drill output lacks %q:\n%s", want, out)
		}
	}
	hist := mustDepot(t, append(args, "drill", "--history")...)
	if strings.Contains(hist, "ldap") || !strings.Contains(hist, "checked") {
		t.Errorf("drill history records the skipped item, or not the drilled one:\n%s", hist)
	}

	write("[grep, -qx, bye]")
	code, out, errs := depot(t, append(args, "drill")...)
	if code != 1 || !strings.Contains(out, "FAIL  web/checked (command)") || !strings.Contains(out, "drill_command grep -qx bye") || !strings.Contains(errs, "restore drill failed: 1 of 2 items") {
		t.Errorf("a failing drill_command: exit %d\n%s%s", code, out, errs)
	}

	lock, err := repository.Repo{Root: e.repo}.Lock(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	code, _, errs = depot(t, append(args, "drill")...)
	lock.Unlock()
	if code != 3 || !strings.Contains(errs, "locked") {
		t.Errorf("drill while another holds the lock: exit %d, want 3\n%s", code, errs)
	}

	for _, c := range []struct{ check, msg string }{
		{"[]", "drill_command: empty"},
		{"[\"grep -qx hello\"]", "no program is called \"grep -qx hello\""},
	} {
		write(c.check)
		if code, _, errs := depot(t, append(args, "validate")...); code != 2 || !strings.Contains(errs, c.msg) {
			t.Errorf("drill_command: %s: exit %d, want 2 and %q\n%s", c.check, code, c.msg, errs)
		}
	}
}

// TestDrillPushedRepository drills a tree in a repository on a second
// machine: the drill takes that repository's lock there, restores its
// sample over SSH and records the result in the repository's history.
func TestDrillPushedRepository(t *testing.T) {
	e := newTwoHostEnv(t, "push", 20, sshtest.Options{})
	args := []string{"--config", e.config}
	mustDepot(t, append(args, "run")...)
	out := mustDepot(t, append(args, "drill")...)
	if !strings.Contains(out, "ok    web/site (filesystem) holding/web/") || !strings.Contains(out, "1 items drilled: 1 ok, 0 failed") {
		t.Errorf("drill of a pushed-to repository:\n%s", out)
	}
	if hist := mustDepot(t, append(args, "drill", "--history")...); !strings.Contains(hist, "site") {
		t.Errorf("the drill is not in the repository's history:\n%s", hist)
	}
	// The next run finds the repository's lock released.
	mustDepot(t, append(args, "run")...)
}
