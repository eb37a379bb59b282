package director

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/depot-backup/depot/backupitems"
	"github.com/depot-backup/depot/hosts"
)

var update = flag.Bool("update", false, "rewrite the .err goldens in testdata/config/bad from Parse's output")

// TestParseBad parses every testdata/config/bad/NAME.yaml and compares the
// errors, one per line, with NAME.err. Parse gets the base name so that goldens
// hold no temp paths. Run with -update to rewrite the goldens, then read the
// diff: each position must point at the offending key or value.
func TestParseBad(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "config", "bad", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no testdata/config/bad/*.yaml")
	}
	for _, in := range inputs {
		name := filepath.Base(in)
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := Parse(name, data)
			if err == nil {
				t.Fatalf("Parse accepted a bad config: %+v", cfg)
			}
			if cfg != nil {
				t.Errorf("Parse returned a config along with errors")
			}
			var cfgErrs ConfigErrors
			if !errors.As(err, &cfgErrs) {
				t.Fatalf("Parse returned %T, want ConfigErrors: %v", err, err)
			}
			for _, e := range cfgErrs {
				if e.File != name || e.Line < 1 || e.Col < 1 {
					t.Errorf("error without a position in %s: %v", name, e)
				}
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(in, ".yaml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./director/ -run TestParseBad -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s\ngot:\n%swant:\n%s", golden, got, want)
			}
		})
	}
}

// TestGoldensHaveInputs catches a .err left behind by a renamed or deleted case.
func TestGoldensHaveInputs(t *testing.T) {
	goldens, err := filepath.Glob(filepath.Join("testdata", "config", "bad", "*.err"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range goldens {
		if _, err := os.Stat(strings.TrimSuffix(g, ".err") + ".yaml"); err != nil {
			t.Errorf("%s has no input: %v", g, err)
		}
	}
}

func TestParseGood(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "config", "good", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatal("no testdata/config/good/*.yaml")
	}
	for _, in := range inputs {
		t.Run(strings.TrimSuffix(filepath.Base(in), ".yaml"), func(t *testing.T) {
			cfg, err := Load(in)
			if err != nil {
				t.Fatalf("Load(%s):\n%v", in, err)
			}
			if cfg.File != in {
				t.Errorf("File = %q, want %q", cfg.File, in)
			}
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("sha256:%x", sha256.Sum256(data)); cfg.Digest != want {
				t.Errorf("Digest = %q, want %q", cfg.Digest, want)
			}
			for _, s := range cfg.Sets {
				for _, it := range s.Items {
					if it.Item == nil {
						t.Errorf("set %q: an item was not decoded", s.Name)
					}
				}
			}
		})
	}
}

// parse parses a config from a test's source text and fails the test on errors.
func parse(t testing.TB, src string) *Config {
	t.Helper()
	cfg, err := Parse("depot.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse:\n%v\nconfig:\n%s", err, src)
	}
	return cfg
}

func TestDefaults(t *testing.T) {
	const head = "version: 1\nrepository:\n  path: /srv/depot\n"
	const sets = "sets:\n  - name: web\n    items:\n      - name: site\n        type: filesystem\n        paths: [/var/www]\n"
	tests := []struct {
		name      string
		src       string
		maxRecent int
	}{
		{"holding left out", head + sets, DefaultMaxRecent},
		{"holding empty", head + "  holding: {}\n" + sets, DefaultMaxRecent},
		{"max_recent_backups null", head + "  holding:\n    max_recent_backups:\n" + sets, DefaultMaxRecent},
		{"max_recent_backups set", head + "  holding:\n    max_recent_backups: 3\n" + sets, 3},
		{"max_recent_backups 1", head + "  holding: {max_recent_backups: 1}\n" + sets, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := parse(t, tt.src)
			if got := cfg.Repository.Holding.MaxRecent(); got != tt.maxRecent {
				t.Errorf("MaxRecent() = %d, want %d", got, tt.maxRecent)
			}
		})
	}
	if DefaultMaxRecent != 10 {
		t.Errorf("DefaultMaxRecent = %d, want 10 as documented", DefaultMaxRecent)
	}
}

// TestFilesystemDefaults checks what an item's optional keys decode to, and
// that acls and xattrs left out (nil) mean on: rsync gets -A and -X.
func TestFilesystemDefaults(t *testing.T) {
	const head = "version: 1\nrepository: {path: /srv/depot}\nsets:\n  - name: web\n    items:\n      - name: site\n        type: filesystem\n        paths: [/var/www]\n"
	yes, no := true, false
	tests := []struct {
		name        string
		extra       string // keys appended to the item
		wantACLs    *bool
		wantXattrs  *bool
		wantOneFS   bool
		wantFormat  string
		wantExclude []string
		wantFlags   string // rsync's short flags in the plan
	}{
		{name: "nothing set: acls and xattrs nil, meaning on", wantFlags: "-aHAXSR"},
		{name: "acls false", extra: "        acls: false\n", wantACLs: &no, wantFlags: "-aHXSR"},
		{name: "xattrs false", extra: "        xattrs: false\n", wantXattrs: &no, wantFlags: "-aHASR"},
		{name: "both true", extra: "        acls: true\n        xattrs: true\n", wantACLs: &yes, wantXattrs: &yes, wantFlags: "-aHAXSR"},
		{name: "acls null stays nil", extra: "        acls:\n", wantFlags: "-aHAXSR"},
		{name: "one_file_system", extra: "        one_file_system: true\n", wantOneFS: true, wantFlags: "-aHAXxSR"},
		{name: "format tree", extra: "        format: tree\n", wantFormat: "tree", wantFlags: "-aHAXSR"},
		{name: "excludes", extra: "        exclude: ['*.log', cache/]\n", wantExclude: []string{"*.log", "cache/"}, wantFlags: "-aHAXSR"},
		{name: "exclude null is none", extra: "        exclude:\n", wantFlags: "-aHAXSR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := parse(t, head+tt.extra)
			fs, ok := cfg.Sets[0].Items[0].Item.(*backupitems.Filesystem)
			if !ok {
				t.Fatalf("item is %T, want *backupitems.Filesystem", cfg.Sets[0].Items[0].Item)
			}
			if fs.Name != "site" || fs.Type != "filesystem" {
				t.Errorf("header = %+v, want name site, type filesystem", fs.Common)
			}
			if !reflect.DeepEqual(fs.Paths, []string{"/var/www"}) {
				t.Errorf("Paths = %q, want [/var/www]", fs.Paths)
			}
			if !reflect.DeepEqual(fs.ACLs, tt.wantACLs) {
				t.Errorf("ACLs = %v, want %v", ptr(fs.ACLs), ptr(tt.wantACLs))
			}
			if !reflect.DeepEqual(fs.Xattrs, tt.wantXattrs) {
				t.Errorf("Xattrs = %v, want %v", ptr(fs.Xattrs), ptr(tt.wantXattrs))
			}
			if fs.OneFileSystem != tt.wantOneFS {
				t.Errorf("OneFileSystem = %v, want %v", fs.OneFileSystem, tt.wantOneFS)
			}
			if fs.Format != tt.wantFormat {
				t.Errorf("Format = %q, want %q", fs.Format, tt.wantFormat)
			}
			if !reflect.DeepEqual(fs.Exclude, tt.wantExclude) {
				t.Errorf("Exclude = %q, want %q", fs.Exclude, tt.wantExclude)
			}
			cmds := fs.Plan(context.Background(), backupitems.Env{Source: hosts.Local{}, Repo: hosts.Local{}, Dir: "/srv/depot/.partial/web/x/site"}).Commands
			if len(cmds) != 1 || len(cmds[0]) < 2 || cmds[0][1] != tt.wantFlags {
				t.Errorf("plan runs %q, want flags %s", cmds, tt.wantFlags)
			}
		})
	}
}

// ptr shows a *bool in failure messages.
func ptr(b *bool) string {
	if b == nil {
		return "nil"
	}
	return fmt.Sprintf("&%v", *b)
}

func TestSet(t *testing.T) {
	cfg := parse(t, `version: 1
repository: {path: /srv/depot}
sets:
  - name: web
    items: [{name: site, type: filesystem, paths: [/var/www]}]
  - name: mail
    items: [{name: spool, type: filesystem, paths: [/var/mail]}]
`)
	tests := []struct {
		name   string
		lookup string
		found  bool
	}{
		{"first set", "web", true},
		{"second set", "mail", true},
		{"unknown set", "db", false},
		{"empty name", "", false},
		{"case differs", "Web", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := cfg.Set(tt.lookup)
			if ok != tt.found {
				t.Fatalf("Set(%q) found = %v, want %v", tt.lookup, ok, tt.found)
			}
			if !ok {
				if s != nil {
					t.Errorf("Set(%q) = %+v with found false, want nil", tt.lookup, s)
				}
				return
			}
			if s.Name != tt.lookup {
				t.Errorf("Set(%q).Name = %q", tt.lookup, s.Name)
			}
		})
	}
	// Set returns the config's own set, not a copy.
	s, _ := cfg.Set("mail")
	if s != &cfg.Sets[1] {
		t.Errorf("Set returned a copy of the set, want a pointer into Config.Sets")
	}
}

func TestFindConfig(t *testing.T) {
	tests := []struct {
		name    string
		flag    string   // the --config value
		files   []string // created in the working directory
		system  bool     // DefaultConfigPaths[1] exists
		want    string   // "" for an error
		wantErr string
	}{
		{name: "flag wins over both defaults", flag: "other.yaml", files: []string{"depot.yaml"}, system: true, want: "other.yaml"},
		{name: "flag need not exist", flag: "missing.yaml", want: "missing.yaml"},
		{name: "working directory before system", files: []string{"depot.yaml"}, system: true, want: "depot.yaml"},
		{name: "system when no local file", system: true, want: "system"},
		{name: "neither", wantErr: "no config file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			for _, f := range tt.files {
				if err := os.WriteFile(f, []byte("version: 1\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// The system path is /etc/depot/depot.yaml; point it into a
			// temp dir so the test neither needs nor sees the real one.
			system := filepath.Join(t.TempDir(), "etc-depot.yaml")
			if tt.system {
				if err := os.WriteFile(system, []byte("version: 1\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			setDefaultConfigPaths(t, []string{DefaultConfigPaths[0], system})
			want := tt.want
			if want == "system" {
				want = system
			}

			got, err := FindConfig(tt.flag)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("FindConfig(%q) = %q, %v; want error containing %q", tt.flag, got, err, tt.wantErr)
				}
				for _, p := range DefaultConfigPaths {
					if !strings.Contains(err.Error(), p) {
						t.Errorf("error %q does not name %s", err, p)
					}
				}
				return
			}
			if err != nil || got != want {
				t.Fatalf("FindConfig(%q) = %q, %v; want %q", tt.flag, got, err, want)
			}
		})
	}
}

func TestDefaultConfigPaths(t *testing.T) {
	want := []string{"depot.yaml", "/etc/depot/depot.yaml"}
	if !reflect.DeepEqual(DefaultConfigPaths, want) {
		t.Errorf("DefaultConfigPaths = %q, want %q", DefaultConfigPaths, want)
	}
}

// setDefaultConfigPaths replaces DefaultConfigPaths for one test.
func setDefaultConfigPaths(t testing.TB, paths []string) {
	t.Helper()
	saved := DefaultConfigPaths
	DefaultConfigPaths = paths
	t.Cleanup(func() { DefaultConfigPaths = saved })
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		path    string
		wantErr string
	}{
		{"missing file", filepath.Join(dir, "nope.yaml"), "config " + filepath.Join(dir, "nope.yaml") + " does not exist"},
		{"a directory", dir, "read config: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.path)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Load(%q) error = %v, want one containing %q", tt.path, err, tt.wantErr)
			}
			var cfgErrs ConfigErrors
			if errors.As(err, &cfgErrs) {
				t.Errorf("Load(%q) returned ConfigErrors for an I/O problem: %v", tt.path, err)
			}
		})
	}
}

// FuzzParse checks that no input makes Parse panic, that every error has a
// position, and that an accepted config has every item decoded. The seeds are
// the testdata configs.
func FuzzParse(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "config", "*", "*.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data)
		if err != nil {
			var cfgErrs ConfigErrors
			if !errors.As(err, &cfgErrs) || len(cfgErrs) == 0 {
				t.Fatalf("Parse returned %T %v, want ConfigErrors", err, err)
			}
			for _, e := range cfgErrs {
				if e.Line < 1 || e.Col < 1 {
					t.Errorf("error without a position: %v", e)
				}
			}
			return
		}
		if len(cfg.Sets) == 0 {
			t.Fatalf("accepted a config without sets")
		}
		for _, s := range cfg.Sets {
			if !validName.MatchString(s.Name) || len(s.Items) == 0 {
				t.Errorf("accepted set %q with %d items", s.Name, len(s.Items))
			}
			for _, it := range s.Items {
				if it.Item == nil || !validName.MatchString(it.Header().Name) {
					t.Errorf("accepted a bad item in set %q: %+v", s.Name, it)
				}
			}
		}
	})
}
