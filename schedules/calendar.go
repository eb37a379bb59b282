// Package schedules holds depot's calendars: the calendar rules that pick
// which snapshots migrate into the permanent section.
package schedules

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Calendar is a set of calendar days: those whose day of the month, month and
// weekday each match one of the listed values. A field left empty matches any
// day, so the zero Calendar matches every day.
type Calendar struct {
	Days     []Day
	Months   []time.Month
	Weekdays []Weekday
}

// Day is a day of the month, 1 to 31, or LastDay.
type Day int

// LastDay is the last day of any month: the 28th, 29th, 30th or 31st.
const LastDay Day = -1

// Weekday is a day of the week, or only its Nth occurrence in a month.
type Weekday struct {
	Day time.Weekday
	// Nth is 0 for every such weekday, 1 to 5 for the first to fifth in the
	// month, or -1 for the last in the month.
	Nth int
}

// Matches reports whether the calendar day year-month-day is in the
// calendar. Weekdays are those of the Gregorian calendar.
func (c Calendar) Matches(year int, month time.Month, day int) bool {
	last := daysIn(year, month)
	if len(c.Days) > 0 && !matchAny(c.Days, func(d Day) bool { return int(d) == day || d == LastDay && day == last }) {
		return false
	}
	if len(c.Months) > 0 && !matchAny(c.Months, func(m time.Month) bool { return m == month }) {
		return false
	}
	wd := time.Date(year, month, day, 12, 0, 0, 0, time.UTC).Weekday()
	return len(c.Weekdays) == 0 || matchAny(c.Weekdays, func(w Weekday) bool {
		switch {
		case w.Day != wd:
			return false
		case w.Nth > 0:
			return (day-1)/7+1 == w.Nth
		case w.Nth < 0:
			return day+7 > last
		}
		return true
	})
}

func matchAny[T any](vals []T, match func(T) bool) bool {
	for _, v := range vals {
		if match(v) {
			return true
		}
	}
	return false
}

// daysIn returns the number of days in a month.
func daysIn(year int, month time.Month) int {
	return time.Date(year, month+1, 0, 12, 0, 0, 0, time.UTC).Day()
}

// String describes the calendar for people: "day 1", "Jan 1", "first Sunday",
// "days 1, 15 in Jan, Jul", "every day".
func (c Calendar) String() string {
	if len(c.Days) == 1 && len(c.Months) == 1 && len(c.Weekdays) == 0 {
		if c.Days[0] == LastDay {
			return "last day of " + shortMonth(c.Months[0])
		}
		return fmt.Sprintf("%s %d", shortMonth(c.Months[0]), c.Days[0])
	}
	var parts []string
	if len(c.Days) > 0 {
		days := make([]string, len(c.Days))
		for i, d := range c.Days {
			days[i] = d.String()
		}
		if len(days) == 1 && c.Days[0] == LastDay {
			parts = append(parts, "last day")
		} else if len(days) == 1 {
			parts = append(parts, "day "+days[0])
		} else {
			parts = append(parts, "days "+strings.Join(days, ", "))
		}
	}
	if len(c.Weekdays) > 0 {
		wds := make([]string, len(c.Weekdays))
		for i, w := range c.Weekdays {
			wds[i] = w.String()
		}
		parts = append(parts, strings.Join(wds, ", "))
	}
	if len(c.Months) > 0 {
		months := make([]string, len(c.Months))
		for i, m := range c.Months {
			months[i] = shortMonth(m)
		}
		parts = append(parts, "in "+strings.Join(months, ", "))
	}
	if len(parts) == 0 {
		return "every day"
	}
	return strings.Join(parts, ", ")
}

func (d Day) String() string {
	if d == LastDay {
		return "last"
	}
	return strconv.Itoa(int(d))
}

func (w Weekday) String() string {
	if w.Nth == 0 {
		return w.Day.String()
	}
	return ordinalWords[w.Nth] + " " + w.Day.String()
}

func shortMonth(m time.Month) string { return m.String()[:3] }

// ordinalWords name Weekday.Nth.
var ordinalWords = map[int]string{1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", -1: "last"}

// ordinals are the words ParseWeekday takes for Weekday.Nth.
var ordinals = map[string]int{
	"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3,
	"fourth": 4, "4th": 4, "fifth": 5, "5th": 5, "last": -1,
}

// ParseDay reads a day of the month: 1 to 31, or "last".
func ParseDay(s string) (Day, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "last" {
		return LastDay, nil
	}
	n, err := strconv.Atoi(s)
	switch {
	case err != nil:
		return 0, fmt.Errorf("%q is not a day of the month", s)
	case n < 1 || n > 31:
		return 0, fmt.Errorf("%d is not a day of the month", n)
	}
	return Day(n), nil
}

// ParseMonth reads a month: 1 to 12, or a name, whole or its first three
// letters, in any case ("jan", "January").
func ParseMonth(s string) (time.Month, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 12 {
			return 0, fmt.Errorf("%d is not a month", n)
		}
		return time.Month(n), nil
	}
	for m := time.January; m <= time.December; m++ {
		name := strings.ToLower(m.String())
		if s == name || s == name[:3] {
			return m, nil
		}
	}
	return 0, fmt.Errorf("%q is not a month", s)
}

// ParseWeekday reads a weekday, whole or its first three letters, in any
// case, optionally after an ordinal: "sunday", "Sun", "first sunday",
// "2nd monday", "last friday".
func ParseWeekday(s string) (Weekday, error) {
	fields := strings.Fields(strings.ToLower(s))
	var w Weekday
	switch len(fields) {
	case 1:
	case 2:
		n, ok := ordinals[fields[0]]
		if !ok {
			return w, fmt.Errorf("%q: %q is not an ordinal", s, fields[0])
		}
		w.Nth = n
	default:
		return w, errors.New("want a weekday, optionally after an ordinal")
	}
	name := fields[len(fields)-1]
	for d := time.Sunday; d <= time.Saturday; d++ {
		full := strings.ToLower(d.String())
		if name == full || name == full[:3] {
			w.Day = d
			return w, nil
		}
	}
	return w, fmt.Errorf("%q is not a weekday", strings.TrimSpace(s))
}
