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

// decidePermanent sets the decisions (newest first, all Keep so far) that the
// permanent rules make:
//
//   - A day matches when at least one rule's calendar matches it, as a
//     calendar day in the policy's time zone.
//   - The candidates are the complete snapshots in permanent, and for each
//     matching day without a complete snapshot in permanent, the first
//     (earliest) complete snapshot of that day in holding.
//   - Each rule wants the newest Keep candidates that it matches (all of them
//     when Keep is 0).
//   - A holding candidate that some rule wants migrates. One that no rule
//     wants stays in holding, where holding's retention decides its fate.
//   - A permanent snapshot that some rule wants is kept. One that rules match
//     but none wants is deleted. One that no rule matches (the rules changed,
//     or it was put there by hand) is kept: depot deletes from permanent only
//     what a rule has stopped wanting.
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
	if len(p.Rules) == 0 {
		for i := range ds {
			if s := ds[i].Snapshot; s.Complete && s.Section == Permanent {
				ds[i].Reason = "in permanent, and no permanent rules: kept until deleted by hand"
			}
		}
		return
	}
	days := make([]date, len(ds))
	matching := make([][]int, len(ds)) // the rules that match each snapshot's day
	inPermanent := map[date]bool{}
	firstInHolding := map[date]int{}
	for i := len(ds) - 1; i >= 0; i-- { // oldest first
		s := ds[i].Snapshot
		if !s.Complete {
			continue
		}
		days[i] = dateOf(s, loc)
		for r, rule := range p.Rules {
			if rule.Calendar.Matches(days[i].year, days[i].month, days[i].day) {
				matching[i] = append(matching[i], r)
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
		switch {
		case !s.Complete:
		case s.Section == Permanent && len(matching[i]) == 0:
			d.Reason = "in permanent, matches no permanent rule: kept until deleted by hand"
		case s.Section == Permanent && len(wants[i]) > 0:
			d.Reason = strings.Join(wants[i], "; ")
		case s.Section == Permanent:
			d.Action = Delete
			d.Reason = strings.Join(refusals[i], "; ")
		case candidate(i) && len(wants[i]) > 0:
			d.Action = Migrate
			d.Reason = fmt.Sprintf("first snapshot of %s in %s; %s", days[i], zoneName(loc), strings.Join(wants[i], "; "))
		}
	}
}

// zoneName names a time zone in reasons.
func zoneName(loc *time.Location) string {
	if loc == time.Local {
		return "local time"
	}
	return loc.String()
}
