package rsync

import (
	"context"
	"errors"
	"github.com/depot-backup/depot/internal/proctest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/internal/sshtest"
)

func TestArgs(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want []string
	}{
		{"plain", Options{Sources: []string{"/src/"}, Dest: "/dst/"},
			[]string{"-a", "--stats", "--", "/src/", "/dst/"}},
		{"snapshot", Options{Sources: []string{"/a", "/b"}, Dest: "/d/", LinkDest: "/base", Relative: true, HardLinks: true, ACLs: true, Xattrs: true, NumericIDs: true, OneFileSystem: true, Delete: true, Excludes: []string{"*.log", "cache/"}},
			[]string{"-aHAXxR", "--numeric-ids", "--delete", "--delete-excluded", "--exclude=*.log", "--exclude=cache/", "--link-dest=/base", "--stats", "--", "/a", "/b", "/d/"}},
		{"sparse", Options{Sources: []string{"/a"}, Dest: "/d/", HardLinks: true, Sparse: true, Relative: true},
			[]string{"-aHSR", "--stats", "--", "/a", "/d/"}},
		{"changed list", Options{Sources: []string{"/"}, Dest: "/d/", LinkDest: "/base", IgnoreTimes: true},
			[]string{"-a", "--ignore-times", "--link-dest=/base", "--stats", "--", "/", "/d/"}},
		{"source that looks like a flag", Options{Sources: []string{"-rf"}, Dest: "/d"},
			[]string{"-a", "--stats", "--", "-rf", "/d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.o.Args(); !slices.Equal(got, tt.want) {
				t.Fatalf("Args() = %q\nwant     %q", got, tt.want)
			}
		})
	}
}

func TestParseStats(t *testing.T) {
	out := `
Number of files: 1,205 (reg: 1,200, dir: 5)
Number of created files: 3 (reg: 3)
Number of regular files transferred: 3
Total file size: 12,345,678 bytes
Total transferred file size: 2,048 bytes
Literal data: 2,048 bytes
Total bytes sent: 1,234
Total bytes received: 66
`
	got := parseStats([]byte(out))
	want := Stats{Files: 1200, FilesTransferred: 3, Bytes: 12345678, BytesTransferred: 2048, WireBytes: 1300}
	if got != want {
		t.Fatalf("parseStats = %+v, want %+v", got, want)
	}
}

func requireRsync(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/rsync"); err != nil {
		t.Fatal("rsync is not installed: run scripts/test.sh, which installs it")
	}
}

func TestRunCopiesAndLinks(t *testing.T) {
	requireRsync(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	first := filepath.Join(dir, "1")
	res, err := Run(ctx, hosts.Local{}, Options{Sources: []string{src + "/"}, Dest: first})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.FilesTransferred != 1 || res.Stats.Bytes != 4 {
		t.Fatalf("first copy stats %+v", res.Stats)
	}
	second := filepath.Join(dir, "2")
	res, err = Run(ctx, hosts.Local{}, Options{Sources: []string{src + "/"}, Dest: second, LinkDest: first})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.FilesTransferred != 0 {
		t.Fatalf("no-change copy transferred %d files", res.Stats.FilesTransferred)
	}
	a, _ := os.Stat(filepath.Join(first, "f"))
	b, _ := os.Stat(filepath.Join(second, "f"))
	if !os.SameFile(a, b) {
		t.Fatal("unchanged file is not a hard link to the base")
	}
}

func TestRunFailsWithMeaning(t *testing.T) {
	requireRsync(t)
	dir := t.TempDir()
	_, err := Run(context.Background(), hosts.Local{}, Options{Sources: []string{filepath.Join(dir, "missing") + "/"}, Dest: filepath.Join(dir, "d")})
	var exit *hosts.ExitError
	if !errors.As(err, &exit) || exit.Code != 23 {
		t.Fatalf("err = %v, want exit 23", err)
	}
	msg := err.Error()
	for _, want := range []string{"partial transfer due to error", "exit 23", "missing"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error spans lines: %q", msg)
	}
}

// TestRunVanishedIsWarning deletes a source file while rsync is still busy
// with an earlier, bandwidth-limited one: rsync exits 24, which is a warning.
func TestRunVanishedIsWarning(t *testing.T) {
	requireRsync(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	dst := filepath.Join(dir, "dst")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "a-slow"), make([]byte, 192<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "z-vanishes"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// rsync creates dst once the file list is built; then a-slow takes
		// seconds at 64 KiB/s, long before z-vanishes is opened.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if _, err := os.Stat(dst); err == nil {
				os.Remove(filepath.Join(src, "z-vanishes"))
				return
			}
		}
	}()
	res, err := Run(context.Background(), hosts.Local{}, Options{Sources: []string{src + "/"}, Dest: dst, BwLimit: "64"})
	<-done
	if err != nil {
		t.Fatalf("vanished file failed the transfer: %v", err)
	}
	if len(res.Warnings) == 0 || !strings.Contains(strings.Join(res.Warnings, "\n"), "vanished") {
		t.Fatalf("warnings %q, want a vanished-file warning", res.Warnings)
	}
}

