package repository

import (
	"fmt"
	"sort"
)

// Actions a retention decision can take.
const (
	Keep   = "keep"
	Delete = "delete"
)

// Policy is what the config says about how long snapshots stay.
type Policy struct {
	MaxRecent int // complete snapshots kept in holding, newest first; at least 1
}

// Decision is the fate of one snapshot and why.
type Decision struct {
	Snapshot Snapshot
	Action   string // Keep or Delete
	Reason   string
}

// Decide returns a decision for each of a set's snapshots (any order), newest
// first. It does no I/O: everything that prunes or explains calls it. The newest
// complete snapshot is always kept; incomplete snapshots are kept for a person
// to inspect and never counted.
func Decide(snaps []Snapshot, p Policy) []Decision {
	sorted := append([]Snapshot(nil), snaps...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Stamp > sorted[j].Stamp })
	out := make([]Decision, 0, len(sorted))
	rank := 0
	newestComplete := true
	for _, s := range sorted {
		d := Decision{Snapshot: s, Action: Keep}
		switch {
		case !s.Complete:
			d.Reason = "incomplete (no manifest): kept for inspection, never a base"
		case s.Section == Permanent:
			d.Reason = "in permanent"
			newestComplete = false
		default:
			rank++
			switch {
			case newestComplete:
				d.Reason = "newest complete snapshot"
			case rank <= p.MaxRecent:
				d.Reason = fmt.Sprintf("%s newest in holding, within max_recent_backups %d", ordinal(rank), p.MaxRecent)
			default:
				d.Action = Delete
				d.Reason = fmt.Sprintf("%s newest in holding, beyond max_recent_backups %d", ordinal(rank), p.MaxRecent)
			}
			newestComplete = false
		}
		out = append(out, d)
	}
	return out
}

// ordinal writes 1 as "1st", 2 as "2nd", 11 as "11th".
func ordinal(n int) string {
	suffix := "th"
	if n%100 < 11 || n%100 > 13 {
		switch n % 10 {
		case 1:
			suffix = "st"
		case 2:
			suffix = "nd"
		case 3:
			suffix = "rd"
		}
	}
	return fmt.Sprintf("%d%s", n, suffix)
}
