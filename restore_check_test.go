package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRestoreMakesItsTarget: --to is created with its parents, and without
// --item every item lands in its own subdirectory.
func TestRestoreMakesItsTarget(t *testing.T) {
	e := newEnv(t, 2)
	addFlakyItem(t, e)
	mustDepot(t, "--config", e.config, "run")
	tests := []struct {
		name  string
		item  string
		check func(t *testing.T, to string)
	}{
		{"every item, new parents", "", func(t *testing.T, to string) {
			sameTree(t, readTree(t, filepath.Join(to, "site", e.src), nil), e.sourceTree(t))
			if data, err := os.ReadFile(filepath.Join(to, "db", "out.txt")); err != nil || string(data) != "data\n" {
				t.Errorf("db: %q %v", data, err)
			}
		}},
		{"one item, new parents", "db", func(t *testing.T, to string) {
			if data, err := os.ReadFile(filepath.Join(to, "out.txt")); err != nil || string(data) != "data\n" {
				t.Errorf("db: %q %v", data, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			to := filepath.Join(t.TempDir(), "a", "b", "restored")
			args := []string{"--config", e.config, "restore", "web", "--to", to}
			if tt.item != "" {
				args = append(args, "--item", tt.item)
			}
			mustDepot(t, args...)
			tt.check(t, to)
		})
	}
}

// TestCheckSVNAndSources: check runs the svn tools and reads the svn
// repository and source paths; a failure names the item and exits 1.
func TestCheckSVNAndSources(t *testing.T) {
	r := newSVNRepo(t)
	e := newItemEnv(t, svnItem(r.path))
	code, out, errs := depot(t, "--config", e.config, "check")
	for _, want := range []string{"ok    item web/db: svnadmin on local: version 1.", "ok    item web/db: svnlook on local: version 1.", "ok    item web/db: svn repository " + r.path + " on local: readable, youngest revision 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("check lacks %q: exit %d\n%s%s", want, code, out, errs)
		}
	}
	if code != 0 {
		t.Errorf("check: exit %d\n%s", code, out)
	}

	bad := newItemEnv(t, svnItem(filepath.Join(t.TempDir(), "nosuchrepo"))+"\n      - {name: files, type: filesystem, paths: ["+filepath.Join(t.TempDir(), "gone")+"]}")
	code, out, _ = depot(t, "--config", bad.config, "check")
	if code != 1 || !strings.Contains(out, "FAIL  item web/db: svn repository ") || !strings.Contains(out, "FAIL  item web/files: source ") || !strings.Contains(out, "does not exist") {
		t.Errorf("check of a missing svn repository and source: exit %d\n%s", code, out)
	}
}
