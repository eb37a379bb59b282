package director

import (
	"context"
	"errors"
	"testing"
	"time"
)

// taken starts take in the background and returns a channel that yields
// its release function once it has the turn.
func taken(t *testing.T, tu *turns, ctx context.Context, stopped chan struct{}, limit int, host string, alone bool) chan func() {
	t.Helper()
	ch := make(chan func(), 1)
	go func() {
		release, err := tu.take(ctx, stopped, limit, host, alone)
		if err == nil {
			ch <- release
		}
	}()
	return ch
}

// got waits for a turn that must come; waiting reports one that has not
// come within a short while.
func got(t *testing.T, ch chan func(), what string) func() {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no turn", what)
		return nil
	}
}

func waiting(t *testing.T, ch chan func(), what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("%s: took a turn it must wait for", what)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestTurns(t *testing.T) {
	ctx := context.Background()
	stopped := make(chan struct{})
	tu := newTurns()

	a := got(t, taken(t, tu, ctx, stopped, 2, "h1", false), "first set")
	b := got(t, taken(t, tu, ctx, stopped, 2, "h2", false), "second set, another host")
	third := taken(t, tu, ctx, stopped, 2, "h3", false)
	waiting(t, third, "a third set with concurrency 2")
	a()
	c := got(t, third, "the third set once one ended")

	sameHost := taken(t, tu, ctx, stopped, 4, "h2", false)
	waiting(t, sameHost, "a set of a host at work")
	prune := taken(t, tu, ctx, stopped, 4, "", true)
	waiting(t, prune, "a prune while sets run")
	later := taken(t, tu, ctx, stopped, 4, "h9", false)
	waiting(t, later, "a set after a waiting prune")
	b()
	waiting(t, sameHost, "a set after a waiting prune")
	c()
	p := got(t, prune, "the prune once the sets ended")
	waiting(t, later, "a set while the prune works")
	p()
	got(t, later, "a set after the prune")()
	got(t, sameHost, "the set of the host after the prune")()

	// Waits end on cancellation and on stop; a prune that gives up lets
	// the sets it held back go.
	hold := got(t, taken(t, tu, ctx, stopped, 1, "", false), "a set")
	cctx, cancel := context.WithCancelCause(ctx)
	errs := make(chan error, 1)
	go func() {
		_, err := tu.take(cctx, stopped, 1, "", true)
		errs <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		tu.mu.Lock()
		n := tu.waitingAlone
		tu.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the prune never waited")
		}
	}
	held := taken(t, tu, ctx, stopped, 2, "h5", false)
	waiting(t, held, "a set behind a waiting prune")
	cancel(errors.New("window closed"))
	if err := <-errs; err == nil || err.Error() != "window closed" {
		t.Fatalf("cancelled wait: %v", err)
	}
	got(t, held, "a set once the prune gave up")()
	close(stopped)
	if _, err := tu.take(ctx, stopped, 1, "", false); !errors.Is(err, errDaemonStopping) {
		t.Fatalf("wait while stopping: %v", err)
	}
	hold()
}
