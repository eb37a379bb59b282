package repository

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/depot-backup/depot/internal/relpath"
)

// LinkFile is a file for LinkTree to link from the base, with what the base's
// file list says its copy there is: the link is made only if the copy still
// is (type and permissions, size, mtime), so a base file changed in place or
// deleted since its snapshot was made is never carried forward.
//
// A directory (Mode says so) is one whose attributes the snapshot keeps
// from the base instead of having rsync set them: type and permissions,
// owner and mtime must be what the list says (its size is the file
// system's business), and a directory that fails the check, or whose
// attributes cannot be made so, is returned for copying like a file.
type LinkFile struct {
	Path     string
	Mode     uint32 // st_mode
	Size     int64
	Mtime    int64 // ns
	Uid, Gid uint32
}

// isDir reports whether f is a directory whose attributes are kept.
func (f LinkFile) isDir() bool { return f.Mode&unix.S_IFMT == unix.S_IFDIR }

// matches reports whether st describes the copy f expects.
func (f LinkFile) matches(st *unix.Stat_t) bool {
	if f.isDir() {
		return st.Mode == f.Mode && st.Mtim.Nano() == f.Mtime && st.Uid == f.Uid && st.Gid == f.Gid
	}
	return st.Mode == f.Mode && st.Size == f.Size && st.Mtim.Nano() == f.Mtime
}

// checkLinkPaths refuses a path that is not clean and relative: LinkTree
// creates and links only inside dst.
func checkLinkPaths(dirs []string, files []LinkFile, drop []string) error {
	for _, d := range dirs {
		if err := relpath.Check(d); err != nil {
			return fmt.Errorf("link tree: %w", err)
		}
	}
	for _, f := range files {
		if err := relpath.Check(f.Path); err != nil {
			return fmt.Errorf("link tree: %w", err)
		}
	}
	for _, d := range drop {
		if err := relpath.Check(d); err != nil {
			return fmt.Errorf("link tree: %w", err)
		}
	}
	return nil
}

