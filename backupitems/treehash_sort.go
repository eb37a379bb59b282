package backupitems

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// CopyHash is what depot read of a file of a copy while the copy was being
// made: the SHA-256 of its content, and which file that was. It holds for a
// path only while the path's lstat still shows the same device, inode,
// size, mtime and ctime. The kernel sets ctime on every write and every
// change of attributes and it cannot be set back, and in a snapshot being
// built only rsync writes, which never rewrites a file it has put in place;
// any other file under that path (a later copy of it, renamed over it, or
// one rsync replaced when it sent the file again) shows another inode or
// ctime and is read afresh.
type CopyHash struct {
	Dev, Ino uint64
	Size     int64
	Mtime    int64 // ns
	Ctime    int64 // ns
	SHA256   [32]byte
}

// CopyHashes holds CopyHashes by path, sorted into file list order with
// bounded memory: in runs of copyHashRun records, each spilled to an
// unlinked temporary file, merged when read.
type CopyHashes struct {
	run  []copyHashRec
	runs []*os.File
	n    []int // records in each run
	max  int   // records held in memory
}

type copyHashRec struct {
	path string
	seq  uint64 // order of reading: of two records of a path, the later wins
	h    CopyHash
}

// copyHashRun is how many records are held in memory: a few MB.
const copyHashRun = 1 << 15

func newCopyHashes() *CopyHashes { return &CopyHashes{max: copyHashRun} }

func compareCopyHashRecs(a, b copyHashRec) int {
	if c := comparePaths(a.path, b.path); c != 0 {
		return c
	}
	switch {
	case a.seq < b.seq:
		return -1
	case a.seq > b.seq:
		return 1
	}
	return 0
}

// add takes the record of path, read seq'th.
func (c *CopyHashes) add(path string, seq uint64, h CopyHash) error {
	c.run = append(c.run, copyHashRec{path: path, seq: seq, h: h})
	if len(c.run) < c.max {
		return nil
	}
	return c.spill()
}

// spill writes the records in memory to a run of their own.
func (c *CopyHashes) spill() error {
	slices.SortFunc(c.run, compareCopyHashRecs)
	f, err := os.CreateTemp("", "depot-hashes-")
	if err != nil {
		return fmt.Errorf("hash spill: %w", err)
	}
	os.Remove(f.Name())
	c.runs, c.n = append(c.runs, f), append(c.n, len(c.run))
	w := bufio.NewWriterSize(f, 256<<10)
	var b []byte
	for _, r := range c.run {
		b = binary.AppendUvarint(b[:0], uint64(len(r.path)))
		b = append(b, r.path...)
		b = binary.AppendUvarint(b, r.seq)
		b = binary.AppendUvarint(b, r.h.Dev)
		b = binary.AppendUvarint(b, r.h.Ino)
		b = binary.AppendVarint(b, r.h.Size)
		b = binary.AppendVarint(b, r.h.Mtime)
		b = binary.AppendVarint(b, r.h.Ctime)
		b = append(b, r.h.SHA256[:]...)
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("hash spill: %w", err)
		}
	}
	c.run = c.run[:0]
	if err := w.Flush(); err != nil {
		return fmt.Errorf("hash spill: %w", err)
	}
	return nil
}

// done ends adding.
func (c *CopyHashes) done() error {
	if len(c.runs) > 0 && len(c.run) > 0 {
		return c.spill()
	}
	slices.SortFunc(c.run, compareCopyHashRecs)
	return nil
}

// close releases the runs.
func (c *CopyHashes) close() {
	for _, f := range c.runs {
		f.Close()
	}
	c.runs, c.run = nil, nil
}

// Lookup returns what was read of paths asked in file list order (each at
// most once; see TreeListing.Hashed). A damaged run knows nothing more.
func (c *CopyHashes) Lookup() func(path string) (CopyHash, bool) {
	m := c.merge()
	cur, have := m.next()
	return func(p string) (CopyHash, bool) {
		for have && pathLess(cur.path, p) {
			cur, have = m.next()
		}
		var last copyHashRec
		found := false
		for have && cur.path == p {
			last, found = cur, true
			cur, have = m.next()
		}
		return last.h, found
	}
}

