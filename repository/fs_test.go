package repository

import (
	"errors"
	"io/fs"
	"os"
	"testing"

	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/internal/sshtest"
)

// forEachFS runs a test against every FS implementation: this machine's, the
// host one over hosts.Local, and the host one over SSH to a real sshd. The
// sshd runs on this machine, so the test can check results on the disk.
func forEachFS(t *testing.T, test func(t *testing.T, newRepo func(testing.TB) Repo)) {
	t.Run("local", func(t *testing.T) {
		test(t, func(tb testing.TB) Repo { return Repo{Root: tb.TempDir(), FS: LocalFS{}} })
	})
	t.Run("host", func(t *testing.T) {
		test(t, func(tb testing.TB) Repo { return Repo{Root: tb.TempDir(), FS: newHostFS(tb, hosts.Local{})} })
	})
	t.Run("ssh", func(t *testing.T) {
		s := sshtest.Start(t, sshtest.Options{})
		h, err := hosts.NewSSH(s.Addr(), hosts.SSHOptions{IdentityFile: s.IdentityFile, KnownHosts: s.KnownHosts})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		test(t, func(tb testing.TB) Repo { return Repo{Root: tb.TempDir(), FS: newHostFS(tb, h)} })
	})
}

func newHostFS(tb testing.TB, h hosts.Host) *HostFS {
	f := NewHostFS(h)
	tb.Cleanup(func() { f.Close() })
	return f
}

func TestFSBasics(t *testing.T) {
	forEachFS(t, func(t *testing.T, newRepo func(testing.TB) Repo) {
		r := newRepo(t)
		fsys := r.Files()
		dir := r.Root + "/a/b"
		if err := fsys.MkdirAll(ctx, dir); err != nil {
			t.Fatal(err)
		}
		w, err := fsys.Create(ctx, dir+"/f")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("content")); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := fsys.Link(ctx, dir+"/f", dir+"/g"); err != nil {
			t.Fatal(err)
		}
		a, _ := os.Stat(dir + "/f")
		b, _ := os.Stat(dir + "/g")
		if !os.SameFile(a, b) {
			t.Fatal("Link made no hard link")
		}
		entries, err := fsys.ReadDir(ctx, r.Root+"/a")
		if err != nil || len(entries) != 1 || entries[0] != (DirEntry{Name: "b", IsDir: true}) {
			t.Fatalf("ReadDir = %+v, %v", entries, err)
		}
		if entries, err := fsys.ReadDir(ctx, r.Root+"/missing"); err != nil || len(entries) != 0 {
			t.Fatalf("ReadDir of a missing dir = %+v, %v", entries, err)
		}
		ok, err := fsys.Exists(ctx, dir+"/f", dir+"/nope")
		if err != nil || !ok[0] || ok[1] {
			t.Fatalf("Exists = %v, %v", ok, err)
		}
		if err := fsys.Rename(ctx, dir+"/f", dir+"/h"); err != nil {
			t.Fatal(err)
		}
		if err := fsys.Rename(ctx, dir+"/h", r.Root+"/a"); err == nil {
			t.Fatal("Rename onto a directory succeeded")
		}
		rc, err := fsys.Open(ctx, dir+"/h")
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		n, _ := rc.Read(buf)
		rc.Close()
		if string(buf[:n]) != "content" {
			t.Fatalf("read %q", buf[:n])
		}
		if err := fsys.SetMtime(ctx, dir+"/h", t0); err != nil {
			t.Fatal(err)
		}
		if st, _ := os.Stat(dir + "/h"); !st.ModTime().Equal(t0) {
			t.Fatalf("mtime %v, want %v", st.ModTime(), t0)
		}
		if free, err := fsys.Free(ctx, r.Root); err != nil || free <= 0 {
			t.Fatalf("Free = %d, %v", free, err)
		}
		if err := fsys.RemoveAll(ctx, r.Root+"/a"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(r.Root + "/a"); !os.IsNotExist(err) {
			t.Fatal("RemoveAll left the tree")
		}
	})
}

