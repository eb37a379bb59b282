package director

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/depot-backup/depot/notify"
	"github.com/depot-backup/depot/repository"
)

// runReported runs one set as its hooks, notifiers and the run history see
// it: notify start, before hooks, the backup, after or on_error hooks,
// finally hooks, then the history record and the end event. Notifications
// and the history never change the outcome; a failing before hook fails the
// set, a failing after or finally hook is a warning.
func (d *Director) runReported(ctx context.Context, repo repository.Repo, set *SetConfig, start time.Time) (repository.Snapshot, error) {
	tail := &logTail{}
	log := d.Log
	h := slog.Handler(teeHandler{log.Handler(), slog.NewTextHandler(tail, nil)})
	if d.Progress != nil {
		h = pauseHandler{h, d.Progress}
	}
	d.Log = slog.New(h)
	defer func() { d.Log = log }()

	dispatch, err := notify.New(d.Config.Notify, d.Log)
	if err != nil {
		return repository.Snapshot{}, err // Check accepted the config: not reached
	}
	host, _ := os.Hostname()
	ev := notify.Event{Kind: notify.Start, Set: set.Name, Status: "running", Host: host, Version: d.Version, Started: start.UTC()}
	dispatch.Send(ctx, ev)

	env := hookEnv{set: set.Name, status: "running"}
	var snap repository.Snapshot
	runErr := d.runHooks(ctx, set, "before", env)
	if runErr == nil {
		d.progress = d.startProgress(ctx, repo, set)
		snap, runErr = d.runSet(ctx, repo, set)
		d.progress.finish()
		d.progress = nil
	}
	var warnings []string
	if why := d.held.take(set.Name); why != "" {
		warnings = append(warnings, why) // the guard against mass deletion
	}
	stop := stopped(ctx) // read before the cancellation is dropped below
	// A service the before hooks stopped must be started again even when
	// depot was told to stop: the hooks after the backup ignore the
	// cancellation, bounded by their own timeouts.
	ctx = context.WithoutCancel(ctx)
	env.stamp, env.status = snap.Stamp, "ok"
	if snap.Path != "" {
		env.snapshot = snap.Path
	}
	failed := runErr
	if failed == nil && snap.Path != "" {
		// A snapshot published without some of its items is a failure
		// to the hooks too: on_error runs, not after.
		if m, err := repo.ReadManifest(ctx, snap.Path); err == nil {
			var names []string
			for _, it := range m.Items {
				if it.Status == repository.StatusFailed {
					names = append(names, it.Name)
				}
			}
			if len(names) > 0 {
				failed = fmt.Errorf("failed items: %s", strings.Join(names, ", "))
			}
		}
	}
	if failed != nil {
		env.status, env.err = "failed", failed.Error()
		if err := d.runHooks(ctx, set, "on_error", env); err != nil {
			d.Log.Warn("on_error hook failed", "set", set.Name, "err", err)
		}
	} else if err := d.runHooks(ctx, set, "after", env); err != nil {
		d.Log.Warn("after hook failed", "set", set.Name, "err", err)
		warnings = append(warnings, err.Error())
	}
	if err := d.runHooks(ctx, set, "finally", env); err != nil {
		d.Log.Warn("finally hook failed", "set", set.Name, "err", err)
		warnings = append(warnings, err.Error())
	}

	ev = d.endEvent(ctx, repo, set, ev, snap, runErr, warnings)
	rec := historyOf(ev)
	var partial *ItemsFailedError
	if errors.As(runErr, &partial) {
		rec.Status = "partial" // a snapshot was published without some items
	}
	if runErr != nil && stop != nil {
		rec.Status, rec.Error = "stopped", stop.Error() // resumed by the next run
	}
	d.appendHistory(ctx, repo, rec)
	if runErr != nil {
		// What Run logs next belongs in the failure's log tail too.
		slog.New(slog.NewTextHandler(tail, nil)).Error("set failed", "set", set.Name, "err", runErr)
	}
	ev.LogTail = tail.String()
	dispatch.Send(ctx, ev)
	return snap, runErr
}

