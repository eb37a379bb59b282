package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/internal/sshtest"
	"github.com/depot-backup/depot/repository"
	"github.com/depot-backup/depot/rsync"
)

// newTwoHostEnv is newRemoteEnv on a second machine: the sshd sees its own
// directories at the source's and the repository's paths. The remote end's
// data (the repository in push mode, the source in pull mode) lives only
// there; what depot's host sees at that path is an empty directory, and what
// the remote sees at the local end's path is one too. The env's readers
// (snapshots, sourceTree, repoSide) look where the data really is.
func newTwoHostEnv(t testing.TB, mode string, files int, opts sshtest.Options) *remoteEnv {
	t.Helper()
	e := newSizedEnv(t, 2, files, 8<<10)
	moved := e.repo
	if mode == "pull" {
		moved = e.src
	}
	stash := filepath.Join(e.dir, "stash")
	if err := os.Rename(moved, stash); err != nil {
		t.Fatal(err)
	}
	opts.Separate = append(opts.Separate, e.src, e.repo)
	s := sshtest.Start(t, opts)
	if out, err := exec.Command("cp", "-a", stash+"/.", s.Remote(moved)).CombinedOutput(); err != nil {
		t.Fatalf("copy to the second machine: %v\n%s", err, out)
	}
	if err := os.RemoveAll(stash); err != nil {
		t.Fatal(err)
	}
	writeRemoteConfig(t, mode, s, e, sshSettings{})
	return &remoteEnv{testEnv: e, server: s, pull: mode == "pull"}
}

// srcSide is where this process finds the source tree that the set backs up.
func (e *remoteEnv) srcSide() string {
	if e.pull {
		return e.server.Remote(e.src)
	}
	return e.src
}

// repoSide is where this process finds the repository.
func (e *remoteEnv) repoSide() string {
	if e.pull {
		return e.repo
	}
	return e.server.Remote(e.repo)
}

// repoView is the env as seen by helpers that read the repository at e.repo.
func (e *remoteEnv) repoView() *testEnv {
	v := *e.testEnv
	v.repo = e.repoSide()
	return &v
}

