package schedules

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		parse func(string) (any, error)
		in    string
		want  any    // when ok
		err   string // a part of the error otherwise
	}{
		{"day 1", day, "1", Day(1), ""},
		{"day 31", day, "31", Day(31), ""},
		{"day last", day, "last", LastDay, ""},
		{"day LAST", day, " LAST ", LastDay, ""},
		{"day 0", day, "0", nil, "0 is not a day of the month"},
		{"day 32", day, "32", nil, "32 is not a day of the month"},
		{"day word", day, "first", nil, `"first" is not a day of the month`},
		{"month number", month, "12", time.December, ""},
		{"month short", month, "jan", time.January, ""},
		{"month long", month, "September", time.September, ""},
		{"month 13", month, "13", nil, "13 is not a month"},
		{"month 0", month, "0", nil, "0 is not a month"},
		{"month typo", month, "janu", nil, `"janu" is not a month`},
		{"weekday", weekday, "sunday", Weekday{Day: time.Sunday}, ""},
		{"weekday short", weekday, "Fri", Weekday{Day: time.Friday}, ""},
		{"first sunday", weekday, "first sunday", Weekday{Day: time.Sunday, Nth: 1}, ""},
		{"2nd monday", weekday, "2nd Monday", Weekday{Day: time.Monday, Nth: 2}, ""},
		{"fifth", weekday, "fifth sat", Weekday{Day: time.Saturday, Nth: 5}, ""},
		{"last friday", weekday, "last  friday", Weekday{Day: time.Friday, Nth: -1}, ""},
		{"sixth", weekday, "sixth sunday", nil, `"sixth" is not an ordinal`},
		{"not a weekday", weekday, "funday", nil, `"funday" is not a weekday`},
		{"three words", weekday, "the first sunday", nil, "want a weekday"},
		{"empty", weekday, "", nil, "want a weekday"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("parse(%q) = %v, %v; want error %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func day(s string) (any, error)     { return ParseDay(s) }
func month(s string) (any, error)   { return ParseMonth(s) }
func weekday(s string) (any, error) { return ParseWeekday(s) }

// matchingDays lists the days of a year the calendar matches, as "01-31".
func matchingDays(c Calendar, year int) []string {
	var out []string
	for d := time.Date(year, 1, 1, 12, 0, 0, 0, time.UTC); d.Year() == year; d = d.AddDate(0, 0, 1) {
		if c.Matches(d.Year(), d.Month(), d.Day()) {
			out = append(out, d.Format("01-02"))
		}
	}
	return out
}

func TestMatches(t *testing.T) {
	tests := []struct {
		name string
		cal  Calendar
		year int
		want string // the matching days of the year, comma-separated
	}{
		{"day 1", Calendar{Days: []Day{1}}, 2026, "01-01,02-01,03-01,04-01,05-01,06-01,07-01,08-01,09-01,10-01,11-01,12-01"},
		{"Jan 1", Calendar{Days: []Day{1}, Months: []time.Month{time.January}}, 2026, "01-01"},
		{"day 31 only in long months", Calendar{Days: []Day{31}}, 2026, "01-31,03-31,05-31,07-31,08-31,10-31,12-31"},
		{"last day", Calendar{Days: []Day{LastDay}}, 2026, "01-31,02-28,03-31,04-30,05-31,06-30,07-31,08-31,09-30,10-31,11-30,12-31"},
		{"last day of Feb in a leap year", Calendar{Days: []Day{LastDay}, Months: []time.Month{time.February}}, 2028, "02-29"},
		{"Feb 29 in a common year", Calendar{Days: []Day{29}, Months: []time.Month{time.February}}, 2026, ""},
		{"first sunday", Calendar{Weekdays: []Weekday{{time.Sunday, 1}}}, 2026, "01-04,02-01,03-01,04-05,05-03,06-07,07-05,08-02,09-06,10-04,11-01,12-06"},
		{"last friday", Calendar{Weekdays: []Weekday{{time.Friday, -1}}, Months: []time.Month{time.February, time.July}}, 2026, "02-27,07-31"},
		{"fifth saturday", Calendar{Weekdays: []Weekday{{time.Saturday, 5}}}, 2026, "01-31,05-30,08-29,10-31"},
		{"2nd monday in march", Calendar{Weekdays: []Weekday{{time.Monday, 2}}, Months: []time.Month{time.March}}, 2026, "03-09"},
		{"every sunday of jan", Calendar{Weekdays: []Weekday{{time.Sunday, 0}}, Months: []time.Month{time.January}}, 2026, "01-04,01-11,01-18,01-25"},
		{"day 1 that is a sunday", Calendar{Days: []Day{1}, Weekdays: []Weekday{{time.Sunday, 0}}}, 2026, "02-01,03-01,11-01"},
		{"quarterly", Calendar{Days: []Day{1}, Months: []time.Month{1, 4, 7, 10}}, 2026, "01-01,04-01,07-01,10-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Join(matchingDays(tt.cal, tt.year), ","); got != tt.want {
				t.Errorf("matches %s\nwant    %s", got, tt.want)
			}
		})
	}
	if n := len(matchingDays(Calendar{}, 2028)); n != 366 {
		t.Errorf("the empty calendar matches %d days of 2028, want 366", n)
	}
}

func TestString(t *testing.T) {
	tests := []struct {
		name string
		cal  Calendar
		want string
	}{
		{"every day", Calendar{}, "every day"},
		{"day 1", Calendar{Days: []Day{1}}, "day 1"},
		{"Jan 1", Calendar{Days: []Day{1}, Months: []time.Month{time.January}}, "Jan 1"},
		{"last of Feb", Calendar{Days: []Day{LastDay}, Months: []time.Month{time.February}}, "last day of Feb"},
		{"last day", Calendar{Days: []Day{LastDay}}, "last day"},
		{"days", Calendar{Days: []Day{1, 15, LastDay}}, "days 1, 15, last"},
		{"first sunday", Calendar{Weekdays: []Weekday{{time.Sunday, 1}}}, "first Sunday"},
		{"weekend in jan and jul", Calendar{Weekdays: []Weekday{{time.Saturday, 0}, {time.Sunday, 0}}, Months: []time.Month{1, 7}}, "Saturday, Sunday, in Jan, Jul"},
		{"days in months", Calendar{Days: []Day{1, 15}, Months: []time.Month{3}}, "days 1, 15, in Mar"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cal.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}
