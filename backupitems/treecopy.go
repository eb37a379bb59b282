package backupitems

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// depot's own copier, for a first copy on one machine. rsync's local copy
// runs three processes and pipes every byte between them, and the file list
// then reads every file a second time to hash it. The copier reads each file
// once with a few workers, hashes what it reads for the file list (a
// CopyHash hint, checked like copyHasher's) and writes it. The write-out
// starts when the copy ends (writeBehind), as after rsync: starting it for
// each file as it is written (sync_file_range SYNC_FILE_RANGE_WRITE) did
// the file system's block allocation and I/O submission in the copying
// threads, and on 2 cores cost more than it saved (100,000 files, 1.5 GB:
// the copy took 27.9 s instead of 21.5 s at load 12, the sync after it
// 1.8 s instead of 4.2 s; 23.4 and 31.7 s a run against 20.1 and 27.1 s).
//
// It makes what rsync -aHAX --numeric-ids --relative makes of the same tree
// into an empty Dir: each path under Dir/<its absolute source path>, the
// directories above the configured paths with their own attributes, mode,
// numeric owner and group, mtime to the nanosecond (symlinks too), symlink
// targets, hard links among the copied files, the xattrs rsync -X copies as
// root (user.* and trusted.*: see copiesXattr for the others) when Xattrs is
// on and the POSIX ACLs (system.posix_acl_*) when ACLs is on, directory
// attributes set after their contents (and default ACLs with them, so that
// no copy inherits one). It is used only where it is certain to match (copierRefusal):
// otherwise, and whenever it meets what it does not reproduce (an xattr in
// the security namespace, say: rsync's order of chown and setxattr decides
// what survives of a file capability), rsync copies, as before.
//
// One difference from rsync 3.5.0 is known: rsync leaves its copy's own
// time on a directory whose source time falls within the second of the copy
// (it compares whole seconds before setting a directory's time again after
// filling it); the copier always gives the source's.
//
// Attributes are those the walk before the copy saw (as rsync's file list
// holds them), the data what the file holds when it is read. Memory stays
// bounded: the walk is read back from its spill, and only files with more
// than one link are remembered, to link their other names.

// errCopierCannot means the copier met something it does not reproduce
// exactly; what it wrote is removed and rsync copies instead.
var errCopierCannot = errors.New("the copier cannot reproduce this exactly")

// copyWorkers read, hash and write files at once: two per CPU, so that
// one waiting for the disk leaves the CPU to another.
func copyWorkers() int { return max(2, 2*runtime.GOMAXPROCS(0)) }

// copierRefusal says why the copier may not make the first copy of the item
// in env into dir, after a walk of the source that found sparse files that
// may have holes and special devices, fifos or sockets, or "" when it may.
// plan and run both decide here. Running as root is required: rsync run by
// another user keeps what it can of owners and xattrs, silently.
func (f *Filesystem) copierRefusal(env Env, tree TreeEnv, dir string, sparse, special int) string {
	switch {
	case isRemote(env.Source) || isRemote(env.Repo) || tree.Remote:
		return "the source or the repository is on another host"
	case env.Base != "":
		return "there is a base snapshot"
	case len(f.Exclude) > 0:
		return "the item has exclude patterns"
	case f.OneFileSystem:
		return "one_file_system is on"
	case os.Geteuid() != 0:
		return "depot does not run as root (rsync keeps what it can of owners)"
	case special > 0:
		return "the source has devices, fifos or sockets"
	case sparse > 0:
		return "the source has files that may have holes"
	}
	if names, err := readNames(dir, 1); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "the item directory cannot be read: " + err.Error()
	} else if len(names) > 0 {
		return "the item directory holds an interrupted run's copy, which rsync completes"
	}
	if _, err := unix.Lgetxattr(dir, aclDefault, nil); err == nil {
		return "the item directory has a default ACL, which new files would inherit"
	}
	return ""
}

// readNames returns up to n names in dir (all for n <= 0).
func readNames(dir string, n int) ([]string, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(n)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return names, err
}

// copyMethod is what plan says of a first copy by the copier.
const copyMethod = "depot's own copier over the whole tree (a first copy on this machine): it makes what rsync would, " +
	"reading each file once and hashing it for the file list as it writes it; " +
	"if it meets an xattr it does not copy exactly (security.*, system.* but the POSIX ACLs), rsync copies instead"

// copyTree makes the first copy of the walked tree q into env.Dir with the
// copier. An error wrapping errCopierCannot leaves env.Dir empty.
func (f *Filesystem) copyTree(ctx context.Context, env Env, q *quickWalk) (Result, TreeListing, error) {
	began := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d, err := os.Open(env.Dir)
	if err != nil {
		return Result{}, TreeListing{}, fmt.Errorf("copy into %s: %w", env.Dir, err)
	}
	defer d.Close()
	c := &treeCopier{
		ctx: ctx, cancel: cancel, dst: int(d.Fd()), dstName: env.Dir,
		acls: f.ACLs == nil || *f.ACLs, xattrs: f.Xattrs == nil || *f.Xattrs,
		hashes: newCopyHashes(), leaders: map[devIno]string{},
	}
	err = c.run(q.spill)
	if err == nil {
		err = c.hashes.done()
	}
	if err != nil {
		c.hashes.close()
		if errors.Is(err, errCopierCannot) {
			if rerr := emptyDir(env.Dir); rerr != nil {
				return Result{}, TreeListing{}, fmt.Errorf("copy into %s: %w; removing what it wrote: %w", env.Dir, err, rerr)
			}
		}
		return Result{}, TreeListing{}, err
	}
	env.Log.Info("copier done", "files", c.files.Load(), "bytes", c.bytes.Load(), "links", len(c.followers),
		"vanished", c.vanished.Load(), "seconds", time.Since(began).Seconds())
	out := Result{FilesTransferred: c.files.Load(), BytesTransferred: c.bytes.Load()}
	if n := c.vanished.Load(); n > 0 {
		// What rsync's exit 24 reports (see rsync.Run).
		out.Warnings = append(out.Warnings, fmt.Sprintf("copier: %d source files vanished during the transfer (as rsync's exit 24)", n))
		out.Warnings = append(out.Warnings, c.vanishedNames...)
	}
	hashes := c.hashes
	wait := writeBehind(env.Dir)
	list := TreeListing{Hashed: hashes.Lookup(), Close: func() { wait(); hashes.close() }}
	return out, list, nil
}