// merged reads the records of all runs in order.
type merged struct {
	disk  bool
	mem   []copyHashRec // no runs on disk: the sorted records in memory
	heads copyHashHeap
	err   error
}

func (c *CopyHashes) merge() *merged {
	if len(c.runs) == 0 {
		return &merged{mem: c.run}
	}
	m := &merged{disk: true}
	for i, f := range c.runs {
		r := &runReader{br: bufio.NewReaderSize(io.NewSectionReader(f, 0, 1<<62), 64<<10), n: c.n[i]}
		if rec, ok, err := r.next(); err != nil {
			m.err = err
		} else if ok {
			m.heads = append(m.heads, runHeadRec{rec: rec, r: r})
		}
	}
	heap.Init(&m.heads)
	return m
}

// next returns the next record, or false after the last (or on damage).
func (m *merged) next() (copyHashRec, bool) {
	if !m.disk {
		if len(m.mem) == 0 {
			return copyHashRec{}, false
		}
		r := m.mem[0]
		m.mem = m.mem[1:]
		return r, true
	}
	if m.err != nil || len(m.heads) == 0 {
		return copyHashRec{}, false
	}
	top := &m.heads[0]
	out := top.rec
	rec, ok, err := top.r.next()
	switch {
	case err != nil:
		m.err = err
	case ok:
		top.rec = rec
		heap.Fix(&m.heads, 0)
	default:
		heap.Pop(&m.heads)
	}
	return out, true
}

type runReader struct {
	br   *bufio.Reader
	i, n int
}

func (r *runReader) next() (copyHashRec, bool, error) {
	if r.i == r.n {
		return copyHashRec{}, false, nil
	}
	r.i++
	n, err := binary.ReadUvarint(r.br)
	if err != nil || n > 1<<20 {
		return copyHashRec{}, false, fmt.Errorf("hash spill: record %d: damaged", r.i)
	}
	var path strings.Builder
	if _, err := io.CopyN(&path, r.br, int64(n)); err != nil {
		return copyHashRec{}, false, fmt.Errorf("hash spill: record %d: %w", r.i, err)
	}
	rec := copyHashRec{path: path.String()}
	var errs [6]error
	rec.seq, errs[0] = binary.ReadUvarint(r.br)
	rec.h.Dev, errs[1] = binary.ReadUvarint(r.br)
	rec.h.Ino, errs[2] = binary.ReadUvarint(r.br)
	rec.h.Size, errs[3] = binary.ReadVarint(r.br)
	rec.h.Mtime, errs[4] = binary.ReadVarint(r.br)
	rec.h.Ctime, errs[5] = binary.ReadVarint(r.br)
	if err := errors.Join(errs[:]...); err != nil {
		return copyHashRec{}, false, fmt.Errorf("hash spill: record %d: %w", r.i, err)
	}
	if _, err := io.ReadFull(r.br, rec.h.SHA256[:]); err != nil {
		return copyHashRec{}, false, fmt.Errorf("hash spill: record %d: %w", r.i, err)
	}
	return rec, true, nil
}

type runHeadRec struct {
	rec copyHashRec
	r   *runReader
}

// copyHashHeap orders the runs by their next record.
type copyHashHeap []runHeadRec

func (h copyHashHeap) Len() int           { return len(h) }
func (h copyHashHeap) Less(i, j int) bool { return compareCopyHashRecs(h[i].rec, h[j].rec) < 0 }
func (h copyHashHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *copyHashHeap) Push(x any)        { *h = append(*h, x.(runHeadRec)) }
func (h *copyHashHeap) Pop() any {
	x := (*h)[len(*h)-1]
	*h = (*h)[:len(*h)-1]
	return x
}
