// Package proctest finds processes for tests that must prove nothing was
// left running.
package proctest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Mentioning returns the pids whose command line contains s, after giving
// killed processes up to two seconds to be reaped.
func Mentioning(t testing.TB, s string) []string {
	t.Helper()
	var out []string
	for range 100 {
		out = out[:0]
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err == nil && strings.Contains(string(cmdline), s) {
				out = append(out, e.Name())
			}
		}
		if len(out) == 0 {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return out
}
