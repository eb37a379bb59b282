package director

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// terminalProgress draws one live line per set on a terminal: the item,
// the files and bytes written, the rate, and the time left judged by how
// long the base snapshot took. It draws only when told, under its lock,
// which log lines take too (Above).
type terminalProgress struct {
	w        io.Writer
	now      func() time.Time
	throttle time.Duration // the least time between two drawings
	mu       sync.Mutex
	bar      *progressbar.ProgressBar
	set      string
	items    int
	item     string
	n        int
	files    int64
	bytes    int64
	started  time.Time
	expected time.Duration
}

// NewTerminalProgress draws progress on w, a terminal.
func NewTerminalProgress(w io.Writer) Progress {
	return &terminalProgress{w: w, now: time.Now, throttle: 100 * time.Millisecond}
}

func (t *terminalProgress) Set(name string, items int, expected time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.set, t.items, t.expected, t.started, t.item, t.n, t.files, t.bytes = name, items, expected, t.now(), "", 0, 0, 0
	t.bar = progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(t.w),
		progressbar.OptionShowBytes(true),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSpinnerType(14),
		// No drawing of its own between reports: a log line could
		// be torn by it.
		progressbar.OptionSetSpinnerChangeInterval(0),
		progressbar.OptionThrottle(t.throttle),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetDescription(t.describe()),
	)
	_ = t.bar.RenderBlank()
}

func (t *terminalProgress) Item(name string, n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.item, t.n = name, n
	if t.bar != nil {
		t.bar.Describe(t.describe())
	}
}

func (t *terminalProgress) Copied(files, bytes int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.files, t.bytes = files, bytes
	if t.bar != nil {
		t.bar.Describe(t.describe())
		_ = t.bar.Set64(bytes)
	}
}

func (t *terminalProgress) Done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bar != nil {
		_ = t.bar.Finish()
		_ = t.bar.Clear()
		t.bar = nil
	}
}

func (t *terminalProgress) Above(write func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.bar != nil {
		_ = t.bar.Clear()
	}
	write()
}

// describe is the text before the bar's figures.
func (t *terminalProgress) describe() string {
	s := t.set
	if t.item != "" {
		s += fmt.Sprintf(": %s (%d/%d)", t.item, t.n, t.items)
	}
	s += fmt.Sprintf(", %d files, %s written", t.files, humanBytes(t.bytes))
	if t.expected > 0 {
		if left := t.expected - t.now().Sub(t.started); left > 0 {
			s += fmt.Sprintf(", about %s left", left.Round(time.Second))
		} else {
			s += ", longer than the last run"
		}
	}
	return s
}
