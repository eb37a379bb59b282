package rsync

import (
	"bytes"
	"strings"
)

// sentFormat is the --out-format of a transfer with Options.Sent. Its %b
// (bytes transferred) makes rsync log each file after its data went
// through instead of before (log_before_transfer is off then): the line
// follows the transfer, though the receiver may still be writing the file
// and has not yet renamed it into place.
const sentFormat = "--out-format=%i %b %n"

// sentLines splits rsync's stdout into lines as it comes: a file's line of
// sentFormat goes to sent at once, everything else (the --stats block) is
// kept for parseStats. Memory stays bounded whatever the number of files.
type sentLines struct {
	sent     func(name string, bytes int64)
	itemized func(name string, linked bool) // instead of sent: Options.Itemized
	partial  []byte
	rest     bytes.Buffer
}

func (s *sentLines) Write(p []byte) (int, error) {
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		s.line(s.partial[:i+1])
		s.partial = s.partial[i+1:]
	}
	if len(s.partial) > 1<<20 {
		// No line of rsync's is that long: keep the start, for stats.
		s.rest.Write(s.partial)
		s.partial = s.partial[:0]
	}
	if len(s.partial) == 0 {
		s.partial = nil // let the backing array go
	}
	return len(p), nil
}

// line handles one line, newline included.
func (s *sentLines) line(b []byte) {
	if s.itemized != nil {
		if name, linked, ok := parseItemizedLine(string(bytes.TrimSuffix(b, []byte("\n")))); ok {
			if name != "" {
				s.itemized(name, linked)
			}
			return
		}
		s.rest.Write(b)
		return
	}
	if name, n, ok := parseSent(string(bytes.TrimSuffix(b, []byte("\n")))); ok {
		s.sent(name, n)
		return
	}
	s.rest.Write(b)
}

// flush hands on a last line without its newline; the kept lines are then
// all of stdout but the sent ones.
func (s *sentLines) flush() []byte {
	if len(s.partial) > 0 {
		s.line(s.partial)
		s.partial = nil
	}
	return s.rest.Bytes()
}

// parseSent reads a line of sentFormat for a regular file whose data rsync
// sent (">f" received, "<f" sent: the change summary names the direction):
// an 11-character summary, the bytes it took, and the name with unprintable
// bytes escaped as \#ooo.
func parseSent(line string) (string, int64, bool) {
	if len(line) < 14 || line[11] != ' ' || line[1] != 'f' || line[0] != '>' && line[0] != '<' {
		return "", 0, false
	}
	n, name, ok := strings.Cut(line[12:], " ")
	if !ok || n == "" || strings.Trim(n, "0123456789,") != "" {
		return "", 0, false
	}
	// With --relative and an absolute source, the name starts with "/".
	name = strings.TrimLeft(unescapeName(name), "/")
	if name == "" {
		return "", 0, false
	}
	return name, leadingNumber(n), true
}
