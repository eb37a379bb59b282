package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/depot-backup/depot/internal/sshtest"
	"github.com/depot-backup/depot/repository"
)

func TestMirrorVerifyAndPull(t *testing.T) {
	e := newEnv(t, 2)
	// The offsite host is a second machine: it sees neither the source
	// nor the repository, and its mirror only it holds.
	offsite := filepath.Join(e.dir, "offsite")
	s := sshtest.Start(t, sshtest.Options{Separate: []string{e.src, e.repo, offsite}})
	local := filepath.Join(e.dir, "mirror-local")
	remoteDir := filepath.Join(offsite, "mirror-ssh")
	cfg, _ := os.ReadFile(e.config)
	cfg = append(cfg, []byte(fmt.Sprintf(`ssh: { identity_file: %s, known_hosts: %s }
mirrors:
  - { name: disk, target: %s }
  - { name: offsite, target: "%s:%s", bwlimit: 50M }
`, s.IdentityFile, s.KnownHosts, local, s.Addr(), remoteDir))...)
	if err := os.WriteFile(e.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	mustDepot(t, "--config", e.config, "validate")
	for range 3 {
		mustDepot(t, "--config", e.config, "run")
	}
	mustDepot(t, "--config", e.config, "mirror", "--init")
	want := e.snapshots(t)
	for _, dir := range []string{local, remoteDir} {
		dir = s.Remote(dir)
		got, err := repository.Repo{Root: dir}.Snapshots(context.Background(), "web")
		if err != nil || len(got) != len(want) {
			t.Fatalf("mirror %s has %v (%v), the repository %v", dir, got, err, want)
		}
		for i := range got {
			if got[i].Stamp != want[i].Stamp || !got[i].Complete {
				t.Fatalf("mirror %s: %+v, want %+v", dir, got[i], want[i])
			}
		}
		sameTree(t, readTree(t, filepath.Join(dir, "holding", "web", want[1].Stamp, "site", e.src), nil), e.sourceTree(t))
	}
	for _, m := range []string{"disk", "offsite"} {
		out := mustDepot(t, "--config", e.config, "verify", "--mirror", m)
		if !strings.Contains(out, "2 snapshots match, 0 differences") {
			t.Errorf("verify --mirror %s:\n%s", m, out)
		}
	}
	out := mustDepot(t, "--config", e.config, "verify")
	if !strings.Contains(out, "2 snapshots: 2 verified, 0 failed") {
		t.Errorf("verify:\n%s", out)
	}

	// A mirror that lost a snapshot and gained one is reported.
	if err := os.RemoveAll(filepath.Join(local, "holding", "web", want[0].Stamp)); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(local, "holding", "web", "2001-01-01T000000Z"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(local, "holding", "web", "2001-01-01T000000Z", "manifest.json"), []byte(`{"format": 1, "set": "web", "stamp": "2001-01-01T000000Z", "items": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := depot(t, "--config", e.config, "verify", "--mirror", "disk")
	if code != 1 || !strings.Contains(out, "missing    holding/web/"+want[0].Stamp) || !strings.Contains(out, "extra      holding/web/2001-01-01T000000Z") {
		t.Errorf("verify --mirror after damage: exit %d\n%s", code, out)
	}

	// Corrupt a file in the repository without changing its size.
	victim := filepath.Join(want[1].Path, "site", e.src, "secret")
	if err := os.Remove(victim); err != nil { // break the hard link first
		t.Fatal(err)
	}
	if err := os.WriteFile(victim, []byte("S3CRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ = depot(t, "--config", e.config, "verify", "web")
	if code != 1 || !strings.Contains(out, "secret: content differs") || !strings.Contains(out, "1 failed") {
		t.Errorf("verify of a corrupted snapshot: exit %d\n%s", code, out)
	}

	// A pull mirror from the offsite side keeps what the repository prunes.
	// Here the repository host is the second machine, with the same keys:
	// the pulled copy must land on this one.
	pulledDir := filepath.Join(e.dir, "pulled-here")
	repoHost := sshtest.Start(t, sshtest.Options{Like: s, Separate: []string{pulledDir}})
	known, err := os.OpenFile(s.KnownHosts, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(known, sshtest.KnownHostsLine(repoHost.Host, repoHost.Port, repoHost.HostKey))
	known.Close()
	s = repoHost
	pulled := filepath.Join(pulledDir, "pulled")
	mustDepot(t, "--config", e.config, "mirror", "--init", "--from", s.Addr()+":"+e.repo, "--to", pulled)
	mustDepot(t, "--config", e.config, "run")
	mustDepot(t, "--config", e.config, "mirror", "--from", s.Addr()+":"+e.repo, "--to", pulled)
	got, _ := repository.Repo{Root: pulled}.Snapshots(context.Background(), "web")
	if len(got) != 3 {
		t.Errorf("pull mirror without --delete has %d snapshots, want 3 (2 plus the one pruned since)", len(got))
	}
	mustDepot(t, "--config", e.config, "mirror", "--from", s.Addr()+":"+e.repo, "--to", pulled, "--delete")
	if got, _ := (repository.Repo{Root: pulled}).Snapshots(context.Background(), "web"); len(got) != 2 {
		t.Errorf("pull mirror with --delete has %d snapshots, want 2", len(got))
	}
}