// endEvent completes the start event ev with the outcome of the run: the
// snapshot's items, figures and changes, from its manifest when there is
// one.
func (d *Director) endEvent(ctx context.Context, repo repository.Repo, set *SetConfig, ev notify.Event, snap repository.Snapshot, runErr error, warnings []string) notify.Event {
	ev.Finished = d.Now().UTC()
	ev.DurationSeconds = ev.Finished.Sub(ev.Started).Seconds()
	ev.Stamp = snap.Stamp
	if snap.Stamp != "" {
		ev.Snapshot = snap.Name()
	}
	ev.Warnings = warnings
	failedItem := false
	if snap.Path != "" {
		if m, err := repo.ReadManifest(context.WithoutCancel(ctx), snap.Path); err == nil {
			for _, it := range m.Items {
				item := notify.Item{Name: it.Name, Type: it.Type, Status: string(it.Status), Files: it.Stats.Files, Bytes: it.Stats.Bytes,
					FilesTransferred: it.Stats.FilesTransferred, BytesTransferred: it.Stats.BytesTransferred}
				if it.Status == repository.StatusFailed {
					failedItem = true
					item.Error = it.Error
				}
				for _, w := range it.Warnings {
					ev.Warnings = append(ev.Warnings, "item "+it.Name+": "+w)
				}
				ev.Items = append(ev.Items, item)
			}
			if len(d.Config.Notify) > 0 {
				if ev.Changes, err = changeReport(context.WithoutCancel(ctx), repo, snap.Path, m); err != nil {
					d.Log.Warn("no change report", "set", set.Name, "err", err)
				}
			}
		} else {
			d.Log.Warn("cannot read the new snapshot's manifest", "snapshot", snap.Path, "err", err)
		}
	}
	if runErr != nil {
		ev.Errors = append(ev.Errors, runErr.Error())
		if name, cause, ok := failedItemOf(set, runErr); ok && !hasItem(ev.Items, name) {
			h := itemHeader(set, name)
			ev.Items = append(ev.Items, notify.Item{Name: name, Type: h, Status: string(repository.StatusFailed), Error: cause})
		}
	}
	switch {
	case runErr != nil || failedItem:
		ev.Kind, ev.Status = notify.Failure, "failed"
	case len(ev.Warnings) > 0:
		ev.Kind, ev.Status = notify.Warning, "warning"
	default:
		ev.Kind, ev.Status = notify.Success, "ok"
	}
	return ev
}

// failedItemOf finds the item a set's error names ("item NAME: cause"), for
// a run that stops at a failing item.
func failedItemOf(set *SetConfig, err error) (name, cause string, ok bool) {
	msg := err.Error()
	for _, it := range set.Items {
		if c, found := strings.CutPrefix(msg, "item "+it.Header().Name+": "); found {
			return it.Header().Name, c, true
		}
	}
	return "", "", false
}

func itemHeader(set *SetConfig, name string) string {
	for _, it := range set.Items {
		if it.Header().Name == name {
			return it.Header().Type
		}
	}
	return ""
}

func hasItem(items []notify.Item, name string) bool {
	for _, it := range items {
		if it.Name == name {
			return true
		}
	}
	return false
}

// historyOf is the run history's record of an end event.
func historyOf(ev notify.Event) HistoryRecord {
	r := HistoryRecord{Set: ev.Set, Started: ev.Started, Finished: ev.Finished, DurationSeconds: ev.DurationSeconds,
		Stamp: ev.Stamp, Snapshot: ev.Snapshot, Status: ev.Status, Warnings: len(ev.Warnings)}
	if len(ev.Errors) > 0 {
		r.Error = ev.Errors[0]
	}
	for _, it := range ev.Items {
		if it.Status == string(repository.StatusFailed) {
			r.FailedItems = append(r.FailedItems, it.Name)
		}
		r.Files += it.Files
		r.Bytes += it.Bytes
		r.FilesTransferred += it.FilesTransferred
		r.BytesTransferred += it.BytesTransferred
	}
	return r
}

// logTail keeps the last notify.MaxLogTail bytes of a run's log.
type logTail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *logTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*notify.MaxLogTail {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-notify.MaxLogTail:]...)
	}
	return len(p), nil
}

func (t *logTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// teeHandler sends log records to two handlers: depot's log, and the tail
// kept for notifications.
type teeHandler struct{ a, b slog.Handler }

func (h teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.a.Enabled(ctx, l) || h.b.Enabled(ctx, l)
}

func (h teeHandler) Handle(ctx context.Context, r slog.Record) error {
	var errs []error
	if h.a.Enabled(ctx, r.Level) {
		errs = append(errs, h.a.Handle(ctx, r.Clone()))
	}
	if h.b.Enabled(ctx, r.Level) {
		errs = append(errs, h.b.Handle(ctx, r))
	}
	return errors.Join(errs...)
}

func (h teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return teeHandler{h.a.WithAttrs(as), h.b.WithAttrs(as)}
}

func (h teeHandler) WithGroup(name string) slog.Handler {
	return teeHandler{h.a.WithGroup(name), h.b.WithGroup(name)}
}

// notifyUnrun tells the notifiers that sets could not run at all: the
// repository could not be locked because it is missing (an unmounted disk)
// or unreachable. Another run holding the lock is not told: that run reports
// its own outcome.
func (d *Director) notifyUnrun(ctx context.Context, sets []*SetConfig, err error) {
	if errors.Is(err, repository.ErrLocked) || len(d.Config.Notify) == 0 {
		return
	}
	dispatch, derr := notify.New(d.Config.Notify, d.Log)
	if derr != nil {
		return
	}
	host, _ := os.Hostname()
	now := d.Now().UTC()
	for _, set := range sets {
		dispatch.Send(ctx, notify.Event{Kind: notify.Failure, Set: set.Name, Status: "failed", Host: host, Version: d.Version,
			Started: now, Finished: now, Errors: []string{err.Error()}, LogTail: "depot: " + err.Error() + "\n"})
	}
}
