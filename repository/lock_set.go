package repository

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
)

// locksDir holds, inside .depot, one lock file per set.
const locksDir = "locks"

// sharedLocker is a file system that can also take a lock that other
// holders share: this machine's. A repository host is reached through one
// shell that holds one lock, which runs take whole.
type sharedLocker interface {
	LockShared(ctx context.Context, path string, wait time.Duration, holder string) (Unlocker, error)
}

// RunsShareLock reports whether runs share the repository's lock here
// (LockRuns): on this machine they do; a repository host is reached through
// one shell that holds one lock, so runs there take it whole (Lock).
func (r Repo) RunsShareLock() bool {
	_, ok := r.Files().(sharedLocker)
	return ok
}

// LockRuns takes the repository's lock as depot run takes it where
// RunsShareLock: shared with other runs, each of which then locks the sets
// it backs up (LockSet), and exclusive of everything else that writes
// (prune, forget, mirror, which take Lock).
func (r Repo) LockRuns(ctx context.Context, wait time.Duration) (Unlocker, error) {
	sl, ok := r.Files().(sharedLocker)
	if !ok {
		return nil, errors.New("lock repository: runs cannot share a lock on a repository host")
	}
	if err := r.Files().MkdirAll(ctx, r.StateDir()); err != nil {
		return nil, fmt.Errorf("lock repository: %w", err)
	}
	holder := fmt.Sprintf("%d %d %s", os.Getpid(), time.Now().Unix(), hostname())
	l, err := sl.LockShared(ctx, filepath.Join(r.StateDir(), "lock"), wait, holder)
	if err != nil && !errors.Is(err, ErrLocked) && ctx.Err() == nil {
		return nil, fmt.Errorf("lock repository: %w", err)
	}
	return l, err
}

// LockSet takes set's own lock, so that the same set never runs twice at
// once while other sets run beside it. It is held under LockRuns; where
// that lock is exclusive, no other process can hold a set's lock, and the
// sets of one run are distinct, so there is nothing more to take.
func (r Repo) LockSet(ctx context.Context, set string, wait time.Duration) (Unlocker, error) {
	if _, ok := r.Files().(sharedLocker); !ok {
		return noLock{}, nil
	}
	dir := filepath.Join(r.StateDir(), locksDir)
	if err := r.Files().MkdirAll(ctx, dir); err != nil {
		return nil, fmt.Errorf("lock set %s: %w", set, err)
	}
	holder := fmt.Sprintf("%d %d %s", os.Getpid(), time.Now().Unix(), hostname())
	l, err := r.Files().Lock(ctx, filepath.Join(dir, set), wait, holder)
	if err != nil && !errors.Is(err, ErrLocked) && ctx.Err() == nil {
		return nil, fmt.Errorf("lock set %s: %w", set, err)
	}
	if err != nil && errors.Is(err, ErrLocked) {
		return nil, fmt.Errorf("%w, holding set %s", err, set)
	}
	return l, err
}

type noLock struct{}

func (noLock) Unlock() error { return nil }

// LockShared implements sharedLocker with flock(2) LOCK_SH. The holder
// written is the latest of those sharing it, for the message a prune that
// waits for them shows.
func (LocalFS) LockShared(ctx context.Context, path string, wait time.Duration, holder string) (Unlocker, error) {
	fl := flock.New(path)
	ok, err := fl.TryRLock()
	if err == nil && !ok && wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		ok, err = fl.TryRLockContext(wctx, 250*time.Millisecond)
		if errors.Is(err, context.DeadlineExceeded) {
			err = nil
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		data, _ := os.ReadFile(path)
		return nil, parseHolder(string(data))
	}
	_ = os.WriteFile(path, []byte(holder+"\n"), 0o600)
	return fl, nil
}
