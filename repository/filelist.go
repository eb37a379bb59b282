package repository

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/depot-backup/depot/internal/relpath"
)

// FileListDir holds each item's file list inside a snapshot. Its leading dot
// keeps it apart from item directories, whose names cannot start with one.
const FileListDir = ".filelists"

// The first line of every file list: version 2 records what the quick path's
// change detection needs; lists of version 1 are still read, without it.
const (
	fileListHeader   = "depot-filelist 2"
	fileListHeaderV1 = "depot-filelist 1"
)

// Entry is one path in an item's file list.
//
// The list is zstd-compressed text: a header line "depot-filelist 2", then one
// line per path, tab-separated:
//
//	mode(octal st_mode)  size  mtime(unix ns)  ctime(unix ns)  uid  gid  sha256(hex, or "-")  path
//
// Paths are relative to the item directory, with backslash, tab, newline and
// carriage return escaped as \\ \t \n \r. Regular files carry the SHA-256 of
// their content, symlinks the SHA-256 of their target, other types "-". Lines
// are in walk order: paths compared component by component, bytewise.
//
// ctime, uid and gid are the source's, as a walk of the source saw the path
// before it was copied (mode, size and mtime are the copy's, which equal
// them). They are "-" when no walk saw the path (a dump, a tree copied by
// rsync's own walk), and in version 1 lists, which have neither column:
// the entry then never proves a path unchanged.
type Entry struct {
	Path  string
	Mode  uint32 // st_mode: type and permission bits
	Size  int64
	Mtime int64 // nanoseconds since the epoch
	Ctime int64 // the source's st_ctime in ns; 0 when unknown
	Uid   uint32
	Gid   uint32
	Hash  string
}

// HasSource reports whether e records the source's ctime, uid and gid.
func (e Entry) HasSource() bool { return e.Ctime != 0 }

// File type bits of st_mode.
const (
	modeType    = 0o170000
	modeRegular = 0o100000
	modeDir     = 0o040000
	modeSymlink = 0o120000
)

// IsRegular reports whether e is a regular file.
func (e Entry) IsRegular() bool { return e.Mode&modeType == modeRegular }

// IsDir reports whether e is a directory.
func (e Entry) IsDir() bool { return e.Mode&modeType == modeDir }

// IsSymlink reports whether e is a symbolic link.
func (e Entry) IsSymlink() bool { return e.Mode&modeType == modeSymlink }

// PathLess orders paths as the file list does: component by component, which is
// bytewise order with '/' below every other byte.
func PathLess(a, b string) bool { return pathLess(a, b) }

// PathLessBytes is PathLess for a second path held as bytes.
func PathLessBytes(a string, b []byte) bool { return pathLess(a, b) }

func pathLess[B string | []byte](a string, b B) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if ca == '/' {
			return true
		}
		if cb == '/' {
			return false
		}
		return ca < cb
	}
	return len(a) < len(b)
}

