package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/depot-backup/depot/internal/sshtest"
)

// TestOneSSHConnection: a push or pull run logs in to the other machine
// once: rsync travels on depot's own connection, for the first run (the
// whole tree) and for a run that sends a change.
func TestOneSSHConnection(t *testing.T) {
	for _, mode := range []string{"push", "pull"} {
		t.Run(mode, func(t *testing.T) {
			e := newTwoHostEnv(t, mode, 200, sshtest.Options{})
			logins := func(what string, run func()) {
				t.Helper()
				before := e.server.Logins(t)
				run()
				if n := e.server.Logins(t) - before; n != 1 {
					t.Errorf("%s: %d logins, want 1", what, n)
				}
			}
			logins("first run", func() { mustDepot(t, "--config", e.config, "run") })
			if err := os.WriteFile(filepath.Join(e.srcSide(), "d1", "added"), []byte("new\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			logins("run with a change", func() {
				code, _, logs := depot(t, "--config", e.config, "run")
				if code != 0 {
					t.Fatalf("exit %d\n%s", code, logs)
				}
				if _, toRsync, ok := quickFigures(t, logs); ok && toRsync == 0 {
					t.Fatalf("rsync did not run:\n%s", logs)
				}
			})
			if snaps := e.snapshots(t); len(snaps) != 2 {
				t.Fatalf("%d snapshots, want 2", len(snaps))
			} else {
				sameTree(t, e.snapshotTree(t, snaps[1]), e.sourceTree(t))
			}
		})
	}
}
