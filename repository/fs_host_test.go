package repository

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/internal/sshtest"
)

// hostFSOver is a HostFS over an SSH connection to s, closed with the test.
func hostFSOver(t testing.TB, s *sshtest.Server) *HostFS {
	t.Helper()
	h, err := hosts.NewSSH(s.Addr(), hosts.SSHOptions{IdentityFile: s.IdentityFile, KnownHosts: s.KnownHosts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return newHostFS(t, h)
}

// TestHostFSOnSecondMachine runs HostFS's operations over SSH against a
// second machine (sshtest's Separate): every result is where the remote
// sees it, and nothing lands at the same path on this one.
func TestHostFSOnSecondMachine(t *testing.T) {
	root := filepath.Join(t.TempDir(), "repo")
	s := sshtest.Start(t, sshtest.Options{Separate: []string{root}})
	f := hostFSOver(t, s)
	ctx := context.Background()
	remote := s.Remote
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	create := func(p string, data []byte) {
		t.Helper()
		w, err := f.Create(ctx, p)
		must(err)
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		must(w.Close())
	}

	must(f.MkdirAll(ctx, root+"/a/b"))
	// Any bytes, through the shell: NUL, backslashes, printf's % and a
	// backslash before digits.
	odd := []byte("a\x00b\\0101\\c%s%%\n\xff'\"$(id)`x`\x00")
	create(root+"/a/b/odd", odd)
	big := bytes.Repeat([]byte("0123456789abcde\x00"), (shellWriteMax+1<<20)/16) // outgrows the shell: cat
	create(root+"/a/big", big)
	for p, want := range map[string][]byte{root + "/a/b/odd": odd, root + "/a/big": big} {
		got, err := os.ReadFile(remote(p))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s on the second machine: %d bytes, %v; want %d", p, len(got), err, len(want))
		}
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s exists on this machine: %v", p, err)
		}
	}
	// An aborted file that fits the shell writes nothing; a streamed one is
	// cut.
	for _, size := range []int{10, shellWriteMax + 10} {
		w, err := f.Create(ctx, root+"/a/aborted")
		must(err)
		w.Write(make([]byte, size))
		w.(interface{ CloseWithError(error) error }).CloseWithError(errors.New("aborted"))
		if _, err := os.Stat(remote(root + "/a/aborted")); size < shellWriteMax && !os.IsNotExist(err) {
			t.Errorf("an aborted %d-byte file was written: %v", size, err)
		}
		must(f.Remove(ctx, root+"/a/aborted")) // as the caller of an abort does
	}

	r, err := f.Open(ctx, root+"/a/big")
	must(err)
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, big) {
		t.Errorf("Open: %d bytes, %v; want %d", len(got), err, len(big))
	}
	must(f.Link(ctx, root+"/a/b/odd", root+"/a/link"))
	must(f.Rename(ctx, root+"/a/link", root+"/a/moved"))
	a, _ := os.Stat(remote(root + "/a/b/odd"))
	b, _ := os.Stat(remote(root + "/a/moved"))
	if a == nil || b == nil || !os.SameFile(a, b) {
		t.Error("Link and Rename made no hard link on the second machine")
	}
	entries, err := f.ReadDir(ctx, root+"/a")
	if err != nil || len(entries) != 3 {
		t.Errorf("ReadDir: %+v, %v; want b, big, moved", entries, err)
	}
	ok, err := f.Exists(ctx, root+"/a/moved", root+"/a/nope")
	if err != nil || !ok[0] || ok[1] {
		t.Errorf("Exists: %v, %v", ok, err)
	}

	// LinkTree clones a base that exists only there.
	must(os.MkdirAll(remote(root+"/base/d"), 0o755))
	must(os.WriteFile(remote(root+"/base/d/f"), []byte("f"), 0o644))
	must(os.WriteFile(remote(root+"/base/gone"), []byte("g"), 0o644))
	must(f.MkdirAll(ctx, root+"/new"))
	files := describeFiles(t, remote(root+"/base"), []string{"d/f"})
	copies, err := f.LinkTree(ctx, root+"/base", root+"/new", []string{"d"}, files, []string{"gone"})
	if err != nil || len(copies) != 0 {
		t.Fatalf("LinkTree: copies %v, %v", copies, err)
	}
	c, _ := os.Stat(remote(root + "/new/d/f"))
	d, _ := os.Stat(remote(root + "/base/d/f"))
	if c == nil || d == nil || !os.SameFile(c, d) {
		t.Error("LinkTree linked nothing on the second machine")
	}
	if _, err := os.Stat(remote(root + "/new/gone")); !os.IsNotExist(err) {
		t.Errorf("a dropped path stayed: %v", err)
	}

	// A base whose tree starts with a chain of lone directories, as an
	// item's does: cloned in parallel under the chain's end, and every
	// directory keeps its base copy's attributes.
	chain := []string{"x", "x/y", "x/y/z", "x/y/z/sub"}
	for _, n := range []string{"x/y/z/f1", "x/y/z/f2", "x/y/z/sub/g"} {
		must(os.MkdirAll(remote(root+"/base2/"+filepath.Dir(n)), 0o755))
		must(os.WriteFile(remote(root+"/base2/"+n), []byte(n), 0o644))
	}
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	for i := len(chain) - 1; i >= 0; i-- {
		p := remote(root + "/base2/" + chain[i])
		must(os.Chmod(p, 0o750))
		must(os.Chtimes(p, old, old))
	}
	must(f.MkdirAll(ctx, root+"/new2"))
	defer func(n int) { parallelCloneMin = n }(parallelCloneMin)
	parallelCloneMin = 0
	all := append(append([]string{}, chain...), "x/y/z/f1", "x/y/z/f2", "x/y/z/sub/g")
	copies, err = f.LinkTree(ctx, root+"/base2", root+"/new2", chain, describeFiles(t, remote(root+"/base2"), all), nil)
	if err != nil || len(copies) != 0 {
		t.Fatalf("LinkTree of a chain: copies %v, %v; want none (every directory as the base's)", copies, err)
	}
	for _, n := range all {
		a, _ := os.Lstat(remote(root + "/base2/" + n))
		b, _ := os.Lstat(remote(root + "/new2/" + n))
		switch {
		case a == nil || b == nil:
			t.Errorf("%s: missing from the clone", n)
		case a.IsDir() && (a.Mode() != b.Mode() || !a.ModTime().Equal(b.ModTime())):
			t.Errorf("directory %s: %v %v in the clone, %v %v in the base", n, b.Mode(), b.ModTime(), a.Mode(), a.ModTime())
		case !a.IsDir() && !os.SameFile(a, b):
			t.Errorf("%s: not a hard link to the base's", n)
		}
	}

	lock, err := f.Lock(ctx, root+"/lock", 0, "test")
	must(err)
	if data, _ := os.ReadFile(remote(root + "/lock")); string(data) != "test\n" {
		t.Errorf("lock file on the second machine holds %q", data)
	}
	must(lock.Unlock())
	must(f.Sync(ctx, root))
	must(f.RemoveAll(ctx, root+"/a"))
	if _, err := os.Stat(remote(root + "/a")); !os.IsNotExist(err) {
		t.Errorf("RemoveAll left %v", err)
	}
	if entries, _ := os.ReadDir(root); len(entries) != 0 {
		t.Errorf("this machine's %s holds %d entries, want none", root, len(entries))
	}
}

