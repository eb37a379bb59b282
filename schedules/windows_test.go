package schedules

import (
	"strings"
	"testing"
	"time"
)

func TestParseWindowErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"no dash", "22:00", "HH:MM-HH:MM"},
		{"bad hour", "25:00-06:00", "not a time of day"},
		{"24 as start", "24:00-06:00", "not a time of day"},
		{"one digit minute", "22:0-06:00", "not a time of day"},
		{"empty", "06:00-06:00", "empty"},
		{"bad day", "mon-fry 22:00-06:00", "not a day of the week"},
		{"ordinal day", "first mon 22:00-06:00", "want [DAYS]"},
		{"three words", "mon fri 22:00-06:00", "want [DAYS]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseWindow(tt.in); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseWindow(%q) = %v, want an error containing %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestWindowsOpen(t *testing.T) {
	at := func(day, hour, min int) time.Time { // December 2026: the 7th is a Monday
		return time.Date(2026, 12, day, hour, min, 0, 0, time.UTC)
	}
	tests := []struct {
		name     string
		windows  []string
		t        time.Time
		open     bool
		closes   time.Time // when open
		nextOpen time.Time // when closed
	}{
		{"none: always open", nil, at(7, 12, 0), true, time.Time{}, time.Time{}},
		{"inside, past midnight", []string{"22:00-06:00"}, at(8, 3, 0), true, at(8, 6, 0), time.Time{}},
		{"inside, before midnight", []string{"22:00-06:00"}, at(7, 23, 0), true, at(8, 6, 0), time.Time{}},
		{"at the close", []string{"22:00-06:00"}, at(8, 6, 0), false, time.Time{}, at(8, 22, 0)},
		{"at the opening", []string{"22:00-06:00"}, at(7, 22, 0), true, at(8, 6, 0), time.Time{}},
		{"weekdays only, friday night runs into saturday", []string{"mon-fri 20:00-07:00"}, at(12, 6, 0), true, at(12, 7, 0), time.Time{}},
		{"weekdays only, saturday night closed", []string{"mon-fri 20:00-07:00"}, at(12, 21, 0), false, time.Time{}, at(14, 20, 0)},
		{"touching windows merge", []string{"mon-fri 20:00-24:00", "sat,sun 00:00-24:00"}, at(11, 21, 0), true, at(14, 0, 0), time.Time{}},
		{"wrapping day range", []string{"fri-mon 01:00-02:00"}, at(8, 12, 0), false, time.Time{}, at(11, 1, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ws Windows
			for _, s := range tt.windows {
				w, err := ParseWindow(s)
				if err != nil {
					t.Fatal(err)
				}
				ws = append(ws, w)
			}
			closes, open := ws.Open(tt.t)
			if open != tt.open || !closes.Equal(tt.closes) {
				t.Fatalf("Open(%v) = %v, %v; want %v, %v", tt.t, closes, open, tt.closes, tt.open)
			}
			if !open {
				if got := ws.NextOpen(tt.t); !got.Equal(tt.nextOpen) {
					t.Fatalf("NextOpen(%v) = %v, want %v", tt.t, got, tt.nextOpen)
				}
			}
		})
	}
}
