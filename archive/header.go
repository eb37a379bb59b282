package archive

import (
	"archive/tar"
	"strconv"
	"strings"
)

// appendFastHeader appends to b the header blocks archive/tar's Writer
// writes for h, a regular file's header in FormatPAX, byte for byte: a PAX
// extended header holding only the mtime when it has nanoseconds, then the
// ustar header. It does so without tar.Writer's generality (a check of
// every field against every format, a map of records, fmt), which costs
// more than the rest of an export's bookkeeping on a tree of small files.
// It handles only what needs no other PAX record: an ASCII name of at most
// 100 bytes (and its PAX header's name too), numbers that fit their octal
// fields, no owner names, no xattrs; ok is false for anything else, which
// tar.Writer then writes.
func appendFastHeader(b []byte, h *tar.Header) (_ []byte, ok bool) {
	const nameSize = 100
	secs, nsecs := h.ModTime.Unix(), h.ModTime.Nanosecond()
	if h.Typeflag != tar.TypeReg || h.Linkname != "" || h.Uname != "" || h.Gname != "" ||
		len(h.PAXRecords) > 0 || h.Devmajor != 0 || h.Devminor != 0 ||
		!h.AccessTime.IsZero() || !h.ChangeTime.IsZero() ||
		len(h.Name) > nameSize || !plainASCII(h.Name) || strings.HasSuffix(h.Name, "/") ||
		!fitsOctal(8, h.Mode) || !fitsOctal(8, int64(h.Uid)) || !fitsOctal(8, int64(h.Gid)) ||
		!fitsOctal(12, h.Size) || !fitsOctal(12, secs) || h.ModTime.IsZero() {
		return b, false
	}
	if nsecs != 0 {
		dir, file := h.Name[:strings.LastIndexByte(h.Name, '/')+1], h.Name[strings.LastIndexByte(h.Name, '/')+1:]
		paxName := dir + "PaxHeaders.0/" + file
		if len(paxName) > nameSize || file == "" || strings.Contains(h.Name, "//") || strings.HasPrefix(h.Name, "/") {
			return b, false // path.Join would clean it: leave it to tar.Writer
		}
		frac := strings.TrimRight(strconv.FormatInt(int64(nsecs)+1e9, 10)[1:], "0")
		value := strconv.FormatInt(secs, 10) + "." + frac
		record := paxRecord("mtime", value)
		var x [512]byte
		putString(x[0:100], paxName)
		putOctal(x[100:108], 0)
		putOctal(x[108:116], 0)
		putOctal(x[116:124], 0)
		putOctal(x[124:136], int64(len(record)))
		putOctal(x[136:148], 0)
		x[156] = tar.TypeXHeader
		finish(&x)
		b = append(b, x[:]...)
		b = append(b, record...)
		b = append(b, zeros[:padding(int64(len(record)))]...)
	}
	var m [512]byte
	putString(m[0:100], h.Name)
	putOctal(m[100:108], h.Mode)
	putOctal(m[108:116], int64(h.Uid))
	putOctal(m[116:124], int64(h.Gid))
	putOctal(m[124:136], h.Size)
	putOctal(m[136:148], secs)
	m[156] = tar.TypeReg
	// linkname, uname, gname: empty (a NUL at their start, as zeros)
	putOctal(m[329:337], 0) // devmajor
	putOctal(m[337:345], 0) // devminor
	finish(&m)
	return append(b, m[:]...), true
}

// zeros pads a tar stream to its 512-byte blocks.
var zeros [512]byte

// padding is how many bytes follow n bytes of a body to end its block.
func padding(n int64) int64 { return -n & 511 }

func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 || s[i] >= 0x80 {
			return false
		}
	}
	return s != ""
}

// fitsOctal reports whether x fits a field of n bytes: n-1 octal digits
// and a NUL.
func fitsOctal(n int, x int64) bool { return x >= 0 && x < 1<<(3*uint(n-1)) }

// putString writes s into a field (NUL-terminated when shorter).
func putString(field []byte, s string) {
	copy(field, s)
	if len(s) < len(field) {
		field[len(s)] = 0
	}
}

// putOctal writes x as zero-padded octal and a NUL, as tar.Writer does.
func putOctal(field []byte, x int64) {
	for i := len(field) - 2; i >= 0; i-- {
		field[i] = byte('0' + x&7)
		x >>= 3
	}
	field[len(field)-1] = 0
}

// paxRecord formats one PAX record: "LEN key=value\n", LEN counting itself.
func paxRecord(k, v string) string {
	size := len(k) + len(v) + 3
	size += len(strconv.Itoa(size))
	record := strconv.Itoa(size) + " " + k + "=" + v + "\n"
	if len(record) != size {
		record = strconv.Itoa(len(record)) + " " + k + "=" + v + "\n"
	}
	return record
}

// finish sets a header block's ustar magic and version and its checksum.
func finish(b *[512]byte) {
	copy(b[257:263], "ustar\x00")
	copy(b[263:265], "00")
	sum := int64(0)
	for i, c := range b {
		if 148 <= i && i < 156 {
			c = ' '
		}
		sum += int64(c)
	}
	putOctal(b[148:155], sum)
	b[155] = ' '
}
