package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/depot-backup/depot/internal/sshtest"
)

// TestExportPushedRepository exports a snapshot of a repository on a second
// machine: tar there streams the files over SSH, and the archive unpacks to
// the source (modes, times, symlinks, hard links, xattrs), whole or one
// path. A file missing or changed in size there fails the export with one
// line, and nothing is written.
func TestExportPushedRepository(t *testing.T) {
	e := newTwoHostEnv(t, "push", 20, sshtest.Options{})
	if err := unix.Lsetxattr(filepath.Join(e.src, "secret"), "user.depot-test", []byte("kept"), 0); err != nil {
		t.Fatalf("set an xattr (the test file system must allow user xattrs): %v", err)
	}
	args := []string{"--config", e.config}
	mustDepot(t, append(args, "run")...)
	snaps := e.snapshots(t)
	if len(snaps) != 1 {
		t.Fatalf("%d snapshots", len(snaps))
	}

	tarball := filepath.Join(e.dir, "web.tar.zst")
	mustDepot(t, append(args, "export", "web", "-o", tarball)...)
	list := checkExported(t, tarball, filepath.Join(e.dir, "unpacked"), e.src, e.sourceTree(t))

	one := filepath.Join(e.dir, "one.tar.zst")
	mustDepot(t, append(args, "export", "web", "--path", e.src+"/d1", "-o", one)...)
	list = mustDepot(t, "export", "--list", one)
	if !strings.Contains(list, "/d1/sub0/") || strings.Contains(list, "/d0/") || !strings.Contains(list, " site/"+strings.TrimPrefix(e.src, "/")+"/\n") {
		t.Errorf("export --path of a pushed-to repository:\n%s", list)
	}

	item := filepath.Join(snaps[0].Path, "site", e.src)
	for _, c := range []struct {
		name   string
		damage func() error
		msg    string
	}{
		{"missing file", func() error { return os.Remove(filepath.Join(item, "tool")) }, "tool"},
		{"grown file", func() error {
			f, err := os.OpenFile(filepath.Join(item, "d1", "sub1", "file-001.dat"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteString("more")
			return err
		}, "file-001.dat: size"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.damage(); err != nil {
				t.Fatal(err)
			}
			x := filepath.Join(e.dir, "x.tar.zst")
			code, _, errs := depot(t, append(args, "export", "web", "-o", x)...)
			t.Logf("stderr: %s", errs)
			if code != 1 || !strings.Contains(errs, c.msg) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
				t.Errorf("exit %d, stderr %q, want exit 1 and one line with %q", code, errs, c.msg)
			}
			if _, err := os.Lstat(x); err == nil {
				t.Errorf("a failed export left its file")
			}
			if _, err := os.Lstat(x + ".partial"); err == nil {
				t.Errorf("a failed export left its temporary file")
			}
		})
	}
}
