package repository

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDecideUsesRecords: a permanent snapshot is judged on the day and rules
// recorded at its migration, never on what the zone or the rules say now.
func TestDecideUsesRecords(t *testing.T) {
	monthly := rule(t, "monthly", 1, []string{"1"}, nil, nil)
	yearly := rule(t, "yearly", 0, []string{"1"}, []string{"jan"}, nil)
	lastDay := rule(t, "last-day", 1, []string{"last"}, nil, nil)
	weekly := rule(t, "weekly", 1, nil, nil, []string{"sunday"})
	berlin := mustLoad(t, "Europe/Berlin")
	tests := []struct {
		name    string
		snaps   []string
		made    Policy // the policy the permanent snapshots migrated under
		now     Policy // the policy deciding now
		want    string // actions newest first
		because string // in the reason of the oldest snapshot
	}{
		{
			// 2025-12-31T23:00Z is Jan 1 in Berlin: yearly. In UTC it is
			// Dec 31, which last-day matches and has let go.
			name:  "TZ changed from Berlin to UTC",
			snaps: []string{"p 2025-12-31 23:00", "p 2026-01-31 02:00", "h 2026-02-02 02:00"},
			made:  Policy{MaxRecent: 5, Rules: []Rule{monthly, yearly, lastDay}, Location: berlin},
			now:   Policy{MaxRecent: 5, Rules: []Rule{monthly, yearly, lastDay}, Location: time.UTC},
			want:  "kkk", because: "kept forever",
		},
		{
			// Sunday 2026-02-01 matched monthly and weekly; monthly is
			// gone, and weekly has a newer Sunday.
			name:  "rule removed",
			snaps: []string{"p 2026-02-01 02:00", "p 2026-02-08 02:00", "h 2026-02-09 02:00"},
			made:  Policy{MaxRecent: 5, Rules: []Rule{monthly, weekly}},
			now:   Policy{MaxRecent: 5, Rules: []Rule{weekly}},
			want:  "kkk", because: "kept by rule monthly no longer configured: depot forget web@2026-02-01T020000Z deletes it",
		},
		{
			// A rule added (here: monthly renamed) matches the old
			// snapshots, and keeps only one: it never counts them.
			name:  "rule added",
			snaps: []string{"p 2026-01-01 02:00", "p 2026-02-01 02:00", "h 2026-03-01 02:00"},
			made:  Policy{MaxRecent: 5, Rules: []Rule{yearly, rule(t, "months", 0, []string{"1"}, nil, nil)}},
			now:   Policy{MaxRecent: 5, Rules: []Rule{yearly, monthly}},
			want:  "mkk", because: "kept by rule months no longer configured",
		},
		{
			name:  "no record: never deleted",
			snaps: []string{"u 2026-01-01 02:00", "p 2026-02-01 02:00", "h 2026-03-01 02:00"},
			made:  Policy{MaxRecent: 5, Rules: []Rule{monthly}},
			now:   Policy{MaxRecent: 5, Rules: []Rule{monthly}},
			want:  "mdk", because: "no record of the rules it migrated under",
		},
		{
			name:  "recorded and let go: deleted",
			snaps: []string{"p 2026-01-01 02:00", "p 2026-02-01 02:00", "h 2026-02-02 02:00"},
			made:  Policy{MaxRecent: 5, Rules: []Rule{monthly}},
			now:   Policy{MaxRecent: 5, Rules: []Rule{monthly}},
			want:  "kkd", because: "rule monthly keeps the newest 1; this is the 2nd",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in []Snapshot
			for _, s := range tt.snaps {
				in = append(in, snapAt(t, s))
			}
			in = withRecords(in, tt.made)
			ds := Decide(in, tt.now)
			got := ""
			for _, d := range ds {
				got += string(d.Action[:1])
			}
			if got != tt.want || !strings.Contains(ds[len(ds)-1].Reason, tt.because) {
				for _, d := range ds {
					t.Logf("%-7s %s/%s: %s", d.Action, d.Snapshot.Section, d.Snapshot.Stamp, d.Reason)
				}
				t.Fatalf("actions %q, want %q; the oldest's reason should say %q", got, tt.want, tt.because)
			}
			for _, d := range Decide(Apply(in, ds), tt.now) {
				if d.Action != Keep {
					t.Errorf("second pass: %s %s/%s: %s", d.Action, d.Snapshot.Section, d.Snapshot.Stamp, d.Reason)
				}
			}
		})
	}
}

// TestMigrationRecord: a migration decision carries the day in the zone in
// force and every rule that matched; the record round-trips through a
// snapshot directory, and a damaged one reads as none.
func TestMigrationRecord(t *testing.T) {
	p := Policy{MaxRecent: 5, Location: mustLoad(t, "Europe/Berlin"), Rules: []Rule{
		rule(t, "monthly", 3, []string{"1"}, nil, nil),
		rule(t, "weekly", 3, nil, nil, []string{"sunday"}),
		rule(t, "yearly", 0, []string{"1"}, []string{"jan"}, nil),
	}}
	in := []Snapshot{snapAt(t, "h 2026-02-28 23:30")} // Sunday, March 1 in Berlin
	ds := Decide(in, p)
	rec := ds[0].Record
	if ds[0].Action != Migrate || rec == nil || rec.Day != "2026-03-01" || rec.Zone != "Europe/Berlin" || strings.Join(rec.Rules, ",") != "monthly,weekly" {
		t.Fatalf("decision %+v, record %+v", ds[0], rec)
	}

	r := Repo{Root: t.TempDir()}
	dir := r.Dir(Permanent, "web", in[0].Stamp)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteRecord(context.Background(), dir, rec); err != nil {
		t.Fatal(err)
	}
	snaps := []Snapshot{{Section: Permanent, Set: "web", Stamp: in[0].Stamp, Path: dir, Complete: true}}
	r.ReadRecords(context.Background(), snaps)
	if snaps[0].Record == nil || snaps[0].Record.Day != "2026-03-01" {
		t.Fatalf("read back %+v", snaps[0].Record)
	}
	if err := os.WriteFile(filepath.Join(dir, RecordName), []byte(`{"format":1,"day":"March"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	snaps[0].Record = nil
	r.ReadRecords(context.Background(), snaps)
	if snaps[0].Record != nil {
		t.Fatalf("a damaged record read as %+v", snaps[0].Record)
	}
}
