package repository

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/depot-backup/depot/backupitems"
	"github.com/depot-backup/depot/internal/relpath"
)

// cloneRecords are find's records of a clone (see HostFS.LinkTreeFrom),
// sorted into file list order on local disk as they are read.
type cloneRecords struct{ sorted *backupitems.EntrySorter }

func newCloneRecords() *cloneRecords { return &cloneRecords{sorted: backupitems.NewEntrySorter()} }

func (c *cloneRecords) close() { c.sorted.Close() }

// badRecord marks a record whose type or numbers find would not print: it
// matches nothing asked for.
const badRecord = -1

// read takes find's NUL-terminated records ("%y %m %s %T@ %U %G %P") from r
// to its end; a record that is not find's fails.
func (c *cloneRecords) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), relpath.Max+256)
	sc.Split(splitNUL)
	var f [7][]byte
	for sc.Scan() {
		rec := sc.Bytes()
		for k := range 6 {
			var found bool
			f[k], rec, found = bytes.Cut(rec, []byte{' '})
			if !found {
				return fmt.Errorf("unexpected find output %.300q", sc.Bytes())
			}
		}
		f[6] = rec
		perm, err1 := strconv.ParseUint(string(f[1]), 8, 32)
		size, err2 := strconv.ParseInt(string(f[2]), 10, 64)
		mtime, err3 := parseFindNanos(string(f[3]))
		uid, err4 := strconv.ParseUint(string(f[4]), 10, 32)
		gid, err5 := strconv.ParseUint(string(f[5]), 10, 32)
		typ, known := findTypeBits[string(f[0])]
		e := backupitems.PrevEntry{Path: string(f[6]), Mode: typ | uint32(perm), Size: size, Mtime: mtime, Uid: uint32(uid), Gid: uint32(gid)}
		if !known || errors.Join(err1, err2, err3, err4, err5) != nil {
			e.Mode, e.Size = 0, badRecord
		}
		if err := c.sorted.Add(e); err != nil {
			return err
		}
	}
	return sc.Err()
}

// askedError is a fault in what LinkTreeFrom was asked (a path that is not
// clean, files out of order), not in what the host printed.
type askedError struct{ err error }

func (e *askedError) Error() string { return "link tree: " + e.err.Error() }
func (e *askedError) Unwrap() error { return e.err }

// check merges the sorted records with what was asked for: dirs (sorted)
// and the files next returns (see LinkFiles). It returns the files to copy,
// the kept directories whose attributes are not the list's, and the paths
// to remove (outermost only). Memory follows the directories and the
// differences, not the files. Records that do not add up (a path twice, one
// that is not clean where it would be removed) fail; so does an asked path
// that is not clean or out of order, as an askedError.
func (c *cloneRecords) check(dirs []string, next func() (LinkFile, bool)) (copies, dirCopies, extra []string, err error) {
	for i, d := range dirs {
		if err := relpath.Check(d); err != nil {
			return nil, nil, nil, &askedError{err}
		}
		if i > 0 && !PathLess(dirs[i-1], d) {
			return nil, nil, nil, &askedError{fmt.Errorf("directory %q after %q: not in file list order", d, dirs[i-1])}
		}
	}
	m := &cloneMerge{dirs: dirs, allDirs: dirs, next: next, dirStat: map[string]backupitems.PrevEntry{}}
	if err := c.sorted.Each(m.record); err != nil {
		return nil, nil, nil, err
	}
	// What was asked and is not in the clone.
	for {
		p, isFile, ok := m.head()
		if !ok {
			break
		}
		m.pop(isFile, p)
	}
	if m.err != nil {
		return nil, nil, nil, m.err
	}
	for _, k := range m.kept {
		if _, found := slices.BinarySearchFunc(dirs, k.Path, comparePaths); !found {
			return nil, nil, nil, &askedError{fmt.Errorf("directory %q is not among the directories to make", k.Path)}
		}
		st, seen := m.dirStat[k.Path]
		if !seen || !k.matches(statOf(st)) {
			dirCopies = append(dirCopies, k.Path)
		}
	}
	return m.copies, dirCopies, m.extra, nil
}

// cloneMerge is one merge of check: the asked paths in file list order
// (the rest of dirs and the next file), against the records.
type cloneMerge struct {
	dirs, allDirs []string
	next          func() (LinkFile, bool)
	file          LinkFile // the next file, if hasFile
	hasFile, done bool
	lastFile      string
	lastRec       string
	removed       string                           // the last extra path: what is under it goes with it
	kept          []LinkFile                       // the directories among the files
	dirStat       map[string]backupitems.PrevEntry // the records of dirs
	copies, extra []string
	err           error // what was asked is at fault
}

