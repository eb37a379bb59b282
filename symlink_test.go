package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSymlinkedSourcePath: a configured path that is a symlink to a
// directory is backed up as that directory under the configured path, the
// manifest records the link, and an empty tree is a warning, never silence.
func TestSymlinkedSourcePath(t *testing.T) {
	e := newEnv(t, 2)
	link := filepath.Join(e.dir, "www")
	if err := os.Symlink(e.src, link); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.config, []byte(strings.Replace(string(cfg), "paths: ["+e.src+"]", "paths: ["+link+"]", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	for run := 1; run <= 2; run++ {
		code, _, errs := depot(t, "--config", e.config, "run")
		if code != 0 {
			t.Fatalf("run %d: exit %d\n%s", run, code, errs)
		}
		snaps := e.snapshots(t)
		s := snaps[len(snaps)-1]
		sameTree(t, readTree(t, filepath.Join(s.Path, "site", link), nil), e.sourceTree(t))
		it := readManifest(t, s).Items[0]
		if it.Meta["symlink:"+link] != e.src || it.Stats.Files == 0 || it.Status != "ok" {
			t.Errorf("run %d: item record %+v", run, it)
		}
	}

	empty := filepath.Join(e.dir, "empty")
	mkdir(t, empty)
	cfg, _ = os.ReadFile(e.config)
	if err := os.WriteFile(e.config, []byte(strings.Replace(string(cfg), "paths: ["+link+"]", "paths: ["+empty+"]", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs := depot(t, "--config", e.config, "run")
	if code != 0 || !strings.Contains(errs, "level=WARN msg=\"no files were backed up: check the source paths\"") {
		t.Errorf("an empty tree: exit %d\n%s", code, errs)
	}
}
