package director

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestPreviewRuns(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 27, 2, 0, 0, 0, berlin) // DST starts on the 29th
	tests := []struct {
		name  string
		every time.Duration
		at    time.Time
		want  []string // Berlin wall clock
	}{
		{"daily keeps the wall clock", 24 * time.Hour, time.Date(2026, 3, 30, 2, 0, 0, 0, berlin),
			[]string{"03-27 02:00", "03-28 02:00", "03-29 03:00", "03-30 02:00"}},
		{"hourly is absolute", 12 * time.Hour, time.Date(2026, 3, 29, 23, 0, 0, 0, berlin),
			[]string{"03-27 02:00", "03-27 14:00", "03-28 02:00", "03-28 14:00", "03-29 03:00", "03-29 15:00"}},
		{"two days", 48 * time.Hour, time.Date(2026, 4, 2, 1, 0, 0, 0, berlin),
			[]string{"03-27 02:00", "03-29 03:00", "03-31 02:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, r := range previewRuns(now, PreviewOptions{At: tt.at, Every: tt.every}, berlin) {
				got = append(got, r.In(berlin).Format("01-02 15:04"))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("runs %v, want %v", got, tt.want)
			}
		})
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{24 * time.Hour: "24h", 90 * time.Minute: "1h30m", time.Minute: "1m", 90 * time.Second: "1m30s"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%s) = %s, want %s", d, got, want)
		}
	}
}

// TestPreview simulates daily runs from a fixed now on top of real
// snapshots and checks what is held at the future time, and which of
// today's snapshots go, when and why.
func TestPreview(t *testing.T) {
	e := newCalendarEnv(t, "  permanent:\n    timezone: UTC\n    rules: [{name: monthly, days: [1], keep: 1}]")
	e.clock = time.Date(2026, 2, 27, 2, 0, 0, 0, time.UTC)
	e.runDaily(t, time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)) // Feb 27 to Mar 3
	e.clock = time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC)
	previews, err := e.d.Preview(context.Background(), nil, PreviewOptions{At: time.Date(2026, 4, 2, 12, 0, 0, 0, time.UTC), Every: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(previews) != 1 || previews[0].Runs != 24 {
		t.Fatalf("previews %+v, want one of 24 runs (Mar 10 to Apr 2)", previews)
	}
	p := previews[0]
	var held []string
	for _, h := range p.Held {
		held = append(held, h.Snapshot+" "+h.Reason)
	}
	wantHeld := []string{
		"holding/web/2026-04-02T020000Z newest complete snapshot",
		"permanent/web/2026-04-01T020000Z matches rule monthly: day 1, 1st of the newest 1 kept",
		"holding/web/2026-03-31T020000Z 2nd newest in holding, within max_recent_backups 3",
		"holding/web/2026-03-30T020000Z 3rd newest in holding, within max_recent_backups 3",
	}
	if !slices.Equal(held, wantHeld) {
		t.Errorf("held\n%q\nwant\n%q", held, wantHeld)
	}
	var gone []string
	for _, g := range p.Gone {
		gone = append(gone, g.Snapshot+" "+g.Deleted.Format("01-02")+" "+g.Reason)
	}
	wantGone := []string{
		"holding/web/2026-02-28T020000Z 03-10 4th newest in holding, beyond max_recent_backups 3",
		"holding/web/2026-03-02T020000Z 03-11 4th newest in holding, beyond max_recent_backups 3",
		"holding/web/2026-03-03T020000Z 03-12 4th newest in holding, beyond max_recent_backups 3",
		"permanent/web/2026-03-01T020000Z 04-01 rule monthly keeps the newest 1; this is the 2nd",
	}
	if !slices.Equal(gone, wantGone) {
		t.Errorf("gone\n%q\nwant\n%q", gone, wantGone)
	}
	if p.SimulatedGone != 24-4 {
		t.Errorf("%d simulated snapshots gone, want 20", p.SimulatedGone)
	}
}