// LinkTree implements FS: one linkat(2) per file, relative to open
// directories (no symlink followed, no path resolved twice, no path too
// long), in as many goroutines as there are CPUs, each over a run of the
// files. Each base copy is stat'ed before it is linked. A file at the file
// system's limit of hard links (EMLINK) gives up: the caller copies instead.
func (l LocalFS) LinkTree(ctx context.Context, src, dst string, dirs []string, files []LinkFile, drop []string) ([]string, error) {
	if err := checkLinkPaths(dirs, files, drop); err != nil {
		return nil, err
	}
	if err := mkdirs(dst, dirs); err != nil {
		return nil, err
	}
	var kept []LinkFile // the directories, which linkFiles passes over
	for _, f := range files {
		if f.isDir() {
			kept = append(kept, f)
		}
	}
	workers := min(runtime.GOMAXPROCS(0), 1+len(files)/1024)
	errs := make([]error, workers)
	copies := make([][]string, workers)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			copies[w], errs[w] = linkFiles(ctx, src, dst, files[w*len(files)/workers:(w+1)*len(files)/workers], &stop)
			if errs[w] != nil {
				stop.Store(true)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if errors.Is(err, unix.EMLINK) {
			if rerr := l.emptyDir(dst); rerr != nil {
				return nil, rerr
			}
			return nil, fmt.Errorf("%w: %w", ErrNoLinkTree, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var out []string
	for _, c := range copies {
		out = append(out, c...)
	}
	// Last, when nothing more is linked into them: their mtimes stay.
	rest, err := keepDirs(src, dst, kept)
	if err != nil {
		return nil, err
	}
	return append(out, rest...), nil
}

// keepDirs gives each directory in dirs under dst the attributes of its
// base copy under src: permissions, owner and mtime, once the base copy is
// checked against the list. A directory whose base copy fails the check,
// or that has extended attributes (ACLs included) on either side, which
// this does not copy, is returned for rsync to set.
func keepDirs(src, dst string, dirs []LinkFile) ([]string, error) {
	if len(dirs) == 0 {
		return nil, nil
	}
	from, err := openDirChain(src, false)
	if err != nil {
		return nil, err
	}
	defer from.Close()
	into, err := openDirChain(dst, false)
	if err != nil {
		return nil, err
	}
	defer into.Close()
	var copies []string
	for _, d := range dirs {
		ok, err := keepDir(from, into, d)
		if err != nil {
			return nil, fmt.Errorf("keep %s: %w", filepath.Join(dst, d.Path), err)
		}
		if !ok {
			copies = append(copies, d.Path)
		}
	}
	return copies, nil
}

// keepDir is keepDirs for one directory; false leaves it to rsync.
func keepDir(from, into *dirChain, d LinkFile) (bool, error) {
	sfd, err := from.open(d.Path)
	if err != nil {
		return false, nil // the base lost it, or it is not a directory there
	}
	var st unix.Stat_t
	if err := unix.Fstat(sfd, &st); err != nil || !d.matches(&st) || hasXattrs(sfd) {
		return false, nil
	}
	pfd, err := into.open(d.Path)
	if err != nil {
		return false, err
	}
	fd, err := unix.Openat(pfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	if hasXattrs(fd) { // a default ACL inherited from above, say
		return false, nil
	}
	if unix.Fchown(fd, int(d.Uid), int(d.Gid)) != nil || unix.Fchmod(fd, d.Mode&0o7777) != nil {
		return false, nil // rsync says why, or does what it can
	}
	times := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, unix.NsecToTimespec(d.Mtime)}
	if err := unix.UtimesNanoAt(fd, ".", times, 0); err != nil {
		return false, err
	}
	return true, nil
}

// hasXattrs reports whether the file open at fd (O_PATH or not) has
// extended attributes, or may have: a file system without them says none.
func hasXattrs(fd int) bool {
	n, err := unix.Listxattr(fmt.Sprintf("/proc/self/fd/%d", fd), nil)
	if errors.Is(err, unix.ENOTSUP) {
		return false
	}
	return err != nil || n > 0
}

// mkdirs creates dirs (in file list order, parents first) under dst.
func mkdirs(dst string, dirs []string) error {
	chain, err := openDirChain(dst, false)
	if err != nil {
		return err
	}
	defer chain.Close()
	for _, d := range dirs {
		parent, name := splitRel(d)
		fd, err := chain.open(parent)
		if err != nil {
			return err
		}
		if err := unix.Mkdirat(fd, name, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return &os.PathError{Op: "mkdir", Path: filepath.Join(dst, d), Err: err}
		}
	}
	return nil
}

// linkFiles hard-links files from src into dst until one fails or stop is
// set, and returns those whose base copy is missing or not what the base's
// list says.
func linkFiles(ctx context.Context, src, dst string, files []LinkFile, stop *atomic.Bool) ([]string, error) {
	from, err := openDirChain(src, false)
	if err != nil {
		return nil, err
	}
	defer from.Close()
	into, err := openDirChain(dst, false)
	if err != nil {
		return nil, err
	}
	defer into.Close()
	var copies []string
	for i, f := range files {
		if i%1024 == 0 && (ctx.Err() != nil || stop.Load()) {
			return nil, ctx.Err()
		}
		if f.isDir() {
			continue // see keepDirs
		}
		dir, name := splitRel(f.Path)
		sfd, err := from.open(dir)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			copies = append(copies, f.Path) // the base lost the directory
			continue
		}
		if err != nil {
			return nil, err
		}
		dfd, err := into.open(dir)
		if err != nil {
			return nil, err
		}
		var st unix.Stat_t
		if err := unix.Fstatat(sfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || !f.matches(&st) {
			copies = append(copies, f.Path)
			continue
		}
		if err := unix.Linkat(sfd, name, dfd, name, 0); err != nil {
			return nil, &os.LinkError{Op: "link", Old: filepath.Join(src, f.Path), New: filepath.Join(dst, f.Path), Err: err}
		}
	}
	return copies, nil
}

// emptyDir removes everything in dir.
func (l LocalFS) emptyDir(dir string) error {
	if err := l.RemoveAll(context.Background(), dir); err != nil {
		return err
	}
	return os.Mkdir(dir, 0o755)
}