func TestFSReadFiles(t *testing.T) {
	forEachFS(t, func(t *testing.T, newRepo func(testing.TB) Repo) {
		r := newRepo(t)
		fsys := r.Files()
		dir := r.Root
		// A file that ends without a newline, one that holds what a
		// frame's end looks like, an empty one, binary data.
		files := map[string]string{
			"plain":  "no newline at the end",
			"frame":  "x\ndepot-00 ok\n\ndepot-00 no\n",
			"empty":  "",
			"binary": "\x00\xff\n\n\x00",
		}
		for name, data := range files {
			if err := os.WriteFile(dir+"/"+name, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Mkdir(dir+"/dir", 0o700); err != nil {
			t.Fatal(err)
		}
		paths := []string{dir + "/plain", dir + "/missing", dir + "/frame", dir + "/dir", dir + "/empty", dir + "/binary"}
		got, err := fsys.ReadFiles(ctx, paths...)
		if err != nil {
			t.Fatal(err)
		}
		want := []*string{ptr(files["plain"]), nil, ptr(files["frame"]), nil, ptr(files["empty"]), ptr(files["binary"])}
		if len(got) != len(want) {
			t.Fatalf("%d answers for %d paths", len(got), len(want))
		}
		for i, w := range want {
			switch {
			case w == nil && got[i] != nil:
				t.Errorf("%s: read %q, want nothing", paths[i], got[i])
			case w != nil && (got[i] == nil || string(got[i]) != *w):
				t.Errorf("%s: read %q (nil: %v), want %q", paths[i], got[i], got[i] == nil, *w)
			}
		}
		// A name with a newline in it takes the way of a cat a file.
		if err := os.WriteFile(dir+"/new\nline", []byte("odd"), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err = fsys.ReadFiles(ctx, dir+"/binary", dir+"/new\nline", dir+"/missing", dir+"/frame")
		if err != nil || len(got) != 4 || string(got[0]) != files["binary"] || string(got[1]) != "odd" || got[2] != nil || string(got[3]) != files["frame"] {
			t.Fatalf("with a newline in a name: %q, %v", got, err)
		}
		if got, err := fsys.ReadFiles(ctx); err != nil || len(got) != 0 {
			t.Fatalf("ReadFiles() = %q, %v", got, err)
		}
	})
}

func ptr(s string) *string { return &s }

func TestFSSize(t *testing.T) {
	forEachFS(t, func(t *testing.T, newRepo func(testing.TB) Repo) {
		r := newRepo(t)
		for name, data := range map[string]string{"five": "12345", "empty": "", "lines": "a\nb\n"} {
			if err := os.WriteFile(r.Root+"/"+name, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			if n, err := r.Files().Size(ctx, r.Root+"/"+name); err != nil || n != int64(len(data)) {
				t.Errorf("Size(%s) = %d, %v, want %d", name, n, err, len(data))
			}
		}
		if n, err := r.Files().Size(ctx, r.Root+"/missing"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Size of a missing file = %d, %v, want ErrNotExist", n, err)
		}
	})
}

// A file that changed between wc and cat does not add up, and is read
// again a file at a time.
func TestSplitCatFiles(t *testing.T) {
	for _, tt := range []struct {
		name string
		out  string
		n    int
		want []string // "-" for nil
		ok   bool
	}{
		{"two files and a missing one", "101\n3 a\n2 c\n5 total\nabcde", 3, []string{"abc", "-", "de"}, true},
		{"one file, no total", "01\n 4 b\nwxyz", 2, []string{"-", "wxyz"}, true},
		{"none", "00\n", 2, []string{"-", "-"}, true},
		{"grew since wc", "1\n3 a\nabcd", 1, nil, false},
		{"shrank since wc", "11\n3 a\n2 b\n5 total\nabcd", 2, nil, false},
		{"flags for other paths", "1\n3 a\nabc", 2, nil, false},
		{"no size", "1\nx a\nabc", 1, nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := splitCatFiles([]byte(tt.out), tt.n)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			for i, w := range tt.want {
				if w == "-" && got[i] != nil || w != "-" && string(got[i]) != w {
					t.Errorf("file %d: %q, want %q", i, got[i], w)
				}
			}
		})
	}
}
