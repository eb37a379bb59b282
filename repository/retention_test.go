package repository

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/depot-backup/depot/schedules"
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
				got += string(d.Action[:1])
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

// snapAt makes a snapshot from "h 2026-11-01 02:00": h complete in holding,
// p complete in permanent (given a record by withRecords), u complete in
// permanent and never given one, i incomplete in holding; the time is UTC.
func snapAt(t testing.TB, spec string) Snapshot {
	t.Helper()
	kind, when, _ := strings.Cut(spec, " ")
	at, err := time.Parse("2006-01-02 15:04", when)
	if err != nil {
		t.Fatal(err)
	}
	return Snapshot{
		Section:  map[string]string{"h": Holding, "p": Permanent, "u": Permanent, "i": Holding}[kind],
		Set:      "web",
		Stamp:    Stamp(at),
		Complete: kind != "i",
		Record:   map[string]*Record{"u": {}}[kind], // replaced by withRecords
	}
}

// withRecords gives each complete permanent snapshot without a Record the one
// its migration under p would have written; "u" snapshots lose theirs.
func withRecords(in []Snapshot, p Policy) []Snapshot {
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	out := append([]Snapshot(nil), in...)
	for i := range out {
		s := &out[i]
		switch {
		case s.Record != nil:
			s.Record = nil
		case s.Section == Permanent && s.Complete:
			day := dateOf(*s, loc)
			s.Record = &Record{Format: RecordFormat, Day: day.iso(), Zone: zoneName(loc)}
			for _, r := range p.Rules {
				if r.Calendar.Matches(day.year, day.month, day.day) {
					s.Record.Rules = append(s.Record.Rules, r.Name)
				}
			}
		}
	}
	return out
}

func rule(t testing.TB, name string, keep int, days, months, weekdays []string) Rule {
	t.Helper()
	var c schedules.Calendar
	for _, d := range days {
		v, err := schedules.ParseDay(d)
		if err != nil {
			t.Fatal(err)
		}
		c.Days = append(c.Days, v)
	}
	for _, m := range months {
		v, err := schedules.ParseMonth(m)
		if err != nil {
			t.Fatal(err)
		}
		c.Months = append(c.Months, v)
	}
	for _, w := range weekdays {
		v, err := schedules.ParseWeekday(w)
		if err != nil {
			t.Fatal(err)
		}
		c.Weekdays = append(c.Weekdays, v)
	}
	return Rule{Name: name, Calendar: c, Keep: keep}
}

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestDecidePermanent(t *testing.T) {
	monthly := func(keep int) Rule { return rule(t, "monthly", keep, []string{"1"}, nil, nil) }
	yearly := rule(t, "yearly", 0, []string{"1"}, []string{"jan"}, nil)
	berlin := mustLoad(t, "Europe/Berlin")
	tests := []struct {
		name  string
		snaps []string
		max   int
		rules []Rule
		loc   *time.Location
		want  string // actions newest first: k keep, m migrate, d delete
	}{
		{"first of the day migrates", []string{"h 2026-11-01 02:00", "h 2026-11-01 03:00", "h 2026-11-02 02:00"}, 5, []Rule{monthly(2)}, nil, "kkm"},
		{"newest complete migrates", []string{"h 2026-10-31 02:00", "h 2026-11-01 02:00"}, 1, []Rule{monthly(2)}, nil, "mk"},
		{"day already in permanent", []string{"p 2026-11-01 02:00", "h 2026-11-01 03:00"}, 5, []Rule{monthly(2)}, nil, "kk"},
		{"incomplete first of day skipped", []string{"i 2026-11-01 01:00", "h 2026-11-01 02:00"}, 5, []Rule{monthly(2)}, nil, "mk"},
		{"keep counts the migrating one", []string{"p 2026-09-01 02:00", "p 2026-10-01 02:00", "h 2026-11-01 02:00"}, 5, []Rule{monthly(2)}, nil, "mkd"},
		{"keep 0 keeps all", []string{"p 2024-01-01 02:00", "p 2025-01-01 02:00", "h 2026-01-01 02:00"}, 5, []Rule{yearly}, nil, "mkk"},
		{"either rule keeps", []string{"p 2025-01-01 02:00", "p 2025-02-01 02:00", "p 2026-01-01 02:00"}, 5, []Rule{monthly(1), yearly}, nil, "kdk"},
		{"matching no rule is kept", []string{"p 2026-10-15 02:00", "h 2026-10-16 02:00"}, 1, []Rule{monthly(1)}, nil, "kk"},
		{"no rules keep permanent", []string{"p 2026-10-01 02:00", "h 2026-11-01 02:00"}, 1, nil, nil, "kk"},
		{"unwanted old day stays in holding", []string{"h 2026-10-01 02:00", "h 2026-11-01 02:00", "h 2026-11-02 02:00"}, 2, []Rule{monthly(1)}, nil, "kmk"},
		{"unwanted old day pruned from holding", []string{"h 2026-10-01 02:00", "h 2026-11-01 02:00", "h 2026-11-02 02:00"}, 1, []Rule{monthly(1)}, nil, "kmd"},
		{"let-go day does not migrate again", []string{"p 2026-10-01 02:00", "h 2026-10-01 03:00", "p 2026-11-01 02:00", "h 2026-11-02 02:00"}, 5, []Rule{monthly(1)}, nil, "kkkd"},
		{"23:30 UTC is the 1st in Berlin", []string{"h 2026-10-31 23:30"}, 5, []Rule{monthly(1)}, berlin, "m"},
		{"23:30 UTC is the 31st in UTC", []string{"h 2026-10-31 23:30"}, 5, []Rule{monthly(1)}, nil, "k"},
		{"holding limit leaves incomplete alone", []string{"i 2026-10-30 02:00", "h 2026-10-31 02:00", "h 2026-11-01 02:00", "h 2026-11-01 03:00"}, 1, []Rule{monthly(1)}, nil, "kmdk"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in []Snapshot
			for _, s := range tt.snaps {
				in = append(in, snapAt(t, s))
			}
			p := Policy{MaxRecent: tt.max, Rules: tt.rules, Location: tt.loc}
			in = withRecords(in, p)
			ds := Decide(in, p)
			got := ""
			for _, d := range ds {
				got += string(d.Action[:1])
				if d.Reason == "" {
					t.Errorf("%s/%s: no reason", d.Snapshot.Section, d.Snapshot.Stamp)
				}
			}
			if got != tt.want {
				for _, d := range ds {
					t.Logf("%-7s %s/%s: %s", d.Action, d.Snapshot.Section, d.Snapshot.Stamp, d.Reason)
				}
				t.Fatalf("actions %q, want %q", got, tt.want)
			}
			for _, d := range Decide(Apply(in, ds), p) {
				if d.Action != Keep {
					t.Errorf("second pass: %s %s/%s: %s", d.Action, d.Snapshot.Section, d.Snapshot.Stamp, d.Reason)
				}
			}
		})
	}
}

