package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/depot-backup/depot/internal/sshtest"
)

// TestVerifyMirrorHashesAndMirrorRepairs: a file tampered with in place
// (same size and time, an inode every mirror snapshot shares), a file
// deleted and one added are found by verify --mirror on a local and on an
// SSH mirror; the next depot mirror copies those snapshots again, after
// which they verify.
func TestVerifyMirrorHashesAndMirrorRepairs(t *testing.T) {
	e := newEnv(t, 5)
	// The offsite mirror is on a second machine, which sees neither the
	// source nor the repository.
	offsite := filepath.Join(e.dir, "offsite")
	s := sshtest.Start(t, sshtest.Options{Separate: []string{e.src, e.repo, offsite}})
	local, remote := filepath.Join(e.dir, "mirror-local"), filepath.Join(offsite, "mirror-ssh")
	cfg, _ := os.ReadFile(e.config)
	cfg = append(cfg, fmt.Sprintf(`ssh: { identity_file: %s, known_hosts: %s }
mirrors:
  - { name: disk, target: %s }
  - { name: offsite, target: "%s:%s" }
`, s.IdentityFile, s.KnownHosts, local, s.Addr(), remote)...)
	if err := os.WriteFile(e.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	stamps := runDays(t, e, time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC), 3)
	mustDepot(t, "--config", e.config, "mirror", "--init")
	for name, dir := range map[string]string{"disk": local, "offsite": remote} {
		t.Run(name, func(t *testing.T) {
			out := mustDepot(t, "--config", e.config, "verify", "--mirror", name)
			if !strings.Contains(out, "3 snapshots match, 0 differences") {
				t.Fatalf("verify --mirror of a good mirror:\n%s", out)
			}
			item := func(stamp string) string { return filepath.Join(s.Remote(dir), "holding", "web", stamp, "site", e.src) }
			shared := filepath.Join(item(stamps[0]), "d0", "sub0", "file-000.dat")
			fi, err := os.Stat(shared)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(shared)
			data[0] ^= 1
			if err := os.WriteFile(shared, data, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(shared, fi.ModTime(), fi.ModTime()); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(item(stamps[2]), "secret")); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(item(stamps[1]), "planted"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}

			code, out, _ := depot(t, "--config", e.config, "verify", "--mirror", name)
			for _, want := range []string{
				"different  holding/web/" + stamps[0] + ": item site: " + strings.TrimPrefix(e.src, "/") + "/d0/sub0/file-000.dat: content differs from the hash in the file list",
				"different  holding/web/" + stamps[1] + ": item site: " + strings.TrimPrefix(e.src, "/") + "/planted: on disk but not in the file list",
				"different  holding/web/" + stamps[2] + ": item site: " + strings.TrimPrefix(e.src, "/") + "/secret: missing",
				"0 snapshots match, 3 differences",
			} {
				if code != 1 || !strings.Contains(out, want) {
					t.Errorf("verify --mirror of a damaged mirror: exit %d, want 1 and\n%s\n%s", code, want, out)
				}
			}

			mustDepot(t, "--config", e.config, "mirror", name)
			out = mustDepot(t, "--config", e.config, "verify", "--mirror", name)
			if !strings.Contains(out, "3 snapshots match, 0 differences") {
				t.Fatalf("verify --mirror after the repair:\n%s", out)
			}
			out = mustDepot(t, "--config", e.config, "verify", "--mirror", name, "--sample", "1")
			if strings.Count(out, "files match the file lists") != 1 || strings.Count(out, "files not hashed: --sample") != 2 {
				t.Errorf("verify --mirror --sample 1:\n%s", out)
			}
		})
	}
	if out := mustDepot(t, "--config", e.config, "verify"); !strings.Contains(out, "3 verified, 0 failed") {
		t.Errorf("the repository suffered:\n%s", out)
	}
}
