package repository

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/depot-backup/depot/backupitems"
	"github.com/depot-backup/depot/internal/fsat"
	"github.com/depot-backup/depot/internal/relpath"
)

// ScanStats are the figures of one scan.
type ScanStats struct {
	Files        int64 // regular files
	Bytes        int64 // their apparent size
	FilesHashed  int64 // files read and hashed because they are new or changed
	BytesHashed  int64
	FilesCarried int64 // files whose hash came from the base's list
	// FilesPrehashed of FilesHashed were read while they were copied, and
	// are still the file read (see CopyHashes).
	FilesPrehashed int64
	Vanished       int64 // copied paths gone before the copy (ScanPaths)
}

// SourceStat is what a walk of the source saw of a path before it was copied:
// what a file list records besides the copy's own attributes (see Entry).
type SourceStat struct {
	Uid, Gid uint32
	Ctime    int64 // ns
}

// SourceStats looks a path (relative to the item directory) up in a walk of
// the source. A nil SourceStats knows no path.
type SourceStats func(path string) (SourceStat, bool)

// CopyHashes looks a path (relative to the item directory, asked in PathLess
// order, each at most once) up in what was read of the copy while it was
// made. A nil CopyHashes knows no path.
type CopyHashes func(path string) (backupitems.CopyHash, bool)

// Scan walks the tree at root and writes its file list to w. A file whose type,
// size and mtime equal its entry in base (the base snapshot's list, or nil) is
// the base's file hard-linked by rsync, so it keeps the base's hash unread; a
// file that hashed read while it was copied, and that is still the file read
// (device, inode, size, mtime and ctime all equal), takes that hash unread;
// every other regular file and symlink is hashed. src supplies the source's
// ctime, uid and gid. Memory stays constant: the walk, the base list and the
// output all stream in the same order. Everything below root is reached
// relative to its directory, never through a symlink.
func Scan(ctx context.Context, root string, base EntryReader, src SourceStats, hashed CopyHashes, w *FileListWriter) (ScanStats, error) {
	s := &scanner{ctx: ctx, root: root, base: base, src: src, hashed: hashed}
	return s.run(w, func(queue, work chan<- *pending) error { return s.walk("", queue, work) })
}

// PathList calls fn for each path of a list in PathLess order, with linked
// set for a path known to be a hard link to the base's copy, and stops at
// fn's first error, returning it.
type PathList func(fn func(path string, linked bool) error) error

// ScanPaths writes the file list of the given paths, found under root,
// without walking anything. A path known to be a hard link to the base's
// copy (linked) takes the base's entry without a system call; the others
// were copied, and are stat'ed under root and hashed, even when their size
// and mtime equal the base's copy: a copy made because something else told
// the content changed may keep both. root is the snapshot's item directory,
// or, when that is on another host, the local tree it was copied from ("/",
// the only root whose symlinks to directories are followed: a configured
// path may be one). The paths are input from another process, often
// another host: each must pass relpath.Check and follow the one before in
// PathLess order, and is reached relative to root. A copied path that is not
// there vanished from the source before rsync came to it, and is left out.
func ScanPaths(ctx context.Context, root string, paths PathList, base EntryReader, src SourceStats, w *FileListWriter) (ScanStats, error) {
	s := &scanner{ctx: ctx, root: root, base: base, src: src, follow: root == "/"}
	return s.run(w, func(queue, work chan<- *pending) error {
		n, last := 0, ""
		return paths(func(rel string, linked bool) error {
			if err := relpath.Check(rel); err != nil {
				return err
			}
			if n > 0 && !PathLess(last, rel) {
				return fmt.Errorf("%q does not sort after %q", rel, last)
			}
			if n++; n%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			last = rel
			if linked {
				if b, ok := s.baseEntry(rel); ok && (b.Hash != "" || !b.IsRegular() && !b.IsSymlink()) {
					s.sourceOf(&b)
					queue <- &pending{entry: b}
					return nil
				}
			}
			if _, err := s.visit(rel, false, queue, work); err != nil {
				if !linked && errors.Is(err, fs.ErrNotExist) {
					s.vanished++ // gone from the source before rsync came
					return nil
				}
				return err
			}
			return nil
		})
	})
}

