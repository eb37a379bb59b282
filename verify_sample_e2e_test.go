package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestVerifySampleAndGoodCopies damages a file every snapshot shares and
// finds it with a full verify and a 100% sample, names the mirror's copies
// as good ones, and samples reproducibly by seed.
func TestVerifySampleAndGoodCopies(t *testing.T) {
	e := newEnv(t, 10)
	mirror := filepath.Join(e.dir, "mirror")
	cfg, _ := os.ReadFile(e.config)
	cfg = append(cfg, []byte("mirrors:\n  - { name: disk, target: "+mirror+" }\n")...)
	if err := os.WriteFile(e.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", e.config}
	mustDepot(t, append(args, "run")...)
	if err := os.WriteFile(filepath.Join(e.src, "tool"), []byte("newer\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustDepot(t, append(args, "run")...)
	mustDepot(t, append(args, "mirror", "--init")...)

	out := mustDepot(t, append(args, "verify", "--sample", "50%", "--seed", "7", "--since", "7d")...)
	if !strings.Contains(out, "sample (seed 7): hashed ") || !strings.Contains(out, "2 snapshots: 2 verified, 0 failed") {
		t.Errorf("verify --sample 50%%:\n%s", out)
	}
	if out := mustDepot(t, append(args, "verify", "--sample", "1")...); !strings.Contains(out, "1 snapshots: 1 verified, 0 failed") {
		t.Errorf("verify --sample 1 prints no summary:\n%s", out)
	}
	again := mustDepot(t, append(args, "verify", "--sample", "50%", "--seed", "7")...)
	if sampleLine(out) != sampleLine(again) || sampleLine(out) == "" {
		t.Errorf("the same seed sampled differently: %q and %q", sampleLine(out), sampleLine(again))
	}

	// Damage a file both snapshots share: same size, other bytes.
	snaps := e.snapshots(t)
	victim := filepath.Join(snaps[1].Path, "site", e.src, "d0", "sub0", "file-000.dat")
	data, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	data[0] ^= 0xff
	if err := os.WriteFile(victim, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, extra := range [][]string{{"web"}, {"web", "--sample", "100%"}, {"--sample", "2"}} {
		code, out, _ := depot(t, append(append(args, "verify"), extra...)...)
		rel := "site/" + strings.TrimPrefix(e.src, "/") + "/d0/sub0/file-000.dat"
		if code != 1 || !strings.Contains(out, "content differs") || !strings.Contains(out, "2 snapshots: 0 verified, 2 failed") {
			t.Errorf("verify %v of a damaged file: exit %d\n%s", extra, code, out)
		}
		good := regexp.MustCompile(`holding/web/` + snaps[1].Stamp + `/` + regexp.QuoteMeta(rel) + `: mirror disk: holding/web/\S+, mirror disk: holding/web/\S+`)
		if !good.MatchString(out) {
			t.Errorf("verify %v names no good copies on the mirror:\n%s", extra, out)
		}
	}
	// A budget too small to hash the file passes it on its size.
	if code, out, _ := depot(t, append(args, "verify", "--max-bytes", "1")...); code != 0 || !strings.Contains(out, "hashed 0 files") {
		t.Errorf("verify --max-bytes 1: exit %d\n%s", code, out)
	}

	for _, c := range []struct {
		name string
		args []string
		msg  string
	}{
		{"sample zero", []string{"verify", "--sample", "0"}, "--sample N"},
		{"sample over 100%", []string{"verify", "--sample", "101%"}, "--sample P%"},
		{"bad size", []string{"verify", "--max-bytes", "lots"}, "--max-bytes"},
		{"bad age", []string{"verify", "--since", "last week"}, "--since"},
		{"seed alone", []string{"verify", "--seed", "3"}, "--seed picks a sample"},
		{"a budget for a mirror", []string{"verify", "--mirror", "disk", "--max-bytes", "1G"}, "--mirror compares whole repositories"},
		{"snapshots and a set", []string{"verify", "web", "--sample", "2"}, "--sample N"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errs := depot(t, append(args, c.args...)...)
			if code != 2 || !strings.Contains(errs, c.msg) {
				t.Errorf("exit %d; stderr %q, want %q", code, errs, c.msg)
			}
		})
	}
}

func sampleLine(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "sample (seed") {
			return l
		}
	}
	return ""
}

// TestVerifyWalk: verify's walk finds a file planted in a snapshot, one
// removed from it, and a directory planted with content, in the second of
// two snapshots whose other files it confirms by inode.
func TestVerifyWalk(t *testing.T) {
	e := newEnv(t, 10)
	args := []string{"--config", e.config}
	mustDepot(t, append(args, "run")...)
	mustDepot(t, append(args, "run")...)
	s := e.snapshots(t)[1]
	root := filepath.Join(s.Path, "site", e.src)
	rel := strings.TrimPrefix(e.src, "/")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(root, "d1", "planted"), []byte("x"), 0o600))
	must(os.MkdirAll(filepath.Join(root, "zz-dir", "inner"), 0o700))
	must(os.WriteFile(filepath.Join(root, "zz-dir", "inner", "f"), []byte("x"), 0o600))
	must(os.Remove(filepath.Join(root, "d2", "sub2", "file-002.dat")))
	code, out, _ := depot(t, append(args, "verify")...)
	for _, want := range []string{
		"holding/web/" + s.Stamp + ": item site: " + rel + "/d1/planted: on disk but not in the file list",
		rel + "/zz-dir: on disk but not in the file list",
		rel + "/zz-dir/inner/f: on disk but not in the file list",
		rel + "/d2/sub2/file-002.dat: missing",
		"2 snapshots: 1 verified, 1 failed",
	} {
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("verify: exit %d, lacks %q:\n%s", code, want, out)
		}
	}
}
