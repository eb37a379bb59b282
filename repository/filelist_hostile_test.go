package repository

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/depot-backup/depot/internal/relpath"
)

// rawList compresses text as a file list.
func rawList(t testing.TB, text string) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeAll([]byte(text), nil)
}

// readAll reads every entry of a list, or the first error.
func readAll(data []byte) ([]Entry, error) {
	r, err := NewFileListReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return readEntries(r)
}

// readEntries reads r to its end: every entry, or those before the first
// error and the error.
func readEntries(r EntryReader) ([]Entry, error) {
	var out []Entry
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
}

// TestFileListVersions: a version 2 list keeps the source's ctime, uid and
// gid ("-" when unknown); a version 1 list reads as entries without them.
func TestFileListVersions(t *testing.T) {
	entries := []Entry{
		{Path: "a", Mode: 0o40755, Size: 4096, Mtime: 1, Ctime: 2, Uid: 0, Gid: 0},
		{Path: "a/f", Mode: 0o100644, Size: 3, Mtime: 2, Ctime: 1795307191999368920, Uid: 1000, Gid: 4321, Hash: strings.Repeat("ab", 32)},
		{Path: "a/g", Mode: 0o100644, Size: 3, Mtime: 2, Hash: strings.Repeat("cd", 32)},
	}
	var buf bytes.Buffer
	w, _ := NewFileListWriter(&buf)
	for _, e := range entries {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	got, err := readAll(buf.Bytes())
	if err != nil || len(got) != 3 || got[1] != entries[1] || got[2] != entries[2] || got[0] != entries[0] {
		t.Fatalf("version 2: %+v, %v", got, err)
	}
	v1 := rawList(t, "depot-filelist 1\n100644\t3\t2\t"+strings.Repeat("ab", 32)+"\ta/f\n")
	got, err = readAll(v1)
	if err != nil || len(got) != 1 || got[0].HasSource() || got[0].Hash == "" || got[0].Path != "a/f" {
		t.Fatalf("version 1: %+v, %v", got, err)
	}
}

// TestFileListIsInput: a list whose path is not clean, whose lines are out of
// order or repeated, or whose fields do not parse, is an error on that line.
func TestFileListIsInput(t *testing.T) {
	line := func(p string) string { return "100644\t3\t2\t5\t0\t0\t-\t" + p + "\n" }
	tests := []struct{ name, body, want string }{
		{"dot-dot", line("a/../../etc/shadow"), "has a .. segment"},
		{"absolute", line("/etc/shadow"), "absolute"},
		{"escaped NUL", line(`a\` + "\x00"), "NUL"},
		{"empty path", line(""), "empty"},
		{"out of order", line("b") + line("a"), `"a" does not sort after "b"`},
		{"repeated", line("a") + line("a"), "does not sort after"},
		{"short line", "100644\t3\n", "want 8 fields"},
		{"ctime 0", "100644\t3\t2\t0\t0\t0\t-\ta\n", "ctime 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := rawList(t, "depot-filelist 2\n"+tt.body)
			_, err := readAll(data)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "file list line ") {
				t.Fatalf("error %v, want one naming the line and %q", err, tt.want)
			}
		})
	}
}

// TestFileListReadersShareNothing: readers reuse the decoders of closed
// ones; two lists read in turns each read as themselves, and a reader used
// after Close fails instead of reading whichever list took its decoder.
func TestFileListReadersShareNothing(t *testing.T) {
	list := func(prefix string) []byte {
		var text strings.Builder
		text.WriteString("depot-filelist 2\n")
		for i := range 3000 {
			fmt.Fprintf(&text, "100644\t3\t2\t5\t0\t0\t-\t%s/f%05d\n", prefix, i)
		}
		return rawList(t, text.String())
	}
	for round := range 3 {
		a, err := NewFileListReader(bytes.NewReader(list("a")))
		if err != nil {
			t.Fatal(err)
		}
		b, err := NewFileListReader(bytes.NewReader(list("b")))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3000 {
			eb, errB := b.Next()
			if errB != nil || eb.Path != fmt.Sprintf("b/f%05d", i) {
				t.Fatalf("round %d entry %d of b: %q %v", round, i, eb.Path, errB)
			}
			if i >= 2000 {
				continue // a is closed half read
			}
			ea, errA := a.Next()
			if errA != nil || ea.Path != fmt.Sprintf("a/f%05d", i) {
				t.Fatalf("round %d entry %d of a: %q %v", round, i, ea.Path, errA)
			}
		}
		a.Close()
		c, err := NewFileListReader(bytes.NewReader(list("c")))
		if err != nil {
			t.Fatal(err)
		}
		if e, err := a.Next(); err == nil {
			t.Fatalf("Next after Close gave %q", e.Path)
		}
		if _, _, err := a.NextLines(nil, nil, 10); err == nil {
			t.Fatal("NextLines after Close gave no error")
		}
		if e, err := c.Next(); err != nil || e.Path != "c/f00000" {
			t.Fatalf("a new reader after a closed one: %q, %v", e.Path, err)
		}
		a.Close() // twice: no harm to c
		if e, err := c.Next(); err != nil || e.Path != "c/f00001" {
			t.Fatalf("after a second Close: %q, %v", e.Path, err)
		}
		b.Close()
		c.Close()
	}
}

// TestScanPathsStaysInside: paths that are not clean are refused before
// anything is read, and a symlink inside the tree is never followed out of
// it: nothing outside root is hashed into a list.
func TestScanPathsStaysInside(t *testing.T) {
	root := t.TempDir()
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("root only"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Dir(secret), filepath.Join(root, "dir")); err != nil {
		t.Fatal(err)
	}
	scan := func(paths map[string]bool) error {
		var buf bytes.Buffer
		w, _ := NewFileListWriter(&buf)
		_, err := ScanPaths(context.Background(), root, sortedPaths(paths), nil, nil, w)
		return err
	}
	for _, p := range []string{"../" + filepath.Base(filepath.Dir(secret)) + "/secret", "/etc/shadow", "a//b"} {
		if err := scan(map[string]bool{p: false}); !errors.Is(err, relpath.ErrUnsafe) {
			t.Errorf("%q: %v, want ErrUnsafe", p, err)
		}
	}
	var buf bytes.Buffer
	w, _ := NewFileListWriter(&buf)
	unsorted := func(fn func(string, bool) error) error { return errors.Join(fn("b", false), fn("a", false)) }
	if _, err := ScanPaths(context.Background(), root, unsorted, nil, nil, w); err == nil || !strings.Contains(err.Error(), "does not sort after") {
		t.Errorf("paths out of order: %v, want a refusal", err)
	}
	err := scan(map[string]bool{"dir": false, "dir/secret": false})
	if err == nil || !strings.Contains(err.Error(), "dir") {
		t.Errorf("a path through a symlink: %v, want an error", err)
	}
}

// TestReadDirNamesAreThemselves: a directory whose name holds a newline and
// what looks like a stamp is one entry with that name on every FS, so a
// snapshot cannot be forged by naming a directory.
func TestReadDirNamesAreThemselves(t *testing.T) {
	forEachFS(t, func(t *testing.T, newRepo func(testing.TB) Repo) {
		r := newRepo(t)
		set := filepath.Join(r.Root, "holding", "web")
		forged := "x\nd 9999-12-31T235959Z"
		for _, d := range []string{"2026-01-01T000000Z", forged} {
			if err := os.MkdirAll(filepath.Join(set, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		entries, err := r.Files().ReadDir(context.Background(), set)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 2 || entries[0].Name != "2026-01-01T000000Z" || entries[1].Name != forged {
			t.Fatalf("ReadDir = %#v", entries)
		}
		snaps, err := r.Snapshots(context.Background(), "web")
		if err != nil || len(snaps) != 1 {
			t.Fatalf("Snapshots = %+v, %v; want the one real stamp", snaps, err)
		}
	})
}

// TestFileListSize: a version 2 list of 100,000 files, shaped like the
// benchmark's tree (nested directories, ns times, distinct hashes), stays
// within 150 bytes a file on disk.
func TestFileListSize(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	measure := func(withSource bool) (disk, text int) {
		var buf bytes.Buffer
		w, _ := NewFileListWriter(&buf)
		for i := range 100_000 {
			e := Entry{
				Path:  fmt.Sprintf("srv/bench/tree/d%02d/e%03d/file-%06d.dat", i/10000, i/100, i),
				Mode:  0o100644,
				Size:  rng.Int64N(60000),
				Mtime: 1_795_000_000_000_000_000 + rng.Int64N(1e17),
				Hash:  fmt.Sprintf("%016x%016x%016x%016x", rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64()),
			}
			if withSource {
				e.Ctime, e.Uid, e.Gid = e.Mtime+rng.Int64N(1e12), 1000, 1000
			}
			if err := w.Write(e); err != nil {
				t.Fatal(err)
			}
		}
		w.Close()
		dec, _ := zstd.NewReader(nil)
		plain, err := dec.DecodeAll(buf.Bytes(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return buf.Len(), len(plain)
	}
	v1ish, v1text := measure(false)
	v2, v2text := measure(true)
	t.Logf("100,000 files: %.1f bytes a file on disk, %.1f uncompressed; without the source fields %.1f and %.1f",
		float64(v2)/1e5, float64(v2text)/1e5, float64(v1ish)/1e5, float64(v1text)/1e5)
	if v2 > 150*100_000 {
		t.Errorf("%.1f bytes a file, want at most 150", float64(v2)/1e5)
	}
}

// TestStraysAreNotSnapshots: names in a set's folders that are not stamped
// directories are listed as strays and never as snapshots, on every FS.
func TestStraysAreNotSnapshots(t *testing.T) {
	forEachFS(t, func(t *testing.T, newRepo func(testing.TB) Repo) {
		r := newRepo(t)
		set := filepath.Join(r.Root, "holding", "web")
		for _, d := range []string{"2026-01-01T000000Z", "junk", "2026-13-01T000000Z"} {
			if err := os.MkdirAll(filepath.Join(set, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(set, "2026-01-02T000000Z"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		strays, err := r.Strays(context.Background(), "web")
		want := []string{"holding/2026-01-02T000000Z", "holding/2026-13-01T000000Z", "holding/junk"}
		if err != nil || !slices.Equal(strays, want) {
			t.Fatalf("Strays = %q, %v; want %q", strays, err, want)
		}
		snaps, err := r.Snapshots(context.Background(), "web")
		if err != nil || len(snaps) != 1 || snaps[0].Stamp != "2026-01-01T000000Z" {
			t.Fatalf("Snapshots = %+v, %v", snaps, err)
		}
	})
}

// TestPeekAgreesWithParse: a line Peek takes, with a clean path, is one
// Parse takes, as the regular file Peek says, with the same path and hash; Peek takes the
// plain lines of both versions. Checked on lines damaged at random, byte by
// byte.
func TestPeekAgreesWithParse(t *testing.T) {
	hash := strings.Repeat("0f", 32)
	lines := map[int][]string{
		8: {"100644\t3\t2\t5\t0\t0\t" + hash + "\td/f", "100755\t0\t-2\t-\tx\ty\t" + hash + "\tf",
			"100644\t15000\t1796323479727574585\t9223372036854775807\t1000\t999999999\t" + hash + "\twork/d0001/f000001"},
		5: {"100644\t3\t2\t" + hash + "\td/f"},
	}
	header := map[int]string{8: "depot-filelist 2\n", 5: "depot-filelist 1\n"}
	readers := map[int]*FileListReader{}
	for fields, h := range header {
		r, err := NewFileListReader(bytes.NewReader(rawList(t, h)))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		readers[fields] = r
	}
	reader := func(fields int) *FileListReader {
		r := readers[fields]
		r.line, r.last = 1, "" // each line read as the first
		return r
	}
	check := func(fields int, line string) bool {
		path, h, ok := reader(fields).Peek([]byte(line))
		if !ok || relpath.Check(string(path)) != nil {
			return false // Accept takes only a path known clean
		}
		e, err := reader(fields).Parse([]byte(line))
		if err != nil || !e.IsRegular() || e.Path != string(path) || e.Hash != string(h) {
			t.Fatalf("Peek took %q (path %q, hash %q); Parse gave %+v, %v", line, path, h, e, err)
		}
		return true
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("0189-\t\\a/xf ")
	for fields, good := range lines {
		for _, line := range good {
			if !check(fields, line) {
				t.Fatalf("Peek did not take the plain line %q", line)
			}
			taken := 0
			for range 20000 {
				b := []byte(line)
				for range 1 + rnd.IntN(2) {
					i := rnd.IntN(len(b))
					switch rnd.IntN(3) {
					case 0:
						b[i] = alphabet[rnd.IntN(len(alphabet))]
					case 1:
						b = append(b[:i], b[i+1:]...)
					default:
						b = slices.Insert(b, i, alphabet[rnd.IntN(len(alphabet))])
					}
				}
				if check(fields, string(b)) {
					taken++
				}
			}
			if taken == 0 {
				t.Fatalf("no damaged line of %q taken: the check checks nothing", line)
			}
		}
	}
	for _, line := range []string{
		"40755\t4096\t2\t5\t0\t0\t-\td",                            // a directory
		"100644\t3\t2\t5\t0\t0\t-\tf",                              // no hash
		"100644\t3\t2\t5\t0\t0\t" + hash + `\ta\\b`,                // a path to unescape
		"100644\t3\t2\t0\t0\t0\t" + hash + "\tf",                   // ctime 0
		"100644\t3\t2\t-0\t0\t0\t" + hash + "\tf",                  // ctime 0 too
		"100644\t3\t2\t5\t0\t0\t" + strings.ToUpper(hash) + "\tf",  // not as lists write it
		"100644\t3\t2\t5\t0\t0\t" + hash,                           // a field short
		"100644\t3\t9223372036854775808\t5\t0\t0\t" + hash + "\tf", // mtime out of range
	} {
		if _, _, ok := reader(8).Peek([]byte(line)); ok {
			t.Errorf("Peek took %q", line)
		}
	}
}

// TestAcceptKeepsOrder: lines taken in passing count and sort like parsed
// ones; one that does not sort after the line before is an error naming it.
func TestAcceptKeepsOrder(t *testing.T) {
	r, err := NewFileListReader(bytes.NewReader(rawList(t, "depot-filelist 2\n")))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Accept("a/b"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Parse([]byte("100644\t3\t2\t5\t0\t0\t-\ta/c")); err != nil {
		t.Fatal(err)
	}
	err = r.Accept("a/b")
	if err == nil || err.Error() != `file list line 4: "a/b" does not sort after "a/c"` {
		t.Fatalf("a line out of order: %v", err)
	}
}