// run drives produce, which queues every entry in order and hands those that
// need reading to the workers, and writes the entries in order: hashing in
// parallel, writing in sequence.
func (s *scanner) run(w *FileListWriter, produce func(queue, work chan<- *pending) error) (ScanStats, error) {
	if s.base != nil {
		s.advanceBase()
	}
	dirs, err := openDirChain(s.root, s.follow)
	if err != nil {
		return ScanStats{}, fmt.Errorf("scan %s: %w", s.root, err)
	}
	s.dirs = dirs
	queue := make(chan *pending, 4096)
	work := make(chan *pending, 256)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				p.entry.Hash, p.err = hashFile(p.file, p.entry)
				p.file.Close()
				close(p.done)
			}
		}()
	}
	produced := make(chan error, 1)
	go func() {
		defer close(queue)
		defer close(work)
		defer dirs.Close()
		produced <- produce(queue, work)
	}()
	var stats ScanStats
	var writeErr error
	for p := range queue {
		if p.done != nil {
			<-p.done
			if p.err != nil && writeErr == nil {
				writeErr = p.err
			}
			stats.FilesHashed += boolInt(p.entry.IsRegular())
			stats.BytesHashed += p.entry.Size * boolInt(p.entry.IsRegular())
		} else if p.prehashed {
			stats.FilesHashed++
			stats.FilesPrehashed++
			stats.BytesHashed += p.entry.Size
		} else if p.entry.IsRegular() {
			stats.FilesCarried++
		}
		if p.entry.IsRegular() {
			stats.Files++
			stats.Bytes += p.entry.Size
		}
		if writeErr == nil {
			writeErr = w.Write(p.entry)
		}
	}
	wg.Wait()
	err = errors.Join(<-produced, writeErr)
	stats.Vanished = s.vanished // written by produce, which has returned
	if err != nil {
		return stats, fmt.Errorf("scan %s: %w", s.root, err)
	}
	return stats, nil
}

type pending struct {
	entry     Entry
	prehashed bool          // the hash came from CopyHashes
	file      *os.File      // the open file to hash
	done      chan struct{} // nil when the entry needs no hashing
	err       error
}

type scanner struct {
	ctx      context.Context
	root     string
	follow   bool
	dirs     *dirChain
	base     EntryReader
	src      SourceStats
	hashed   CopyHashes
	baseNext Entry
	baseOK   bool
	vanished int64
}

// sourceOf sets e's source fields from the walk of the source, when it saw
// the path; else e keeps what it has (a linked base entry: the base's).
func (s *scanner) sourceOf(e *Entry) {
	if s.src == nil {
		return
	}
	if st, ok := s.src(e.Path); ok && st.Ctime != 0 {
		e.Ctime, e.Uid, e.Gid = st.Ctime, st.Uid, st.Gid
	}
}

func (s *scanner) advanceBase() {
	e, err := s.base.Next()
	if err != nil {
		// A damaged base list is only a lost shortcut: what follows is
		// read and hashed.
		s.baseOK = false
		return
	}
	s.baseNext, s.baseOK = e, true
}

// baseEntry returns the base's entry for path, if it has one.
func (s *scanner) baseEntry(path string) (Entry, bool) {
	for s.baseOK && PathLess(s.baseNext.Path, path) {
		s.advanceBase()
	}
	if s.baseOK && s.baseNext.Path == path {
		return s.baseNext, true
	}
	return Entry{}, false
}

// walk visits dir (relative to root) depth-first, names in bytewise order.
func (s *scanner) walk(dir string, queue, work chan<- *pending) error {
	if err := s.ctx.Err(); err != nil {
		return err
	}
	dfd, err := s.dirs.open(dir)
	if err != nil {
		return err
	}
	fd, err := unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: filepath.Join(s.root, dir), Err: err}
	}
	f := os.NewFile(uintptr(fd), filepath.Join(s.root, dir))
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return err
	}
	sortStrings(names)
	for _, name := range names {
		rel := name
		if dir != "" {
			rel = dir + "/" + name
		}
		e, err := s.visit(rel, true, queue, work)
		if err != nil {
			return err
		}
		if e.IsDir() {
			if err := s.walk(rel, queue, work); err != nil {
				return err
			}
		}
	}
	return nil
}

