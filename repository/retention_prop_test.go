package repository

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/depot-backup/depot/schedules"
)

// zones the random policies use: no DST, two opposite DSTs, a half-hour
// offset.
var propZones = []string{"UTC", "Europe/Berlin", "Pacific/Auckland", "Asia/Kolkata"}

// randomPolicy returns a policy of up to three rules whose calendars are
// loose enough to match some days of a few months' history.
func randomPolicy(t testing.TB, rng *rand.Rand) Policy {
	p := Policy{MaxRecent: 1 + rng.IntN(8), Location: mustLoad(t, propZones[rng.IntN(len(propZones))])}
	for r := range rng.IntN(4) {
		var c schedules.Calendar
		for range rng.IntN(3) {
			days := []schedules.Day{1, 2, 15, 28, 29, 30, 31, schedules.LastDay}
			c.Days = append(c.Days, days[rng.IntN(len(days))])
		}
		if rng.IntN(3) == 0 {
			c.Months = append(c.Months, time.Month(1+rng.IntN(12)), time.Month(1+rng.IntN(12)))
		}
		for range rng.IntN(2) {
			nths := []int{0, 1, 2, 5, -1}
			c.Weekdays = append(c.Weekdays, schedules.Weekday{Day: time.Weekday(rng.IntN(7)), Nth: nths[rng.IntN(len(nths))]})
		}
		p.Rules = append(p.Rules, Rule{Name: fmt.Sprintf("r%d", r), Calendar: c, Keep: rng.IntN(5)})
	}
	return p
}

// randomTimes returns n increasing times: runs minutes, hours or days apart.
func randomTimes(rng *rand.Rand, n int) []time.Time {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(365*24)) * time.Hour)
	out := make([]time.Time, n)
	for i := range out {
		switch rng.IntN(4) {
		case 0:
			at = at.Add(time.Duration(1+rng.IntN(180)) * time.Minute)
		case 1:
			at = at.Add(time.Duration(1+rng.IntN(12)) * time.Hour)
		case 2:
			at = at.Add(24 * time.Hour)
		default:
			at = at.Add(time.Duration(1+rng.IntN(6*24)) * time.Hour)
		}
		out[i] = at
	}
	return out
}

func matchesAny(p Policy, s Snapshot) []int {
	d := dateOf(s, p.Location)
	var out []int
	for i, r := range p.Rules {
		if r.Calendar.Matches(d.year, d.month, d.day) {
			out = append(out, i)
		}
	}
	return out
}

// checkDecisions checks what must hold of any one call of Decide, and
// returns the snapshots after carrying its decisions out.
func checkDecisions(t *testing.T, in []Snapshot, p Policy, ds []Decision, seen tally) []Snapshot {
	t.Helper()
	if len(ds) != len(in) {
		t.Fatalf("%d decisions for %d snapshots", len(ds), len(in))
	}
	newest := ""
	permanentDays := map[date]bool{}
	firstOfDay := map[date]string{} // earliest complete holding stamp
	for _, s := range in {
		if !s.Complete {
			continue
		}
		newest = max(newest, s.Stamp)
		d := dateOf(s, p.Location)
		if s.Section == Permanent {
			permanentDays[d] = true
		} else if f, ok := firstOfDay[d]; !ok || s.Stamp < f {
			firstOfDay[d] = s.Stamp
		}
	}
	migratedDays := map[date]bool{}
	for i, d := range ds {
		s := d.Snapshot
		if i > 0 && ds[i-1].Snapshot.Stamp <= s.Stamp {
			t.Fatalf("decisions not newest first at %s", s.Stamp)
		}
		if d.Reason == "" {
			t.Fatalf("%s %s/%s without a reason", d.Action, s.Section, s.Stamp)
		}
		seen.count(d)
		if d.Action == Keep {
			continue
		}
		if !s.Complete {
			t.Fatalf("%s of an incomplete snapshot %s: %s", d.Action, s.Stamp, d.Reason)
		}
		switch {
		case d.Action == Delete && s.Stamp == newest:
			t.Fatalf("the newest complete snapshot %s/%s is deleted: %s", s.Section, s.Stamp, d.Reason)
		case d.Action == Delete && s.Section == Permanent:
			rules := matchesAny(p, s)
			if len(rules) == 0 {
				t.Fatalf("deleted permanent %s that no rule matches", s.Stamp)
			}
			for _, r := range rules {
				if p.Rules[r].Keep == 0 {
					t.Fatalf("deleted permanent %s that rule %s keeps forever", s.Stamp, p.Rules[r].Name)
				}
			}
		case d.Action == Migrate:
			day := dateOf(s, p.Location)
			switch {
			case s.Section != Holding:
				t.Fatalf("migrates %s from %s", s.Stamp, s.Section)
			case len(matchesAny(p, s)) == 0:
				t.Fatalf("migrates %s of %s, a day no rule matches", s.Stamp, day)
			case permanentDays[day]:
				t.Fatalf("migrates %s though %s is already in permanent", s.Stamp, day)
			case firstOfDay[day] != s.Stamp:
				t.Fatalf("migrates %s, not %s's first snapshot %s", s.Stamp, day, firstOfDay[day])
			case migratedDays[day]:
				t.Fatalf("migrates two snapshots of %s", day)
			}
			migratedDays[day] = true
		}
	}
	after := Apply(in, ds)
	holding := 0
	for _, s := range after {
		if s.Complete && s.Section == Holding {
			holding++
		}
	}
	if holding > p.MaxRecent {
		t.Fatalf("%d complete snapshots left in holding, max_recent_backups %d", holding, p.MaxRecent)
	}
	for _, d := range Decide(after, p) {
		if d.Action != Keep {
			t.Fatalf("deciding again: %s %s/%s: %s", d.Action, d.Snapshot.Section, d.Snapshot.Stamp, d.Reason)
		}
	}
	return after
}

