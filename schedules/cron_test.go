package schedules

import (
	"context"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseCronErrors(t *testing.T) {
	tests := []struct {
		name, expr, want string
	}{
		{"empty", "", "empty schedule"},
		{"six fields", "0 0 2 * * *", "want 5 fields"},
		{"four fields", "0 2 * *", "want 5 fields"},
		{"minute out of range", "60 2 * * *", "60"},
		{"bad name", "0 2 * * funday", "funday"},
		{"unknown descriptor", "@fortnightly", "fortnightly"},
		{"time zone prefix", "CRON_TZ=UTC 0 2 * * *", "time zone prefix"},
		{"never", "0 0 31 2 *", "never happens"},
		{"every without a duration", "@every soon", "invalid duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCron(tt.expr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseCron(%q) = %v, want an error containing %q", tt.expr, err, tt.want)
			}
		})
	}
}

func TestCronPrev(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, expr string
		at, want   time.Time
	}{
		{"daily, before today's", "0 2 * * *", time.Date(2026, 3, 10, 1, 0, 0, 0, time.UTC), time.Date(2026, 3, 9, 2, 0, 0, 0, time.UTC)},
		{"daily, at it", "0 2 * * *", time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC), time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC)},
		{"weekly", "@weekly", time.Date(2026, 3, 10, 1, 0, 0, 0, time.UTC), time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)},
		{"yearly", "@yearly", time.Date(2026, 3, 10, 1, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"leap day", "0 0 29 2 *", time.Date(2026, 3, 10, 1, 0, 0, 0, time.UTC), time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"every", "@every 90s", time.Date(2026, 3, 10, 1, 0, 0, 0, time.UTC), time.Date(2026, 3, 10, 0, 58, 30, 0, time.UTC)},
		{"in a zone", "30 2 * * *", time.Date(2026, 3, 10, 1, 0, 0, 0, berlin), time.Date(2026, 3, 9, 2, 30, 0, 0, berlin)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCron(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Prev(tt.at); !got.Equal(tt.want) {
				t.Fatalf("Prev(%v) = %v, want %v", tt.at, got, tt.want)
			}
		})
	}
}

// onCalendarTests are cron expressions and the OnCalendar values that
// elapse at the same times.
var onCalendarTests = []struct {
	name, expr string
	want       []string
}{
	{"daily at 02:00", "0 2 * * *", []string{"*-*-* 02:00:00"}},
	{"every 15 minutes", "*/15 * * * *", []string{"*-*-* *:00,15,30,45:00"}},
	{"hour range", "30 8-18 * * *", []string{"*-*-* 08..18:30:00"}},
	{"stepped range", "0 8-18/2 * * *", []string{"*-*-* 08,10,12,14,16,18:00:00"}},
	{"weekdays", "30 2 * * 1-5", []string{"Mon..Fri *-*-* 02:30:00"}},
	{"weekend by name", "0 3 * * sat,sun", []string{"Sun,Sat *-*-* 03:00:00"}},
	{"first of the month", "0 4 1 * *", []string{"*-*-01 04:00:00"}},
	{"quarterly", "0 4 1 jan,apr,jul,oct *", []string{"*-01,04,07,10-01 04:00:00"}},
	{"day or weekday", "0 5 1,15 * 0", []string{"*-*-01,15 05:00:00", "Sun *-*-* 05:00:00"}},
	{"hourly", "@hourly", []string{"*-*-* *:00:00"}},
	{"daily", "@daily", []string{"*-*-* 00:00:00"}},
	{"midnight", "@midnight", []string{"*-*-* 00:00:00"}},
	{"weekly", "@weekly", []string{"Sun *-*-* 00:00:00"}},
	{"monthly", "@monthly", []string{"*-*-01 00:00:00"}},
	{"yearly", "@yearly", []string{"*-01-01 00:00:00"}},
	{"annually", "@annually", []string{"*-01-01 00:00:00"}},
}

func TestOnCalendar(t *testing.T) {
	for _, tt := range onCalendarTests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCron(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.OnCalendar()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("OnCalendar(%q) = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}
	if _, err := mustCron(t, "@every 1h").OnCalendar(); err == nil {
		t.Fatal("OnCalendar(@every 1h) gave no error")
	}
}

// TestOnCalendarMatchesSystemd asks systemd-analyze for the next elapses of
// each converted value and compares them with the cron schedule's.
func TestOnCalendarMatchesSystemd(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("no systemd-analyze here; TestOnCalendar checks the conversion")
	}
	base := time.Date(2026, 2, 27, 13, 7, 0, 0, time.UTC)
	const n = 6
	elapse := regexp.MustCompile(`(?m)^\s*(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC$`)
	for _, tt := range onCalendarTests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustCron(t, tt.expr)
			var want []string
			for at := base; len(want) < n; {
				at = c.Next(at)
				want = append(want, at.Format(time.DateTime))
			}
			var got []string
			for _, v := range tt.want {
				out, err := exec.CommandContext(context.Background(), "systemd-analyze", "calendar", "--iterations", "6",
					"--base-time", base.Format(time.DateTime)+" UTC", v+" UTC").CombinedOutput()
				if err != nil {
					t.Fatalf("systemd-analyze calendar %q: %v\n%s", v, err, out)
				}
				for _, m := range elapse.FindAllStringSubmatch(string(out), -1) {
					got = append(got, m[1])
				}
			}
			slices.Sort(got)
			got = slices.Compact(got)
			if len(got) < n || !slices.Equal(got[:n], want) {
				t.Fatalf("systemd elapses %q, cron %q", got, want)
			}
		})
	}
}

func mustCron(t testing.TB, expr string) Cron {
	t.Helper()
	c, err := ParseCron(expr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
