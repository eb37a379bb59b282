package repository

import (
	"fmt"
	"path/filepath"
	"sort"
	"time"
)

// Action is what a retention decision does with a snapshot.
type Action string

// Actions a retention decision can take.
const (
	Keep    Action = "keep"
	Migrate Action = "migrate" // from holding into permanent, by rename
	Delete  Action = "delete"
)

// Policy is what the config says about how long snapshots stay.
type Policy struct {
	MaxRecent int    // complete snapshots kept in holding, newest first; at least 1
	Rules     []Rule // the permanent section's rules, in config order
	// Location is the time zone whose calendar days the rules match; nil
	// means UTC.
	Location *time.Location
	// MaxDelete bounds the deletions of one prune beyond the normal
	// roll-over (see CheckGuard); nil for DefaultMaxDelete.
	MaxDelete *int
}

// Rule is a permanent rule: the first complete snapshot of each calendar day
// it matches migrates into permanent, where the rule keeps the newest Keep
// of the snapshots it matches.
type Rule struct {
	Name     string
	Calendar Calendar
	Keep     int // 0 keeps every match
}

// Calendar is a set of calendar days (see schedules.Calendar).
type Calendar interface {
	// Matches reports whether the calendar day year-month-day is in the set.
	Matches(year int, month time.Month, day int) bool
	// String describes the days for people: "day 1", "first Sunday".
	String() string
}

// Decision is the fate of one snapshot and why.
type Decision struct {
	Snapshot Snapshot
	Action   Action // Keep, Migrate or Delete
	Reason   string
	// Record is what a migration writes into the snapshot: its day and
	// the rules that matched it.
	Record *Record
	// RollOver marks the deletion of the one holding snapshot that a new
	// one pushes out: the normal daily deletion, not counted by the guard
	// against mass deletion.
	RollOver bool
}

// Decide returns a decision for each of a set's snapshots (given in any
// order), newest first. It does no I/O: everything that migrates, prunes or
// explains calls it. Carrying out its decisions (migrations first, then
// deletions) and deciding again keeps everything.
//
// Incomplete snapshots are never migrated, deleted or counted. The newest
// complete snapshot is never deleted. In holding, the newest MaxRecent
// complete snapshots that do not migrate are kept. For the permanent section,
// see decidePermanent. The decisions depend only on the snapshots and the
// policy, not on the time they are made.
func Decide(snaps []Snapshot, p Policy) []Decision {
	sorted := append([]Snapshot(nil), snaps...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Stamp > sorted[j].Stamp })
	out := make([]Decision, len(sorted))
	for i, s := range sorted {
		out[i] = Decision{Snapshot: s, Action: Keep}
	}
	decidePermanent(out, p)
	rank := 0
	newestComplete := true
	for i := range out {
		d := &out[i]
		s := d.Snapshot
		switch {
		case !s.Complete:
			d.Reason = "incomplete (no manifest): kept for inspection, never a base"
			continue
		case s.Section == Holding && d.Action != Migrate:
			rank++
			switch {
			case newestComplete:
				d.Reason = "newest complete snapshot"
			case rank <= p.MaxRecent:
				d.Reason = fmt.Sprintf("%s newest in holding, within max_recent_backups %d", ordinal(rank), p.MaxRecent)
			default:
				d.Action = Delete
				d.RollOver = rank == p.MaxRecent+1
				d.Reason = fmt.Sprintf("%s newest in holding, beyond max_recent_backups %d", ordinal(rank), p.MaxRecent)
			}
		case newestComplete && d.Action == Delete:
			// Unreachable while rules keep their newest match; the
			// newest complete snapshot is the base of the next run.
			d.Action = Keep
			d.Reason = "newest complete snapshot"
		}
		newestComplete = false
	}
	protectGoodCopies(out)
	return out
}

// Apply returns the snapshots that remain once the decisions are carried out,
// oldest first like Repo.Snapshots: migrated ones in permanent, deleted ones
// gone.
func Apply(snaps []Snapshot, ds []Decision) []Snapshot {
	fate := map[string]Decision{}
	for _, d := range ds {
		fate[d.Snapshot.Section+"/"+d.Snapshot.Stamp] = d
	}
	var out []Snapshot
	for _, s := range snaps {
		d, ok := fate[s.Section+"/"+s.Stamp]
		switch {
		case !ok || d.Action == Keep:
		case d.Action == Delete:
			continue
		case d.Action == Migrate:
			s = s.migrated()
			s.Record = d.Record
		}
		out = append(out, s)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Stamp < out[j].Stamp })
	return out
}

// migrated is s as it is once moved into permanent.
func (s Snapshot) migrated() Snapshot {
	s.Section = Permanent
	if s.Path != "" {
		root := filepath.Dir(filepath.Dir(filepath.Dir(s.Path)))
		s.Path = filepath.Join(root, Permanent, s.Set, s.Stamp)
	}
	return s
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