// tally counts the decisions a random test made, to show that it made
// every kind often enough to mean something.
type tally map[string]int

func (t tally) count(d Decision) {
	if d.Action != Keep || d.Snapshot.Section == Permanent {
		t[string(d.Action)+" "+d.Snapshot.Section]++
	}
}

func (t tally) check(tb testing.TB, atLeast int) {
	tb.Helper()
	for _, k := range []string{"migrate holding", "delete holding", "delete permanent", "keep permanent"} {
		if t[k] < atLeast {
			tb.Errorf("only %d decisions %q: the random cases are too tame (%v)", t[k], k, t)
		}
	}
}

// TestDecideRandomHistories checks every invariant of one Decide call over
// thousands of random histories (both sections, incomplete snapshots, any
// order) and policies.
func TestDecideRandomHistories(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 2026))
	seen := tally{}
	defer func() {
		if !t.Failed() {
			seen.check(t, 500)
		}
	}()
	for run := range 5000 {
		p := randomPolicy(t, rng)
		var in []Snapshot
		for _, at := range randomTimes(rng, rng.IntN(60)) {
			s := Snapshot{Section: Holding, Set: "web", Stamp: Stamp(at), Complete: true}
			switch rng.IntN(10) {
			case 0:
				s.Complete = false
			case 1, 2:
				s.Section = Permanent
			}
			in = append(in, s)
		}
		in = withRecords(in, p)
		rng.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
		t.Run(fmt.Sprint(run), func(t *testing.T) {
			checkDecisions(t, in, p, Decide(in, p), seen)
		})
		if t.Failed() {
			return
		}
	}
}

// TestDecideRandomRuns simulates runs, each followed by the engine, and
// checks that every matching day migrated exactly one snapshot, its first
// complete one, and that permanent ends up holding exactly what the rules
// say: for each rule, the first snapshots of its newest Keep matching days.
func TestDecideRandomRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 7))
	seen := tally{}
	defer func() {
		if !t.Failed() {
			seen.check(t, 500)
		}
	}()
	for run := range 600 {
		p := randomPolicy(t, rng)
		times := randomTimes(rng, 20+rng.IntN(150))
		t.Run(fmt.Sprint(run), func(t *testing.T) {
			var snaps []Snapshot
			migrations := map[date][]string{}
			firstOfDay := map[date]string{}
			for _, at := range times {
				s := Snapshot{Section: Holding, Set: "web", Stamp: Stamp(at), Complete: rng.IntN(20) > 0}
				if d := dateOf(s, p.Location); s.Complete && firstOfDay[d] == "" {
					firstOfDay[d] = s.Stamp
				}
				snaps = append(snaps, s)
				ds := Decide(snaps, p)
				for _, d := range ds {
					if d.Action == Migrate {
						day := dateOf(d.Snapshot, p.Location)
						migrations[day] = append(migrations[day], d.Snapshot.Stamp)
					}
				}
				snaps = checkDecisions(t, snaps, p, ds, seen)
			}
			want := map[string]bool{}
			for _, rule := range p.Rules {
				var days []date
				for d := range firstOfDay {
					if rule.Calendar.Matches(d.year, d.month, d.day) {
						days = append(days, d)
					}
				}
				sort.Slice(days, func(i, j int) bool { return firstOfDay[days[i]] > firstOfDay[days[j]] })
				for i, d := range days {
					if rule.Keep == 0 || i < rule.Keep {
						want[firstOfDay[d]] = true
					}
				}
			}
			for d, first := range firstOfDay {
				matched := len(matchesAny(p, Snapshot{Stamp: first})) > 0
				switch got := migrations[d]; {
				case matched && (len(got) != 1 || got[0] != first):
					t.Fatalf("%s matches a rule: migrated %v, want its first snapshot %s", d, got, first)
				case !matched && len(got) > 0:
					t.Fatalf("%s matches no rule, yet %v migrated", d, got)
				}
			}
			for _, s := range snaps {
				if s.Section == Permanent && !want[s.Stamp] {
					t.Errorf("permanent holds %s, which no rule wants", s.Stamp)
				}
				delete(want, s.Stamp)
			}
			if len(want) > 0 {
				t.Fatalf("permanent lacks %v", want)
			}
		})
		if t.Failed() {
			return
		}
	}
}