func TestRunCancelKillsRsync(t *testing.T) {
	requireRsync(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "slow"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Run(ctx, hosts.Local{}, Options{Sources: []string{src + "/"}, Dest: filepath.Join(dir, "dst"), BwLimit: "64"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's error", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("cancel took %v", took)
	}
	if pids := proctest.Mentioning(t, dir); len(pids) > 0 {
		t.Fatalf("rsync processes survive the cancel: %v", pids)
	}
}

func TestParseItemized(t *testing.T) {
	out := `created directory /d
cd+++++++++ /tmp/
>f+++++++++ /tmp/src/new\#012line
hf          /tmp/src/g
cL+++++++++ /tmp/src/a/l
*deleting   /tmp/src/old
.d          /tmp/src/
Number of files: 4 (reg: 2, dir: 2)
`
	got := parseItemized([]byte(out))
	want := map[string]bool{"tmp": false, "tmp/src/new\nline": false, "tmp/src/g": true, "tmp/src/a/l": false, "tmp/src": false}
	if len(got) != len(want) {
		t.Fatalf("paths %v, want %v", got, want)
	}
	for p, unchanged := range want {
		if u, ok := got[p]; !ok || u != unchanged {
			t.Errorf("%q: listed %v, unchanged %v; want unchanged %v", p, ok, u, unchanged)
		}
	}
}

// remoteHost is a hosts.Remote for Between; it never runs anything.
type remoteHost struct{ hosts.Local }

func (remoteHost) Name() string              { return "u@h:22" }
func (remoteHost) RsyncShell() string        { return "ssh -p 22" }
func (remoteHost) RsyncPath(p string) string { return "u@h:" + p }

func TestBetween(t *testing.T) {
	tests := []struct {
		name      string
		src, dst  hosts.Host
		wantSrc   []string
		wantDest  string
		wantShell string
	}{
		{"local", hosts.Local{}, hosts.Local{}, []string{"/a", "/b"}, "/d/", ""},
		{"pull", remoteHost{}, hosts.Local{}, []string{"u@h:/a", "u@h:/b"}, "/d/", "ssh -p 22"},
		{"push", hosts.Local{}, remoteHost{}, []string{"/a", "/b"}, "u@h:/d/", "ssh -p 22"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sources := []string{"/a", "/b"}
			o := Options{Sources: sources, Dest: "/d/"}
			o.Between(tt.src, tt.dst)
			if !slices.Equal(o.Sources, tt.wantSrc) || o.Dest != tt.wantDest || o.Shell != tt.wantShell {
				t.Fatalf("got %q %q %q", o.Sources, o.Dest, o.Shell)
			}
			if sources[0] != "/a" {
				t.Fatal("Between changed the caller's slice")
			}
		})
	}
}

// TestRunKeepsRsyncsErrorLine: rsync's error about a path of 4,000 bytes,
// followed by more lines than the tail of stderr keeps, is whole in the
// error.
func TestRunKeepsRsyncsErrorLine(t *testing.T) {
	requireRsync(t)
	dir := t.TempDir()
	long := filepath.Join(dir, strings.Repeat("m", 200), strings.Repeat("n", 200))
	for len(long) < 4000 {
		long = filepath.Join(long, strings.Repeat("x", 200))
	}
	_, err := Run(context.Background(), hosts.Local{}, Options{Sources: []string{long[:4000]}, Dest: filepath.Join(dir, "d")})
	var exit *hosts.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("err = %v, want an exit error", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "rsync: [sender] change_dir") && !strings.Contains(msg, "rsync: [sender] link_stat") || !strings.Contains(msg, long[len(long)-300:4000]) {
		t.Errorf("error %q lacks rsync's own line with the whole path", msg)
	}
	if strings.Contains(msg, "\n") {
		t.Errorf("error spans lines")
	}
}

// TestRunBetweenRunsOnTheLocalEnd copies to and from a second machine: the
// file arrives at the destination as its host sees it, whichever end is
// remote, and two remote ends are refused.
func TestRunBetweenRunsOnTheLocalEnd(t *testing.T) {
	remoteDir := filepath.Join(t.TempDir(), "remote")
	s := sshtest.Start(t, sshtest.Options{Separate: []string{remoteDir}})
	ssh, err := hosts.NewSSH(s.Addr(), hosts.SSHOptions{IdentityFile: s.IdentityFile, KnownHosts: s.KnownHosts})
	if err != nil {
		t.Fatal(err)
	}
	defer ssh.Close()
	tests := []struct {
		name             string
		src, dst         hosts.Host
		srcSide, dstSide string // where this process sees each end
	}{
		{"pull", ssh, hosts.Local{}, s.Remote(remoteDir), ""},
		{"push", hosts.Local{}, ssh, "", s.Remote(remoteDir)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local := t.TempDir()
			srcPath, dstPath := remoteDir, local
			if tt.name == "push" {
				srcPath, dstPath = local, remoteDir
			}
			if tt.srcSide == "" {
				tt.srcSide = srcPath
			}
			if tt.dstSide == "" {
				tt.dstSide = dstPath
			}
			name := tt.name + ".txt"
			if err := os.WriteFile(filepath.Join(tt.srcSide, name), []byte(tt.name), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := RunBetween(context.Background(), tt.src, tt.dst, Options{Sources: []string{srcPath + "/"}, Dest: dstPath + "/"}); err != nil {
				t.Fatal(err)
			}
			if got, err := os.ReadFile(filepath.Join(tt.dstSide, name)); err != nil || string(got) != tt.name {
				t.Errorf("destination as its host sees it: %q, %v", got, err)
			}
			if tt.name == "push" {
				if _, err := os.Stat(filepath.Join(remoteDir, name)); err == nil {
					t.Error("the pushed file landed on this machine")
				}
			}
		})
	}
	_, err = RunBetween(context.Background(), ssh, ssh, Options{Sources: []string{"/a/"}, Dest: "/b/"})
	if err == nil || !strings.Contains(err.Error(), "two remote hosts") {
		t.Errorf("two remote ends: %v", err)
	}
}
