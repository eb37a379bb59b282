package repository

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/gofrs/flock"
	"golang.org/x/sys/unix"
)

// LocalFS is this machine's file system.
type LocalFS struct{}

var _ FS = LocalFS{}

// ReadDir implements FS.
func (LocalFS) ReadDir(_ context.Context, dir string) ([]DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]DirEntry, len(entries))
	for i, e := range entries {
		out[i] = DirEntry{Name: e.Name(), IsDir: e.IsDir()}
	}
	return out, nil
}

// Exists implements FS.
func (LocalFS) Exists(_ context.Context, paths ...string) ([]bool, error) {
	out := make([]bool, len(paths))
	for i, p := range paths {
		_, err := os.Lstat(p)
		switch {
		case err == nil:
			out[i] = true
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
	}
	return out, nil
}

// MkdirAll implements FS. 0700 is at most what the umask leaves, so the
// directories depot makes are private whatever the umask.
func (LocalFS) MkdirAll(_ context.Context, dir string) error { return os.MkdirAll(dir, 0o700) }

// Chmod implements FS.
func (LocalFS) Chmod(_ context.Context, path string, mode fs.FileMode) error {
	return os.Chmod(path, mode)
}

// Writable implements FS.
func (LocalFS) Writable(_ context.Context, dir string) error {
	if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
		return &os.PathError{Op: "access", Path: dir, Err: err}
	}
	return nil
}

// Mode implements FS.
func (LocalFS) Mode(_ context.Context, path string) (fs.FileMode, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Mode().Perm(), nil
}

// Rename implements FS. The parents of both names are synced so the rename
// survives a crash.
func (LocalFS) Rename(_ context.Context, old, new string) error {
	if err := os.Rename(old, new); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(new)); err != nil {
		return err
	}
	if filepath.Dir(old) != filepath.Dir(new) {
		return syncDir(filepath.Dir(old))
	}
	return nil
}

// Remove implements FS.
func (LocalFS) Remove(_ context.Context, path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// RemoveAll implements FS with removeTree: unlinking in parallel across
// directories, and making directories that snapshots copied read-only from
// their sources writable first.
func (LocalFS) RemoveAll(ctx context.Context, path string) error { return removeTree(ctx, path) }

// ReadFile implements FS.
func (LocalFS) ReadFile(_ context.Context, path string) ([]byte, error) { return os.ReadFile(path) }

// Size implements FS.
func (LocalFS) Size(_ context.Context, path string) (int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// ReadFiles implements FS.
func (LocalFS) ReadFiles(ctx context.Context, paths ...string) ([][]byte, error) {
	out := make([][]byte, len(paths))
	for i, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			continue
		}
		if data, err := os.ReadFile(p); err == nil {
			out[i] = append([]byte{}, data...)
		}
	}
	return out, nil
}

// WriteFile implements FS.
func (LocalFS) WriteFile(_ context.Context, path string, data []byte) error {
	return os.WriteFile(path, data, 0o600)
}

// Open implements FS.
func (LocalFS) Open(_ context.Context, path string) (io.ReadCloser, error) { return os.Open(path) }

// Create implements FS.
func (LocalFS) Create(_ context.Context, path string) (io.WriteCloser, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
}

// Append implements FS.
func (LocalFS) Append(_ context.Context, path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Link implements FS. A file at the file system's limit of hard links
// (EMLINK) is copied instead.
func (LocalFS) Link(_ context.Context, old, new string) error {
	if err := os.Remove(new); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	err := os.Link(old, new)
	if errors.Is(err, syscall.EMLINK) {
		return copyForLink(old, new)
	}
	return err
}

// SetMtime implements FS.
func (LocalFS) SetMtime(_ context.Context, path string, t time.Time) error {
	t = t.Truncate(time.Second)
	return os.Chtimes(path, t, t)
}

// Sync implements FS: syncfs covers the whole file system in one call, far
// cheaper than an fsync per file.
func (LocalFS) Sync(_ context.Context, dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

// syncDir makes a rename or create in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// Lock implements FS with flock(2), which the kernel releases when the
// holder dies.
func (LocalFS) Lock(ctx context.Context, path string, wait time.Duration, holder string) (Unlocker, error) {
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
	// Who holds the lock is written for the message another run shows; the
	// lock itself is the flock, not this content.
	_ = os.WriteFile(path, []byte(holder+"\n"), 0o600)
	return fl, nil
}

// ExclusiveSize implements FS: the blocks of the directories and of the files
// whose every hard link lies inside dir.
func (LocalFS) ExclusiveSize(_ context.Context, dir string) (int64, error) {
	u := newUsage()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(path, &st); err != nil {
			return err
		}
		u.add(st.Ino, uint64(st.Nlink), st.Blocks*512, d.IsDir())
		return nil
	})
	return u.total(), err
}

// Free implements FS.
func (LocalFS) Free(_ context.Context, dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * st.Bsize, nil
}

// usage adds up the space that deleting a tree frees.
type usage struct {
	sum    int64
	shared map[uint64]*sharedInode
}

type sharedInode struct {
	links, nlink uint64 // links seen in the tree, links in all
	blocks       int64
}

func newUsage() *usage { return &usage{shared: map[uint64]*sharedInode{}} }

func (u *usage) add(ino, nlink uint64, bytes int64, dir bool) {
	if dir || nlink <= 1 {
		u.sum += bytes
		return
	}
	s := u.shared[ino]
	if s == nil {
		s = &sharedInode{nlink: nlink, blocks: bytes}
		u.shared[ino] = s
	}
	s.links++
}

func (u *usage) total() int64 {
	t := u.sum
	for _, s := range u.shared {
		if s.links >= s.nlink {
			t += s.blocks
		}
	}
	return t
}

func sortEntries(e []DirEntry) { sort.Slice(e, func(i, j int) bool { return e[i].Name < e[j].Name }) }
