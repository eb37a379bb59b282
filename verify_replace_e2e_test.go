package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifyReplacedInode: a file that earlier snapshots share, replaced in
// a later one by another inode of the same size, fails there, whichever
// lane verifies that snapshot and whatever the earlier ones confirmed; a
// replacement with the same bytes passes.
func TestVerifyReplacedInode(t *testing.T) {
	e := newEnv(t, 10)
	args := []string{"--config", e.config}
	for range 4 {
		mustDepot(t, append(args, "run")...)
	}
	snaps := e.snapshots(t)
	rel := filepath.Join("site", e.src, "d1", "sub1", "file-001.dat")
	replace := func(snap int, change bool) {
		t.Helper()
		p := filepath.Join(snaps[snap].Path, rel)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if change {
			data[len(data)-1] ^= 0x01
		}
		if err := os.WriteFile(p+".new", data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(p+".new", p); err != nil {
			t.Fatal(err)
		}
	}
	replace(2, true)
	replace(3, false)
	code, out, _ := depot(t, append(args, "verify")...)
	want := "FAIL  holding/web/" + snaps[2].Stamp + ": item site: " + strings.TrimPrefix(e.src, "/") + "/d1/sub1/file-001.dat: content differs"
	if code != 1 || !strings.Contains(out, want) || !strings.Contains(out, "4 snapshots: 3 verified, 1 failed") {
		t.Errorf("verify: exit %d, want %q and one failed snapshot:\n%s", code, want, out)
	}
}
