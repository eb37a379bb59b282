package repository

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestFileListRoundTrip(t *testing.T) {
	entries := []Entry{
		{Path: "a", Mode: 0o40755, Size: 4096, Mtime: 1},
		{Path: "a/back\\slash", Mode: 0o100644, Size: 3, Mtime: 2, Hash: strings.Repeat("ab", 32)},
		{Path: "a/new\nline\ttab\rcr", Mode: 0o100600, Size: 0, Mtime: -5, Hash: strings.Repeat("cd", 32)},
		{Path: "a/zz", Mode: 0o120777, Size: 7, Mtime: 1795307191999368920, Hash: strings.Repeat("ef", 32)},
	}
	var buf bytes.Buffer
	w, err := NewFileListWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := NewFileListReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := readEntries(r)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, entries) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, entries)
	}
}

func TestFileListRejectsForeignData(t *testing.T) {
	if _, err := NewFileListReader(strings.NewReader("not zstd")); err == nil {
		t.Fatal("reading garbage as a file list succeeded")
	}
}

// TestPathLessMatchesWalk checks that Scan's walk emits paths in PathLess order,
// which the streaming merge with the base's list depends on.
func TestPathLessMatchesWalk(t *testing.T) {
	root := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", ".", "-", "_", "A", "0", "ab", "a.b", "a-b"}
	for range 300 {
		depth := 1 + rng.IntN(3)
		var parts []string
		for range depth {
			parts = append(parts, alphabet[rng.IntN(len(alphabet))]+alphabet[rng.IntN(len(alphabet))])
		}
		p := filepath.Join(root, filepath.Join(parts...))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			continue // a file already has that name: skip
		}
		_ = os.WriteFile(p, []byte(p), 0o644)
	}
	paths := scanPaths(t, root, nil)
	if !slices.IsSortedFunc(paths, func(a, b string) int {
		if PathLess(a, b) {
			return -1
		}
		if PathLess(b, a) {
			return 1
		}
		return 0
	}) {
		t.Fatalf("walk order is not PathLess order: %q", paths)
	}
	if len(paths) < 100 {
		t.Fatalf("only %d paths generated", len(paths))
	}
}

