package backupitems

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// walkSpill holds a walk of the source on local disk, in file list order, so
// that memory follows the depth of a tree, not its number of files: the
// quick path writes each path there as the comparison with the base decides
// it, and reads the spill back to link, and to list what the snapshot holds.
// The file is unlinked at once: it goes when the spill is closed, or with
// the process.
type walkSpill struct {
	f    *os.File
	bw   *bufio.Writer
	last string // the previous path: each record keeps only what differs
	n    int
	buf  []byte
	// sparse counts the regular files added that may have holes (see
	// sourceEntry.mayBeSparse), special the devices, fifos and sockets:
	// either keeps a first copy with rsync (see copierRefusal).
	sparse, special int
}

// spillLinked marks a record whose path is hard-linked to the base's copy.
const spillLinked = 1

func newWalkSpill() (*walkSpill, error) {
	f, err := os.CreateTemp("", "depot-walk-")
	if err != nil {
		return nil, fmt.Errorf("walk spill: %w", err)
	}
	os.Remove(f.Name())
	return &walkSpill{f: f, bw: bufio.NewWriterSize(f, 256<<10)}, nil
}

// add appends e, which must follow the previous record in file list order.
func (s *walkSpill) add(e sourceEntry, flags byte) error {
	shared := 0
	for shared < len(e.path) && shared < len(s.last) && e.path[shared] == s.last[shared] {
		shared++
	}
	b := s.buf[:0]
	b = binary.AppendUvarint(b, uint64(shared))
	b = binary.AppendUvarint(b, uint64(len(e.path)-shared))
	b = append(b, e.path[shared:]...)
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(e.mode))
	b = binary.AppendVarint(b, e.size)
	b = binary.AppendVarint(b, e.mtime)
	b = binary.AppendVarint(b, e.ctime)
	b = binary.AppendUvarint(b, e.nlink)
	b = binary.AppendUvarint(b, uint64(e.uid))
	b = binary.AppendUvarint(b, uint64(e.gid))
	s.buf = b
	s.last = e.path
	s.n++
	if e.mayBeSparse() {
		s.sparse++
	}
	if e.isSpecial() {
		s.special++
	}
	_, err := s.bw.Write(b)
	return err
}

// done ends writing; the spill can be read from then on.
func (s *walkSpill) done() error {
	if err := s.bw.Flush(); err != nil {
		return fmt.Errorf("walk spill: %w", err)
	}
	return nil
}

// each calls fn for every record in order, with its flags, and stops at
// fn's first error.
func (s *walkSpill) each(fn func(e sourceEntry, flags byte) error) error {
	r := s.reader()
	for {
		e, flags, ok, err := r.next()
		if err != nil || !ok {
			return err
		}
		if err := fn(e, flags); err != nil {
			return err
		}
	}
}

// spillReader reads a spill's records in order. Readers are independent:
// several may read one spill at once.
type spillReader struct {
	br   *bufio.Reader
	path []byte
	i, n int
}

func (s *walkSpill) reader() *spillReader {
	return &spillReader{br: bufio.NewReaderSize(io.NewSectionReader(s.f, 0, 1<<62), 64<<10), n: s.n}
}

// next returns the next record, or ok false after the last.
func (r *spillReader) next() (e sourceEntry, flags byte, ok bool, err error) {
	if r.i == r.n {
		return sourceEntry{}, 0, false, nil
	}
	r.i++
	br := r.br
	shared, err1 := binary.ReadUvarint(br)
	rest, err2 := binary.ReadUvarint(br)
	if err := errors.Join(err1, err2); err != nil || shared > uint64(len(r.path)) || rest > 1<<20 {
		return sourceEntry{}, 0, false, fmt.Errorf("walk spill: record %d: damaged (%v)", r.i, err)
	}
	r.path = append(r.path[:shared], make([]byte, rest)...)
	if _, err := io.ReadFull(br, r.path[shared:]); err != nil {
		return sourceEntry{}, 0, false, fmt.Errorf("walk spill: record %d: %w", r.i, err)
	}
	flags, err = br.ReadByte()
	if err != nil {
		return sourceEntry{}, 0, false, fmt.Errorf("walk spill: record %d: %w", r.i, err)
	}
	e = sourceEntry{path: string(r.path)}
	var mode, uid, gid uint64
	var errs [7]error
	mode, errs[0] = binary.ReadUvarint(br)
	e.size, errs[1] = binary.ReadVarint(br)
	e.mtime, errs[2] = binary.ReadVarint(br)
	e.ctime, errs[3] = binary.ReadVarint(br)
	e.nlink, errs[4] = binary.ReadUvarint(br)
	uid, errs[5] = binary.ReadUvarint(br)
	gid, errs[6] = binary.ReadUvarint(br)
	if err := errors.Join(errs[:]...); err != nil {
		return sourceEntry{}, 0, false, fmt.Errorf("walk spill: record %d: %w", r.i, err)
	}
	e.mode, e.uid, e.gid = uint32(mode), uint32(uid), uint32(gid)
	return e, flags, true, nil
}

// source is what the spill says of paths asked in file list order (see
// TreeListing.Source). A damaged spill knows nothing more.
func (s *walkSpill) source() func(string) (SourceStat, bool) {
	r := s.reader()
	var cur sourceEntry
	have := false
	return func(p string) (SourceStat, bool) {
		for !have || pathLess(cur.path, p) {
			e, _, ok, err := r.next()
			if err != nil || !ok {
				return SourceStat{}, false
			}
			cur, have = e, true
		}
		if cur.path != p {
			return SourceStat{}, false
		}
		return SourceStat{Uid: cur.uid, Gid: cur.gid, Ctime: cur.ctime}, true
	}
}

// close releases the spill.
func (s *walkSpill) close() { s.f.Close() }
