package fsat

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// TestParseDirent: a record is read whole, its name up to its NUL; a
// buffer that does not hold a whole record gives none.
func TestParseDirent(t *testing.T) {
	// record builds a linux_dirent64 of reclen bytes (0: the length the
	// kernel would give, the name and its NUL padded to 8 bytes).
	record := func(ino uint64, typ byte, name string, reclen int) []byte {
		if reclen == 0 {
			reclen = (19 + len(name) + 1 + 7) &^ 7
		}
		b := make([]byte, max(reclen, 19+len(name)+1))
		binary.NativeEndian.PutUint64(b, ino)
		binary.NativeEndian.PutUint16(b[16:], uint16(reclen))
		b[18] = typ
		copy(b[19:], name)
		return b
	}
	for _, tc := range []struct {
		name     string
		in       []byte
		wantName string
		wantLen  int
	}{
		{"file", record(42, unix.DT_REG, "a file", 0), "a file", 32},
		{"name fills the record", record(7, unix.DT_DIR, "abcd", 24), "abcd", 24},
		{"two records, the first read", append(record(1, unix.DT_REG, "x", 0), record(2, unix.DT_REG, "y", 0)...), "x", 24},
		{"shorter than a header", record(1, unix.DT_REG, "x", 0)[:10], "", 0},
		{"record longer than the read", record(1, unix.DT_REG, "x", 64)[:40], "", 0},
		{"record without room for a name", record(1, unix.DT_REG, "", 19), "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ino, typ, raw, n := ParseDirent(tc.in)
			name := string(raw)
			if name != tc.wantName || n != tc.wantLen {
				t.Fatalf("ParseDirent = %q, %d bytes; want %q, %d", name, n, tc.wantName, tc.wantLen)
			}
			if n > 0 && (ino != binary.NativeEndian.Uint64(tc.in) || typ != tc.in[18]) {
				t.Fatalf("ParseDirent = inode %d type %d; want %d %d", ino, typ, binary.NativeEndian.Uint64(tc.in), tc.in[18])
			}
		})
	}
}
