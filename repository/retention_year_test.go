package repository

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRetentionCalendarWalk runs the engine after every run of a long series
// of runs on a fixed clock and checks the exact permanent section it leaves,
// and that holding ends with the newest max_recent_backups snapshots.
func TestRetentionCalendarWalk(t *testing.T) {
	monthly := rule(t, "monthly", 12, []string{"1"}, nil, nil)
	yearly := rule(t, "yearly", 0, []string{"1"}, []string{"jan"}, nil)
	tests := []struct {
		name  string
		zone  string
		first string // UTC time of the first run
		every time.Duration
		runs  int
		rules []Rule
		want  []string // the permanent stamps, oldest first
	}{
		{
			name: "daily for 400 days: 12 monthlies and the yearlies", zone: "Europe/Berlin",
			first: "2026-01-01 02:00", every: 24 * time.Hour, runs: 400, rules: []Rule{monthly, yearly},
			want: []string{
				"2026-01-01T020000Z", // yearly; as a monthly it is the 14th
				"2026-03-01T020000Z", "2026-04-01T020000Z", "2026-05-01T020000Z", "2026-06-01T020000Z",
				"2026-07-01T020000Z", "2026-08-01T020000Z", "2026-09-01T020000Z", "2026-10-01T020000Z",
				"2026-11-01T020000Z", "2026-12-01T020000Z", "2027-01-01T020000Z", "2027-02-01T020000Z",
			},
		},
		{
			// Midnight in Berlin is 23:00 UTC in winter and 22:00 UTC in
			// summer (CEST from March 29 to October 25, 2026).
			name: "hourly for 400 days: the midnight run of each 1st", zone: "Europe/Berlin",
			first: "2025-12-31 23:00", every: time.Hour, runs: 400 * 24, rules: []Rule{monthly, yearly},
			want: []string{
				"2025-12-31T230000Z",
				"2026-02-28T230000Z", "2026-03-31T220000Z", "2026-04-30T220000Z", "2026-05-31T220000Z",
				"2026-06-30T220000Z", "2026-07-31T220000Z", "2026-08-31T220000Z", "2026-09-30T220000Z",
				"2026-10-31T230000Z", "2026-11-30T230000Z", "2026-12-31T230000Z", "2027-01-31T230000Z",
			},
		},
		{
			name: "daily at 23:30 UTC is the next day in Berlin", zone: "Europe/Berlin",
			first: "2025-12-31 23:30", every: 24 * time.Hour, runs: 120,
			rules: []Rule{rule(t, "first-sunday", 3, nil, nil, []string{"first sunday"})},
			// First Sundays of 2026: Jan 4, Feb 1, Mar 1, Apr 5.
			want: []string{"2026-01-31T233000Z", "2026-02-28T233000Z", "2026-04-04T233000Z"},
		},
		{
			name: "daily at 23:30 UTC in UTC", zone: "UTC",
			first: "2025-12-31 23:30", every: 24 * time.Hour, runs: 120,
			rules: []Rule{rule(t, "first-sunday", 3, nil, nil, []string{"first sunday"})},
			want:  []string{"2026-02-01T233000Z", "2026-03-01T233000Z", "2026-04-05T233000Z"},
		},
		{
			name: "last day of February, common and leap years", zone: "UTC",
			first: "2027-01-01 02:00", every: 24 * time.Hour, runs: 3 * 366,
			rules: []Rule{rule(t, "end-of-feb", 0, []string{"last"}, []string{"feb"}, nil)},
			want:  []string{"2027-02-28T020000Z", "2028-02-29T020000Z", "2029-02-28T020000Z"},
		},
		{
			// March 29, 2026 has 23 hours in Berlin, October 25 has 25:
			// the first run of each day is still the one at local midnight.
			name: "hourly across both DST changes", zone: "Europe/Berlin",
			first: "2026-03-27 00:00", every: time.Hour, runs: 215 * 24,
			rules: []Rule{
				rule(t, "last-sunday", 0, nil, []string{"mar", "oct"}, []string{"last sunday"}),
				rule(t, "day-after", 0, []string{"30", "26"}, []string{"3", "10"}, nil),
			},
			want: []string{"2026-03-28T230000Z", "2026-03-29T220000Z", "2026-10-24T220000Z", "2026-10-25T230000Z"},
		},
		{
			name: "every run of a day matches; one migrates", zone: "Asia/Kolkata",
			first: "2026-06-01 00:00", every: 20 * time.Minute, runs: 3 * 72,
			rules: []Rule{rule(t, "daily", 5, nil, nil, nil)},
			// Midnight in Kolkata is 18:30 UTC the day before; the first
			// run after it is at 18:40.
			want: []string{"2026-06-01T000000Z", "2026-06-01T184000Z", "2026-06-02T184000Z", "2026-06-03T184000Z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Policy{MaxRecent: 10, Rules: tt.rules, Location: mustLoad(t, tt.zone)}
			first, err := time.Parse("2006-01-02 15:04", tt.first)
			if err != nil {
				t.Fatal(err)
			}
			var snaps []Snapshot
			var stamps []string
			for i := range tt.runs {
				s := Snapshot{Section: Holding, Set: "web", Stamp: Stamp(first.Add(time.Duration(i) * tt.every)), Complete: true}
				stamps = append(stamps, s.Stamp)
				snaps = Apply(append(snaps, s), Decide(append(snaps, s), p))
			}
			var permanent, holding []string
			for _, s := range snaps {
				if s.Section == Permanent {
					permanent = append(permanent, s.Stamp)
				} else {
					holding = append(holding, s.Stamp)
				}
			}
			if !slices.Equal(permanent, tt.want) {
				t.Errorf("permanent:\n%s\nwant:\n%s", strings.Join(permanent, "\n"), strings.Join(tt.want, "\n"))
			}
			// Holding keeps the newest 10 of the runs that did not migrate.
			var want []string
			for _, s := range stamps {
				if !slices.Contains(permanent, s) {
					want = append(want, s)
				}
			}
			want = want[max(0, len(want)-10):]
			if !slices.Equal(holding, want) {
				t.Errorf("holding %v, want %v", holding, want)
			}
		})
	}
}