func TestDecidePermanentReasons(t *testing.T) {
	in := []Snapshot{
		snapAt(t, "p 2025-01-01 02:00"),
		snapAt(t, "p 2026-09-01 02:00"),
		snapAt(t, "p 2026-09-15 02:00"),
		snapAt(t, "p 2026-10-01 02:00"),
		snapAt(t, "h 2026-10-30 02:00"),
		snapAt(t, "h 2026-10-31 02:00"),
		snapAt(t, "h 2026-11-01 02:00"),
	}
	p := Policy{MaxRecent: 1, Rules: []Rule{
		rule(t, "monthly", 2, []string{"1"}, nil, nil),
		rule(t, "yearly", 0, []string{"1"}, []string{"jan"}, nil),
	}}
	in = withRecords(in, p)
	want := []string{
		"migrate first snapshot of Sun 2026-11-01 in UTC; matches rule monthly: day 1, 1st of the newest 2 kept",
		"keep 1st newest in holding, within max_recent_backups 1",
		"delete 2nd newest in holding, beyond max_recent_backups 1",
		"keep matches rule monthly: day 1, 2nd of the newest 2 kept",
		"keep in permanent, its record names no rule: kept; depot forget web@2026-09-15T020000Z deletes it",
		"delete rule monthly keeps the newest 2; this is the 3rd",
		"keep matches rule yearly: Jan 1, kept forever (keep 0)",
	}
	ds := Decide(in, p)
	for i, d := range ds {
		if got := string(d.Action) + " " + d.Reason; got != want[i] {
			t.Errorf("%s/%s:\n got %s\nwant %s", d.Snapshot.Section, d.Snapshot.Stamp, got, want[i])
		}
	}
}

func TestApply(t *testing.T) {
	in := []Snapshot{
		{Section: Holding, Set: "web", Stamp: "2026-10-31T020000Z", Path: "/r/holding/web/2026-10-31T020000Z", Complete: true},
		{Section: Holding, Set: "web", Stamp: "2026-11-01T020000Z", Path: "/r/holding/web/2026-11-01T020000Z", Complete: true},
		{Section: Holding, Set: "web", Stamp: "2026-11-02T020000Z", Path: "/r/holding/web/2026-11-02T020000Z", Complete: true},
	}
	ds := []Decision{{Snapshot: in[0], Action: Delete}, {Snapshot: in[1], Action: Migrate}, {Snapshot: in[2], Action: Keep}}
	got := Apply(in, ds)
	want := []Snapshot{
		{Section: Permanent, Set: "web", Stamp: "2026-11-01T020000Z", Path: "/r/permanent/web/2026-11-01T020000Z", Complete: true},
		in[2],
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Apply = %+v\nwant %+v", got, want)
	}
}

func TestOrdinal(t *testing.T) {
	for n, want := range map[int]string{1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 12: "12th", 13: "13th", 21: "21st", 102: "102nd", 111: "111th"} {
		if got := ordinal(n); got != want {
			t.Errorf("ordinal(%d) = %s, want %s", n, got, want)
		}
	}
}
