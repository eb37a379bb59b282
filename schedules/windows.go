package schedules

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Window is a span of allowed hours on some days of the week: "22:00-06:00"
// every day, or "sat,sun 00:00-24:00", "mon-fri 20:00-07:00". A window whose
// end is not after its start runs past midnight into the next day; it
// belongs to the day it starts on.
type Window struct {
	Text       string
	Days       [7]bool // by time.Weekday
	Start, End int     // minutes after midnight; End up to 24*60
}

// Windows are the hours in which a job may start and run; none means always.
type Windows []Window

// ParseWindow parses one window.
func ParseWindow(s string) (Window, error) {
	w := Window{Text: s}
	fields := strings.Fields(s)
	var span string
	switch len(fields) {
	case 1:
		span = fields[0]
		w.Days = [7]bool{true, true, true, true, true, true, true}
	case 2:
		days, err := parseDays(fields[0])
		if err != nil {
			return w, fmt.Errorf("%q: %w", s, err)
		}
		w.Days, span = days, fields[1]
	default:
		return w, fmt.Errorf("%q: want [DAYS] HH:MM-HH:MM, e.g. 22:00-06:00 or mon-fri 20:00-07:00", s)
	}
	from, to, ok := strings.Cut(span, "-")
	if !ok {
		return w, fmt.Errorf("%q: want HH:MM-HH:MM", s)
	}
	var err error
	if w.Start, err = parseClock(from, false); err != nil {
		return w, fmt.Errorf("%q: %w", s, err)
	}
	if w.End, err = parseClock(to, true); err != nil {
		return w, fmt.Errorf("%q: %w", s, err)
	}
	if w.Start == w.End {
		return w, fmt.Errorf("%q: the window is empty; for all day write 00:00-24:00", s)
	}
	return w, nil
}

func parseClock(s string, end bool) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	switch {
	case !ok || err1 != nil || err2 != nil || len(m) != 2 || len(h) == 0 || len(h) > 2:
		return 0, fmt.Errorf("%q is not a time of day HH:MM", s)
	case end && hh == 24 && mm == 0:
		return 24 * 60, nil
	case hh < 0 || hh > 23 || mm < 0 || mm > 59:
		return 0, fmt.Errorf("%q is not a time of day from 00:00 to 23:59", s)
	}
	return hh*60 + mm, nil
}

// parseDays parses "mon-fri", "sat,sun" or "mon,wed-fri".
func parseDays(s string) ([7]bool, error) {
	var days [7]bool
	for _, part := range strings.Split(s, ",") {
		from, to, isRange := strings.Cut(part, "-")
		a, err := ParseWeekday(from)
		if err != nil || a.Nth != 0 {
			return days, fmt.Errorf("%q is not a day of the week (mon to sun)", from)
		}
		b := a
		if isRange {
			if b, err = ParseWeekday(to); err != nil || b.Nth != 0 {
				return days, fmt.Errorf("%q is not a day of the week (mon to sun)", to)
			}
		}
		for d := a.Day; ; d = (d + 1) % 7 {
			days[d] = true
			if d == b.Day {
				break
			}
		}
	}
	return days, nil
}

// span is one occurrence of a window.
type span struct{ from, to time.Time }

// spans returns the occurrences of the windows that start from the day
// before t's to a week after, in t's zone, merged where they touch.
func (ws Windows) spans(t time.Time) []span {
	var out []span
	y, m, d := t.Date()
	for off := -1; off <= 8; off++ {
		day := time.Date(y, m, d+off, 0, 0, 0, 0, t.Location())
		for _, w := range ws {
			if !w.Days[day.Weekday()] {
				continue
			}
			from := time.Date(y, m, d+off, 0, w.Start, 0, 0, t.Location())
			end := w.End
			if end <= w.Start {
				end += 24 * 60
			}
			out = append(out, span{from, time.Date(y, m, d+off, 0, end, 0, 0, t.Location())})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].from.Before(out[j].from) })
	var merged []span
	for _, s := range out {
		if n := len(merged); n > 0 && !s.from.After(merged[n-1].to) {
			if s.to.After(merged[n-1].to) {
				merged[n-1].to = s.to
			}
			continue
		}
		merged = append(merged, s)
	}
	return merged
}

// Open reports whether t is inside a window and, if so, when that window
// closes (windows that touch count as one). With no windows every time is
// open and the close is the zero time.
func (ws Windows) Open(t time.Time) (closes time.Time, open bool) {
	if len(ws) == 0 {
		return time.Time{}, true
	}
	for _, s := range ws.spans(t) {
		if !t.Before(s.from) && t.Before(s.to) {
			return s.to, true
		}
	}
	return time.Time{}, false
}

// NextOpen returns when the next window after t opens (t itself when it is
// open), or the zero time if no window ever opens.
func (ws Windows) NextOpen(t time.Time) time.Time {
	if _, open := ws.Open(t); open {
		return t
	}
	for _, s := range ws.spans(t) {
		if s.from.After(t) {
			return s.from
		}
	}
	return time.Time{}
}

// String lists the windows as written.
func (ws Windows) String() string {
	texts := make([]string, len(ws))
	for i, w := range ws {
		texts[i] = w.Text
	}
	return strings.Join(texts, ", ")
}
