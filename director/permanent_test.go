package director

import (
	"reflect"
	"testing"
	"time"

	"github.com/depot-backup/depot/repository"
	"github.com/depot-backup/depot/schedules"
)

func TestPermanentConfig(t *testing.T) {
	const head = "version: 1\nrepository:\n  path: /srv/depot\n"
	const sets = "sets:\n  - name: web\n    items: [{name: site, type: filesystem, paths: [/var/www]}]\n"
	tests := []struct {
		name string
		src  string
		zone string
		want []repository.Rule
	}{
		{name: "no permanent section", src: head + sets, zone: "Local"},
		{
			name: "GFS",
			src: head + `  holding: {max_recent_backups: 7}
  permanent:
    timezone: Europe/Berlin
    rules:
      - {name: monthly, days: [1], keep: 12}
      - {name: yearly, days: [1], months: [jan], keep: 0}
` + sets,
			zone: "Europe/Berlin",
			want: []repository.Rule{
				{Name: "monthly", Calendar: schedules.Calendar{Days: []schedules.Day{1}}, Keep: 12},
				{Name: "yearly", Calendar: schedules.Calendar{Days: []schedules.Day{1}, Months: []time.Month{time.January}}, Keep: 0},
			},
		},
		{
			name: "every form of value",
			src: head + `  permanent:
    timezone: UTC
    rules:
      - name: mixed
        days: [1, "15", last, LAST]
        months: [1, feb, March, "4"]
        weekdays: [sun, Monday, first sunday, 2nd tue, last FRI]
        keep: 3
      - {name: daily, keep: 30}
` + sets,
			zone: "UTC",
			want: []repository.Rule{
				{Name: "mixed", Keep: 3, Calendar: schedules.Calendar{
					Days:     []schedules.Day{1, 15, schedules.LastDay, schedules.LastDay},
					Months:   []time.Month{1, 2, 3, 4},
					Weekdays: []schedules.Weekday{{Day: time.Sunday}, {Day: time.Monday}, {Day: time.Sunday, Nth: 1}, {Day: time.Tuesday, Nth: 2}, {Day: time.Friday, Nth: -1}},
				}},
				{Name: "daily", Calendar: schedules.Calendar{}, Keep: 30},
			},
		},
		{
			name: "timezone left out is local time",
			src:  head + "  permanent:\n    rules: [{name: daily, keep: 1}]\n" + sets,
			zone: "Local",
			want: []repository.Rule{{Name: "daily", Calendar: schedules.Calendar{}, Keep: 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := parse(t, tt.src).policy()
			if p.Location.String() != tt.zone {
				t.Errorf("time zone %s, want %s", p.Location, tt.zone)
			}
			if !reflect.DeepEqual(p.Rules, tt.want) {
				t.Errorf("rules\n%+v\nwant\n%+v", p.Rules, tt.want)
			}
		})
	}
}
