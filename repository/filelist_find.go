package repository

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// FindEntry looks for path in the file list read from r (compressed, as
// stored) and returns its entry. It compares each line's path as text and
// parses only the line it finds, stopping as soon as the list is past the
// path: several times faster than reading every entry, for versions and
// restore --path, which look for one path in many lists.
func FindEntry(r io.Reader, path string) (Entry, bool, error) {
	zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
	if err != nil {
		return Entry{}, false, err
	}
	defer zr.Close()
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 256<<10), 1<<20)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return Entry{}, false, err
		}
		return Entry{}, false, fmt.Errorf("empty file list")
	}
	fields := 0
	switch sc.Text() {
	case fileListHeader:
		fields = 8
	case fileListHeaderV1:
		fields = 5
	default:
		return Entry{}, false, fmt.Errorf("not a depot file list (header %q)", sc.Text())
	}
	want := []byte(pathEscaper.Replace(path))
	for line := 2; sc.Scan(); line++ {
		b := sc.Bytes()
		i := bytes.LastIndexByte(b, '\t')
		if i < 0 {
			return Entry{}, false, fmt.Errorf("file list line %d: want %d fields", line, fields)
		}
		p := b[i+1:]
		if bytes.Equal(p, want) {
			e, err := parseEntry(string(b), fields)
			if err != nil {
				return Entry{}, false, fmt.Errorf("file list line %d: %w", line, err)
			}
			return e, true, nil
		}
		// Escaped paths sort as their unescaped selves; the comparison
		// only decides when to stop, so unescape where it matters.
		cur := string(p)
		if bytes.IndexByte(p, '\\') >= 0 {
			cur = unescapePath(cur)
		}
		if PathLess(path, cur) {
			return Entry{}, false, nil
		}
	}
	return Entry{}, false, sc.Err()
}