// snapshots returns the published snapshots of set "web", on whichever host
// holds them.
func (e *remoteEnv) snapshots(t testing.TB) []repository.Snapshot {
	t.Helper()
	s, err := repository.Repo{Root: e.repoSide()}.Snapshots(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sourceTree is what a snapshot of the source must contain, read where the
// source is.
func (e *remoteEnv) sourceTree(t testing.TB) map[string]treeEntry {
	t.Helper()
	return (&testEnv{src: e.srcSide()}).sourceTree(t)
}

// emptyDir fails the test unless dir holds nothing.
func emptyDir(t testing.TB, dir, what string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) > 0 {
		var names []string
		for _, en := range entries {
			names = append(names, en.Name())
		}
		t.Errorf("%s (%s) is not empty: %v", what, dir, names)
	}
}

// TestEveryItemTypeOverSSH backs up one item of each type between two
// machines: pulled, the source's files and svn repository exist only on the
// remote one and the snapshots only here; pushed, the other way round. Each is
// backed up twice (the second run links what is unchanged) and checked with
// depot check, and with depot verify where the repository is local.
func TestEveryItemTypeOverSSH(t *testing.T) {
	tests := []struct {
		name string
		// setup prepares the source, whose files live in srcSide (what
		// the source host sees at src), and returns the item's YAML and
		// the file the two snapshots must share.
		setup func(t *testing.T, src, srcSide string) (item, unchanged string)
	}{
		{"filesystem", func(t *testing.T, src, srcSide string) (string, string) {
			makeTree(t, srcSide, 10, 4<<10)
			return "      - { name: db, type: filesystem, paths: [" + src + "] }", filepath.Join(strings.TrimPrefix(src, "/"), "d0/sub0/file-000.dat")
		}},
		{"mysql", func(t *testing.T, src, srcSide string) (string, string) {
			name := newMySQLDatabase(t, mariadb(t))
			return mysqlItem("[" + name + "]"), name + ".sql.zst"
		}},
		{"postgresql", func(t *testing.T, src, srcSide string) (string, string) {
			name := newPostgresDatabase(t)
			return postgresItem("[" + name + "]"), name + ".sql.zst"
		}},
		{"svn", func(t *testing.T, src, srcSide string) (string, string) {
			r := newSVNRepo(t)
			r.commit(t, "a\n", "put", "/dev/stdin", "a.txt")
			if out, err := exec.Command("cp", "-a", r.path, srcSide+"/svn").CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if err := os.RemoveAll(r.path); err != nil {
				t.Fatal(err)
			}
			return svnItem(src + "/svn"), "r000000-000001.svndump.zst"
		}},
	}
	for _, mode := range []string{"pull", "push"} {
		for _, tt := range tests {
			t.Run(mode+"/"+tt.name, func(t *testing.T) {
				testItemOverSSH(t, mode, tt.name, tt.setup)
			})
		}
	}
}

func testItemOverSSH(t *testing.T, mode, name string, setup func(t *testing.T, src, srcSide string) (string, string)) {
	dir := t.TempDir()
	src, repo := filepath.Join(dir, "src"), filepath.Join(dir, "repo")
	config := filepath.Join(dir, "depot.yaml")
	s := sshtest.Start(t, sshtest.Options{Separate: []string{src, repo}})
	srcSide, repoSide, wrongSide := s.Remote(src), repo, s.Remote(repo)
	repoHost, source := "", "\n    source: "+s.Addr()
	if mode == "push" {
		srcSide, repoSide, wrongSide = src, s.Remote(repo), repo
		repoHost, source = "\n  host: "+s.Addr(), ""
	}
	item, unchanged := setup(t, src, srcSide)
	cfg := fmt.Sprintf(`version: 1
repository:
  path: %s%s
ssh:
  identity_file: %s
  known_hosts: %s
sets:
  - name: web%s
    items:
%s
`, repo, repoHost, s.IdentityFile, s.KnownHosts, source, item)
	if err := os.WriteFile(config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(testPasswordEnv, testDBPassword)
	initRepo(t, config)
	if out := mustDepot(t, "--config", config, "check"); strings.Contains(out, "FAIL") {
		t.Errorf("check:\n%s", out)
	}
	e := &dbEnv{dir: dir, repo: repoSide, config: config}
	if name == "filesystem" {
		time.Sleep(1100 * time.Millisecond) // old enough for the quick path to link
	}
	s1, _ := e.run(t)
	s2, _ := e.run(t)
	sameInode(t, s1, s2, unchanged, true)
	if mode == "pull" { // verify runs where the repository is
		mustDepot(t, "--config", config, "verify")
	}
	emptyDir(t, wrongSide, "the repository's path on the source")
}

// TestDeltaOverSSH changes one byte in the middle of a 300 MB file between
// two runs, on a second machine in both modes: depot sends the change as a
// delta against the base's copy, at most twice what plain
// rsync --link-dest sends for the same change (rsync's own counts of the
// bytes it sent and received over ssh).
func TestDeltaOverSSH(t *testing.T) {
	const size = 300 << 20
	for _, mode := range []string{"push", "pull"} {
		t.Run(mode, func(t *testing.T) {
			e := newTwoHostEnv(t, mode, 1, sshtest.Options{})
			big := filepath.Join(e.srcSide(), "big")
			writeNoise(t, big, size)
			time.Sleep(1100 * time.Millisecond) // old enough for the quick path to link
			mustDepot(t, "--config", e.config, "run")
			f, err := os.OpenFile(big, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte{'!'}, size/2); err != nil {
				t.Fatal(err)
			}
			f.Close()
			code, _, logs := depot(t, "--config", e.config, "run")
			if code != 0 {
				t.Fatalf("second run: exit %d\n%s", code, logs)
			}
			depotBytes, sent := wireBytes(t, logs)
			if sent != 1 {
				t.Fatalf("second run sent %d files by the quick path, want the changed one:\n%s", sent, logs)
			}
			snaps := e.snapshots(t)
			sameTree(t, e.snapshotTree(t, snaps[1]), e.sourceTree(t))

			// Plain rsync, same flags, from the same source against the
			// same base, into a fresh directory on the repository host.
			ssh, err := hosts.NewSSH(e.server.Addr(), hosts.SSHOptions{IdentityFile: e.server.IdentityFile, KnownHosts: e.server.KnownHosts})
			if err != nil {
				t.Fatal(err)
			}
			defer ssh.Close()
			var src, dst hosts.Host = hosts.Local{}, ssh
			if mode == "pull" {
				src, dst = ssh, hosts.Local{}
			}
			base := filepath.Join(e.repo, strings.TrimPrefix(snaps[0].Path, e.repoSide()), "site")
			res, err := rsync.RunBetween(context.Background(), src, dst, rsync.Options{
				Sources: []string{e.src}, Dest: filepath.Join(e.repo, "plain") + "/", LinkDest: base,
				Relative: true, HardLinks: true, ACLs: true, Xattrs: true, NumericIDs: true, Sparse: true, Delete: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("1-byte change in %d MB, %s: depot %d bytes, rsync --link-dest %d bytes", size>>20, mode, depotBytes, res.Stats.WireBytes)
			if res.Stats.WireBytes == 0 || depotBytes > 2*res.Stats.WireBytes {
				t.Errorf("depot sent %d bytes for a 1-byte change, plain rsync --link-dest %d", depotBytes, res.Stats.WireBytes)
			}
		})
	}
}

// writeNoise writes size bytes that neither compress nor hold runs of zeros.
func writeNoise(t testing.TB, path string, size int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := rand.New(rand.NewChaCha8([32]byte{1}))
	buf := make([]byte, 1<<20)
	for n := 0; n < size; n += len(buf) {
		for i := 0; i < len(buf); i += 8 {
			binary.LittleEndian.PutUint64(buf[i:], r.Uint64())
		}
		if _, err := f.Write(buf[:min(len(buf), size-n)]); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// wireBytes sums the bytes the quick path's rsync runs sent and received,
// and the files they sent, from a run's log.
func wireBytes(t testing.TB, logs string) (bytes, files int64) {
	t.Helper()
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, "msg=rsync ") {
			continue
		}
		for _, field := range strings.Fields(line) {
			k, v, _ := strings.Cut(field, "=")
			n, _ := strconv.ParseInt(v, 10, 64)
			switch k {
			case "wire_bytes":
				bytes += n
			case "files_sent":
				files += n
			}
		}
	}
	return bytes, files
}
