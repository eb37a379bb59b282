package archive

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestFastHeaderSameBytes: the headers appendFastHeader writes are the
// bytes tar.Writer writes, for names and times on either side of each of
// its limits, among entries it leaves to tar.Writer; the two streams are
// identical.
func TestFastHeaderSameBytes(t *testing.T) {
	root := t.TempDir()
	type file struct {
		rel   string
		size  int
		nsec  int64 // mtime's nanoseconds
		xattr bool
	}
	long := func(n int) string { return strings.Repeat("n", n) }
	files := []file{
		{rel: "d", size: -1},
		{rel: "d/plain", size: 10, nsec: 953354305},
		{rel: "d/whole-second", size: 3},
		{rel: "d/trailing-zeros", size: 3, nsec: 500000000},
		{rel: "d/empty", nsec: 1},
		{rel: "d/" + long(98), size: 5, nsec: 7},                  // name of 100, its PAX header's longer
		{rel: "d/" + long(98-13), size: 5, nsec: 7},               // PAX header's name of 100
		{rel: "d/" + long(120), size: 5, nsec: 7},                 // a name past 100
		{rel: "d/" + long(98), size: 5},                           // 100, no PAX header
		{rel: "d/caf\u00e9", size: 5, nsec: 9},                    // not ASCII
		{rel: "d/large", size: smallFile + 1000, nsec: 123456789}, // streamed
		{rel: "d/xattr", size: 5, nsec: 3, xattr: true},
		{rel: "link", size: -2},
		{rel: "top", size: 513, nsec: 999999999},
	}
	for _, f := range files {
		p := filepath.Join(root, f.rel)
		switch f.size {
		case -1:
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		case -2:
			if err := os.Symlink("d/plain", p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, bytes.Repeat([]byte{'x'}, f.size), 0o640); err != nil {
			t.Fatal(err)
		}
		if f.xattr {
			if err := unix.Setxattr(p, "user.depot", []byte("v"), 0); err != nil {
				t.Logf("no user xattrs here: %v", err)
			}
		}
		if err := os.Chtimes(p, time.Now(), time.Unix(1796302881, f.nsec)); err != nil {
			t.Fatal(err)
		}
	}
	write := func(slow bool) []byte {
		var out bytes.Buffer
		w, err := NewWriter(&out, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.slow = slow
		for _, f := range files {
			if _, err := w.Add("item/"+f.rel, filepath.Join(root, f.rel)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	fast, slow := write(false), write(true)
	if !bytes.Equal(fast, slow) {
		t.Fatalf("the streams differ: %d and %d bytes compressed", len(fast), len(slow))
	}
	var names []string
	if _, err := List(bytes.NewReader(fast), nil, func(h *tar.Header) error {
		names = append(names, h.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(names) != len(files) {
		t.Errorf("read back %d entries, want %d: %q", len(names), len(files), names)
	}
	// And the fast path is taken where it can be.
	for _, c := range []struct {
		h  tar.Header
		ok bool
	}{
		{tar.Header{Typeflag: tar.TypeReg, Name: "item/d/plain", ModTime: time.Unix(1, 5)}, true},
		{tar.Header{Typeflag: tar.TypeReg, Name: "item/d/plain", ModTime: time.Unix(1, 0)}, true},
		{tar.Header{Typeflag: tar.TypeReg, Name: "item/" + long(120), ModTime: time.Unix(1, 5)}, false},
		{tar.Header{Typeflag: tar.TypeReg, Name: "item/d/plain", ModTime: time.Unix(1, 5), Uid: 1 << 21}, false},
		{tar.Header{Typeflag: tar.TypeReg, Name: "item/d/plain", ModTime: time.Unix(-1, 5)}, false},
		{tar.Header{Typeflag: tar.TypeDir, Name: "item/d/", ModTime: time.Unix(1, 5)}, false},
	} {
		if _, ok := appendFastHeader(nil, &c.h); ok != c.ok {
			t.Errorf("appendFastHeader(%s uid %d mtime %v) ok %v, want %v", c.h.Name, c.h.Uid, c.h.ModTime, ok, c.ok)
		}
	}
}
