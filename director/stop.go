package director

import (
	"context"
	"errors"
	"time"
)

// ErrStopped means a run was stopped on purpose before it finished: at the
// end of --stop-after or of its window. What it copied stays in .partial and
// the next run resumes it.
var ErrStopped = errors.New("stopped before the end; the next run resumes")

// StopError is why a run stopped: ErrStopped with the deadline named.
type StopError struct {
	Reason string // "window end" or "--stop-after 2h0m0s"
}

func (e *StopError) Error() string { return "stopped at " + e.Reason + ", will resume" }

// Is makes errors.Is(err, ErrStopped) true.
func (e *StopError) Is(target error) bool { return target == ErrStopped }

// stopped returns the StopError that ended ctx, or nil when ctx is live or
// ended for another reason (a signal).
func stopped(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	var se *StopError
	if errors.As(context.Cause(ctx), &se) {
		return se
	}
	return nil
}

// StopAt returns a context that ends at deadline with a StopError naming
// reason. after is the clock's timer (time.AfterFunc, or a fake clock's),
// so that a simulated clock can end it.
func StopAt(ctx context.Context, wait time.Duration, reason string, after func(time.Duration, func()) func() bool) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := after(wait, func() { cancel(&StopError{Reason: reason}) })
	return ctx, func() {
		stop()
		cancel(context.Canceled)
	}
}

// stopContext applies RunOptions.StopAfter and InWindows to ctx, and drops
// the sets whose windows are closed now, each logged.
func (d *Director) stopContext(ctx context.Context, sets []*SetConfig, opts RunOptions) ([]*SetConfig, context.Context, context.CancelFunc) {
	now := d.Now()
	var deadline time.Time
	reason := ""
	if opts.StopAfter > 0 {
		deadline, reason = now.Add(opts.StopAfter), "--stop-after "+opts.StopAfter.String()
	}
	if opts.InWindows {
		var open []*SetConfig
		for _, s := range sets {
			closes, ok := s.WindowList().Open(now.In(d.Config.ScheduleLocation()))
			if !ok {
				d.Log.Info("set skipped: outside its windows", "set", s.Name, "windows", s.WindowList().String(),
					"next_window", s.WindowList().NextOpen(now.In(d.Config.ScheduleLocation())).Format(time.RFC3339))
				continue
			}
			if !closes.IsZero() && (deadline.IsZero() || closes.Before(deadline)) {
				deadline, reason = closes, "window end"
			}
			open = append(open, s)
		}
		sets = open
	}
	if deadline.IsZero() {
		return sets, ctx, func() {}
	}
	ctx, cancel := StopAt(ctx, deadline.Sub(now), reason, func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop })
	return sets, ctx, cancel
}