func TestPathLess(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"a", "a/b", true},
		{"a/b", "a.b", true},
		{"a.b", "a/b", false},
		{"a/z", "ab", true},
		{"a", "a", false},
		{"b", "a/z", false},
	}
	for _, tt := range tests {
		if got := PathLess(tt.a, tt.b); got != tt.want {
			t.Errorf("PathLess(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// scanPaths scans root against base and returns the listed paths.
func scanPaths(t testing.TB, root string, base []byte) []string {
	t.Helper()
	entries, _ := scanEntries(t, root, base)
	var out []string
	for _, e := range entries {
		out = append(out, e.Path)
	}
	return out
}

// scanEntries scans root against the encoded base list (or none) and returns
// the entries and the encoded list.
func scanEntries(t testing.TB, root string, base []byte) ([]Entry, []byte) {
	t.Helper()
	var baseReader EntryReader
	if base != nil {
		r, err := NewFileListReader(bytes.NewReader(base))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		baseReader = r
	}
	var buf bytes.Buffer
	w, err := NewFileListWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Scan(context.Background(), root, baseReader, nil, nil, w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	encoded := bytes.Clone(buf.Bytes())
	r, err := NewFileListReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []Entry
	for {
		e, err := r.Next()
		if err == io.EOF {
			return out, encoded
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
}

// TestScanCarriesUnchangedHashes checks that a file matching the base entry in
// size and mtime keeps the base's hash without being read, and that a changed
// one is hashed afresh.
func TestScanCarriesUnchangedHashes(t *testing.T) {
	root := t.TempDir()
	write := func(name, content string, mtime time.Time) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Unix(1_700_000_000, 0)
	write("same", "one", t0)
	write("changed", "two", t0)
	if err := os.Symlink("same", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	first, encoded := scanEntries(t, root, nil)

	// Rewrite "same" with other bytes of the same size and mtime: a carried
	// hash proves it was not read. "changed" gets a new mtime.
	write("same", "ONE", t0)
	write("changed", "TWO", t0.Add(time.Second))
	write("added", "new", t0)
	second, _ := scanEntries(t, root, encoded)

	hash := func(entries []Entry, path string) string {
		for _, e := range entries {
			if e.Path == path {
				return e.Hash
			}
		}
		t.Fatalf("%s not listed", path)
		return ""
	}
	if hash(second, "same") != hash(first, "same") {
		t.Error("unchanged file was re-hashed instead of carrying the base's hash")
	}
	if got, want := hash(second, "changed"), sha256Hex("TWO"); got != want {
		t.Errorf("changed file: hash %s, want %s", got, want)
	}
	if got, want := hash(second, "added"), sha256Hex("new"); got != want {
		t.Errorf("added file: hash %s, want %s", got, want)
	}
	if got, want := hash(second, "link"), sha256Hex("same"); got != want {
		t.Errorf("symlink: hash %s, want the hash of its target %s", got, want)
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// sortedPaths lists paths, true for the linked ones, in PathLess order.
func sortedPaths(paths map[string]bool) PathList {
	return func(fn func(string, bool) error) error {
		sorted := make([]string, 0, len(paths))
		for p := range paths {
			sorted = append(sorted, p)
		}
		slices.SortFunc(sorted, comparePaths)
		for _, p := range sorted {
			if err := fn(p, paths[p]); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestScanPaths(t *testing.T) {
	root := t.TempDir()
	t0 := time.Unix(1_700_000_000, 0)
	for name, content := range map[string]string{"a/kept": "one", "a/changed": "two", "b": "three"} {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, t0, t0)
	}
	_, encoded := scanEntries(t, root, nil)
	// "a/kept" is reported unchanged: its entry must come from the base even
	// though the disk now says otherwise, which proves it was not stat'ed.
	if err := os.WriteFile(filepath.Join(root, "a", "kept"), []byte("ONE, longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "a", "changed"), []byte("TWO"), 0o644); err != nil {
		t.Fatal(err)
	}
	paths := map[string]bool{"a": false, "a/kept": true, "a/changed": false, "b": true, "b-missing-from-base": false}
	if err := os.WriteFile(filepath.Join(root, "b-missing-from-base"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	base, err := NewFileListReader(bytes.NewReader(encoded))
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	var buf bytes.Buffer
	w, _ := NewFileListWriter(&buf)
	st, err := ScanPaths(context.Background(), root, sortedPaths(paths), base, nil, w)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	r, _ := NewFileListReader(&buf)
	var got []Entry
	for {
		e, err := r.Next()
		if err != nil {
			break
		}
		got = append(got, e)
	}
	var order []string
	byPath := map[string]Entry{}
	for _, e := range got {
		order = append(order, e.Path)
		byPath[e.Path] = e
	}
	if want := []string{"a", "a/changed", "a/kept", "b", "b-missing-from-base"}; !slices.Equal(order, want) {
		t.Fatalf("order %q, want %q", order, want)
	}
	if e := byPath["a/kept"]; e.Size != 3 || e.Hash != sha256Hex("one") {
		t.Errorf("unchanged path %+v: want the base's entry", e)
	}
	if e := byPath["a/changed"]; e.Hash != sha256Hex("TWO") {
		t.Errorf("changed path %+v not re-hashed", e)
	}
	if e := byPath["b-missing-from-base"]; e.Hash != sha256Hex("new") {
		t.Errorf("new path %+v not hashed", e)
	}
	if st.FilesCarried != 2 || st.FilesHashed != 2 {
		t.Errorf("stats %+v, want 2 carried (a/kept, b) and 2 hashed", st)
	}
}

func TestFindEntry(t *testing.T) {
	entries := []Entry{
		{Path: "a", Mode: 0o40755},
		{Path: "a/b\tc", Mode: 0o100644, Size: 3, Mtime: 1, Hash: "h1"},
		{Path: "a/z", Mode: 0o100644, Size: 4, Mtime: 2, Hash: "h2"},
		{Path: "a-b", Mode: 0o100600, Size: 5, Mtime: 3, Ctime: 9, Uid: 1, Gid: 2, Hash: "h3"},
	}
	var buf bytes.Buffer
	w, err := NewFileListWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, want := range entries {
		got, ok, err := FindEntry(bytes.NewReader(buf.Bytes()), want.Path)
		if err != nil || !ok || got != want {
			t.Errorf("FindEntry(%q) = %+v, %v, %v", want.Path, got, ok, err)
		}
	}
	for _, missing := range []string{"", "0", "a/b", "a/y", "a-a", "b"} {
		if _, ok, err := FindEntry(bytes.NewReader(buf.Bytes()), missing); ok || err != nil {
			t.Errorf("FindEntry(%q) found it (%v)", missing, err)
		}
	}
	if _, _, err := FindEntry(strings.NewReader("not zstd"), "a"); err == nil {
		t.Error("FindEntry of garbage: no error")
	}
}

// A pushed-to repository's file list is read in one round trip while it is
// small, and streams once it is not, so memory does not follow the number
// of files.
func TestOpenFileListOverHostStreamsALongList(t *testing.T) {
	forEachFS(t, func(t *testing.T, newRepo func(testing.TB) Repo) {
		r := newRepo(t)
		if _, ok := r.Files().(*HostFS); !ok {
			t.Skip("a local list always streams")
		}
		var entries []Entry
		for i := range 3000 {
			entries = append(entries, Entry{Path: fmt.Sprintf("f%05d", i), Mode: 0o100644, Size: int64(i), Mtime: int64(i) * 7919, Hash: fmt.Sprintf("%064x", i*104729)})
		}
		path := r.Root + "/list.tsv.zst"
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w, err := NewFileListWriter(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if err := w.Write(e); err != nil {
				t.Fatal(err)
			}
		}
		if err := errors.Join(w.Close(), f.Close()); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name     string
			max      int64
			streamed bool
		}{
			{"small", st.Size(), false},
			{"long", st.Size() - 1, true},
		} {
			t.Run(tt.name, func(t *testing.T) {
				defer func(old int64) { shellReadMax = old }(shellReadMax)
				shellReadMax = tt.max
				fr, err := r.OpenFileList(ctx, path)
				if err != nil {
					t.Fatal(err)
				}
				defer fr.Close()
				if streamed := fr.f != nil; streamed != tt.streamed {
					t.Errorf("streamed = %v, want %v", streamed, tt.streamed)
				}
				got, err := readEntries(fr)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, entries) {
					t.Fatalf("read %d entries back, wrote %d (or they differ)", len(got), len(entries))
				}
			})
		}
	})
}
