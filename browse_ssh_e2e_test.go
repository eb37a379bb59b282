package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/depot-backup/depot/internal/sshtest"
)

// TestBrowseOverSSH: diff --source walks a pulled source over SSH as the
// quick path does, and ls, versions and diff read a pushed-to repository's
// lists through its host.
func TestBrowseOverSSH(t *testing.T) {
	for _, mode := range []string{"pull", "push"} {
		t.Run(mode, func(t *testing.T) {
			e := newTwoHostEnv(t, mode, 20, sshtest.Options{})
			args := []string{"--config", e.config}
			mustDepot(t, append(args, "run")...)
			if err := os.WriteFile(filepath.Join(e.srcSide(), "later"), []byte("x\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			out := mustDepot(t, append(args, "diff", "web", "--source")...)
			src := strings.TrimPrefix(e.src, "/")
			if !strings.Contains(out, "+ site/"+src+"/later") || !strings.Contains(out, "1 added (2 B), 0 removed (0 B), 0 changed") {
				t.Errorf("diff --source (%s):\n%s", mode, out)
			}
			mustDepot(t, append(args, "run")...)
			if out := mustDepot(t, append(args, "ls", "web", e.src+"/later")...); !strings.Contains(out, "site/"+src+"/later") {
				t.Errorf("ls (%s):\n%s", mode, out)
			}
			if out := mustDepot(t, append(args, "diff", "web")...); !strings.Contains(out, "+ site/"+src+"/later") {
				t.Errorf("diff (%s):\n%s", mode, out)
			}
			if out := mustDepot(t, append(args, "versions", e.src+"/tool")...); !strings.Contains(out, "holding/web/") {
				t.Errorf("versions (%s):\n%s", mode, out)
			}
		})
	}
}
