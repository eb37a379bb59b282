package repository

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"time"
)

// FS is the file system a repository lives on: this machine's (LocalFS), or a
// repository host's reached through a hosts.Host (HostFS). Paths are absolute.
// Every method is safe to call again after a failure.
type FS interface {
	// ReadDir lists dir sorted by name. A directory that does not exist
	// has no entries.
	ReadDir(ctx context.Context, dir string) ([]DirEntry, error)
	// Exists reports for each path whether it exists (a dangling symlink
	// exists).
	Exists(ctx context.Context, paths ...string) ([]bool, error)
	// MkdirAll creates dir and its missing parents, mode 0700 whatever
	// the umask.
	MkdirAll(ctx context.Context, dir string) error
	// Chmod sets the permission bits of path.
	Chmod(ctx context.Context, path string, mode fs.FileMode) error
	// Mode returns the permission bits of path (following symlinks).
	Mode(ctx context.Context, path string) (fs.FileMode, error)
	// Writable tells, without writing, whether this user may create files
	// in dir (access(2): a read-only mount says no even to root).
	Writable(ctx context.Context, dir string) error
	// Rename renames old to new, replacing a file at new; it fails if new
	// is a directory.
	Rename(ctx context.Context, old, new string) error
	// Remove removes a file; a missing file is no error.
	Remove(ctx context.Context, path string) error
	// RemoveAll removes a tree, directories without write permission
	// included; a missing tree is no error.
	RemoveAll(ctx context.Context, path string) error
	// Size returns the size of the file at path, an error wrapping
	// fs.ErrNotExist when there is none.
	Size(ctx context.Context, path string) (int64, error)
	// ReadFile reads a small file whole.
	ReadFile(ctx context.Context, path string) ([]byte, error)
	// ReadFiles reads small files whole, all in one go (one round trip
	// on a remote host): for each path its data, or nil when it is not a
	// regular file this user can read (missing, a directory, unreadable).
	// An error means the host could not be asked.
	ReadFiles(ctx context.Context, paths ...string) ([][]byte, error)
	// WriteFile writes a small file whole (mode 0600, replacing one there).
	WriteFile(ctx context.Context, path string, data []byte) error
	// Open streams a file; the caller closes it.
	Open(ctx context.Context, path string) (io.ReadCloser, error)
	// Create writes path (mode 0600, replacing a file there). The file is
	// complete only when Close returns nil.
	Create(ctx context.Context, path string) (io.WriteCloser, error)
	// Append adds data to the end of path, creating it (mode 0600) if
	// needed.
	Append(ctx context.Context, path string, data []byte) error
	// Link makes new a hard link to old, replacing a file at new; a copy
	// of old when old has reached the file system's limit of hard links.
	Link(ctx context.Context, old, new string) error
	// LinkTree fills the empty directory dst from the tree at src: the
	// directories dirs are created, the files are hard links to src's
	// copies, and nothing else of src is there; drop names src's other
	// paths (outermost only), for a host that clones src whole and then
	// removes. Paths are relative, in file list order. A file whose copy
	// in src is missing or not what its LinkFile says is not linked but
	// returned, for the caller to copy from the source. A directory among
	// files (see LinkFile) gets its src copy's attributes once checked,
	// or is returned, for the caller to have rsync set them; it is never
	// removed. An error wrapping ErrNoLinkTree leaves dst empty: the host
	// cannot do it.
	LinkTree(ctx context.Context, src, dst string, dirs []string, files []LinkFile, drop []string) (copy []string, err error)
	// SetMtime sets a file's modification time, to whole seconds.
	SetMtime(ctx context.Context, path string, t time.Time) error
	// Sync makes everything written on dir's file system durable.
	Sync(ctx context.Context, dir string) error
	// Lock takes the exclusive lock on the file at path, waiting up to
	// wait, and records holder in it. The lock is released by Unlock or
	// when this process dies, however it dies.
	Lock(ctx context.Context, path string, wait time.Duration, holder string) (Unlocker, error)
	// ExclusiveSize is the disk space deleting the tree at dir would free.
	ExclusiveSize(ctx context.Context, dir string) (int64, error)
	// Free is the space available to the user on dir's file system.
	Free(ctx context.Context, dir string) (int64, error)
}

// ErrNoLinkTree means FS.LinkTree cannot build the tree on this host.
var ErrNoLinkTree = errors.New("cannot build a tree of hard links here")

// DirEntry is one name in a directory.
type DirEntry struct {
	Name  string
	IsDir bool // a directory, not a symlink to one
}

// Unlocker releases a lock.
type Unlocker interface {
	Unlock() error
}
