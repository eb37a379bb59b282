package director

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/depot-backup/depot/repository"
)

// Progress shows a person how a run goes. The director reports; the
// Progress decides how to draw it (see NewTerminalProgress). Logs, cron and
// JSON output never see it: the CLI sets one only for a terminal.
type Progress interface {
	// Set begins a set of items; expected is how long its base snapshot
	// took to make, 0 when unknown.
	Set(name string, items int, expected time.Duration)
	// Item says the n-th item (from 1) is being backed up.
	Item(name string, n int)
	// Copied reports what the set's run has written so far: new files and
	// bytes (hard links to the base cost neither).
	Copied(files, bytes int64)
	// Done ends the set.
	Done()
	// Above runs write, which writes a log line, with the drawing cleared
	// and nothing drawn meanwhile; the next report draws it again.
	Above(write func())
}

// DefaultProgressEvery is how often the progress of a run is sampled.
const DefaultProgressEvery = 500 * time.Millisecond

// progressRun follows one set's run for d.Progress.
type progressRun struct {
	p     Progress
	mu    sync.Mutex
	n     int // items begun
	stop  chan struct{}
	done  sync.WaitGroup
	start unix.Statfs_t
	root  string
	// The most seen so far: the figures never go back, whatever else
	// frees space meanwhile.
	files, bytes int64
}

// startProgress begins reporting set's run, or returns nil without a
// Progress. On a repository on this machine it samples the file system's
// free blocks and inodes: what the run wrote, at the cost of one statfs.
func (d *Director) startProgress(ctx context.Context, repo repository.Repo, set *SetConfig) *progressRun {
	if d.Progress == nil {
		return nil
	}
	var expected time.Duration
	if base, ok, err := repo.Latest(ctx, set.Name); err == nil && ok {
		if m, err := repo.ReadManifest(ctx, base.Path); err == nil && m.Finished.After(m.Started) {
			expected = m.Finished.Sub(m.Started)
		}
	}
	pr := &progressRun{p: d.Progress, stop: make(chan struct{}), root: repo.Root}
	d.Progress.Set(set.Name, len(set.Items), expected)
	if d.Config.Repository.Host == "" && unix.Statfs(repo.Root, &pr.start) == nil {
		every := d.ProgressEvery
		if every <= 0 {
			every = DefaultProgressEvery
		}
		pr.done.Add(1)
		go pr.sample(every)
	}
	return pr
}

func (pr *progressRun) sample(every time.Duration) {
	defer pr.done.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-pr.stop:
			return
		case <-t.C:
		}
		var now unix.Statfs_t
		if unix.Statfs(pr.root, &now) != nil {
			continue
		}
		// Other writers on the file system make this approximate; it
		// is for a person watching, not a record.
		files := max(int64(pr.start.Ffree)-int64(now.Ffree), pr.files)
		bytes := max((int64(pr.start.Bavail)-int64(now.Bavail))*int64(now.Bsize), pr.bytes)
		pr.mu.Lock()
		pr.files, pr.bytes = files, bytes
		pr.p.Copied(files, bytes)
		pr.mu.Unlock()
	}
}

// item reports the next item of the set.
func (pr *progressRun) item(name string) {
	if pr == nil {
		return
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.n++
	pr.p.Item(name, pr.n)
}

func (pr *progressRun) finish() {
	if pr == nil {
		return
	}
	close(pr.stop)
	pr.done.Wait()
	pr.p.Done()
}

// progressItem tells the progress of the running set, if any, that an
// item begins.
func (d *Director) progressItem(name string) { d.progress.item(name) }

// pauseHandler writes each log line above the progress drawing.
type pauseHandler struct {
	slog.Handler
	p Progress
}

func (h pauseHandler) Handle(ctx context.Context, r slog.Record) error {
	var err error
	h.p.Above(func() { err = h.Handler.Handle(ctx, r) })
	return err
}

func (h pauseHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return pauseHandler{h.Handler.WithAttrs(as), h.p}
}

func (h pauseHandler) WithGroup(name string) slog.Handler {
	return pauseHandler{h.Handler.WithGroup(name), h.p}
}
