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
)

// ErrLocked means another depot run holds the repository's lock.
var ErrLocked = errors.New("repository locked")

// LockedError says who holds the lock.
type LockedError struct {
	PID   int
	Host  string
	Since time.Time
}

func (e *LockedError) Error() string {
	if e.PID == 0 {
		return "repository locked by another depot run"
	}
	on := ""
	if e.Host != "" && e.Host != hostname() {
		on = " on " + e.Host
	}
	return fmt.Sprintf("locked by pid %d%s since %s", e.PID, on, e.Since.Local().Format(time.DateTime))
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Lock takes the repository's writer lock, waiting up to wait for a holder to
// release it. Runs on different hosts pushing into one repository take the
// same lock on the repository host. A crashed run never leaves a stale lock:
// the lock dies with its holder (or its SSH connection).
func (r Repo) Lock(ctx context.Context, wait time.Duration) (Unlocker, error) {
	if err := r.Files().MkdirAll(ctx, r.StateDir()); err != nil {
		return nil, fmt.Errorf("lock repository: %w", err)
	}
	holder := fmt.Sprintf("%d %d %s", os.Getpid(), time.Now().Unix(), hostname())
	l, err := r.Files().Lock(ctx, filepath.Join(r.StateDir(), "lock"), wait, holder)
	if err != nil && !errors.Is(err, ErrLocked) && ctx.Err() == nil {
		return nil, fmt.Errorf("lock repository: %w", err)
	}
	return l, err
}

// parseHolder reads "pid unix-seconds [host]" from a lock file.
func parseHolder(content string) error {
	fields := strings.Fields(content)
	e := &LockedError{}
	if len(fields) >= 2 {
		e.PID, _ = strconv.Atoi(fields[0])
		if sec, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
			e.Since = time.Unix(sec, 0)
		}
	}
	if len(fields) >= 3 {
		e.Host = fields[2]
	}
	return e
}
