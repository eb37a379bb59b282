package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"github.com/depot-backup/depot/archive"
)

// TestExportRoundTrip exports a snapshot, unpacks it with GNU tar and
// compares it with the source: modes, times, symlinks, hard links and
// xattrs; then the same encrypted, and a damaged archive.
func TestExportRoundTrip(t *testing.T) {
	defer func(f int) { archive.ScryptWorkFactor = f }(archive.ScryptWorkFactor)
	archive.ScryptWorkFactor = 10 // scrypt's default costs seconds under -race
	e := newEnv(t, 10)
	if err := unix.Lsetxattr(filepath.Join(e.src, "secret"), "user.depot-test", []byte("kept"), 0); err != nil {
		t.Fatalf("set an xattr (the test file system must allow user xattrs): %v", err)
	}
	args := []string{"--config", e.config}
	mustDepot(t, append(args, "run")...)
	tarball := filepath.Join(e.dir, "web.tar.zst")
	mustDepot(t, append(args, "export", "web", "-o", tarball)...)
	if _, err := os.Stat(tarball + ".partial"); err == nil {
		t.Errorf("the temporary file is left")
	}
	list := checkExported(t, tarball, filepath.Join(e.dir, "unpacked"), e.src, e.sourceTree(t))
	if !strings.Contains(list, tarball+": ok,") {
		t.Errorf("export --list:\n%s", list)
	}

	// One path, with its parents, and nothing else.
	one := filepath.Join(e.dir, "one.tar.zst")
	mustDepot(t, append(args, "export", "web", "--path", e.src+"/d1", "-o", one)...)
	list = mustDepot(t, "export", "--list", one)
	if !strings.Contains(list, "/d1/sub0/") || strings.Contains(list, "/d0/") || !strings.Contains(list, " site/"+strings.TrimPrefix(e.src, "/")+"/\n") {
		t.Errorf("export --path:\n%s", list)
	}

	// Encrypted to an age key: the right key reads it, another does not.
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := age.GenerateX25519Identity()
	idFile, otherFile := filepath.Join(e.dir, "key.txt"), filepath.Join(e.dir, "other.txt")
	os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600)
	os.WriteFile(otherFile, []byte(other.String()+"\n"), 0o600)
	sealed := filepath.Join(e.dir, "web.tar.zst.age")
	mustDepot(t, append(args, "export", "web", "-o", sealed, "--encrypt-to", id.Recipient().String())...)
	if list := mustDepot(t, "export", "--list", sealed, "--identity", idFile); !strings.Contains(list, ": ok,") {
		t.Errorf("encrypted list:\n%s", list)
	}
	pass := filepath.Join(e.dir, "pass")
	os.WriteFile(pass, []byte("correct horse\n"), 0o600)
	locked := filepath.Join(e.dir, "pass.tar.zst.age")
	mustDepot(t, append(args, "export", "web", "--item", "site", "-o", locked, "--passphrase-file", pass)...)
	mustDepot(t, "export", "--list", locked, "--passphrase-file", pass)

	damaged := filepath.Join(e.dir, "damaged.tar.zst")
	data, _ := os.ReadFile(tarball)
	os.WriteFile(damaged, data[:len(data)*2/3], 0o600)
	wrongPass := filepath.Join(e.dir, "wrong")
	os.WriteFile(wrongPass, []byte("wrong horse\n"), 0o600)
	for _, c := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"wrong key", []string{"export", "--list", sealed, "--identity", otherFile}, 1, "decrypt"},
		{"no key", []string{"export", "--list", sealed}, 1, "is encrypted"},
		{"wrong passphrase", []string{"export", "--list", locked, "--passphrase-file", wrongPass}, 1, "decrypt"},
		{"damaged archive", []string{"export", "--list", damaged}, 1, "damaged.tar.zst"},
		{"not an archive", []string{"export", "--list", e.config}, 1, "not a depot export"},
		{"unknown stamp", append(args, "export", "web@1999", "-o", filepath.Join(e.dir, "x")), 2, "has no snapshot 1999"},
		{"unknown path", append(args, "export", "web", "--path", "/no/such", "-o", filepath.Join(e.dir, "x")), 1, "has no path /no/such"},
		{"unknown item", append(args, "export", "web", "--item", "nope", "-o", filepath.Join(e.dir, "x")), 2, "no item \"nope\""},
		{"bad recipient", append(args, "export", "web", "--encrypt-to", "age1nonsense", "-o", filepath.Join(e.dir, "x")), 2, "--encrypt-to"},
		{"existing output", append(args, "export", "web", "-o", tarball), 2, "exists"},
		{"no output", append(args, "export", "web"), 2, "-o FILE"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errs := depot(t, c.args...)
			if code != c.code || !strings.Contains(errs, c.msg) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
				t.Errorf("exit %d, want %d; stderr %q, want %q", code, c.code, errs, c.msg)
			}
			if _, err := os.Stat(filepath.Join(e.dir, "x")); err == nil {
				t.Errorf("a refused export wrote its file")
			}
		})
	}
}

// untar unpacks an export with GNU tar, decompressed here.
func untar(t testing.TB, tarball, dir string) {
	t.Helper()
	data, err := os.ReadFile(tarball)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zstd.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("tar", "-xpf", "-", "-C", dir, "--xattrs", "--xattrs-include=*", "--numeric-owner")
	cmd.Stdin = zr
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar -x: %v\n%s", err, out)
	}
}

// checkExported unpacks tarball into out and checks it holds the source
// tree src (want), its xattr and, by export --list, a hard link; it returns
// what export --list printed.
func checkExported(t *testing.T, tarball, out, src string, want map[string]treeEntry) string {
	t.Helper()
	untar(t, tarball, out)
	sameTree(t, readTree(t, filepath.Join(out, "site", src), nil), want)
	buf := make([]byte, 16)
	if n, err := unix.Lgetxattr(filepath.Join(out, "site", src, "secret"), "user.depot-test", buf); err != nil || string(buf[:n]) != "kept" {
		t.Errorf("xattr after the round trip: %q, %v", buf[:n], err)
	}
	list := mustDepot(t, "export", "--list", tarball)
	if !strings.Contains(list, "hard-b link to site/") && !strings.Contains(list, "hard-a link to site/") {
		t.Errorf("export --list shows no hard link:\n%s", list)
	}
	return list
}
