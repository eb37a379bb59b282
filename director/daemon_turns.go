package director

import (
	"context"
	"errors"
	"sync"
)

// errDaemonStopping ends a wait for a turn when the daemon stops.
var errDaemonStopping = errors.New("depot is stopping")

// turns decides when a daemon job may work on the repository: up to the
// config's concurrency set jobs at once, never two of one source host, and
// every other job (mirror, prune, verify) alone. A job waiting to be alone
// holds back the set jobs that come after it, so it is never starved.
type turns struct {
	mu           sync.Mutex
	changed      chan struct{} // closed, and replaced, whenever a turn ends
	sets         int           // set jobs at work
	alone        bool          // a job that must be alone is at work
	waitingAlone int
	hosts        map[string]bool // source hosts at work
}

func newTurns() *turns { return &turns{changed: make(chan struct{}), hosts: map[string]bool{}} }

// take waits for a turn: a set job's (alone false) of source host (""
// for this machine) among up to limit, or a turn alone. It returns the
// function that ends the turn, or why the wait ended: ctx's cause, or
// errDaemonStopping once stopped is closed.
func (t *turns) take(ctx context.Context, stopped <-chan struct{}, limit int, host string, alone bool) (func(), error) {
	t.mu.Lock()
	if alone {
		t.waitingAlone++
	}
	for {
		free := !t.alone && (alone && t.sets == 0 ||
			!alone && t.waitingAlone == 0 && t.sets < max(limit, 1) && (host == "" || !t.hosts[host]))
		if free {
			if alone {
				t.waitingAlone--
				t.alone = true
			} else {
				t.sets++
				if host != "" {
					t.hosts[host] = true
				}
			}
			t.mu.Unlock()
			return func() { t.end(host, alone) }, nil
		}
		ch := t.changed
		t.mu.Unlock()
		var err error
		select {
		case <-ch:
		case <-stopped:
			err = errDaemonStopping
		case <-ctx.Done():
			err = context.Cause(ctx)
		}
		t.mu.Lock()
		if err != nil {
			if alone {
				t.waitingAlone--
				t.signal() // set jobs it held back may go
			}
			t.mu.Unlock()
			return nil, err
		}
	}
}

func (t *turns) end(host string, alone bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if alone {
		t.alone = false
	} else {
		t.sets--
		delete(t.hosts, host)
	}
	t.signal()
}

// signal wakes every waiter; t.mu is held.
func (t *turns) signal() {
	close(t.changed)
	t.changed = make(chan struct{})
}
