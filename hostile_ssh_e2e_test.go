package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/depot-backup/depot/internal/sshtest"
)

// compromisedSource is a source host that lies: its sshd runs every command
// through a wrapper that puts a fake find and a fake rsync first on PATH.
// The fake find runs the real one and then adds the records written to Forge
// (one a line), or 3,000,000 copies of the record in Junk. The fake rsync,
// when Plant names a path, writes a file there and sends it as rsync's sender
// with --recursive: more than it was asked for. It is a second machine: the
// source tree of e is there only, and it does not see the repository.
type compromisedSource struct {
	*sshtest.Server
	Forge, Junk string // files the fake find reads
	Plant       string // the file the fake rsync reads
}

func startCompromisedSource(t testing.TB, e *testEnv) *compromisedSource {
	t.Helper()
	dir := t.TempDir()
	stash := filepath.Join(dir, "stash")
	if err := os.Rename(e.src, stash); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	c := &compromisedSource{Forge: filepath.Join(dir, "forge"), Junk: filepath.Join(dir, "junk"), Plant: filepath.Join(dir, "plant")}
	find := `#!/bin/sh
if [ "$2" = -maxdepth ]; then exec /usr/bin/find "$@"; fi
/usr/bin/find "$@" || exit
if [ -f ` + c.Forge + ` ]; then tr '\n' '\0' < ` + c.Forge + `; fi
if [ -f ` + c.Junk + ` ]; then yes "$(cat ` + c.Junk + `)" | head -n 3000000 | tr '\n' '\0'; fi
exit 0
`
	rsync := `#!/bin/sh
if [ -f ` + c.Plant + ` ] && [ "$1" = --server ] && [ "$2" = --sender ]; then
	shift 2
	echo planted > "$(cat ` + c.Plant + `)"
	exec /usr/bin/rsync --server --sender --recursive "$@"
fi
exec /usr/bin/rsync "$@"
`
	wrapper := `#!/bin/sh
PATH=` + bin + `:$PATH
export PATH
exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"
`
	for name, body := range map[string]string{filepath.Join(bin, "find"): find, filepath.Join(bin, "rsync"): rsync, filepath.Join(dir, "wrapper"): wrapper} {
		if err := os.WriteFile(name, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c.Server = sshtest.Start(t, sshtest.Options{Config: []string{"ForceCommand " + filepath.Join(dir, "wrapper")}, Separate: []string{e.src, e.repo}})
	if out, err := exec.Command("cp", "-a", stash+"/.", c.Remote(e.src)).CombinedOutput(); err != nil {
		t.Fatalf("copy the source to the second machine: %v\n%s", err, out)
	}
	return c
}

// set makes the fake find add records (forge) or junk; "" for none.
func (c *compromisedSource) set(t testing.TB, forge, junk string) {
	t.Helper()
	for path, body := range map[string]string{c.Forge: forge, c.Junk: junk} {
		os.Remove(path)
		if body != "" {
			if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// pullFrom makes a source of files files on a compromised second machine
// and a config that pulls set "web" from it, independent of the other SSH
// tests' helpers so the fixture stands on its own.
func pullFrom(t testing.TB, files int) (*compromisedSource, *testEnv) {
	t.Helper()
	e := newSizedEnv(t, 10, files, 8<<10)
	c := startCompromisedSource(t, e)
	cfg := fmt.Sprintf(`version: 1
repository:
  path: %s
  holding: { max_recent_backups: 10 }
ssh:
  identity_file: %s
  known_hosts: %s
  connect_timeout: 5s
sets:
  - name: web
    source: %s
    items:
      - name: site
        type: filesystem
        paths: [%s]
        exclude: ["*.log"]
`, e.repo, c.IdentityFile, c.KnownHosts, c.Addr(), e.src)
	if err := os.WriteFile(e.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return c, e
}

// TestCompromisedSourceIsRefused: a pulled source whose find rewrites paths
// and adds records fails its item in one line naming the host and quoting
// the path; nothing is created outside the snapshot's .partial, no snapshot
// is published, and the next honest run works. A forged record that only
// names a file that does not exist costs a warning.
func TestCompromisedSourceIsRefused(t *testing.T) {
	c, e := pullFrom(t, 30)
	c.set(t, "", "")
	mustDepot(t, "--config", e.config, "run")
	shiftWalkStart(t, e.snapshots(t)[0], 10)
	outside := []string{
		filepath.Join(e.dir, "escape"),
		filepath.Join(e.repo, "holding", "other"),
		filepath.Join(e.dir, "etc"),
		// nor in the repository's path as the source sees it
		filepath.Join(c.Remote(e.repo), "holding"),
	}
	rec := func(typ, p string) string { return typ + " 755 4096 1.0 1.0 2 0 0 " + p + "\n" }
	tests := []struct {
		name, forge, junk, want string
	}{
		{"dot-dot segments", rec("d", e.src+"/../escape"), "", `/../escape": has a .. segment`},
		{"a stamp of another set", rec("d", e.src+"/../repo/holding/other/9999-12-31T235959Z"), "", `/../repo/holding/other/9999-12-31T235959Z": has a .. segment`},
		{"an absolute path", rec("f", "//etc/shadow"), "", `"/etc/shadow": absolute`},
		{"a path outside the item", rec("f", "/etc/shadow"), "", `"etc/shadow" is outside the configured paths`},
		{"3,000,000 junk records", "", "f 644 1 1.0 1.0 1 0 0 " + e.src + "/no-such-dir/junk", `is not inside a directory find walked`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.snapshots(t))
			c.set(t, tt.forge, tt.junk)
			began := time.Now()
			code, _, logs := depot(t, "--config", e.config, "run")
			took := time.Since(began)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, logs)
			}
			var line string
			for _, l := range strings.Split(logs, "\n") {
				if strings.Contains(l, "find on "+c.Addr()) {
					line = strings.ReplaceAll(l, `\"`, `"`) // as slog quotes it
				}
			}
			if line == "" || !strings.Contains(line, tt.want) {
				t.Errorf("no line naming the host %s and %q:\n%s", c.Addr(), tt.want, logs)
			}
			if n := len(e.snapshots(t)); n != before {
				t.Errorf("%d snapshots, want %d: a forged walk was published", n, before)
			}
			for _, p := range outside {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s was created", p)
				}
			}
			if took > 30*time.Second {
				t.Errorf("the run took %v: the walk did not stop at the first bad record", took)
			}
			t.Logf("refused in %v", took)
		})
	}
	t.Run("a record of a file that is not there", func(t *testing.T) {
		c.set(t, "f 644 5 1.0 1.0 1 0 0 "+e.src+"/ghost\n", "")
		code, _, logs := depot(t, "--config", e.config, "run")
		if code != 0 || !strings.Contains(logs, "vanished") {
			t.Fatalf("exit %d, want 0 with a warning about a vanished file\n%s", code, logs)
		}
	})
	t.Run("honest again", func(t *testing.T) {
		c.set(t, "", "")
		mustDepot(t, "--config", e.config, "run")
		snaps := e.snapshots(t)
		sameTree(t, e.snapshotTree(t, snaps[len(snaps)-1]), (&testEnv{src: c.Remote(e.src)}).sourceTree(t))
	})
}

// TestCompromisedRsyncIsRefused: a pulled source whose rsync sends a file it
// was not asked for (planted after the walk, sent by a recursion depot did
// not ask for) fails the item naming the host and quoting the path; nothing
// is published, and the next honest run works.
func TestCompromisedRsyncIsRefused(t *testing.T) {
	c, e := pullFrom(t, 10)
	mustDepot(t, "--config", e.config, "run")
	shiftWalkStart(t, e.snapshots(t)[0], 10)
	planted := filepath.Join(e.src, "d0", "planted")
	if err := os.WriteFile(c.Plant, []byte(planted), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, logs := depot(t, "--config", e.config, "run")
	// rsync's receiver refuses what it did not ask for (since 3.2.5), and
	// depot refuses any itemized path it did not give.
	line := lastLine(logs, "item failed")
	if code != 1 || !strings.Contains(line, "rsync from "+c.Addr()+": ") ||
		!strings.Contains(line, "rejecting unrequested file-list name") && !strings.Contains(line, `itemized a path it was not given: \"`+strings.TrimPrefix(planted, "/")) {
		t.Fatalf("exit %d, want 1 and a line refusing what the sender added\n%s", code, logs)
	}
	if n := len(e.snapshots(t)); n != 1 {
		t.Errorf("%d snapshots, want 1: the run with a planted file was published", n)
	}
	if _, err := os.Stat(c.Remote(planted)); err != nil {
		t.Fatalf("the fake rsync did not plant its file: %v", err)
	}
	os.Remove(c.Plant)
	os.Remove(c.Remote(planted))
	mustDepot(t, "--config", e.config, "run")
	snaps := e.snapshots(t)
	sameTree(t, e.snapshotTree(t, snaps[len(snaps)-1]), (&testEnv{src: c.Remote(e.src)}).sourceTree(t))
}