// emptyDir removes everything in dir.
func emptyDir(dir string) error {
	names, err := readNames(dir, 0)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
			return err
		}
	}
	return nil
}

type devIno struct{ dev, ino uint64 }

// treeCopier is one run of the copier. Names are relative to dst, the item
// directory, and are the source's absolute paths without their leading /.
type treeCopier struct {
	ctx     context.Context
	cancel  context.CancelFunc
	dst     int // the item directory
	dstName string
	acls    bool
	xattrs  bool

	files, bytes atomic.Int64
	vanished     atomic.Int64
	seq          atomic.Uint64

	mu            sync.Mutex // guards what follows
	hashes        *CopyHashes
	vanishedNames []string // the first maxVanishedNames
	failed        int      // paths that could not be copied
	firstErr      error    // the first of those, or an error that stops the copy

	// Only the dispatching goroutine, then the end of run, use these.
	leaders   map[devIno]string // a linked source file's first name
	followers []follower        // its other names, linked once all is copied
	relinked  map[string]string // a first name not copied: the name copied instead
}

type follower struct {
	e      sourceEntry
	leader string
}

const maxVanishedNames = 20

// run copies the spill's paths: directories are made in order as they
// come, the other paths are copied by workers, the other names of linked
// files are linked to their first, and the directories' attributes are set
// last.
func (c *treeCopier) run(spill *walkSpill) error {
	jobs := make(chan sourceEntry, 256)
	var wg sync.WaitGroup
	for range copyWorkers() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			for e := range jobs {
				if c.ctx.Err() == nil {
					c.note(e.path, c.copyEntry(e, buf))
				}
			}
		}()
	}
	err := spill.each(func(e sourceEntry, _ byte) error {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		if e.isDir() {
			if err := unix.Mkdirat(c.dst, e.path, 0o700); err != nil {
				return fmt.Errorf("copy into %s: mkdir %s: %w", c.dstName, e.path, err)
			}
			return nil
		}
		if e.nlink > 1 {
			var st unix.Stat_t
			if err := unix.Lstat("/"+e.path, &st); err == nil {
				k := devIno{st.Dev, st.Ino}
				if first, ok := c.leaders[k]; ok {
					c.followers = append(c.followers, follower{e, first})
					return nil
				}
				c.leaders[k] = e.path
			}
		}
		select {
		case jobs <- e:
		case <-c.ctx.Done():
			return c.ctx.Err()
		}
		return nil
	})
	close(jobs)
	wg.Wait()
	if serr := c.stopped(); serr != nil {
		return serr
	}
	if err != nil {
		return err
	}
	buf := make([]byte, 256<<10)
	for _, fl := range c.followers {
		c.note(fl.e.path, c.link(fl, buf))
	}
	if err := c.stopped(); err != nil {
		return err
	}
	if err := spill.each(func(e sourceEntry, _ byte) error {
		if e.isDir() {
			c.note(e.path, c.setAttrs(e))
		}
		return c.stopped()
	}); err != nil {
		return err
	}
	if c.failed > 0 {
		// As rsync's exit 23: what could be copied is, the item fails.
		return fmt.Errorf("copy into %s: partial transfer due to error: %d paths not copied; the first: %w", c.dstName, c.failed, c.firstErr)
	}
	return nil
}

// stopped returns the error that stops the copy: ctx's, or one wrapping
// errCopierCannot.
func (c *treeCopier) stopped() error {
	c.mu.Lock()
	cannot := c.firstErr
	c.mu.Unlock()
	if errors.Is(cannot, errCopierCannot) {
		return cannot
	}
	return c.ctx.Err()
}

// note records the outcome of copying one path.
func (c *treeCopier) note(name string, err error) {
	if err == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case errors.Is(err, errVanished):
		c.vanished.Add(1)
		if len(c.vanishedNames) < maxVanishedNames {
			c.vanishedNames = append(c.vanishedNames, fmt.Sprintf("file has vanished: %q", "/"+name))
		}
	case errors.Is(err, errCopierCannot):
		if !errors.Is(c.firstErr, errCopierCannot) {
			c.firstErr = err
		}
		c.cancel()
	default:
		c.failed++
		if c.firstErr == nil {
			c.firstErr = err
		}
	}
}

// errVanished marks a source path gone (or no longer of its kind) since
// the walk: rsync's exit 24, a warning.
var errVanished = errors.New("vanished")
