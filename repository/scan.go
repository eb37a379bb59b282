package repository

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"syscall"
)

// ScanStats are the figures of one scan.
type ScanStats struct {
	Files        int64 // regular files
	Bytes        int64 // their apparent size
	FilesHashed  int64 // files read and hashed because they are new or changed
	BytesHashed  int64
	FilesCarried int64 // files whose hash came from the base's list
}

// Scan walks the tree at root and writes its file list to w. A file whose type,
// size and mtime equal its entry in base (the base snapshot's list, or nil) is the base's file hard-linked by rsync, so it keeps the base's hash
// unread; every other regular file and symlink is hashed. Memory stays constant:
// the walk, the base list and the output all stream in the same order.
func Scan(ctx context.Context, root string, base EntryReader, w *FileListWriter) (ScanStats, error) {
	s := &scanner{ctx: ctx, root: root, base: base}
	return s.run(w, func(queue, work chan<- *pending) error { return s.walk("", queue, work) })
}

// ScanPaths writes the file list of the given paths, found under root,
// without walking anything. A path known to be a hard link to the base's
// copy (true) takes the base's entry without a system call; the others were
// copied, and are stat'ed under root and hashed, even when their size and
// mtime equal the base's copy: a copy made because something else told the
// content changed may keep both. root is the snapshot's item directory, or,
// when that is on another host, the local tree it was copied from.
func ScanPaths(ctx context.Context, root string, paths map[string]bool, base EntryReader, w *FileListWriter) (ScanStats, error) {
	sorted := make([]string, 0, len(paths))
	for p := range paths {
		sorted = append(sorted, p)
	}
	slices.SortFunc(sorted, comparePaths)
	s := &scanner{ctx: ctx, root: root, base: base}
	return s.run(w, func(queue, work chan<- *pending) error {
		for i, rel := range sorted {
			if i%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if paths[rel] {
				if b, ok := s.baseEntry(rel); ok && (b.Hash != "" || !b.IsRegular() && !b.IsSymlink()) {
					queue <- &pending{entry: b}
					continue
				}
			}
			if _, err := s.visit(rel, false, queue, work); err != nil {
				return err
			}
		}
		return nil
	})
}

// comparePaths orders paths as PathLess does, for slices.SortFunc.
func comparePaths(a, b string) int {
	switch {
	case a == b:
		return 0
	case PathLess(a, b):
		return -1
	}
	return 1
}

// run drives produce, which queues every entry in order and hands those that
// need reading to the workers, and writes the entries in order: hashing in
// parallel, writing in sequence.
func (s *scanner) run(w *FileListWriter, produce func(queue, work chan<- *pending) error) (ScanStats, error) {
	if s.base != nil {
		s.advanceBase()
	}
	queue := make(chan *pending, 4096)
	work := make(chan *pending, 256)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				p.entry.Hash, p.err = HashEntry(filepath.Join(s.root, p.entry.Path), p.entry)
				close(p.done)
			}
		}()
	}
	produced := make(chan error, 1)
	go func() {
		defer close(queue)
		defer close(work)
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
	if err := errors.Join(<-produced, s.baseErr, writeErr); err != nil {
		return stats, fmt.Errorf("scan %s: %w", s.root, err)
	}
	return stats, nil
}

type pending struct {
	entry Entry
	done  chan struct{} // nil when the entry needs no hashing
	err   error
}

type scanner struct {
	ctx      context.Context
	root     string
	base     EntryReader
	baseNext Entry
	baseOK   bool
	baseErr  error
}

func (s *scanner) advanceBase() {
	e, err := s.base.Next()
	if err != nil {
		s.baseOK = false
		if !errors.Is(err, io.EOF) {
			s.baseErr = err
		}
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
	f, err := os.Open(filepath.Join(s.root, dir))
	if err != nil {
		return err
	}
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
// hashing.
func (s *scanner) visit(rel string, carry bool, queue, work chan<- *pending) (Entry, error) {
	var st syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(s.root, rel), &st); err != nil {
		return Entry{}, &os.PathError{Op: "lstat", Path: rel, Err: err}
	}
	e := Entry{Path: rel, Mode: st.Mode, Size: st.Size, Mtime: st.Mtim.Nano()}
	p := &pending{entry: e}
	if e.IsRegular() || e.IsSymlink() {
		if b, ok := s.baseEntry(rel); carry && ok && b.Mode&modeType == e.Mode&modeType && b.Size == e.Size && b.Mtime == e.Mtime && b.Hash != "" {
			p.entry.Hash = b.Hash
		} else {
			p.done = make(chan struct{})
		}
	}
	queue <- p
	if p.done != nil {
		work <- p
	}
	return e, nil
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
	if _, err := io.Copy(h, f); err != nil {
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
