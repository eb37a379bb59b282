package repository

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// date is a calendar day in the policy's time zone.
type date struct {
	year  int
	month time.Month
	day   int
}

func dateOf(s Snapshot, loc *time.Location) date {
	y, m, d := s.Time().In(loc).Date()
	return date{y, m, d}
}

func (d date) String() string {
	return time.Date(d.year, d.month, d.day, 12, 0, 0, 0, time.UTC).Format("Mon 2006-01-02")
}

// iso writes the day as a record holds it: 2026-01-01.
func (d date) iso() string {
	return time.Date(d.year, d.month, d.day, 12, 0, 0, 0, time.UTC).Format(time.DateOnly)
}

// decidePermanent sets the decisions (newest first, all Keep so far) that the
// permanent rules make:
//
//   - A holding snapshot's day is its calendar day in the policy's time
//     zone, and the rules that match it are those whose calendar matches
//     that day. A permanent snapshot's day and rules are those recorded when
//     it migrated (see Record), whatever the zone or the rules say now: a
//     change of TZ or timezone never re-judges it, a rule added later never
//     matches it, and a recorded rule that is no longer configured keeps it
//     until it is forgotten by hand (depot forget).
//   - The candidates are the complete snapshots in permanent that a
//     configured rule matches, and for each matching day without a complete
//     snapshot in permanent, the first (earliest) complete snapshot of that
//     day in holding.
//   - Each rule wants the newest Keep candidates that it matches (all of them
//     when Keep is 0).
//   - A holding candidate that some rule wants migrates, with a record of its
//     day and matching rules. One that no rule wants stays in holding, where
//     holding's retention decides its fate.
//   - A permanent snapshot is deleted only when it has a record, every rule
//     in it is still configured, and none of them wants it any more. One
//     without a record (made by an older depot, or put there by hand) is
//     never deleted: its rules, computed now, would be a guess.
//
// Counting candidates rather than only permanent snapshots makes a rule's
// choice the same before and after the migrations it causes, so deciding
// again after carrying the decisions out changes nothing; and a day whose
// permanent snapshot a rule has let go does not migrate another.
func decidePermanent(ds []Decision, p Policy) {
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	days := make([]date, len(ds))
	matching := make([][]int, len(ds)) // the configured rules that match each snapshot
	gone := make([][]string, len(ds))  // recorded rules no longer configured
	recorded := make([]bool, len(ds))
	inPermanent := map[date]bool{}
	firstInHolding := map[date]int{}
	for i := len(ds) - 1; i >= 0; i-- { // oldest first
		s := ds[i].Snapshot
		if !s.Complete {
			continue
		}
		if day, ok := recordedDay(s); ok {
			days[i], recorded[i] = day, true
			for _, name := range s.Record.Rules {
				if r := slices.IndexFunc(p.Rules, func(r Rule) bool { return r.Name == name }); r >= 0 {
					matching[i] = append(matching[i], r)
				} else {
					gone[i] = append(gone[i], name)
				}
			}
			slices.Sort(matching[i])
		} else {
			days[i] = dateOf(s, loc)
			for r, rule := range p.Rules {
				if rule.Calendar.Matches(days[i].year, days[i].month, days[i].day) {
					matching[i] = append(matching[i], r)
				}
			}
		}
		switch _, seen := firstInHolding[days[i]]; {
		case s.Section == Permanent:
			inPermanent[days[i]] = true
		case !seen:
			firstInHolding[days[i]] = i
		}
	}
	candidate := func(i int) bool {
		s := ds[i].Snapshot
		if !s.Complete || len(matching[i]) == 0 {
			return false
		}
		return s.Section == Permanent || !inPermanent[days[i]] && firstInHolding[days[i]] == i
	}
	// For each candidate, what each rule that matches it says.
	wants := make([][]string, len(ds))
	refusals := make([][]string, len(ds))
	for r, rule := range p.Rules {
		n := 0
		for i := range ds {
			if !candidate(i) || !slices.Contains(matching[i], r) {
				continue
			}
			n++
			switch {
			case rule.Keep == 0:
				wants[i] = append(wants[i], fmt.Sprintf("matches rule %s: %s, kept forever (keep 0)", rule.Name, rule.Calendar))
			case n <= rule.Keep:
				wants[i] = append(wants[i], fmt.Sprintf("matches rule %s: %s, %s of the newest %d kept", rule.Name, rule.Calendar, ordinal(n), rule.Keep))
			default:
				refusals[i] = append(refusals[i], fmt.Sprintf("rule %s keeps the newest %d; this is the %s", rule.Name, rule.Keep, ordinal(n)))
			}
		}
	}
	for i := range ds {
		d := &ds[i]
		s := d.Snapshot
		forget := fmt.Sprintf("depot forget %s@%s deletes it", s.Set, s.Stamp)
		switch {
		case !s.Complete:
		case s.Section == Permanent && len(gone[i]) > 0:
			reasons := append(wants[i], fmt.Sprintf("kept by %s no longer configured: %s", ruleWords(gone[i]), forget))
			d.Reason = strings.Join(reasons, "; ")
		case s.Section == Permanent && len(matching[i]) == 0 && recorded[i]:
			d.Reason = "in permanent, its record names no rule: kept; " + forget
		case s.Section == Permanent && len(matching[i]) == 0:
			d.Reason = "in permanent, matches no permanent rule: kept; " + forget
		case s.Section == Permanent && len(wants[i]) > 0:
			d.Reason = strings.Join(wants[i], "; ")
		case s.Section == Permanent && !recorded[i]:
			d.Reason = strings.Join(refusals[i], "; ") + ", but it has no record of the rules it migrated under (made by an older depot): kept; " + forget
		case s.Section == Permanent:
			d.Action = Delete
			d.Reason = strings.Join(refusals[i], "; ")
		case candidate(i) && len(wants[i]) > 0:
			d.Action = Migrate
			d.Reason = fmt.Sprintf("first snapshot of %s in %s; %s", days[i], zoneName(loc), strings.Join(wants[i], "; "))
			rec := &Record{Format: RecordFormat, Day: days[i].iso(), Zone: zoneName(loc)}
			for _, r := range matching[i] {
				rec.Rules = append(rec.Rules, p.Rules[r].Name)
			}
			d.Record = rec
		}
	}
}

// recordedDay returns the day a permanent snapshot's record names.
func recordedDay(s Snapshot) (date, bool) {
	if s.Section != Permanent || s.Record == nil {
		return date{}, false
	}
	return s.Record.date()
}

// ruleWords names rules: "rule monthly", "rules monthly, weekly".
func ruleWords(names []string) string {
	if len(names) == 1 {
		return "rule " + names[0]
	}
	return "rules " + strings.Join(names, ", ")
}

// zoneName names a time zone in reasons and records.
func zoneName(loc *time.Location) string {
	if loc == time.Local {
		return "local time"
	}
	return loc.String()
}
