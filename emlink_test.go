package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// linkToLimit gives file as many hard links (in a directory beside it) as
// its ext4 file system allows (65,000), so the next link fails with EMLINK.
// It skips the test on another file system, whose limit is out of reach.
func linkToLimit(t testing.TB, file string) {
	t.Helper()
	var fs unix.Statfs_t
	if err := unix.Statfs(file, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type != unix.EXT4_SUPER_MAGIC {
		t.Skipf("%s is not on ext4 (magic %#x): its link limit is out of reach", file, fs.Type)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(file, &st); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "links")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for i := int(st.Nlink); i < 65000; i++ {
		if err := os.Link(file, filepath.Join(dir, fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHardLinkLimit: a file whose base copy has reached the file system's
// limit of hard links is copied, not linked, by the next snapshot and by
// the mirror; the run succeeds and the other files are still shared.
func TestHardLinkLimit(t *testing.T) {
	e := newEnv(t, 3)
	mirror := filepath.Join(e.dir, "mirror")
	addConfig(t, e, "mirrors:\n  - { name: disk, target: "+mirror+" }\n")
	time.Sleep(2100 * time.Millisecond) // old enough for the quick path to link
	mustDepot(t, "--config", e.config, "run")
	mustDepot(t, "--config", e.config, "mirror", "--init")
	first := e.snapshots(t)[0]
	full := filepath.Join("site", e.src, "d0", "sub0", "file-000.dat")
	shared := filepath.Join("site", e.src, "d1", "sub1", "file-001.dat")
	linkToLimit(t, filepath.Join(first.Path, full))
	linkToLimit(t, filepath.Join(mirror, "holding", "web", first.Stamp, full))

	code, _, errs := depot(t, "--config", e.config, "run")
	if code != 0 {
		t.Fatalf("run with a base file at the link limit: exit %d\n%s", code, errs)
	}
	if !strings.Contains(errs, "too many links") {
		t.Errorf("the run does not say why it left the quick path:\n%s", errs)
	}
	second := e.snapshots(t)[1]
	sameTree(t, e.snapshotTree(t, second), e.sourceTree(t))
	sameInodeAt(t, first.Path, second.Path, full, false)
	sameInodeAt(t, first.Path, second.Path, shared, true)

	mustDepot(t, "--config", e.config, "mirror")
	m1, m2 := filepath.Join(mirror, "holding", "web", first.Stamp), filepath.Join(mirror, "holding", "web", second.Stamp)
	sameTree(t, readTree(t, filepath.Join(m2, "site", e.src), nil), e.sourceTree(t))
	sameInodeAt(t, m1, m2, full, false)
	sameInodeAt(t, m1, m2, shared, true)
	if out := mustDepot(t, "--config", e.config, "verify"); !strings.Contains(out, "2 verified, 0 failed") {
		t.Errorf("verify:\n%s", out)
	}
}

func sameInodeAt(t testing.TB, a, b, rel string, want bool) {
	t.Helper()
	fa, err := os.Stat(filepath.Join(a, rel))
	if err != nil {
		t.Fatal(err)
	}
	fb, err := os.Stat(filepath.Join(b, rel))
	if err != nil {
		t.Fatal(err)
	}
	if os.SameFile(fa, fb) != want {
		t.Errorf("%s in %s and %s: same inode %v, want %v", rel, a, b, !want, want)
	}
}
