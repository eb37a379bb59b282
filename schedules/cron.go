package schedules

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Cron is a parsed schedule: a 5-field cron expression (minute, hour, day of
// the month, month, day of the week) or one of @yearly, @annually, @monthly,
// @weekly, @daily, @midnight, @hourly and @every DURATION. Its times are in
// the zone passed to Next and Prev.
type Cron struct {
	Expr  string
	spec  *cron.SpecSchedule // for expressions and named schedules
	every time.Duration      // for @every
	sched cron.Schedule      // either, as robfig/cron parsed it
}

// ParseCron parses a cron expression the way the daemon's scheduler
// (gocron, through robfig/cron) reads it. A time zone prefix is refused:
// every schedule uses the config's one zone.
func ParseCron(expr string) (Cron, error) {
	expr = strings.TrimSpace(expr)
	switch {
	case expr == "":
		return Cron{}, errors.New("empty schedule")
	case strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ="):
		return Cron{}, fmt.Errorf("%q: a time zone prefix is not allowed; schedules use repository.permanent.timezone", expr)
	}
	if !strings.HasPrefix(expr, "@") {
		if n := len(strings.Fields(expr)); n != 5 {
			return Cron{}, fmt.Errorf("%q: want 5 fields (minute hour day-of-month month day-of-week), got %d", expr, n)
		}
	}
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return Cron{}, fmt.Errorf("%q: %w", expr, err)
	}
	c := Cron{Expr: expr, sched: s}
	switch s := s.(type) {
	case *cron.SpecSchedule:
		c.spec = s
	case cron.ConstantDelaySchedule:
		c.every = s.Delay // robfig/cron makes it at least a second
	}
	if c.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return Cron{}, fmt.Errorf("%q: never happens", expr)
	}
	return c, nil
}

// Every returns the interval of an @every schedule, or 0.
func (c Cron) Every() time.Duration { return c.every }

// Next returns the first scheduled time after t, in t's zone.
func (c Cron) Next(t time.Time) time.Time {
	if c.sched == nil {
		return time.Time{}
	}
	return c.sched.Next(t)
}

// Prev returns the last scheduled time at or before t, or the zero time if
// there is none in the 8 years before t (a 29 February that falls on a given
// weekday can be that rare).
func (c Cron) Prev(t time.Time) time.Time {
	if c.every > 0 {
		return t.Add(-c.every)
	}
	t = t.Truncate(time.Second)
	for back := time.Hour; back <= 8*366*24*time.Hour; back *= 2 {
		from := t.Add(-back)
		next := c.Next(from)
		if next.IsZero() || next.After(t) {
			continue
		}
		prev := next
		for {
			n := c.Next(prev)
			if n.IsZero() || n.After(t) {
				return prev
			}
			prev = n
		}
	}
	return time.Time{}
}

// String returns the expression as written.
func (c Cron) String() string { return c.Expr }
