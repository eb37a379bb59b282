package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/depot-backup/depot/director"
	"github.com/depot-backup/depot/repository"
)

// TestStalePartialIsTidied: what an interrupted run left that no configured
// item owns is not published; a set no longer configured has its partial
// reported by plan and check and removed by prune.
func TestStalePartialIsTidied(t *testing.T) {
	e := newEnv(t, 2)
	stamp := repository.Stamp(time.Now().Add(-time.Hour))
	junk := map[string]string{
		".partial/web/" + stamp + "/junk.txt":                    "left over\n",
		".partial/web/" + stamp + "/removed-item/file":           "an item no longer configured\n",
		".partial/web/" + stamp + "/.filelists/removed-item.tsv": "stale list\n",
		".partial/gone/" + stamp + "/site/file":                  "a set no longer configured\n",
	}
	for p, content := range junk {
		full := filepath.Join(e.repo, p)
		mkdir(t, filepath.Dir(full))
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, _, errs := depot(t, "--config", e.config, "plan")
	if !strings.Contains(errs, "interrupted run of a set no longer configured") || !strings.Contains(errs, "set=gone") {
		t.Errorf("plan does not report the stray partial:\n%s", errs)
	}
	_, out, _ := depot(t, "--config", e.config, "check")
	if !strings.Contains(out, "WARN  partial "+filepath.Join(e.repo, ".partial", "gone")) {
		t.Errorf("check does not report the stray partial:\n%s", out)
	}
	_, _, errs = depot(t, "--config", e.config, "run")
	if !strings.Contains(errs, "removed from the interrupted run what no configured item owns") {
		t.Errorf("run does not say what it removed:\n%s", errs)
	}
	s := e.snapshots(t)[0]
	for _, p := range []string{"junk.txt", "removed-item", ".filelists/removed-item.tsv"} {
		if _, err := os.Lstat(filepath.Join(s.Path, p)); !os.IsNotExist(err) {
			t.Errorf("%s from the stale partial was published: %v", p, err)
		}
	}
	if out := mustDepot(t, "--config", e.config, "verify"); !strings.Contains(out, "1 verified, 0 failed") {
		t.Errorf("verify:\n%s", out)
	}
	mustDepot(t, "--config", e.config, "prune")
	if _, err := os.Stat(filepath.Join(e.repo, ".partial", "gone")); !os.IsNotExist(err) {
		t.Errorf("prune left the stray partial: %v", err)
	}

	// verify reports content that the manifest does not account for.
	if err := os.WriteFile(filepath.Join(s.Path, "smuggled"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := depot(t, "--config", e.config, "verify")
	if code != 1 || !strings.Contains(out, "smuggled: in the snapshot but not in its manifest") {
		t.Errorf("verify with an unlisted file: exit %d\n%s", code, out)
	}
}

// TestUnparsableManifestIsIncomplete: a snapshot whose manifest does not
// parse is incomplete for list, retention, base choice, mirror and verify.
func TestUnparsableManifestIsIncomplete(t *testing.T) {
	e := newEnv(t, 2)
	addConfig(t, e, "mirrors:\n  - { name: disk, target: "+filepath.Join(e.dir, "mirror")+" }\n")
	mustDepot(t, "--config", e.config, "run")
	mustDepot(t, "--config", e.config, "run")
	snaps := e.snapshots(t)
	broken := filepath.Join(snaps[1].Path, repository.ManifestName)
	data, err := os.ReadFile(broken)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(broken, data[:len(data)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := depot(t, "--config", e.config, "run")
	if code != 0 {
		t.Fatalf("run: exit %d\n%s", code, errs)
	}
	after := e.snapshots(t)
	if len(after) != 3 || after[0].Stamp != snaps[0].Stamp || after[1].Complete {
		t.Fatalf("retention counted the broken snapshot as complete: %+v", after)
	}
	if m := readManifest(t, after[2]); m.Base != "holding/"+snaps[0].Stamp {
		t.Errorf("base %q, want the good snapshot %s", m.Base, snaps[0].Stamp)
	}
	list := decodeJSON[[]director.ListEntry](t, mustDepot(t, "--config", e.config, "list", "--json"))
	if len(list) != 3 || list[1].State != "incomplete" {
		t.Errorf("list: %+v", list)
	}
	code, out, _ := depot(t, "--config", e.config, "verify")
	if code != 1 || !strings.Contains(out, "incomplete: the manifest does not parse") {
		t.Errorf("verify: exit %d\n%s", code, out)
	}
	mustDepot(t, "--config", e.config, "mirror", "--init")
	mirrored, err := repository.Repo{Root: filepath.Join(e.dir, "mirror")}.Snapshots(t.Context(), "web")
	if err != nil || len(mirrored) != 2 {
		t.Errorf("mirror: %+v %v; want the two complete snapshots", mirrored, err)
	}
}

// TestUnknownSetExits2: verify, list and restore with a set neither the
// config nor the repository has are usage errors.
func TestUnknownSetExits2(t *testing.T) {
	e := newEnv(t, 2)
	mustDepot(t, "--config", e.config, "run")
	for _, args := range [][]string{
		{"verify", "nosuchset"}, {"verify", "nosuchset@2026"}, {"list", "nosuchset"},
		{"restore", "nosuchset", "--to", filepath.Join(e.dir, "r")},
	} {
		code, out, errs := depot(t, append([]string{"--config", e.config}, args...)...)
		if code != 2 || !strings.Contains(errs, `no set "nosuchset"`) || !strings.Contains(errs, "(sets: web)") {
			t.Errorf("%s: exit %d, want 2\n%s%s", strings.Join(args, " "), code, out, errs)
		}
	}
}