// head returns the next path asked for, and whether it is a file's (else
// a directory of dirs); ok false when there is none left or on a fault.
func (m *cloneMerge) head() (path string, isFile, ok bool) {
	for !m.hasFile && !m.done && m.err == nil {
		lf, more := m.next()
		switch {
		case !more:
			m.done = true
		case relpath.Check(lf.Path) != nil:
			m.err = &askedError{relpath.Check(lf.Path)}
		case lf.isDir():
			m.kept = append(m.kept, lf)
		case m.lastFile != "" && !PathLess(m.lastFile, lf.Path):
			m.err = &askedError{fmt.Errorf("file %q after %q: not in file list order", lf.Path, m.lastFile)}
		default:
			m.file, m.hasFile, m.lastFile = lf, true, lf.Path
		}
	}
	switch {
	case m.err != nil:
		return "", false, false
	case m.hasFile && len(m.dirs) > 0 && m.file.Path == m.dirs[0]:
		m.err = &askedError{fmt.Errorf("%q asked for as a directory and as a file", m.file.Path)}
		return "", false, false
	case m.hasFile && (len(m.dirs) == 0 || PathLess(m.file.Path, m.dirs[0])):
		return m.file.Path, true, true
	case len(m.dirs) > 0:
		return m.dirs[0], false, true
	}
	return "", false, false
}

// pop moves past the head, path, which the clone lacks: a file to copy.
func (m *cloneMerge) pop(isFile bool, path string) {
	if isFile {
		m.hasFile = false
		m.copies = append(m.copies, path)
		return
	}
	m.dirs = m.dirs[1:]
}

// record takes find's next record, in file list order.
func (m *cloneMerge) record(r backupitems.PrevEntry) error {
	if m.lastRec != "" && !PathLess(m.lastRec, r.Path) {
		return fmt.Errorf("find listed %q twice or out of order", r.Path)
	}
	m.lastRec = r.Path
	if m.removed != "" && strings.HasPrefix(r.Path, m.removed+"/") {
		return nil
	}
	for {
		p, isFile, ok := m.head()
		if m.err != nil {
			return m.err
		}
		if !ok || PathLess(r.Path, p) {
			break
		}
		if p != r.Path {
			m.pop(isFile, p) // asked for, and not in the clone
			continue
		}
		if !isFile {
			m.dirs = m.dirs[1:]
			m.dirStat[p] = r
			return nil
		}
		m.hasFile = false
		if !m.file.matches(statOf(r)) {
			m.copies = append(m.copies, p)
		}
		return nil
	}
	// Neither asked for nor dropped: removed, within dst only.
	if err := relpath.Check(r.Path); err != nil {
		return fmt.Errorf("find listed %q: %w", r.Path, err)
	}
	m.extra, m.removed = append(m.extra, r.Path), r.Path
	return nil
}

// statOf is the stat a record describes.
func statOf(r backupitems.PrevEntry) *unix.Stat_t {
	return &unix.Stat_t{Mode: r.Mode, Size: r.Size, Uid: r.Uid, Gid: r.Gid, Mtim: unix.NsecToTimespec(r.Mtime)}
}

// checkClone is read and check on one reader: find's records of a clone
// against what was asked.
func checkClone(records io.Reader, dirs []string, files LinkFiles) (copies, dirCopies, extra []string, err error) {
	c := newCloneRecords()
	defer c.close()
	if err := c.read(records); err != nil {
		return nil, nil, nil, err
	}
	next, stop := pullFiles(files)
	defer stop()
	copies, dirCopies, extra, err = c.check(dirs, next)
	if serr := stop(); err == nil && serr != nil {
		err = &askedError{serr}
	}
	return copies, dirCopies, extra, err
}

// findTypeBits maps find's %y letters to st_mode type bits.
var findTypeBits = map[string]uint32{"f": unix.S_IFREG, "d": unix.S_IFDIR, "l": unix.S_IFLNK, "b": unix.S_IFBLK, "c": unix.S_IFCHR, "p": unix.S_IFIFO, "s": unix.S_IFSOCK}

// splitNUL is a bufio.SplitFunc for NUL-terminated records.
func splitNUL(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// parseFindNanos reads find's %T@ (seconds, a dot, up to 10 digits) as ns.
func parseFindNanos(s string) (int64, error) {
	secs, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return 0, err
	}
	ns, err := strconv.ParseUint((frac + "000000000")[:9], 10, 64)
	if err != nil {
		return 0, err
	}
	if strings.HasPrefix(secs, "-") {
		return sec*1e9 - int64(ns), nil
	}
	return sec*1e9 + int64(ns), nil
}
