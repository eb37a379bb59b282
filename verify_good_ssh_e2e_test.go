package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/depot-backup/depot/internal/sshtest"
)

// TestVerifyGoodCopiesOnSSHMirror damages a file that both snapshots of
// the repository share and finds its good copies on a mirror that only a
// second machine holds, reached over SSH; a mirror that cannot be reached
// is named as not searched.
func TestVerifyGoodCopiesOnSSHMirror(t *testing.T) {
	e := newEnv(t, 10)
	offsite := filepath.Join(e.dir, "offsite")
	s := sshtest.Start(t, sshtest.Options{Separate: []string{e.src, e.repo, offsite}})
	mirror := filepath.Join(offsite, "mirror")
	cfg, _ := os.ReadFile(e.config)
	withMirror := append(cfg, fmt.Sprintf(`ssh: { identity_file: %s, known_hosts: %s }
mirrors:
  - { name: offsite, target: "%s:%s" }
`, s.IdentityFile, s.KnownHosts, s.Addr(), mirror)...)
	if err := os.WriteFile(e.config, withMirror, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", e.config}
	mustDepot(t, append(args, "run")...)
	if err := os.WriteFile(filepath.Join(e.src, "tool"), []byte("newer\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustDepot(t, append(args, "run")...)
	mustDepot(t, append(args, "mirror", "--init")...)
	if _, err := os.Stat(mirror); err == nil {
		t.Fatalf("the mirror is on this machine too: the test needs it on the second one only")
	}

	snaps := e.snapshots(t)
	victim := filepath.Join(snaps[1].Path, "site", e.src, "d0", "sub0", "file-000.dat")
	data, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	data[0] ^= 0xff
	if err := os.WriteFile(victim, data, 0o644); err != nil {
		t.Fatal(err)
	}
	rel := "site/" + strings.TrimPrefix(e.src, "/") + "/d0/sub0/file-000.dat"
	code, out, _ := depot(t, append(args, "verify", "web")...)
	good := regexp.MustCompile(`holding/web/` + snaps[1].Stamp + `/` + regexp.QuoteMeta(rel) + `: mirror offsite: holding/web/\S+, mirror offsite: holding/web/\S+\n`)
	if code != 1 || !strings.Contains(out, "content differs") || !good.MatchString(out) {
		t.Errorf("verify of a damaged file names no good copies on the SSH mirror (exit %d):\n%s", code, out)
	}

	// The same mirror on a port nobody listens on: the search says so.
	gone := append(cfg, fmt.Sprintf(`ssh: { identity_file: %s, known_hosts: %s, connect_timeout: 2s }
mirrors:
  - { name: offsite, target: "%s@127.0.0.1:1:%s" }
`, s.IdentityFile, s.KnownHosts, s.User, mirror)...)
	if err := os.WriteFile(e.config, gone, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = depot(t, append(args, "verify", "web")...)
	if code != 1 || !strings.Contains(out, rel+": none found (not searched, unreachable: mirror offsite)") {
		t.Errorf("verify with an unreachable mirror (exit %d):\n%s", code, out)
	}
}
