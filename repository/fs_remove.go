package repository

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// removeTree removes the tree at root as fast as the disk allows: workers
// (removeWorkers) each take a directory, unlink its files and hand its
// subdirectories to the others; a directory is removed once its files and
// subdirectories are gone. Memory holds the directories waiting for a
// worker, not the files. A name that is gone already (another
// remover at work, say) is no error; a directory without write or search
// permission (copied faithfully from a source) is made 0700 first.
func removeTree(ctx context.Context, root string) error {
	st, err := os.Lstat(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return ignoreGone(os.Remove(root))
	}
	workers := removeWorkers()
	r := &remover{ctx: ctx}
	r.cond = sync.NewCond(&r.mu)
	r.push(&rmDir{path: root})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.work()
		}()
	}
	wg.Wait()
	return r.err
}

// removeWorkers is how many directories removeTree works on at once: four
// per CPU, at least eight. An unlink waits more than it computes (for the
// inode and directory blocks it changes to be read, for the journal), so
// more workers than CPUs keep the disk busy: removing a 1,000,000-file
// snapshot took 6.2-10.3 s with 2 workers, 6.3-7.3 s with 4 and 4.8-4.9 s
// with 8 on 2 cores, against 8.6-12.0 s for rm -rf.
func removeWorkers() int { return max(4*runtime.NumCPU(), 8) }

// rmDir is a directory being removed. pending counts what must end before
// it can go: its own listing and each of its subdirectories.
type rmDir struct {
	path    string
	parent  *rmDir
	pending atomic.Int64
}

type remover struct {
	ctx   context.Context
	mu    sync.Mutex
	cond  *sync.Cond
	stack []*rmDir // last in, first out: deep first, so few wait at a time
	busy  int      // workers holding a directory
	done  bool
	err   error
}

func (r *remover) push(d *rmDir) {
	d.pending.Store(1)
	r.mu.Lock()
	r.stack = append(r.stack, d)
	r.mu.Unlock()
	r.cond.Signal()
}

// next waits for a directory to work on; nil when the tree is gone (no
// directory waits and no worker holds one) or a worker failed.
func (r *remover) next() *rmDir {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		switch {
		case r.err != nil || r.done:
			return nil
		case len(r.stack) > 0:
			d := r.stack[len(r.stack)-1]
			r.stack = r.stack[:len(r.stack)-1]
			r.busy++
			return d
		case r.busy == 0:
			r.done = true
			r.cond.Broadcast()
			return nil
		}
		r.cond.Wait()
	}
}

func (r *remover) fail(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	r.cond.Broadcast()
}

func (r *remover) work() {
	for {
		d := r.next()
		if d == nil {
			return
		}
		err := r.ctx.Err()
		if err == nil {
			err = r.empty(d)
		}
		if err == nil {
			err = r.finish(d)
		}
		if err != nil {
			r.fail(err)
		}
		r.mu.Lock()
		r.busy--
		r.mu.Unlock()
		r.cond.Broadcast()
	}
}

// empty unlinks d's files and queues its subdirectories.
func (r *remover) empty(d *rmDir) error {
	f, err := openDir(d.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	dfd := int(f.Fd())
	for {
		entries, err := f.ReadDir(512)
		for _, e := range entries {
			if e.IsDir() {
				d.pending.Add(1)
				r.push(&rmDir{path: filepath.Join(d.path, e.Name()), parent: d})
				continue
			}
			err := unix.Unlinkat(dfd, e.Name(), 0)
			if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
				if unix.Fchmod(dfd, 0o700) == nil {
					err = unix.Unlinkat(dfd, e.Name(), 0)
				}
			}
			if err = ignoreGone(err); err != nil {
				return &os.PathError{Op: "unlink", Path: filepath.Join(d.path, e.Name()), Err: err}
			}
		}
		if errors.Is(err, io.EOF) || (err == nil && len(entries) == 0) {
			return nil
		}
		if err = ignoreGone(err); err != nil {
			return err
		}
		if len(entries) == 0 {
			return nil // removed while it was read
		}
	}
}

// finish ends d's own part and removes every directory, d and up, whose
// last part that was.
func (r *remover) finish(d *rmDir) error {
	for ; d != nil && d.pending.Add(-1) == 0; d = d.parent {
		err := unix.Rmdir(d.path)
		if (errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)) && d.parent != nil {
			if unix.Chmod(d.parent.path, 0o700) == nil {
				err = unix.Rmdir(d.path)
			}
		}
		if err = ignoreGone(err); err != nil {
			return &os.PathError{Op: "rmdir", Path: d.path, Err: err}
		}
	}
	return nil
}

// openDir opens a directory to list it, making it readable and searchable
// first when it is not.
func openDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
	if errors.Is(err, os.ErrPermission) {
		if os.Chmod(path, 0o700) == nil {
			f, err = os.OpenFile(path, os.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
		}
	}
	return f, err
}

func ignoreGone(err error) error {
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}
