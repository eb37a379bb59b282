package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/depot-backup/depot/internal/sshtest"
)

// TestVerifyPushedRepository verifies a repository on another host, read
// over SSH: a whole one passes, a changed file, a removed one and one added
// are each reported, and verify exits 1.
func TestVerifyPushedRepository(t *testing.T) {
	e := newTwoHostEnv(t, "push", 20, sshtest.Options{})
	mustDepot(t, "--config", e.config, "run")
	snaps := e.snapshots(t)
	if len(snaps) != 1 {
		t.Fatalf("%d snapshots", len(snaps))
	}
	out := mustDepot(t, "--config", e.config, "verify")
	if !strings.Contains(out, "ok    "+snaps[0].Name()+": ") || !strings.Contains(out, "1 snapshots: 1 verified, 0 failed") {
		t.Fatalf("verify of a whole pushed-to repository:\n%s", out)
	}

	item := filepath.Join(snaps[0].Path, "site", e.src)
	changed := filepath.Join(item, "d1", "sub1", "file-001.dat")
	data, err := os.ReadFile(changed)
	if err != nil {
		t.Fatal(err)
	}
	data[0] ^= 1 // same size, other content
	if err := os.WriteFile(changed, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(item, "tool")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(item, "planted"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := depot(t, "--config", e.config, "verify", "web")
	rel := strings.TrimPrefix(e.src, "/")
	for _, want := range []string{
		"FAIL  " + snaps[0].Name() + ": item site: " + rel + "/d1/sub1/file-001.dat: content differs from the hash in the file list",
		"FAIL  " + snaps[0].Name() + ": item site: " + rel + "/tool: missing",
		"FAIL  " + snaps[0].Name() + ": item site: " + rel + "/planted: on disk but not in the file list",
		"1 snapshots: 0 verified, 1 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("verify of a damaged pushed-to repository lacks %q (exit %d):\n%s", want, code, out)
		}
	}
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
}
