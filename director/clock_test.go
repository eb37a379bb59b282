package director

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/depot-backup/depot/repository"
)

// TestStampsFromTheClock: one run with the clock ahead does not date the
// later ones; the clock behind the newest snapshot is warned about with both
// times, the base is the newest snapshot not in the future, and list, plan
// and check flag the future-dated snapshot.
func TestStampsFromTheClock(t *testing.T) {
	e := newCalendarEnv(t, "")
	run := func(at time.Time) {
		t.Helper()
		e.clock = at
		if err := e.d.Run(context.Background(), nil, RunOptions{}); err != nil {
			t.Fatalf("run at %s: %v\n%s", at, err, e.logs)
		}
	}
	run(time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC))
	run(time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC)) // the clock ahead
	run(time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC))
	run(time.Date(2026, 3, 3, 2, 0, 0, 0, time.UTC))
	want := []string{"2026-03-02T020000Z", "2026-03-03T020000Z", "2027-06-01T000000Z"}
	if got := e.stamps(t, repository.Holding); !slices.Equal(got, want) {
		t.Fatalf("holding %v, want %v", got, want)
	}
	for _, w := range []string{
		`msg="the clock is behind the newest snapshot: the new one is stamped with the clock's time and sorts before it" set=web now=2026-03-02T02:00:00Z newest=holding/web/2027-06-01T000000Z`,
		`base=holding/web/2026-03-02T020000Z now=2026-03-03T02:00:00Z`,
	} {
		if !strings.Contains(e.logs.String(), w) {
			t.Errorf("logs lack %s\n%s", w, e.logs)
		}
	}
	m, err := e.repo.ReadManifest(context.Background(), e.repo.Dir(repository.Holding, "web", "2026-03-03T020000Z"))
	if err != nil || m.Base != "holding/2026-03-02T020000Z" {
		t.Errorf("base %q, %v; want the newest snapshot before the clock", m.Base, err)
	}

	plans, err := e.d.Plan(context.Background(), nil)
	if err != nil || len(plans[0].Warnings) != 1 || !strings.Contains(plans[0].Warnings[0], "holding/web/2027-06-01T000000Z is dated 2027-06-01T00:00:00Z, after the clock's 2026-03-03T02:00:00Z") {
		t.Errorf("plan warnings %q, %v", plans[0].Warnings, err)
	}
	entries, err := e.d.List(context.Background(), "web")
	if err != nil || len(entries) != 3 || !entries[2].Future || entries[1].Future {
		t.Errorf("list %+v, %v", entries, err)
	}
	var out bytes.Buffer
	e.d.Out = &out
	if err := e.d.Check(context.Background()); err == nil || !strings.Contains(out.String(), "FAIL  snapshot dates of web: 1 dated in the future") {
		t.Errorf("check: %v\n%s", err, out.String())
	}

	// Two runs in one second: the second waits for the next; a clock that
	// does not move on fails the run, naming the stamp.
	err = e.d.Run(context.Background(), nil, RunOptions{})
	if err == nil || !strings.Contains(e.logs.String(), "has a snapshot stamped 2026-03-03T020000Z already") {
		t.Errorf("a second run on a stopped clock: %v", err)
	}
}