// visit stats rel and queues its entry, with the base's hash when carry is
// set and the base has the same file (type, size and mtime), else for
// hashing. It looks at rel relative to its directory, without following a
// symlink, and opens a file to hash in the same way.
func (s *scanner) visit(rel string, carry bool, queue, work chan<- *pending) (Entry, error) {
	dir, name := splitRel(rel)
	dfd, err := s.dirs.open(dir)
	if err != nil {
		return Entry{}, err
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return Entry{}, &os.PathError{Op: "lstat", Path: rel, Err: err}
	}
	e := Entry{Path: rel, Mode: st.Mode, Size: st.Size, Mtime: st.Mtim.Nano()}
	s.sourceOf(&e)
	p := &pending{entry: e}
	if e.IsRegular() || e.IsSymlink() {
		b, ok := s.baseEntry(rel)
		switch {
		case carry && ok && b.Mode&modeType == e.Mode&modeType && b.Size == e.Size && b.Mtime == e.Mtime && b.Hash != "":
			p.entry.Hash = b.Hash
		case e.IsSymlink():
			target, err := fsat.Readlink(dfd, name)
			if err != nil {
				return Entry{}, &os.PathError{Op: "readlink", Path: rel, Err: err}
			}
			p.entry.Hash = hashBytes([]byte(target))
		case s.prehashed(&p.entry, &st):
			p.prehashed = true
		default:
			fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
			if err != nil {
				return Entry{}, &os.PathError{Op: "open", Path: rel, Err: err}
			}
			p.file = os.NewFile(uintptr(fd), filepath.Join(s.root, rel))
			p.done = make(chan struct{})
		}
	}
	queue <- p
	if p.done != nil {
		work <- p
	}
	return e, nil
}

// prehashed sets e's hash from what was read of the regular file e while it
// was copied, when st, its lstat, shows it is still the file read.
func (s *scanner) prehashed(e *Entry, st *unix.Stat_t) bool {
	if s.hashed == nil || !e.IsRegular() {
		return false
	}
	h, ok := s.hashed(e.Path)
	if !ok || h.Dev != st.Dev || h.Ino != st.Ino || h.Size != st.Size || h.Mtime != st.Mtim.Nano() || h.Ctime != st.Ctim.Nano() {
		return false
	}
	e.Hash = hex.EncodeToString(h.SHA256[:])
	return true
}

// hashFile hashes the regular file f, which e describes.
func hashFile(f *os.File, e Entry) (string, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return "", fmt.Errorf("hash %s: %w", f.Name(), err)
	}
	if st.Mode&modeType != modeRegular {
		return "", fmt.Errorf("hash %s: no longer a regular file", f.Name())
	}
	h := sha256.New()
	if err := copyPooled(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", f.Name(), err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// HashEntry returns what a file list records as the hash of the file at path
// described by e: the SHA-256 of a regular file's content or of a symlink's
// target.
func HashEntry(path string, e Entry) (string, error) {
	h := sha256.New()
	if e.IsSymlink() {
		target, err := os.Readlink(path)
		if err != nil {
			return "", err
		}
		h.Write([]byte(target))
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := copyPooled(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// hashBuffers are the buffers files are read through to be hashed: one
// allocation per goroutine rather than one per file (io.Copy from an
// *os.File makes a fresh 32 KiB buffer every time).
var hashBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// copyPooled copies r into w through a pooled buffer.
func copyPooled(w io.Writer, r io.Reader) error {
	buf := hashBuffers.Get().(*[]byte)
	defer hashBuffers.Put(buf)
	_, err := io.CopyBuffer(w, struct{ io.Reader }{r}, *buf)
	return err
}
