package main

import (
	"bytes"
	"context"
	"fmt"
	"github.com/depot-backup/depot/internal/proctest"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/depot-backup/depot/director"
	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/internal/sshtest"
	"github.com/depot-backup/depot/repository"
)

// remoteEnv is a testEnv whose repository (push) or source (pull) is reached
// over SSH. The sshd runs on this machine, so the test can look at both ends.
type remoteEnv struct {
	*testEnv
	server *sshtest.Server
	pull   bool // the source is the remote end
}

type sshSettings struct {
	addr         string // default: the server's
	identityFile string // default: the server's user key
	knownHosts   string // default: trusting the server
}

// writeRemoteConfig writes e's config for mode "push" or "pull" against s.
func writeRemoteConfig(t testing.TB, mode string, s *sshtest.Server, e *testEnv, ss sshSettings) {
	t.Helper()
	if ss.addr == "" {
		ss.addr = s.Addr()
	}
	if ss.identityFile == "" {
		ss.identityFile = s.IdentityFile
	}
	if ss.knownHosts == "" {
		ss.knownHosts = s.KnownHosts
	}
	repoHost, source := "", ""
	if mode == "push" {
		repoHost = "\n  host: " + ss.addr
	} else {
		source = "\n    source: " + ss.addr
	}
	cfg := fmt.Sprintf(`version: 1
repository:
  path: %s%s
  holding: { max_recent_backups: 2 }
ssh:
  identity_file: %s
  known_hosts: %s
  connect_timeout: 5s
sets:
  - name: web%s
    items:
      - name: site
        type: filesystem
        paths: [%s]
        exclude: ["*.log"]
`, e.repo, repoHost, ss.identityFile, ss.knownHosts, source, e.src)
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPushAndPull(t *testing.T) {
	for _, mode := range []string{"push", "pull"} {
		t.Run(mode, func(t *testing.T) {
			e := newTwoHostEnv(t, mode, 60, sshtest.Options{})
			s := e.server
			plan := mustDepot(t, "--config", e.config, "plan")
			if !strings.Contains(plan, s.User+"@127.0.0.1:") || !strings.Contains(plan, " __depot_ssh_relay ") {
				t.Errorf("plan does not show the remote end and rsync's remote shell (depot's relay):\n%s", plan)
			}
			time.Sleep(2100 * time.Millisecond) // old enough for the quick path to link
			mustDepot(t, "--config", e.config, "run")
			if err := os.WriteFile(filepath.Join(e.srcSide(), "d2", "added"), []byte("added between runs\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			code, _, logs := depot(t, "--config", e.config, "run")
			if code != 0 {
				t.Fatalf("second run: exit %d\n%s", code, logs)
			}
			if linked, toRsync, ok := quickFigures(t, logs); !ok || linked == 0 || toRsync != 1 {
				t.Errorf("second run: quick path %v, %d linked, %d to rsync; want the new file only to rsync\n%s", ok, linked, toRsync, logs)
			}
			snaps := e.snapshots(t)
			if len(snaps) != 2 {
				t.Fatalf("%d snapshots", len(snaps))
			}
			want := e.sourceTree(t)
			sameTree(t, e.snapshotTree(t, snaps[1]), want)
			m := readManifest(t, snaps[1])
			if st := m.Items[0].Stats; st.FilesTransferred != 1 || st.Files != int64(countFiles(want)) {
				t.Errorf("second run stats %+v, want 1 of %d files transferred", st, countFiles(want))
			}
			unchanged := filepath.Join("site", e.src, "d0", "sub0", "file-000.dat")
			a, _ := os.Stat(filepath.Join(snaps[0].Path, unchanged))
			b, _ := os.Stat(filepath.Join(snaps[1].Path, unchanged))
			if !os.SameFile(a, b) {
				t.Error("an unchanged file is not a hard link to the first snapshot's")
			}
			checkFileList(t, e.testEnv, snaps[1], want)
			// Nothing landed on the wrong machine.
			if mode == "pull" {
				emptyDir(t, e.server.Remote(e.repo), "the repository's path on the source")
			} else {
				emptyDir(t, e.repo, "the repository's path on the source")
			}

			list := decodeJSON[[]director.ListEntry](t, mustDepot(t, "--config", e.config, "list", "--json"))
			if len(list) != 2 || list[1].Frees <= 0 || list[1].State != "complete" {
				t.Errorf("list: %+v", list)
			}
			to := filepath.Join(e.dir, "restored")
			mustDepot(t, "--config", e.config, "restore", "web", "--item", "site", "--to", to)
			sameTree(t, readTree(t, filepath.Join(to, e.src), nil), want)

			// Migration is a rename on the repository's host.
			cfg, err := os.ReadFile(e.config)
			if err != nil {
				t.Fatal(err)
			}
			cfg = bytes.Replace(cfg, []byte("  holding: { max_recent_backups: 2 }\n"), []byte("  holding: { max_recent_backups: 2 }\n  permanent: {timezone: UTC, rules: [{name: daily, keep: 1}]}\n"), 1)
			if err := os.WriteFile(e.config, cfg, 0o644); err != nil {
				t.Fatal(err)
			}
			reports := decodeJSON[[]director.RetentionReport](t, mustDepot(t, "--config", e.config, "migrate", "--json"))
			if len(reports) != 1 || len(reports[0].Done) != 1 {
				t.Fatalf("migrate: %+v", reports)
			}
			migrated := filepath.Join(e.repoSide(), reports[0].Done[0].To, unchanged)
			if c, err := os.Stat(migrated); err != nil || !os.SameFile(a, c) {
				t.Errorf("the migrated snapshot's unchanged file is not the same inode: %v", err)
			}
		})
	}
}

func countFiles(tree map[string]treeEntry) int {
	n := 0
	for _, e := range tree {
		if e.Mode.IsRegular() {
			n++
		}
	}
	return n
}

// checkFileList compares a snapshot's file list with the source tree: every
// path, size, mtime and hash.
func checkFileList(t testing.TB, e *testEnv, s repository.Snapshot, want map[string]treeEntry) {
	t.Helper()
	m := readManifest(t, s)
	entries := fileList(t, s, m.Items[0])
	prefix := strings.TrimPrefix(e.src, "/") + "/"
	seen := 0
	for p, le := range entries {
		rel, ok := strings.CutPrefix(p, prefix)
		if !ok {
			continue // the directories above the source path
		}
		seen++
		w, ok := want[rel]
		if !ok {
			t.Errorf("file list has %s, the source does not", rel)
			continue
		}
		if le.IsRegular() && (le.Hash != w.Content || le.Size != w.Size || le.Mtime != w.Mtime) {
			t.Errorf("file list entry %+v does not match the source %+v", le, w)
		}
	}
	if seen != len(want) {
		t.Errorf("file list has %d paths under the source, the source %d", seen, len(want))
	}
}

// pathWithout returns a directory of links to every program in /usr/bin
// except the named ones, to stand for a host that lacks them.
func pathWithout(t testing.TB, missing ...string) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir("/usr/bin")
	if err != nil {
		t.Fatal(err)
	}
	skip := map[string]bool{}
	for _, m := range missing {
		skip[m] = true
	}
	for _, e := range entries {
		if !skip[e.Name()] {
			os.Symlink(filepath.Join("/usr/bin", e.Name()), filepath.Join(dir, e.Name()))
		}
	}
	return dir
}

// TestRemoteFailures: each way a remote host can be unusable fails the
// run in one line naming the host and the reason, on the two-machine
// harness.
func TestRemoteFailures(t *testing.T) {
	otherKey := filepath.Join(t.TempDir(), "other_key")
	sshtest.NewKey(t, otherKey)
	wrongHostKey := sshtest.NewKey(t, filepath.Join(t.TempDir(), "host"))
	noRsync := sshtest.Options{Config: []string{"SetEnv PATH=" + pathWithout(t, "rsync")}}
	tests := []struct {
		name string
		opts sshtest.Options
		ss   func(t *testing.T, s *sshtest.Server) sshSettings
		want func(s *sshtest.Server) []string
	}{
		{"host down", sshtest.Options{}, func(t *testing.T, s *sshtest.Server) sshSettings {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			return sshSettings{addr: fmt.Sprintf("%s@%s", s.User, l.Addr())}
		}, func(s *sshtest.Server) []string {
			return []string{"ssh " + s.User + "@127.0.0.1:", "connect", "refused"}
		}},
		{"auth denied", sshtest.Options{}, func(t *testing.T, s *sshtest.Server) sshSettings {
			return sshSettings{identityFile: otherKey}
		}, func(s *sshtest.Server) []string {
			return []string{"ssh " + s.User + "@127.0.0.1", "authentication denied"}
		}},
		{"host key changed", sshtest.Options{}, func(t *testing.T, s *sshtest.Server) sshSettings {
			wrongKnown := filepath.Join(t.TempDir(), "known_hosts")
			if err := os.WriteFile(wrongKnown, []byte(sshtest.KnownHostsLine(s.Host, s.Port, wrongHostKey)+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return sshSettings{knownHosts: wrongKnown}
		}, func(s *sshtest.Server) []string { return []string{"host key of", "CHANGED", "known_hosts:1"} }},
		{"rsync missing", noRsync, func(t *testing.T, s *sshtest.Server) sshSettings { return sshSettings{} },
			func(s *sshtest.Server) []string {
				return []string{"rsync on " + s.User + "@127.0.0.1", "not runnable", "rsync: not found"}
			}},
	}
	for _, mode := range []string{"push", "pull"} {
		for _, tt := range tests {
			t.Run(mode+"/"+tt.name, func(t *testing.T) {
				e := newTwoHostEnv(t, mode, 5, tt.opts)
				writeRemoteConfig(t, mode, e.server, e.testEnv, tt.ss(t, e.server))
				code, _, errs := depot(t, "--config", e.config, "run")
				if code != 1 {
					t.Fatalf("exit %d, want 1:\n%s", code, errs)
				}
				last := lastLine(errs, "level=ERROR")
				if last == "" {
					last = lastLine(errs, "depot:")
				}
				for _, w := range tt.want(e.server) {
					if !strings.Contains(last, w) {
						t.Errorf("error line lacks %q:\n%s", w, last)
					}
				}
				if snaps := e.snapshots(t); len(snaps) != 0 {
					t.Errorf("published %v", snaps)
				}
			})
		}
	}
}

// lastLine returns the last line of s containing substr.
func lastLine(s, substr string) string {
	lines := strings.Split(s, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], substr) {
			return lines[i]
		}
	}
	return ""
}

// TestCutConnectionResumes kills the sshd side of every connection while rsync
// is copying; the run fails without publishing, and the next one resumes.
func TestCutConnectionResumes(t *testing.T) {
	for _, mode := range []string{"push", "pull"} {
		t.Run(mode, func(t *testing.T) {
			e := newTwoHostEnv(t, mode, 3000, sshtest.Options{})
			s := e.server
			cmd := exec.Command(depotBinary, "--config", e.config, "run")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if !waitForPartialFiles(e.repoView(), 100, 30*time.Second) {
				cmd.Process.Kill()
				t.Fatalf("rsync never wrote into .partial:\n%s", stderr.String())
			}
			if s.KillConnections(t) == 0 {
				t.Fatal("no connection to cut")
			}
			err := cmd.Wait()
			if cmd.ProcessState.ExitCode() != 1 {
				t.Fatalf("cut run: %v, want exit 1:\n%s", err, stderr.String())
			}
			if !strings.Contains(stderr.String(), "set failed") || strings.Count(lastLine(stderr.String(), "set failed"), "\n") > 0 {
				t.Errorf("no one-line failure:\n%s", stderr.String())
			}
			if snaps := e.snapshots(t); len(snaps) != 0 {
				t.Fatalf("published %v after the cut", snaps)
			}
			if pids := proctest.Mentioning(t, e.dir); len(pids) > 0 {
				t.Fatalf("processes survive the cut: %v", pids)
			}
			code, _, errs := depot(t, "--config", e.config, "run")
			if code != 0 {
				t.Fatalf("run after the cut: exit %d\n%s", code, errs)
			}
			if !strings.Contains(errs, "resuming interrupted run") {
				t.Errorf("did not resume:\n%s", errs)
			}
			snaps := e.snapshots(t)
			if len(snaps) != 1 {
				t.Fatalf("%d snapshots after resuming", len(snaps))
			}
			sameTree(t, e.snapshotTree(t, snaps[0]), e.sourceTree(t))
		})
	}
}

// TestPushLocksAcrossHosts holds the repository host's lock as another pushing
// host would: a run exits 3 naming the holder, or waits with --wait.
func TestPushLocksAcrossHosts(t *testing.T) {
	e := newTwoHostEnv(t, "push", 5, sshtest.Options{})
	s := e.server
	other, err := hosts.NewSSH(s.Addr(), hosts.SSHOptions{IdentityFile: s.IdentityFile, KnownHosts: s.KnownHosts})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	otherFS := repository.NewHostFS(other)
	defer otherFS.Close()
	repo := repository.Repo{Root: e.repo, FS: otherFS}
	lock, err := repo.Lock(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	lockedThenWaits(t, e.repoView(), lock, time.Second)
}

func TestCheckReportsEachHost(t *testing.T) {
	e := newTwoHostEnv(t, "pull", 5, sshtest.Options{})
	s := e.server
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := fmt.Sprintf("%s@%s", s.User, l.Addr())
	l.Close()
	cfg, _ := os.ReadFile(e.config)
	cfg = append(cfg, []byte(fmt.Sprintf(`  - name: unreachable
    source: %s
    items:
      - { name: files, type: filesystem, paths: [/etc] }
`, down))...)
	if err := os.WriteFile(e.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := depot(t, "--config", e.config, "check")
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	for _, want := range []string{
		"ok    ssh " + s.Addr() + ": host key verified, logged in",
		"ok    rsync on " + s.Addr() + ": rsync version",
		"ok    item web/site: source " + e.src + " on " + s.Addr() + ": readable",
		"ok    repository " + e.repo + ": writable",
		"FAIL  reach " + strings.TrimPrefix(down, s.User+"@") + ": ",
		"1 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
}

// TestNoKeyMaterialLeaks watches every process's command line during a push
// and reads the logs and manifests afterwards: the private key never shows.
func TestNoKeyMaterialLeaks(t *testing.T) {
	e := newTwoHostEnv(t, "push", 1000, sshtest.Options{})
	s := e.server
	pem, err := os.ReadFile(s.IdentityFile)
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for _, line := range strings.Split(string(pem), "\n") {
		if len(line) > 20 && !strings.HasPrefix(line, "-----") {
			secrets = append(secrets, line)
		}
	}
	cmd := exec.Command(depotBinary, "--config", e.config, "--log-format", "json", "run")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	sampled := 0
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("run: %v\n%s", err, stderr.String())
			}
			running = false
		default:
			entries, _ := os.ReadDir("/proc")
			for _, p := range entries {
				cmdline, _ := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
				for _, sec := range secrets {
					if bytes.Contains(cmdline, []byte(sec)) {
						t.Fatalf("key material in the command line of pid %s: %q", p.Name(), cmdline)
					}
				}
			}
			sampled++
		}
	}
	if sampled < 2 {
		t.Errorf("sampled the process list only %d times", sampled)
	}
	var haystack bytes.Buffer
	haystack.Write(stderr.Bytes())
	for _, snap := range e.snapshots(t) {
		data, _ := os.ReadFile(filepath.Join(snap.Path, "manifest.json"))
		haystack.Write(data)
		for p := range fileList(t, snap, readManifest(t, snap).Items[0]) {
			haystack.WriteString(p)
		}
	}
	for _, sec := range secrets {
		if bytes.Contains(haystack.Bytes(), []byte(sec)) {
			t.Fatal("key material in the logs, manifests or file lists")
		}
	}
}
