package repository

import "testing"

// TestSnapshotName pins the name reports and logs give a snapshot: its path
// under the root, with the set between section and stamp.
func TestSnapshotName(t *testing.T) {
	s := Snapshot{Section: Permanent, Set: "web", Stamp: "2026-11-21T020000Z", Path: "/srv/depot/permanent/web/2026-11-21T020000Z"}
	if got, want := s.Name(), "permanent/web/2026-11-21T020000Z"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
}
