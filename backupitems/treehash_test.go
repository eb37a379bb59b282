package backupitems

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/rsync"
)

// TestCopyHashesOrder: records added in any order come back in file list
// order, in memory or merged from runs on disk, and of two records of a
// path the one read later wins.
func TestCopyHashesOrder(t *testing.T) {
	for _, max := range []int{1 << 20, 7, 1} {
		t.Run(fmt.Sprintf("run of %d", max), func(t *testing.T) {
			c := newCopyHashes()
			c.max = max
			t.Cleanup(c.close)
			paths := []string{"a", "a/b", "a-b", "a/b/c", "b", "z/y", "a.b"}
			perm := rand.New(rand.NewPCG(1, 2)).Perm(len(paths))
			seq := uint64(0)
			for _, i := range perm {
				seq++
				if err := c.add(paths[i], seq, CopyHash{Ino: 1, Size: int64(i)}); err != nil {
					t.Fatal(err)
				}
			}
			seq++
			if err := c.add("a/b", seq, CopyHash{Ino: 2, Size: 1}); err != nil { // read again
				t.Fatal(err)
			}
			if err := c.done(); err != nil {
				t.Fatal(err)
			}
			lookup := c.Lookup()
			// Asked in file list order, some skipped, one unknown.
			for _, tc := range []struct {
				path string
				ino  uint64
				size int64
				ok   bool
			}{{"a", 1, 0, true}, {"a/b", 2, 1, true}, {"a/b/bb", 0, 0, false}, {"a-b", 1, 2, true}, {"b", 1, 4, true}, {"z/y", 1, 5, true}, {"zz", 0, 0, false}} {
				h, ok := lookup(tc.path)
				if ok != tc.ok || h.Ino != tc.ino || h.Size != tc.size {
					t.Errorf("%s: %+v, %v; want ino %d size %d, %v", tc.path, h, ok, tc.ino, tc.size, tc.ok)
				}
			}
		})
	}
}

// TestCopyHasherBesideRsync: the hashes read while a real rsync copies are
// the copies' hashes, for every file, whatever order rsync reports them in.
func TestCopyHasherBesideRsync(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	want := map[string][32]byte{}
	for i := range 300 {
		name := fmt.Sprintf("d%d/f%03d", i%7, i)
		data := []byte(strings.Repeat(name, i*13))
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		want[strings.TrimPrefix(src, "/")+"/"+name] = sha256.Sum256(data)
	}
	if err := os.Mkdir(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	h, err := newCopyHasher(dst)
	if err != nil {
		t.Fatal(err)
	}
	o := rsync.Options{Sources: []string{src}, Dest: dst + "/", Relative: true, Sent: h.sent}
	if _, err := rsync.Run(context.Background(), hosts.Local{}, o); err != nil {
		t.Fatal(err)
	}
	hashes, err := h.finish()
	if err != nil {
		t.Fatal(err)
	}
	defer hashes.close()
	if n := h.hashed.Load(); n != int64(len(want)) {
		t.Errorf("read %d files of %d (%d not read)", n, len(want), h.dropped.Load())
	}
	paths := sortedPaths(want)
	lookup := hashes.Lookup()
	for _, p := range paths {
		c, ok := lookup(p)
		if ok && c.SHA256 != want[p] {
			t.Errorf("%s: read hash %x, want %x", p, c.SHA256, want[p])
		}
	}
}
