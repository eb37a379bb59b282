package director

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordedProgress records the calls a run makes.
type recordedProgress struct {
	mu     sync.Mutex
	calls  []string
	copied int
	pauses int
}

func (r *recordedProgress) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}

func (r *recordedProgress) Set(name string, items int, expected time.Duration) {
	r.add(fmt.Sprintf("set %s %d %s", name, items, expected))
}
func (r *recordedProgress) Item(name string, n int) { r.add(fmt.Sprintf("item %s %d", name, n)) }
func (r *recordedProgress) Done()                   { r.add("done") }
func (r *recordedProgress) Copied(files, bytes int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.copied++
}
func (r *recordedProgress) Above(write func()) {
	r.mu.Lock()
	r.pauses++
	r.mu.Unlock()
	write()
}

func TestRunReportsProgress(t *testing.T) {
	e := newCalendarEnv(t, "")
	e.clock = time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)
	e.d.Now = func() time.Time { e.clock = e.clock.Add(time.Second); return e.clock }
	rec := &recordedProgress{}
	e.d.Progress, e.d.ProgressEvery = rec, time.Millisecond
	for range 2 {
		if err := e.d.Run(context.Background(), nil, RunOptions{}); err != nil {
			t.Fatalf("%v\n%s", err, e.logs)
		}
	}
	got := strings.Join(rec.calls, "; ")
	// The second run expects to take as long as the first one's snapshot.
	if !strings.HasPrefix(got, "set web 1 0s; item site 1; done; set web 1 ") || !strings.HasSuffix(got, "s; item site 1; done") || strings.Contains(got[30:], "set web 1 0s") {
		t.Errorf("progress calls: %s", got)
	}
	if rec.pauses == 0 {
		t.Error("log lines did not pause the progress line")
	}
	t.Logf("%d samples", rec.copied)
}

func TestTerminalProgress(t *testing.T) {
	var out bytes.Buffer
	now := time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)
	p := NewTerminalProgress(&out).(*terminalProgress)
	p.now, p.throttle = func() time.Time { return now }, 0
	p.Set("web", 2, 10*time.Second)
	p.Item("site", 1)
	now = now.Add(time.Second)
	p.Copied(3, 1536)
	p.Copied(4, 2048)
	if s := out.String(); !strings.Contains(s, "web: site (1/2), 4 files, 2.0 KiB written, about 9s left") {
		t.Errorf("progress line: %q", s)
	}
	now = now.Add(time.Minute)
	p.Item("db", 2)
	if s := out.String(); !strings.Contains(s, "web: db (2/2), 4 files, 2.0 KiB written, longer than the last run") {
		t.Errorf("an overdue run: %q", s)
	}
	out.Reset()
	p.Above(func() { out.WriteString("LOG\n") })
	p.Done()
	if s := out.String(); strings.Trim(s, "\r ") != "LOG\n" {
		t.Errorf("a log line and done should only clear the line: %q", s)
	}
	p.Copied(5, 1) // after Done: nothing drawn
	if s := out.String(); strings.Contains(s, "files") {
		t.Errorf("drawn after Done: %q", s)
	}
}
