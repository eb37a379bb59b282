package schedules

import (
	"fmt"
	"strings"
)

// starBit is robfig/cron's mark of a field written as * or ?.
const starBit = 1 << 63

var weekdayNames = []string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// OnCalendar converts the schedule into systemd OnCalendar= values that
// elapse at the same times. A cron day-of-month and day-of-week that are both
// restricted match a day when either matches, which systemd cannot say in one
// value: that gives two. An @every schedule has no calendar form.
func (c Cron) OnCalendar() ([]string, error) {
	if c.spec == nil {
		return nil, fmt.Errorf("%q: an @every schedule has no calendar form; write it as a cron expression", c.Expr)
	}
	s := c.spec
	clock := fmt.Sprintf("%s:%s:00", field(s.Hour, 0, 23), field(s.Minute, 0, 59))
	month := field(s.Month, 1, 12)
	dom := field(s.Dom, 1, 31)
	dow := weekdays(s.Dow)
	date := func(day string) string { return fmt.Sprintf("*-%s-%s", month, day) }
	switch {
	case s.Dom&starBit == 0 && s.Dow&starBit == 0:
		return []string{date(dom) + " " + clock, dow + " " + date("*") + " " + clock}, nil
	case dow != "":
		return []string{dow + " " + date(dom) + " " + clock}, nil
	}
	return []string{date(dom) + " " + clock}, nil
}

// field renders the values set in bits between lo and hi: * for all of
// them, else a list of single values and a..b ranges.
func field(bits uint64, lo, hi int) string {
	var parts []string
	all := true
	for v := lo; v <= hi; v++ {
		if bits&(1<<uint(v)) == 0 {
			all = false
			continue
		}
		end := v
		for end+1 <= hi && bits&(1<<uint(end+1)) != 0 {
			end++
		}
		if end == v {
			parts = append(parts, fmt.Sprintf("%02d", v))
		} else {
			parts = append(parts, fmt.Sprintf("%02d..%02d", v, end))
		}
		v = end
	}
	if all {
		return "*"
	}
	return strings.Join(parts, ",")
}

// weekdays renders a day-of-week field as systemd's names, or "" for every
// day.
func weekdays(bits uint64) string {
	var parts []string
	count := 0
	for v := 0; v <= 6; v++ {
		if bits&(1<<uint(v)) == 0 {
			continue
		}
		end := v
		for end+1 <= 6 && bits&(1<<uint(end+1)) != 0 {
			end++
		}
		count += end - v + 1
		if end == v {
			parts = append(parts, weekdayNames[v])
		} else {
			parts = append(parts, weekdayNames[v]+".."+weekdayNames[end])
		}
		v = end
	}
	if count == 7 {
		return ""
	}
	return strings.Join(parts, ",")
}
