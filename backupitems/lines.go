package backupitems

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// This file holds the line-by-line reading and rewriting of SQL dumps that
// the database items share: scanning a dump as it is written, and rewriting
// statements as a dump is loaded. Both stream with constant memory: a line
// longer than the buffer (a row of data, say) is passed on in pieces and
// only its first piece is looked at.

// lineBuffer is the longest line that a filter sees whole.
const lineBuffer = 64 << 10

// lineFilter rewrites a dump as it is read: fn gets each line (with its
// "\n") that fits in lineBuffer and returns what to pass on instead, nil to
// drop it, or an error that stops the load. Longer lines pass unchanged;
// fn sees none of them, and whole says so (false).
type lineFilter struct {
	r    *bufio.Reader
	fn   func(line []byte, whole bool) ([]byte, error)
	out  []byte
	long bool // in the middle of a line longer than the buffer
	err  error
}

func newLineFilter(r io.Reader, fn func(line []byte, whole bool) ([]byte, error)) *lineFilter {
	return &lineFilter{r: bufio.NewReaderSize(r, lineBuffer), fn: fn}
}

func (f *lineFilter) Read(p []byte) (int, error) {
	for len(f.out) == 0 {
		if f.err != nil {
			return 0, f.err
		}
		line, err := f.r.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			if !f.long {
				if _, ferr := f.fn(line, false); ferr != nil {
					f.err = ferr
					return 0, ferr
				}
			}
			f.long = true
			f.out = line
			continue
		case err != nil:
			f.err = err
		}
		if f.long {
			f.long = false
			f.out = line
			continue
		}
		if len(line) == 0 {
			continue
		}
		out, ferr := f.fn(line, true)
		if ferr != nil {
			f.err = ferr
			return 0, ferr
		}
		f.out = out
	}
	n := copy(p, f.out)
	f.out = f.out[n:]
	return n, nil
}

// lineScanner is a writer that hands each line written to it to fn, whole
// when it fits in lineBuffer, else its first lineBuffer bytes (whole false).
type lineScanner struct {
	fn   func(line []byte, whole bool)
	cur  []byte
	long bool
}

func (s *lineScanner) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i+1]
		}
		p = p[len(chunk):]
		if !s.long {
			room := lineBuffer - len(s.cur)
			if len(chunk) > room {
				s.cur = append(s.cur, chunk[:room]...)
				s.fn(s.cur, false)
				s.cur, s.long = s.cur[:0], true
			} else {
				s.cur = append(s.cur, chunk...)
			}
		}
		if i >= 0 {
			if !s.long {
				s.fn(s.cur, true)
			}
			s.cur, s.long = s.cur[:0], false
		}
	}
	return n, nil
}

// Close hands on a last line without "\n".
func (s *lineScanner) Close() error {
	if len(s.cur) > 0 && !s.long {
		s.fn(s.cur, true)
	}
	s.cur = s.cur[:0]
	return nil
}
