// Package examples_test checks that every example config loads: the examples
// are the reference for the config format, so they must never rot.
package examples_test

import (
	"path/filepath"
	"testing"

	"github.com/depot-backup/depot/director"
)

func TestExampleConfigsLoad(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("configs", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("examples/configs/ holds no *.yaml")
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cfg, err := director.Load(path)
			if err != nil {
				t.Fatalf("director.Load:\n%v", err)
			}
			if len(cfg.Sets) == 0 {
				t.Errorf("%s has no sets", path)
			}
		})
	}
}