// TestLinkTreeDistrustsFind: the repository host's find, which checks the
// clone, is its word, not a fact. A host that lists its records in another
// order, leaves a file out or adds one not asked for gets what an honest
// one gets (the file left out is copied, the extra one removed); one that
// lists a path twice, or one that leads out of the clone, has the clone
// emptied and LinkTree falls back to rsync (ErrNoLinkTree), with nothing
// outside the clone touched.
func TestLinkTreeDistrustsFind(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "repo")
	bin, forge, hide := filepath.Join(dir, "bin"), filepath.Join(dir, "forge"), filepath.Join(dir, "hide")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// Only the clone check's find lies; its records come reversed.
	find := `#!/bin/sh
if [ "$4" != -printf ]; then exec /usr/bin/find "$@"; fi
/usr/bin/find "$@" | sort -zr | { if [ -f ` + hide + ` ]; then grep -zv -- "$(cat ` + hide + `)"; else cat; fi; }
if [ -f ` + forge + ` ]; then tr '\n' '\0' < ` + forge + `; fi
exit 0
`
	wrapper := "#!/bin/sh\nPATH=" + bin + ":$PATH\nexport PATH\nexec /bin/sh -c \"$SSH_ORIGINAL_COMMAND\"\n"
	for name, body := range map[string]string{filepath.Join(bin, "find"): find, filepath.Join(dir, "wrapper"): wrapper} {
		if err := os.WriteFile(name, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := sshtest.Start(t, sshtest.Options{Config: []string{"ForceCommand " + filepath.Join(dir, "wrapper")}, Separate: []string{root}})
	f := hostFSOver(t, s)
	ctx := context.Background()
	remote := s.Remote
	names := []string{"d/a", "d/b", "d/c", "e"}
	for _, n := range names {
		p := remote(root + "/base/" + n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(remote(root+"/outside"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	files := describeFiles(t, remote(root+"/base"), names)
	for i, tc := range []struct {
		name, forge, hide string
		copies            []string
		fallback          bool
	}{
		{name: "reversed"},
		{name: "one left out", hide: "d/b$", copies: []string{"d/b"}},
		{name: "one not asked for", forge: "f 644 1 1000000000.0 0 0 ghost"},
		{name: "a path twice", forge: "f 644 3 1000000000.0 0 0 d/a", fallback: true},
		{name: "out of the clone", forge: "f 644 4 1000000000.0 0 0 ../outside", fallback: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for path, body := range map[string]string{forge: tc.forge, hide: tc.hide} {
				os.Remove(path)
				if body != "" {
					if err := os.WriteFile(path, []byte(body+"\n"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			dst := fmt.Sprintf("%s/new%d", root, i)
			if err := f.MkdirAll(ctx, dst); err != nil {
				t.Fatal(err)
			}
			copies, err := f.LinkTree(ctx, root+"/base", dst, []string{"d"}, files, nil)
			entries, _ := os.ReadDir(remote(dst))
			if data, rerr := os.ReadFile(remote(root + "/outside")); rerr != nil || string(data) != "keep" {
				t.Errorf("the file outside the clone: %q, %v", data, rerr)
			}
			if tc.fallback {
				if !errors.Is(err, ErrNoLinkTree) || len(entries) != 0 {
					t.Fatalf("LinkTree: %v, %d entries left; want ErrNoLinkTree and none", err, len(entries))
				}
				return
			}
			if err != nil || !slices.Equal(copies, tc.copies) {
				t.Fatalf("LinkTree: copies %q, %v; want %q", copies, err, tc.copies)
			}
			for _, n := range names {
				_, serr := os.Lstat(remote(dst + "/" + n))
				if linked := serr == nil; linked == slices.Contains(tc.copies, n) {
					t.Errorf("%s: in the clone %v, want %v", n, linked, !linked)
				}
			}
			if _, err := os.Lstat(remote(dst + "/ghost")); err == nil {
				t.Error("a path find made up is in the clone")
			}
		})
	}
}
