package repository

import (
	"math/rand/v2"
	"testing"
	"time"
)

func snaps(specs ...string) []Snapshot {
	// spec: "h" complete holding, "p" permanent, "i" incomplete holding.
	var out []Snapshot
	for i, s := range specs {
		out = append(out, Snapshot{
			Section:  map[string]string{"h": Holding, "p": Permanent, "i": Holding}[s],
			Stamp:    Stamp(t0.Add(time.Duration(i) * time.Hour)),
			Complete: s != "i",
		})
	}
	return out
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name  string
		snaps []Snapshot
		max   int
		want  string // actions newest first: k keep, d delete
	}{
		{"none", nil, 3, ""},
		{"under limit", snaps("h", "h"), 3, "kk"},
		{"at limit", snaps("h", "h", "h"), 3, "kkk"},
		{"over limit", snaps("h", "h", "h", "h", "h"), 3, "kkkdd"},
		{"keep one", snaps("h", "h", "h"), 1, "kdd"},
		{"incomplete kept, not counted", snaps("h", "h", "i", "h"), 2, "kkkd"},
		{"permanent not counted", snaps("h", "p", "h", "h"), 2, "kkkd"},
		{"newest incomplete", snaps("h", "h", "i"), 1, "kkd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			for _, d := range Decide(tt.snaps, Policy{MaxRecent: tt.max}) {
				got += d.Action[:1]
				if d.Reason == "" {
					t.Errorf("%s: no reason", d.Snapshot.Stamp)
				}
			}
			if got != tt.want {
				t.Fatalf("actions %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDecideReasons(t *testing.T) {
	ds := Decide(snaps("h", "h", "h"), Policy{MaxRecent: 2})
	want := []string{
		"newest complete snapshot",
		"2nd newest in holding, within max_recent_backups 2",
		"3rd newest in holding, beyond max_recent_backups 2",
	}
	for i, d := range ds {
		if d.Reason != want[i] {
			t.Errorf("decision %d: %q, want %q", i, d.Reason, want[i])
		}
	}
}

// TestDecideProperties checks invariants over random histories: the newest
// complete snapshot is kept, holding keeps exactly min(n, max) complete
// snapshots, incomplete ones are never deleted, and deciding again on what is
// kept deletes nothing more.
func TestDecideProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	kinds := []string{"h", "h", "h", "p", "i"}
	for run := range 2000 {
		var specs []string
		for range rng.IntN(30) {
			specs = append(specs, kinds[rng.IntN(len(kinds))])
		}
		max := 1 + rng.IntN(10)
		in := snaps(specs...)
		ds := Decide(in, Policy{MaxRecent: max})
		var kept []Snapshot
		completeHolding, keptHolding := 0, 0
		newest := ""
		for _, s := range in {
			if s.Complete && s.Stamp > newest {
				newest = s.Stamp
			}
			if s.Complete && s.Section == Holding {
				completeHolding++
			}
		}
		for _, d := range ds {
			if d.Action == Keep {
				kept = append(kept, d.Snapshot)
				if d.Snapshot.Complete && d.Snapshot.Section == Holding {
					keptHolding++
				}
				continue
			}
			if d.Snapshot.Stamp == newest {
				t.Fatalf("run %d: newest complete snapshot deleted (%v, max %d)", run, specs, max)
			}
			if !d.Snapshot.Complete || d.Snapshot.Section != Holding {
				t.Fatalf("run %d: deleted %+v", run, d.Snapshot)
			}
		}
		if want := min(completeHolding, max); keptHolding != want {
			t.Fatalf("run %d: kept %d in holding, want %d (%v, max %d)", run, keptHolding, want, specs, max)
		}
		for _, d := range Decide(kept, Policy{MaxRecent: max}) {
			if d.Action != Keep {
				t.Fatalf("run %d: second pass deletes %s: %s", run, d.Snapshot.Stamp, d.Reason)
			}
		}
	}
}

func TestOrdinal(t *testing.T) {
	for n, want := range map[int]string{1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 12: "12th", 13: "13th", 21: "21st", 102: "102nd", 111: "111th"} {
		if got := ordinal(n); got != want {
			t.Errorf("ordinal(%d) = %s, want %s", n, got, want)
		}
	}
}
