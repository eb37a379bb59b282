package repository

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// ErrLocked means another depot run holds the repository's lock.
var ErrLocked = errors.New("repository locked")

// LockedError says who holds the lock.
type LockedError struct {
	PID   int
	Since time.Time
}

func (e *LockedError) Error() string {
	if e.PID == 0 {
		return "repository locked by another depot run"
	}
	return fmt.Sprintf("locked by pid %d since %s", e.PID, e.Since.Local().Format(time.DateTime))
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Lock is a held repository lock.
type Lock struct{ fl *flock.Flock }

// Lock takes the repository's writer lock, waiting up to wait for a holder to
// release it. The kernel releases the lock when its process dies, however it
// dies, so a crashed run never leaves a stale lock.
func (r Repo) Lock(ctx context.Context, wait time.Duration) (*Lock, error) {
	if err := os.MkdirAll(r.StateDir(), 0o755); err != nil {
		return nil, fmt.Errorf("lock repository: %w", err)
	}
	path := filepath.Join(r.StateDir(), "lock")
	fl := flock.New(path)
	ok, err := fl.TryLock()
	if err == nil && !ok && wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		ok, err = fl.TryLockContext(wctx, 250*time.Millisecond)
		if errors.Is(err, context.DeadlineExceeded) {
			err = nil
		}
	}
	if err != nil && ctx.Err() == nil {
		return nil, fmt.Errorf("lock repository: %w", err)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if !ok {
		return nil, readHolder(path)
	}
	info := fmt.Sprintf("%d %d\n", os.Getpid(), time.Now().Unix())
	// Who holds the lock is written for the message another run shows; the
	// lock itself is the flock, not this content.
	_ = os.WriteFile(path, []byte(info), 0o644)
	return &Lock{fl: fl}, nil
}

// readHolder reads "pid unix-seconds" from the lock file.
func readHolder(path string) error {
	data, _ := os.ReadFile(path)
	fields := strings.Fields(string(data))
	e := &LockedError{}
	if len(fields) == 2 {
		e.PID, _ = strconv.Atoi(fields[0])
		if sec, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
			e.Since = time.Unix(sec, 0)
		}
	}
	return e
}

// Unlock releases the lock.
func (l *Lock) Unlock() error { return l.fl.Unlock() }
