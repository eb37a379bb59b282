package repository

import (
	"strings"
	"testing"
)

// partialSnap is a holding snapshot whose manifest has the items given as
// "name" (ok) or "name!" (failed).
func partialSnap(stamp string, items ...string) Snapshot {
	m := &Manifest{Format: ManifestFormat, Set: "web", Stamp: stamp}
	for _, it := range items {
		rec := ItemRecord{Name: strings.TrimSuffix(it, "!"), Status: StatusOK}
		if strings.HasSuffix(it, "!") {
			rec.Status = StatusFailed
		}
		m.Items = append(m.Items, rec)
	}
	return Snapshot{Section: Holding, Set: "web", Stamp: stamp, Complete: true, Manifest: m}
}

func TestRetentionKeepsNewestGoodCopyOfEachItem(t *testing.T) {
	tests := []struct {
		name  string
		snaps []Snapshot // oldest first
		kept  []string   // stamps kept, newest first
	}{
		{"all good: max_recent decides", []Snapshot{
			partialSnap("2026-01-01T000000Z", "a", "b"),
			partialSnap("2026-01-02T000000Z", "a", "b"),
			partialSnap("2026-01-03T000000Z", "a", "b"),
		}, []string{"2026-01-03T000000Z", "2026-01-02T000000Z"}},
		{"b failing since the first: its good copy stays", []Snapshot{
			partialSnap("2026-01-01T000000Z", "a", "b"),
			partialSnap("2026-01-02T000000Z", "a", "b!"),
			partialSnap("2026-01-03T000000Z", "a", "b!"),
		}, []string{"2026-01-03T000000Z", "2026-01-02T000000Z", "2026-01-01T000000Z"}},
		{"b good again: nothing to protect", []Snapshot{
			partialSnap("2026-01-01T000000Z", "a", "b"),
			partialSnap("2026-01-02T000000Z", "a", "b!"),
			partialSnap("2026-01-03T000000Z", "a", "b"),
		}, []string{"2026-01-03T000000Z", "2026-01-02T000000Z"}},
		{"only the newest good copy", []Snapshot{
			partialSnap("2026-01-01T000000Z", "a", "b"),
			partialSnap("2026-01-02T000000Z", "a", "b"),
			partialSnap("2026-01-03T000000Z", "a", "b!"),
			partialSnap("2026-01-04T000000Z", "a", "b!"),
			partialSnap("2026-01-05T000000Z", "a", "b!"),
		}, []string{"2026-01-05T000000Z", "2026-01-04T000000Z", "2026-01-02T000000Z"}},
		{"an item never good protects nothing", []Snapshot{
			partialSnap("2026-01-01T000000Z", "a", "b!"),
			partialSnap("2026-01-02T000000Z", "a", "b!"),
			partialSnap("2026-01-03T000000Z", "a", "b!"),
		}, []string{"2026-01-03T000000Z", "2026-01-02T000000Z"}},
		{"two items failing at different times", []Snapshot{
			partialSnap("2026-01-01T000000Z", "a", "b"),
			partialSnap("2026-01-02T000000Z", "a!", "b"),
			partialSnap("2026-01-03T000000Z", "a!", "b!"),
			partialSnap("2026-01-04T000000Z", "a!", "b!"),
			partialSnap("2026-01-05T000000Z", "a!", "b!"),
		}, []string{"2026-01-05T000000Z", "2026-01-04T000000Z", "2026-01-02T000000Z", "2026-01-01T000000Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var kept []string
			for _, d := range Decide(tt.snaps, Policy{MaxRecent: 2}) {
				if d.Action == Keep {
					kept = append(kept, d.Snapshot.Stamp)
				}
			}
			if strings.Join(kept, " ") != strings.Join(tt.kept, " ") {
				t.Errorf("kept %v, want %v", kept, tt.kept)
			}
		})
	}
}
