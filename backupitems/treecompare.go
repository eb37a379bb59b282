package backupitems

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// quickPlan is the outcome of comparing a walk with the base. Memory follows
// the directories and the changes, not the files: every walked path is in
// the spill, the linked ones flagged.
type quickPlan struct {
	spill      *walkSpill
	dirs, drop []string
	nLinked    int         // files to link
	keptDirs   []PrevEntry // the directories that keep the base's attributes
	kept       map[string]bool
	// The changed paths go to rsync in two lists. careful: those that look
	// unchanged to rsync's quick check (same size and mtime as the base's
	// copy) and members of hard-link groups; rsync compares their content
	// (--checksum) and links them to the base when it is the same. plain:
	// the directories and the rest, which the base cannot supply whole;
	// its copy of a changed file is still the basis of the file's delta.
	careful, plain   bytes.Buffer
	nCareful, nPlain int
}

// linkFiles calls fn for each path to link from the base, in file list
// order: the files first, then the directories that keep their attributes.
func (p *quickPlan) linkFiles(fn func(PrevEntry) error) error {
	err := p.spill.each(func(e sourceEntry, flags byte) error {
		if flags&spillLinked == 0 {
			return nil
		}
		return fn(PrevEntry{Path: e.path, Mode: e.mode, Size: e.size, Mtime: e.mtime, Ctime: e.ctime, Uid: e.uid, Gid: e.gid})
	})
	if err != nil {
		return err
	}
	for _, d := range p.keptDirs {
		if err := fn(d); err != nil {
			return err
		}
	}
	return nil
}

// comparer merges a walk with the base's file list, both in file list
// order, one walked entry at a time (add), writing each to the spill as it
// decides it.
type comparer struct {
	p       *quickPlan
	cutoff  int64
	prev    PrevList
	next    PrevEntry // the base's next entry, if hasNext
	hasNext bool
	prevErr error // the base's list failed: the rest is only spilled
	// dropUnder is a dropped base directory: its contents go with it.
	dropUnder string
	// plain holds the directories and changed paths until it is known
	// which directories keep the base's attributes: one that does stays
	// off rsync's lists, unless anything in it goes to rsync or is
	// dropped, which changes it (rsync then sets its times again).
	plain []string
	keep  map[string]PrevEntry
	took  time.Duration // in add and finish
}

func newComparer(prev PrevList, cutoff int64, spill *walkSpill) *comparer {
	c := &comparer{p: &quickPlan{spill: spill, kept: map[string]bool{}}, cutoff: cutoff, prev: prev, keep: map[string]PrevEntry{}}
	c.advance()
	return c
}

// advance reads the base's next entry.
func (c *comparer) advance() {
	if c.prevErr != nil {
		return
	}
	e, err := c.prev.Next()
	switch {
	case errors.Is(err, io.EOF):
		c.hasNext = false
	case err != nil:
		c.hasNext, c.prevErr = false, err
	default:
		c.next, c.hasNext = e, true
	}
}

// add takes the walk's next entry.
func (c *comparer) add(w sourceEntry) error {
	began := time.Now()
	defer func() { c.took += time.Since(began) }()
	if c.prevErr != nil {
		return c.p.spill.add(w, 0)
	}
	for c.hasNext && pathLess(c.next.Path, w.path) {
		c.drop(c.next)
		c.advance()
	}
	if c.hasNext && c.next.Path == w.path {
		b := c.next
		c.advance()
		return c.take(w, b, true)
	}
	return c.take(w, PrevEntry{}, false)
}

// finish drops what is left of the base and returns the plan, or the
// base's list's error.
func (c *comparer) finish() (*quickPlan, error) {
	began := time.Now()
	defer func() { c.took += time.Since(began) }()
	for c.hasNext {
		c.drop(c.next)
		c.advance()
	}
	if c.prevErr != nil {
		return nil, c.prevErr
	}
	p := c.p
	for _, path := range c.plain {
		if b, kept := c.keep[path]; kept {
			p.keptDirs = append(p.keptDirs, b)
			p.kept[path] = true
			continue
		}
		p.plain.WriteString(path + "\x00")
	}
	return p, nil
}

// touched notes that path goes to rsync or is dropped: its directory
// changes.
func (c *comparer) touched(path string) {
	dir, _ := splitPath(path)
	delete(c.keep, dir)
}

// drop leaves the base's entry b out of the new snapshot.
func (c *comparer) drop(b PrevEntry) {
	c.touched(b.Path)
	if c.dropUnder != "" && strings.HasPrefix(b.Path, c.dropUnder+"/") {
		return
	}
	c.p.drop = append(c.p.drop, b.Path)
	if b.Mode&unix.S_IFMT == unix.S_IFDIR {
		c.dropUnder = b.Path
	}
}

// take decides walk entry w, whose base entry is b when found.
func (c *comparer) take(w sourceEntry, b PrevEntry, found bool) error {
	p := c.p
	var flags byte
	switch {
	case w.isDir():
		p.dirs = append(p.dirs, w.path)
		c.plain = append(c.plain, w.path)
		switch {
		case found && b.Mode&unix.S_IFMT != unix.S_IFDIR:
			c.drop(b)
		case found && unchanged(w, b, c.cutoff):
			c.keep[w.path] = b
		}
	case found && unchanged(w, b, c.cutoff):
		flags = spillLinked
		p.nLinked++
	case found && b.Mode&unix.S_IFMT == w.mode&unix.S_IFMT && b.Size == w.size && b.Mtime == w.mtime || w.nlink > 1:
		p.careful.WriteString(w.path + "\x00")
		p.nCareful++
		c.touched(w.path)
		if found {
			c.drop(b)
		}
	default:
		c.plain = append(c.plain, w.path)
		p.nPlain++
		c.touched(w.path)
		if found {
			c.drop(b)
		}
	}
	return p.spill.add(w, flags)
}

// compare merges a walk held in memory with the base's file list.
func compare(ctx context.Context, walked []sourceEntry, prev PrevTree, cutoff int64) (*quickPlan, error) {
	list, err := prev.List(ctx)
	if err != nil {
		return nil, err
	}
	defer list.Close()
	spill, err := newWalkSpill()
	if err != nil {
		return nil, err
	}
	c := newComparer(list, cutoff, spill)
	for _, w := range walked {
		if err := c.add(w); err != nil {
			spill.close()
			return nil, err
		}
	}
	p, err := c.finish()
	if err == nil {
		err = spill.done()
	}
	if err != nil {
		spill.close()
		return nil, err
	}
	return p, nil
}

// unchanged reports whether walk entry w is proven the same as base entry b:
// every attribute equal, and b's ctime older than the base's walk less the
// racy margin (cutoff).
func unchanged(w sourceEntry, b PrevEntry, cutoff int64) bool {
	return b.Ctime != 0 && b.Ctime < cutoff &&
		w.mode == b.Mode && w.size == b.Size && w.mtime == b.Mtime &&
		w.ctime == b.Ctime && w.uid == b.Uid && w.gid == b.Gid
}

// sortedPaths returns the keys of a set of paths in file list order.
func sortedPaths[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	slices.SortFunc(out, comparePaths)
	return out
}