var pathEscaper = strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`, "\r", `\r`)

func unescapePath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch s[i] {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// FileListWriter writes a file list.
type FileListWriter struct {
	zw  *zstd.Encoder
	bw  *bufio.Writer
	buf []byte
}

// NewFileListWriter starts a file list on w. Close flushes it; w stays open.
func NewFileListWriter(w io.Writer) (*FileListWriter, error) {
	zw, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		return nil, err
	}
	fw := &FileListWriter{zw: zw, bw: bufio.NewWriterSize(zw, 64<<10)}
	_, err = fw.bw.WriteString(fileListHeader + "\n")
	return fw, err
}

// Write appends e. Entries must come in PathLess order.
func (w *FileListWriter) Write(e Entry) error {
	b := w.buf[:0]
	b = strconv.AppendUint(b, uint64(e.Mode), 8)
	b = append(b, '\t')
	b = strconv.AppendInt(b, e.Size, 10)
	b = append(b, '\t')
	b = strconv.AppendInt(b, e.Mtime, 10)
	b = append(b, '\t')
	if e.HasSource() {
		b = strconv.AppendInt(b, e.Ctime, 10)
		b = append(b, '\t')
		b = strconv.AppendUint(b, uint64(e.Uid), 10)
		b = append(b, '\t')
		b = strconv.AppendUint(b, uint64(e.Gid), 10)
	} else {
		b = append(b, "-\t-\t-"...)
	}
	b = append(b, '\t')
	if e.Hash == "" {
		b = append(b, '-')
	} else {
		b = append(b, e.Hash...)
	}
	b = append(b, '\t')
	b = append(b, pathEscaper.Replace(e.Path)...)
	b = append(b, '\n')
	w.buf = b
	_, err := w.bw.Write(b)
	return err
}

// Close flushes the list.
func (w *FileListWriter) Close() error {
	if err := w.bw.Flush(); err != nil {
		w.zw.Close()
		return err
	}
	return w.zw.Close()
}

// EntryReader gives a file list's entries one by one, in PathLess order, and
// io.EOF after the last.
type EntryReader interface {
	Next() (Entry, error)
}

// EntriesReader reads entries held in memory (in PathLess order) as a file
// list.
func EntriesReader(entries []Entry) EntryReader {
	r := entrySlice(entries)
	return &r
}

type entrySlice []Entry

func (s *entrySlice) Next() (Entry, error) {
	if len(*s) == 0 {
		return Entry{}, io.EOF
	}
	e := (*s)[0]
	*s = (*s)[1:]
	return e, nil
}

// FileListReader reads a file list entry by entry.
type FileListReader struct {
	f      io.Closer
	dec    *listDecoder // nil once closed
	sc     *bufio.Scanner
	line   int
	fields int    // per line: 5 in version 1, 8 in version 2
	last   string // the previous path, which the next must follow
}

// listDecoder is what a FileListReader reads with, kept for the next
// reader when one is closed: verify, versions and diff read the lists of
// many snapshots one after the other, and a new zstd decoder and scanner
// buffer for each (megabytes, allocated and cleared) cost a tenth of
// reading a list.
type listDecoder struct {
	zr  *zstd.Decoder
	buf []byte // the scanner's
}

var listDecoders = sync.Pool{New: func() any {
	zr, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
	if err != nil {
		return err
	}
	return &listDecoder{zr: zr, buf: make([]byte, 64<<10)}
}}

// OpenFileList opens the file list at path in the repository.
func (r Repo) OpenFileList(ctx context.Context, path string) (*FileListReader, error) {
	if fsys, ok := r.Files().(*HostFS); ok {
		// Up to about 150,000 files: one round trip in the shell beats a
		// session of its own. A longer list streams, so memory does not
		// follow the number of files (about 50 bytes each).
		data, err := fsys.readSmall(ctx, path, shellReadMax)
		if err != nil {
			return nil, fmt.Errorf("open file list: %w", err)
		}
		if data != nil {
			return NewFileListReader(bytes.NewReader(data))
		}
	}
	f, err := r.Files().Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("open file list: %w", err)
	}
	fr, err := NewFileListReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open file list %s: %w", path, err)
	}
	fr.f = f
	return fr, nil
}

// NewFileListReader reads a file list from r.
func NewFileListReader(r io.Reader) (*FileListReader, error) {
	got := listDecoders.Get()
	dec, ok := got.(*listDecoder)
	if !ok {
		return nil, got.(error)
	}
	if err := dec.zr.Reset(r); err != nil {
		dec.release()
		return nil, err
	}
	sc := bufio.NewScanner(dec.zr)
	sc.Buffer(dec.buf, 1<<20)
	fr := &FileListReader{dec: dec, sc: sc}
	if !sc.Scan() {
		fr.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("empty file list")
	}
	switch sc.Text() {
	case fileListHeader:
		fr.fields = 8
	case fileListHeaderV1:
		fr.fields = 5
	default:
		header := sc.Text()
		fr.Close()
		return nil, fmt.Errorf("not a depot file list (header %q)", header)
	}
	fr.line = 1
	return fr, nil
}

// Next returns the next entry, or io.EOF after the last. A list is input
// like any other: a line that does not parse, a path that is not clean and
// relative (relpath.Check) or one out of order is an error.
func (r *FileListReader) Next() (Entry, error) {
	if r.dec == nil {
		return Entry{}, errListClosed
	}
	if !r.sc.Scan() {
		if err := r.sc.Err(); err != nil {
			return Entry{}, fmt.Errorf("file list line %d: %w", r.line+1, err)
		}
		return Entry{}, io.EOF
	}
	return r.entry(r.sc.Text())
}

// entry parses the next line, checking that it follows the one before.
func (r *FileListReader) entry(line string) (Entry, error) {
	r.line++
	e, err := parseEntry(line, r.fields)
	if err != nil {
		return Entry{}, fmt.Errorf("file list line %d: %w", r.line, err)
	}
	if r.line > 2 && !PathLess(r.last, e.Path) {
		return Entry{}, fmt.Errorf("file list line %d: %q does not sort after %q", r.line, e.Path, r.last)
	}
	r.last = e.Path
	return e, nil
}

// NextLines appends up to n of the list's next lines to buf, raw and each
// without its newline, and where each ends in buf to ends; it returns them
// with the error after the last (io.EOF at the end of the list). Nothing
// is checked: each line must then go, in order, to Parse, or to Peek and
// Accept. NextLines may run on a goroutine of its own, beside them.
func (r *FileListReader) NextLines(buf []byte, ends []int, n int) ([]byte, []int, error) {
	if r.dec == nil {
		return buf, ends, errListClosed
	}
	for k := 0; k < n; k++ {
		if !r.sc.Scan() {
			if err := r.sc.Err(); err != nil {
				return buf, ends, fmt.Errorf("file list: %w", err)
			}
			return buf, ends, io.EOF
		}
		buf = append(buf, r.sc.Bytes()...)
		ends = append(ends, len(buf))
	}
	return buf, ends, nil
}

// Parse reads a line that NextLines gave as Next would.
func (r *FileListReader) Parse(line []byte) (Entry, error) {
	return r.entry(string(line))
}

// Peek looks at a line that NextLines gave without allocating: a regular
// file's line whose fields are all well formed, whose hash is a SHA-256 and
// whose path needs no unescaping gives its path and hash (views of line)
// and true. Anything else, Parse. A line Peek read must still be checked:
// with Accept, once its path is known to be clean (a name a walk found),
// and otherwise with Parse.
func (r *FileListReader) Peek(line []byte) (path, hash []byte, ok bool) {
	var f [8][]byte
	n := r.fields
	for i := 0; i < n-1; i++ {
		t := bytes.IndexByte(line, '\t')
		if t < 0 {
			return nil, nil, false
		}
		f[i], line = line[:t], line[t+1:]
	}
	path, hash = line, f[n-2]
	mode, ok := peekUint(f[0], 8)
	_, okSize := peekInt(f[1])
	_, okMtime := peekInt(f[2])
	if !ok || !okSize || !okMtime || uint32(mode)&modeType != modeRegular || len(hash) != 64 ||
		len(path) == 0 || bytes.IndexByte(path, '\\') >= 0 || bytes.IndexByte(path, '\t') >= 0 {
		return nil, nil, false
	}
	for _, c := range hash {
		if hexDigit[c] == 0 {
			return nil, nil, false
		}
	}
	if n == 8 && !(len(f[3]) == 1 && f[3][0] == '-') {
		ctime, okC := peekInt(f[3])
		_, okU := peekUint(f[4], 10)
		_, okG := peekUint(f[5], 10)
		if !okC || ctime == 0 || !okU || !okG {
			return nil, nil, false
		}
	}
	return path, hash, true
}

// Accept counts a line that Peek read, whose path is known to be clean,
// checking that it sorts after the line before, as Next does.
func (r *FileListReader) Accept(path string) error {
	r.line++
	if r.line > 2 && !PathLess(r.last, path) {
		return fmt.Errorf("file list line %d: %q does not sort after %q", r.line, path, r.last)
	}
	r.last = path
	return nil
}

// hexDigit is 1 for each byte a file list writes in a hash.
var hexDigit = func() (t [256]byte) {
	for _, c := range "0123456789abcdef" {
		t[c] = 1
	}
	return t
}()

// peekUint is parseUint's fast path on bytes: up to 9 plain digits in base
// 8 or 10 (anything else is false).
func peekUint(b []byte, base uint64) (uint64, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		d := uint64(c - '0')
		if d >= base {
			return 0, false
		}
		v = v*base + d
	}
	return v, true
}

// peekInt is parseInt's fast path on bytes: an optional minus and up to 19
// digits, in int64's range (anything else is false).
func peekInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 19 { // 19 digits fit 64 bits unsigned
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c-'0' > 9 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	switch {
	case neg && v <= 1<<63:
		return int64(-v), true
	case !neg && v < 1<<63:
		return int64(v), true
	}
	return 0, false
}

// parseEntry reads one line of a list whose lines have n fields.
func parseEntry(line string, n int) (Entry, error) {
	var split [8]string // strings.SplitN without its allocation, per line
	fields := split[:0]
	for len(fields) < n-1 {
		i := strings.IndexByte(line, '\t')
		if i < 0 {
			break
		}
		fields = append(fields, line[:i])
		line = line[i+1:]
	}
	fields = append(fields, line)
	if len(fields) != n {
		return Entry{}, fmt.Errorf("want %d fields, have %d", n, len(fields))
	}
	mode, err1 := parseUint(fields[0], 8, 32)
	size, err2 := parseInt(fields[1])
	mtime, err3 := parseInt(fields[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return Entry{}, err
	}
	e := Entry{Mode: uint32(mode), Size: size, Mtime: mtime, Path: unescapePath(fields[n-1])}
	if n == 8 && fields[3] != "-" {
		ctime, err1 := parseInt(fields[3])
		uid, err2 := parseUint(fields[4], 10, 32)
		gid, err3 := parseUint(fields[5], 10, 32)
		if err := errors.Join(err1, err2, err3); err != nil {
			return Entry{}, err
		}
		if ctime == 0 {
			return Entry{}, errors.New("ctime 0")
		}
		e.Ctime, e.Uid, e.Gid = ctime, uint32(uid), uint32(gid)
	}
	if h := fields[n-2]; h != "-" {
		e.Hash = h
	}
	if err := relpath.Check(e.Path); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// parseUint is strconv.ParseUint(s, base, bits) for base 8 or 10, with a
// fast path for the plain digits a list holds: strconv's generality cost a
// third of reading a list.
func parseUint(s string, base, bits int) (uint64, error) {
	if len(s) == 0 || len(s) > 9 { // 9 digits fit 32 bits in base 8 and 10
		return strconv.ParseUint(s, base, bits)
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		d := uint64(s[i] - '0')
		if d >= uint64(base) {
			return strconv.ParseUint(s, base, bits)
		}
		v = v*uint64(base) + d
	}
	if bits < 64 && v >= 1<<bits {
		return strconv.ParseUint(s, base, bits)
	}
	return v, nil
}

// parseInt is strconv.ParseInt(s, 10, 64), with parseUint's fast path.
func parseInt(s string) (int64, error) {
	digits, neg := s, false
	if len(s) > 0 && s[0] == '-' {
		digits, neg = s[1:], true
	}
	if len(digits) == 0 || len(digits) > 19 { // 19 digits fit 64 bits unsigned
		return strconv.ParseInt(s, 10, 64)
	}
	var v uint64
	for i := 0; i < len(digits); i++ {
		d := digits[i] - '0'
		if d > 9 {
			return strconv.ParseInt(s, 10, 64)
		}
		v = v*10 + uint64(d)
	}
	switch {
	case neg && v <= 1<<63:
		return int64(-v), nil
	case !neg && v < 1<<63:
		return int64(v), nil
	}
	return strconv.ParseInt(s, 10, 64) // out of range
}

// Close releases the reader.
func (r *FileListReader) Close() error {
	if r.dec != nil {
		r.dec.release()
		r.dec = nil
	}
	if r.f != nil {
		return r.f.Close()
	}
	return nil
}

var errListClosed = errors.New("file list reader used after Close")

// release hands d to the next reader, holding nothing of the last one's
// input.
func (d *listDecoder) release() {
	if d.zr.Reset(bytes.NewReader(nil)) == nil {
		listDecoders.Put(d)
	}
}

// sortStrings sorts names bytewise; within one directory that is PathLess order.
func sortStrings(names []string) { slices.Sort(names) }
