package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/depot-backup/depot/internal/sshtest"
)

// TestRestorePath restores one file and one subtree of an older snapshot,
// locally and to a host over SSH, and refuses paths the snapshot lacks.
func TestRestorePath(t *testing.T) {
	e := newEnv(t, 10)
	// The SSH target is a second machine: it sees neither the source nor
	// the repository, and what it gets lands where only it sees it.
	s := sshtest.Start(t, sshtest.Options{Separate: []string{e.src, e.repo, filepath.Join(e.dir, "remote")}})
	cfg, _ := os.ReadFile(e.config)
	// A set with a non-tree item beside the tree, as the README's web set
	// has: a source path given without --item is looked for in the trees.
	cfg = []byte(strings.Replace(string(cfg), "        exclude: [\"*.log\"]\n", "        exclude: [\"*.log\"]\n      - { name: pkgs, type: command, command: [echo, hi] }\n", 1))
	cfg = append(cfg, []byte(fmt.Sprintf("ssh: { identity_file: %s, known_hosts: %s }\n", s.IdentityFile, s.KnownHosts))...)
	if err := os.WriteFile(e.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", e.config}
	mustDepot(t, append(args, "run")...)
	first := e.snapshots(t)[0]
	want := e.sourceTree(t)
	tool := filepath.Join(e.src, "tool")
	if err := os.WriteFile(tool, []byte("changed since\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustDepot(t, append(args, "run")...)

	for _, c := range []struct{ name, to string }{
		{"local", filepath.Join(e.dir, "one")},
		{"over ssh", s.Addr() + ":" + filepath.Join(e.dir, "remote", "one")},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := c.to[strings.Index(c.to, ":/")+1:]
			if !strings.Contains(c.to, "@") {
				dir = c.to
			}
			mustDepot(t, append(args, "restore", "web@"+first.Stamp, "--item", "site", "--path", tool, "--path", "site/"+strings.TrimPrefix(e.src, "/")+"/d2", "--to", c.to)...)
			got := readTree(t, filepath.Join(s.Remote(dir), e.src), nil)
			sub := map[string]treeEntry{}
			for p, te := range want {
				if p == "tool" || p == "d2" || strings.HasPrefix(p, "d2/") {
					sub[p] = te
				}
			}
			sameTree(t, got, sub)
		})
	}

	// All items: each under its own directory.
	all := filepath.Join(e.dir, "all")
	mustDepot(t, append(args, "restore", "web", "--path", tool, "--to", all)...)
	if data, err := os.ReadFile(filepath.Join(all, "site", tool)); err != nil || string(data) != "changed since\n" {
		t.Errorf("restored %q, %v", data, err)
	}

	for _, c := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unknown path", []string{"restore", "web", "--path", "/no/such", "--to", filepath.Join(e.dir, "x")}, 1, "has no path /no/such"},
		{"path in a command item", []string{"restore", "web", "--path", "pkgs/stdout", "--to", filepath.Join(e.dir, "x")}, 2, "pkgs is a command item"},
		{"whole item", []string{"restore", "web", "--path", "site", "--to", filepath.Join(e.dir, "x")}, 2, "use --item site"},
		{"path into a database", []string{"restore", "web", "--path", tool, "--to-database", "x"}, 2, "--path restores files"},
		{"non-empty target", []string{"restore", "web", "--path", tool, "--to", all}, 2, "is not empty"},
		{"non-empty remote target", []string{"restore", "web", "--path", tool, "--to", s.Addr() + ":" + all}, 2, "is not empty"},
		{"bad remote address", []string{"restore", "web", "--to", "nobody@:/x"}, 2, "restore --to"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errs := depot(t, append(args, c.args...)...)
			if code != c.code || !strings.Contains(errs, c.msg) {
				t.Errorf("exit %d, want %d; stderr %q, want %q", code, c.code, errs, c.msg)
			}
			if _, err := os.Stat(filepath.Join(e.dir, "x")); err == nil {
				t.Errorf("a refused restore made its target")
			}
		})
	}
}
