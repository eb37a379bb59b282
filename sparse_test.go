package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestSparseFilesStaySparse: a 1 GiB file that is almost all hole takes
// almost no disk in the snapshot, the restore and the mirror.
func TestSparseFilesStaySparse(t *testing.T) {
	e := newEnv(t, 2)
	sparse := filepath.Join(e.src, "disk.img")
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("header"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("trailer"), 1<<30-7); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if used := diskBytes(t, sparse); used > 1<<20 {
		t.Skipf("this file system does not keep holes (%d bytes used)", used)
	}
	mirror := filepath.Join(e.dir, "mirror")
	addConfig(t, e, "mirrors:\n  - { name: disk, target: "+mirror+" }\n")
	mustDepot(t, "--config", e.config, "run")
	s := e.snapshots(t)[0]
	restored := filepath.Join(e.dir, "restored")
	mustDepot(t, "--config", e.config, "restore", "web", "--item", "site", "--to", restored)
	mustDepot(t, "--config", e.config, "mirror", "--init")
	for what, p := range map[string]string{
		"snapshot": filepath.Join(s.Path, "site", sparse),
		"restore":  filepath.Join(restored, sparse),
		"mirror":   filepath.Join(mirror, "holding", "web", s.Stamp, "site", sparse),
	} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if used := diskBytes(t, p); st.Size() != 1<<30 || used > 1<<20 {
			t.Errorf("%s: size %d, %d bytes on disk; want 1 GiB in under 1 MiB", what, st.Size(), used)
		}
	}
}

// diskBytes is the space a file takes on disk (du, not ls).
func diskBytes(t testing.TB, p string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}
