package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/depot-backup/depot/repository"
)

// TestNoRepositoryNoRun: every verb refuses a root without the marker in one
// line, and none creates the root (an unmounted disk stays empty).
func TestNoRepositoryNoRun(t *testing.T) {
	verbs := [][]string{
		{"run"}, {"plan"}, {"list"}, {"check"}, {"prune"}, {"migrate"}, {"verify"},
		{"restore", "web", "--to", "RESTORE"}, {"mirror", "disk"},
	}
	for _, state := range []string{"missing root", "empty root", "root with other files"} {
		t.Run(state, func(t *testing.T) {
			e := newEnv(t, 2)
			if err := os.RemoveAll(e.repo); err != nil {
				t.Fatal(err)
			}
			switch state {
			case "empty root":
				mkdir(t, e.repo)
			case "root with other files":
				mkdir(t, filepath.Join(e.repo, "holding"))
				if err := os.WriteFile(filepath.Join(e.repo, "notes.txt"), []byte("x\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			addConfig(t, e, "mirrors:\n  - { name: disk, target: "+filepath.Join(e.dir, "mirror")+" }\n")
			for _, v := range verbs {
				args := append([]string{"--config", e.config}, v...)
				for i, a := range args {
					args[i] = strings.ReplaceAll(a, "RESTORE", filepath.Join(e.dir, "restored"))
				}
				code, out, errs := depot(t, args...)
				want := e.repo + " is not a depot repository (is the disk mounted?); create it with depot init"
				if code != 1 || !strings.Contains(out+errs, want) {
					t.Errorf("%s: exit %d, want 1 and %q\n%s%s", v[0], code, want, out, errs)
				}
			}
			if state == "missing root" {
				if _, err := os.Stat(e.repo); !os.IsNotExist(err) {
					t.Errorf("a verb created the repository root: %v", err)
				}
			}
			if _, err := os.Stat(filepath.Join(e.repo, ".depot")); !os.IsNotExist(err) {
				t.Errorf("a verb wrote into a root without a marker: %v", err)
			}
		})
	}
}

// TestInit: init makes a private root with a marker once; a second init or
// a directory with other content is refused.
func TestInit(t *testing.T) {
	e := newEnv(t, 2)
	st, err := os.Stat(e.repo)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("root after init: %v %v, want mode 0700", st.Mode(), err)
	}
	data, err := os.ReadFile(filepath.Join(e.repo, ".depot", "repository.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m repository.Marker
	if err := json.Unmarshal(data, &m); err != nil || m.Format != 1 || len(m.ID) != 32 || m.Created.IsZero() || m.Timezone == "" {
		t.Errorf("marker %s: %+v %v", data, m, err)
	}
	code, _, errs := depot(t, "--config", e.config, "init")
	if code != 1 || !strings.Contains(errs, "already a depot repository (id "+m.ID+")") {
		t.Errorf("second init: exit %d\n%s", code, errs)
	}

	// A mirror target is initialised by mirror --init or init --mirror.
	disk, usb := filepath.Join(e.dir, "disk"), filepath.Join(e.dir, "usb")
	addConfig(t, e, "mirrors:\n  - { name: disk, target: "+disk+" }\n  - { name: usb, target: "+usb+" }\n")
	mustDepot(t, "--config", e.config, "run")
	code, _, errs = depot(t, "--config", e.config, "mirror", "disk")
	if code != 1 || !strings.Contains(errs, disk+" is not a depot repository") {
		t.Errorf("mirror to a target without a marker: exit %d\n%s", code, errs)
	}
	if _, err := os.Stat(disk); !os.IsNotExist(err) {
		t.Errorf("mirror created its target: %v", err)
	}
	code, _, errs = depot(t, "--config", e.config, "init", "--mirror", "nosuch")
	if code != 2 || !strings.Contains(errs, `no mirror "nosuch"`) {
		t.Errorf("init --mirror of an unknown mirror: exit %d\n%s", code, errs)
	}
	mustDepot(t, "--config", e.config, "mirror", "--init", "disk")
	mustDepot(t, "--config", e.config, "init", "--mirror", "usb")
	mustDepot(t, "--config", e.config, "mirror", "usb")
	for _, dir := range []string{disk, usb} {
		if snaps, err := (repository.Repo{Root: dir}).Snapshots(t.Context(), "web"); err != nil || len(snaps) != 1 {
			t.Errorf("mirror %s: %v %v", dir, snaps, err)
		}
		if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("mirror root %s: %v", dir, err)
		}
	}

	other := newEnv(t, 2)
	if err := os.RemoveAll(other.repo); err != nil {
		t.Fatal(err)
	}
	mkdir(t, filepath.Join(other.repo, "data"))
	code, _, errs = depot(t, "--config", other.config, "init")
	if code != 1 || !strings.Contains(errs, "not empty and holds no depot snapshots") {
		t.Errorf("init over other content: exit %d\n%s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(other.repo, ".depot")); !os.IsNotExist(err) {
		t.Errorf("init wrote into a directory it refused: %v", err)
	}

	tz := newEnv(t, 2)
	if err := os.RemoveAll(tz.repo); err != nil {
		t.Fatal(err)
	}
	addRepositoryKeys(t, tz, "  permanent: {timezone: Asia/Tokyo, rules: [{name: daily, keep: 1}]}\n")
	mustDepot(t, "--config", tz.config, "init")
	data, _ = os.ReadFile(filepath.Join(tz.repo, ".depot", "repository.json"))
	if !strings.Contains(string(data), `"timezone": "Asia/Tokyo"`) {
		t.Errorf("marker does not record the configured zone:\n%s", data)
	}
}

// TestAdoptRepository: a repository made before markers (snapshots, no
// marker) gets its marker from the first verb that opens it, once, logged.
func TestAdoptRepository(t *testing.T) {
	e := newEnv(t, 2)
	mustDepot(t, "--config", e.config, "run")
	if err := os.Remove(filepath.Join(e.repo, ".depot", "repository.json")); err != nil {
		t.Fatal(err)
	}
	code, _, errs := depot(t, "--config", e.config, "run")
	if code != 0 || strings.Count(errs, "adopted a repository made before depot init") != 1 {
		t.Fatalf("run on an old repository: exit %d\n%s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(e.repo, ".depot", "repository.json")); err != nil {
		t.Fatal(err)
	}
	_, _, errs = depot(t, "--config", e.config, "run")
	if strings.Contains(errs, "adopted") {
		t.Errorf("adopted twice:\n%s", errs)
	}
}

// TestPrivateRepository: whatever the umask, depot's directories are 0700
// and its files 0600, while a tree item keeps its source's modes inside.
func TestPrivateRepository(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	e := newEnv(t, 2)
	mustDepot(t, "--config", e.config, "run")
	s := e.snapshots(t)[0]
	m := readManifest(t, s)
	want := map[string]fs.FileMode{
		e.repo:                                           0o700,
		filepath.Join(e.repo, ".depot"):                  0o700,
		filepath.Join(e.repo, "holding"):                 0o700,
		filepath.Join(e.repo, "holding", "web"):          0o700,
		s.Path:                                           0o700,
		filepath.Join(e.repo, ".partial"):                0o700,
		filepath.Join(s.Path, "manifest.json"):           0o600,
		filepath.Join(s.Path, m.Items[0].FileList):       0o600,
		filepath.Join(e.repo, ".depot", "history.jsonl"): 0o600,
		filepath.Join(e.repo, ".depot", "lock"):          0o600,
		filepath.Join(s.Path, "site", e.src, "tool"):     0o755,
		filepath.Join(s.Path, "site", e.src, "d0"):       0o755,
	}
	for p, mode := range want {
		st, err := os.Stat(p)
		if err != nil {
			t.Error(err)
			continue
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s: mode %04o, want %04o", p, st.Mode().Perm(), mode)
		}
	}

	// check warns about a root that others can enter.
	if err := os.Chmod(e.repo, 0o755); err != nil {
		t.Fatal(err)
	}
	_, out, _ := depot(t, "--config", e.config, "check")
	if !strings.Contains(out, "WARN  permissions of "+e.repo+": 0755 lets other users in; chmod 700 "+e.repo) {
		t.Errorf("check does not warn about a 0755 root:\n%s", out)
	}
}

func mkdir(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// addConfig appends top-level YAML to the env's config.
func addConfig(t testing.TB, e *testEnv, yaml string) {
	t.Helper()
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.config, append(cfg, yaml...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// addRepositoryKeys adds keys (indented by two) to the config's repository.
func addRepositoryKeys(t testing.TB, e *testEnv, yaml string) {
	t.Helper()
	cfg, err := os.ReadFile(e.config)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(cfg), "repository:\n", "repository:\n"+yaml, 1)
	if err := os.WriteFile(e.config, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
