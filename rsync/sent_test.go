package rsync

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/depot-backup/depot/hosts"
)

// TestRunSent: with Sent, rsync names each regular file it sent, as the
// destination holds it (an absolute source under --relative loses its
// leading slash; an unprintable byte is unescaped), and nothing else; the
// stats still parse.
func TestRunSent(t *testing.T) {
	requireRsync(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	for _, name := range []string{"a/f", "a/new\nline", "b/c/g", "b/link-target"} {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("f", filepath.Join(src, "a", "sym")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(src, "b/link-target"), filepath.Join(src, "b/hard")); err != nil {
		t.Fatal(err)
	}
	var sent []string
	o := Options{Sources: []string{src}, Dest: filepath.Join(dir, "dst") + "/", Relative: true, HardLinks: true, Sparse: true, NumericIDs: true,
		Sent: func(name string, _ int64) { sent = append(sent, name) }}
	res, err := Run(context.Background(), hosts.Local{}, o)
	if err != nil {
		t.Fatal(err)
	}
	rel := strings.TrimPrefix(src, "/")
	var want []string
	for _, name := range []string{"a/f", "a/new\nline", "b/c/g"} {
		want = append(want, rel+"/"+name)
	}
	slices.Sort(sent)
	// Of two hard links rsync sends one and links the other.
	if len(sent) != 4 || !slices.Equal(sent[:2], want[:2]) || sent[2] != want[2] || sent[3] != rel+"/b/hard" && sent[3] != rel+"/b/link-target" {
		t.Fatalf("sent %q, want %q and one of the hard links", sent, want)
	}
	if res.Stats.FilesTransferred != 4 || res.Stats.Files != 5 {
		t.Fatalf("stats %+v", res.Stats)
	}
	if !slices.Contains(o.Args(), sentFormat) {
		t.Fatalf("args %q lack %q", o.Args(), sentFormat)
	}
}

func TestParseSent(t *testing.T) {
	for _, tc := range []struct {
		line, name string
		n          int64
		ok         bool
	}{
		{">f+++++++++ 15,000 /srv/a b", "srv/a b", 15000, true},
		{"<f.st...... 12 x/y", "x/y", 12, true},
		{">f+++++++++ 0 x/\\#012z", "x/\nz", 0, true},
		{"cd+++++++++ 0 /srv/", "", 0, false},
		{"hf+++++++++ 0 srv/h", "", 0, false},
		{"cL+++++++++ 0 srv/s", "", 0, false},
		{">f+++++++++ x srv/s", "", 0, false},
		{"Number of files: 3 (reg: 2, dir: 1)", "", 0, false},
		{">f+++++++++ 12 /", "", 0, false},
	} {
		name, n, ok := parseSent(tc.line)
		if name != tc.name || n != tc.n || ok != tc.ok {
			t.Errorf("parseSent(%q) = %q, %d, %v; want %q, %d, %v", tc.line, name, n, ok, tc.name, tc.n, tc.ok)
		}
	}
}
