package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/depot-backup/depot/director"
)

// TestLsVersionsDiff browses three snapshots of a tree from their file lists:
// a file edited twice, one added, one removed.
func TestLsVersionsDiff(t *testing.T) {
	e := newEnv(t, 10)
	cfg := []string{"--config", e.config}
	edited := filepath.Join(e.src, "d1", "sub1", "file-001.dat")
	mustDepot(t, append(cfg, "run")...)
	if err := os.WriteFile(edited, []byte("second version\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.src, "added"), []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustDepot(t, append(cfg, "run")...)
	if err := os.WriteFile(edited, []byte("third, longer version\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(e.src, "secret")); err != nil {
		t.Fatal(err)
	}
	mustDepot(t, append(cfg, "run")...)
	snaps := e.snapshots(t)
	if len(snaps) != 3 {
		t.Fatalf("%d snapshots", len(snaps))
	}
	src := strings.TrimPrefix(e.src, "/")
	rel := "site/" + src + "/d1/sub1/file-001.dat"

	// ls: a subtree, as text and JSON; the same path as the source named it.
	out := mustDepot(t, append(cfg, "ls", "web@"+snaps[0].Stamp, "site/"+src+"/d1/sub1")...)
	if !strings.Contains(out, rel) || strings.Contains(out, "/d0/") || !strings.HasPrefix(out, "drwxr-xr-x") {
		t.Errorf("ls of a subtree:\n%s", out)
	}
	entries := decodeJSON[[]director.LsEntry](t, mustDepot(t, append(cfg, "ls", "web", e.src+"/tool", "--json")...))
	if len(entries) != 1 || entries[0].Path != "site/"+src+"/tool" || entries[0].Mode != "0755" || entries[0].Type != "file" {
		t.Errorf("ls --json of one file: %+v", entries)
	}
	if all := mustDepot(t, append(cfg, "ls", "web")...); strings.Count(all, "\n") < 40 || !strings.Contains(all, "lrwxrwxrwx") {
		t.Errorf("ls of the whole snapshot: %d lines", strings.Count(all, "\n"))
	}

	// versions: three contents, each in one snapshot; the unchanged tool in one version.
	vs := decodeJSON[[]director.Version](t, mustDepot(t, append(cfg, "versions", rel, "--set", "web", "--json")...))
	if len(vs) != 3 || vs[2].Size != int64(len("third, longer version\n")) || len(vs[0].Snapshots) != 1 || !strings.HasSuffix(vs[1].Snapshots[0], snaps[1].Stamp) {
		t.Errorf("versions of the edited file: %+v", vs)
	}
	vs = decodeJSON[[]director.Version](t, mustDepot(t, append(cfg, "versions", e.src+"/tool", "--json")...))
	if len(vs) != 1 || len(vs[0].Snapshots) != 3 {
		t.Errorf("versions of an unchanged file: %+v", vs)
	}

	// diff: the newest against the one before, and two named snapshots.
	out = mustDepot(t, append(cfg, "diff", "web")...)
	for _, want := range []string{"M " + rel, "- site/" + src + "/secret", "0 added", "1 removed", "1 changed"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff web lacks %q:\n%s", want, out)
		}
	}
	out = mustDepot(t, append(cfg, "diff", "web@"+snaps[0].Stamp, "web@"+snaps[2].Stamp, "--json")...)
	dec := json.NewDecoder(strings.NewReader(out))
	kinds := map[string]int{}
	for dec.More() {
		var l director.DiffLine
		if err := dec.Decode(&l); err != nil {
			t.Fatal(err)
		}
		kinds[l.Kind]++
	}
	if kinds["added"] != 1 || kinds["removed"] != 1 || kinds["changed"] != 1 {
		t.Errorf("diff first..last --json: %v\n%s", kinds, out)
	}

	// diff --source: what the next run would copy.
	if err := os.WriteFile(filepath.Join(e.src, "later"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(e.src, "tool"), 0o700); err != nil {
		t.Fatal(err)
	}
	out = mustDepot(t, append(cfg, "diff", "web", "--source")...)
	for _, want := range []string{"+ site/" + src + "/later", "M site/" + src + "/tool", "1 added", "0 removed", "1 changed"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff --source lacks %q:\n%s", want, out)
		}
	}
}

// TestBrowseBadInput: unknown stamps and paths, a damaged file list.
func TestBrowseBadInput(t *testing.T) {
	e := newEnv(t, 10)
	cfg := []string{"--config", e.config}
	mustDepot(t, append(cfg, "run")...)
	for _, c := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"ls unknown stamp", []string{"ls", "web@1999"}, 2, "has no snapshot 1999"},
		{"ls unknown set", []string{"ls", "nope"}, 2, "nope"},
		{"ls unknown path", []string{"ls", "web", "site/no/such/path"}, 1, "has no path site/no/such/path"},
		{"versions unknown path", []string{"versions", "site/no/such"}, 1, "no file site/no/such"},
		{"versions of a directory", []string{"versions", e.src}, 2, "is a directory"},
		{"versions of an item", []string{"versions", "site"}, 2, "is an item"},
		{"diff of the only snapshot", []string{"diff", "web"}, 2, "is the oldest"},
		{"diff unknown stamp", []string{"diff", "web@1999", "web"}, 2, "has no snapshot 1999"},
		{"diff --source with two", []string{"diff", "web", "web", "--source"}, 2, "name one"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errs := depot(t, append(cfg, c.args...)...)
			if code != c.code || !strings.Contains(errs, c.msg) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
				t.Errorf("exit %d, want %d; stderr %q, want %q", code, c.code, errs, c.msg)
			}
		})
	}

	// A damaged file list is refused, never read as an answer.
	s := e.snapshots(t)[0]
	list := filepath.Join(s.Path, readManifest(t, s).Items[0].FileList)
	data, err := os.ReadFile(list)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(list, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"ls", "web"}, {"versions", e.src + "/tool"}} {
		code, _, errs := depot(t, append(cfg, args...)...)
		if code != 1 || !strings.Contains(errs, "does not match its hash in the manifest") {
			t.Errorf("%v on a damaged list: exit %d, %q", args, code, errs)
		}
	}
}
