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

	"github.com/klauspost/compress/zstd"
)

// FileListDir holds each item's file list inside a snapshot. Its leading dot
// keeps it apart from item directories, whose names cannot start with one.
const FileListDir = ".filelists"

// fileListHeader is the first line of every file list.
const fileListHeader = "depot-filelist 1"

// Entry is one path in an item's file list.
//
// The list is zstd-compressed text: a header line "depot-filelist 1", then one
// line per path, tab-separated:
//
//	mode(octal st_mode)  size  mtime(unix ns)  sha256(hex, or "-")  path
//
// Paths are relative to the item directory, with backslash, tab, newline and
// carriage return escaped as \\ \t \n \r. Regular files carry the SHA-256 of
// their content, symlinks the SHA-256 of their target, other types "-". Lines
// are in walk order: paths compared component by component, bytewise.
type Entry struct {
	Path  string
	Mode  uint32 // st_mode: type and permission bits
	Size  int64
	Mtime int64 // nanoseconds since the epoch
	Hash  string
}

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
func PathLess(a, b string) bool {
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
	f    io.Closer
	zr   *zstd.Decoder
	sc   *bufio.Scanner
	line int
}

// OpenFileList opens the file list at path in the repository.
func (r Repo) OpenFileList(ctx context.Context, path string) (*FileListReader, error) {
	if fsys, ok := r.Files().(*HostFS); ok {
		// A few MB even for 100,000 files: one round trip in the shell
		// beats a session of its own.
		data, err := fsys.ReadFile(ctx, path)
		if err != nil {
			return nil, fmt.Errorf("open file list: %w", err)
		}
		return NewFileListReader(bytes.NewReader(data))
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
	zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	fr := &FileListReader{zr: zr, sc: sc}
	if !sc.Scan() {
		zr.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("empty file list")
	}
	if sc.Text() != fileListHeader {
		zr.Close()
		return nil, fmt.Errorf("not a depot file list (header %q)", sc.Text())
	}
	fr.line = 1
	return fr, nil
}

// Next returns the next entry, or io.EOF after the last.
func (r *FileListReader) Next() (Entry, error) {
	if !r.sc.Scan() {
		if err := r.sc.Err(); err != nil {
			return Entry{}, fmt.Errorf("file list line %d: %w", r.line+1, err)
		}
		return Entry{}, io.EOF
	}
	r.line++
	fields := strings.SplitN(r.sc.Text(), "\t", 5)
	if len(fields) != 5 {
		return Entry{}, fmt.Errorf("file list line %d: want 5 fields, have %d", r.line, len(fields))
	}
	mode, err1 := strconv.ParseUint(fields[0], 8, 32)
	size, err2 := strconv.ParseInt(fields[1], 10, 64)
	mtime, err3 := strconv.ParseInt(fields[2], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return Entry{}, fmt.Errorf("file list line %d: %w", r.line, err)
	}
	e := Entry{Mode: uint32(mode), Size: size, Mtime: mtime, Path: unescapePath(fields[4])}
	if fields[3] != "-" {
		e.Hash = fields[3]
	}
	return e, nil
}

// Close releases the reader.
func (r *FileListReader) Close() error {
	r.zr.Close()
	if r.f != nil {
		return r.f.Close()
	}
	return nil
}

// sortStrings sorts names bytewise; within one directory that is PathLess order.
func sortStrings(names []string) { slices.Sort(names) }
