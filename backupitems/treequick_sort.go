package backupitems

import (
	"errors"
	"fmt"
	"iter"
)

// EntrySorter puts entries that come in another order (a remote find's
// records of a clone) into file list order with bounded memory: the walk's
// own sorter, runs of a few MB sorted and spilled to disk, then merged. The
// repository's clone check merges such a stream with what it asked for
// instead of holding a map of every path.
type EntrySorter struct{ s *walkSorter }

// NewEntrySorter returns an empty sorter; Close releases its runs.
func NewEntrySorter() *EntrySorter { return &EntrySorter{s: newWalkSorter()} }

// Add takes the next entry, in any order.
func (s *EntrySorter) Add(e PrevEntry) error {
	return s.s.add(sourceEntry{path: e.Path, mode: e.Mode, size: e.Size, mtime: e.Mtime, ctime: e.Ctime, uid: e.Uid, gid: e.Gid})
}

// Each calls fn for every entry added, in file list order (equal paths
// next to each other), and stops at fn's first error. It is called once,
// after the last Add.
func (s *EntrySorter) Each(fn func(PrevEntry) error) error {
	return s.s.each(func(e sourceEntry) error {
		return fn(PrevEntry{Path: e.path, Mode: e.mode, Size: e.size, Mtime: e.mtime, Ctime: e.ctime, Uid: e.uid, Gid: e.gid})
	})
}

// Close releases the sorter's runs on disk.
func (s *EntrySorter) Close() { s.s.close() }

// itemizedPaths collects the paths rsync itemizes, in rsync's order, and
// lists them in file list order with bounded memory (the walk's sorter):
// no map of every path, for a transfer of a whole tree itemizes them all.
type itemizedPaths struct {
	s   *walkSorter
	err error // the first spill error: rsync.Options.Itemized returns none
}

func newItemizedPaths() *itemizedPaths { return &itemizedPaths{s: newWalkSorter()} }

// itemizedLinked marks a path rsync linked to its --link-dest copy.
const itemizedLinked = 1

// add is an rsync.Options.Itemized.
func (p *itemizedPaths) add(path string, linked bool) {
	if p.err != nil {
		return
	}
	e := sourceEntry{path: path}
	if linked {
		e.mode = itemizedLinked
	}
	p.err = p.s.add(e)
}

// each calls fn for each path in file list order, once: linked when any of
// rsync's lines for it said so.
func (p *itemizedPaths) each(fn func(path string, linked bool) error) error {
	if p.err != nil {
		return fmt.Errorf("rsync's itemized paths: %w", p.err)
	}
	var cur string
	var linked, have bool
	err := p.s.each(func(e sourceEntry) error {
		if have && e.path == cur {
			linked = linked || e.mode == itemizedLinked
			return nil
		}
		if have {
			if err := fn(cur, linked); err != nil {
				return err
			}
		}
		cur, linked, have = e.path, e.mode == itemizedLinked, true
		return nil
	})
	if err == nil && have {
		err = fn(cur, linked)
	}
	return err
}

// pull reads the paths of each one at a time: next returns the next one;
// stop ends early or after the last, and returns each's error.
func (p *itemizedPaths) pull() (next func() (string, bool, bool), stop func() error) {
	var err error
	n, end := iter.Pull2(func(yield func(string, bool) bool) {
		err = p.each(func(path string, linked bool) error {
			if !yield(path, linked) {
				return errPullStopped
			}
			return nil
		})
	})
	next = func() (string, bool, bool) {
		path, linked, ok := n()
		return path, linked, ok
	}
	return next, func() error {
		end()
		if errors.Is(err, errPullStopped) {
			return nil
		}
		return err
	}
}

// errPullStopped ends an each that pull's caller stopped.
var errPullStopped = errors.New("stopped")

// listing lists the paths as TreeListing.Paths does.
func (p *itemizedPaths) listing(fn func(TreePath) error) error {
	return p.each(func(path string, linked bool) error { return fn(TreePath{Path: path, Linked: linked}) })
}

// close releases the sorter's runs on disk.
func (p *itemizedPaths) close() { p.s.close() }
