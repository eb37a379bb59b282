package repository

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestBrokenManifestIsIncomplete: a manifest that is missing, truncated,
// not depot's, or not a file makes its snapshot incomplete, and the listing
// goes on: Latest skips it.
func TestBrokenManifestIsIncomplete(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(t *testing.T, manifest string)
	}{
		{"missing", func(t *testing.T, p string) { os.Remove(p) }},
		{"truncated", func(t *testing.T, p string) {
			data, _ := os.ReadFile(p)
			os.WriteFile(p, data[:len(data)/2], 0o600)
		}},
		{"not depot's", func(t *testing.T, p string) { os.WriteFile(p, []byte("{}"), 0o600) }},
		{"a directory", func(t *testing.T, p string) {
			os.Remove(p)
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
		}},
	}
	forEachFS(t, func(t *testing.T, newRepo func(testing.TB) Repo) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := newRepo(t)
				good := publish(t, r, "web", t0)
				bad := publish(t, r, "web", t0.Add(time.Hour))
				tt.spoil(t, filepath.Join(bad.Path, ManifestName))
				snaps, err := r.Snapshots(ctx, "web")
				if err != nil || len(snaps) != 2 || !snaps[0].Complete || snaps[1].Complete || snaps[1].Manifest != nil {
					t.Fatalf("snapshots %+v, %v", snaps, err)
				}
				if latest, ok, err := r.Latest(ctx, "web"); err != nil || !ok || latest.Stamp != good.Stamp {
					t.Errorf("Latest = %+v %v %v, want %s", latest, ok, err, good.Stamp)
				}
			})
		}
	})
}
