package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/depot-backup/depot/backupitems"
	"github.com/depot-backup/depot/director"
	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/repository"
)

// conformance names, for every item type, the fixture that puts it through
// the suite below: adding an item type adds one line here (and its fixture).
// A registered type without a line fails TestConformanceCoversEveryType.
var conformance = map[string]func(t *testing.T) *itemFixture{
	"filesystem": treeFixture,
	"mysql":      mysqlFixture,
	"postgresql": postgresFixture,
	"svn":        svnFixture,
	"command":    commandFixture,
}

// itemFixture is one item type's source, set up for the suite: the item,
// always named "db" in set "web", and what the suite needs to judge it.
type itemFixture struct {
	item string // the item's YAML (see itemYAML)
	// state describes the source now, restored what a restore of the item
	// from snapshot s gives, in the same form: equal means restored whole.
	state    func(t *testing.T) any
	restored func(t *testing.T, e *dbEnv, s repository.Snapshot) any
	// change changes the source, so that the next run has work to do.
	change func(t *testing.T)
	// broken are the ways to make the item fail: a bad credential, a
	// missing source, a missing tool.
	broken []brokenItem
}

// brokenItem is a way an item fails: its YAML, what to do before the run,
// and the cause the one line of error must name.
type brokenItem struct {
	name  string
	item  string
	setup func(t *testing.T)
	cause string
}

func TestConformanceCoversEveryType(t *testing.T) {
	for _, typ := range backupitems.Types() {
		if _, ok := conformance[typ.Name]; !ok {
			t.Errorf("item type %s is not in the conformance suite: add it to conformance in conformance_test.go", typ.Name)
		}
	}
	for name := range conformance {
		if _, ok := backupitems.Lookup(name); !ok {
			t.Errorf("the conformance suite names %s, which is not a registered item type", name)
		}
	}
}

// TestItemConformance puts every item type through the same life: a first
// backup, an unchanged run that adds nothing but hard links, a change, a run
// killed midway and the run after it, each snapshot restoring what the
// source held when it was made, and each run starting the commands plan
// printed before it; then every way the fixture breaks the item fails the
// run with one line and publishes nothing.
func TestItemConformance(t *testing.T) {
	for name, newFixture := range conformance {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			e := newItemEnv(t, f.item)
			var s1, s2 repository.Snapshot
			var before any
			steps := []struct {
				name string
				run  func(t *testing.T)
			}{
				{"first backup", func(t *testing.T) {
					before = f.state(t)
					var log string
					s1, log = runAsPlanned(t, e)
					checkItemOK(t, s1)
					if got := f.restored(t, e, s1); !reflect.DeepEqual(got, before) {
						t.Fatalf("restore of the first snapshot differs from the source:\ngot  %v\nwant %v", got, before)
					}
					e.checkNoLeftovers(t, log)
				}},
				{"unchanged run adds nothing", func(t *testing.T) {
					s2, _ = runAsPlanned(t, e)
					checkItemOK(t, s2)
					if added, files := addedBytes(t, s1, s2); added != 0 {
						t.Errorf("an unchanged source added %d bytes in %v: want every file a hard link to the first snapshot's", added, files)
					}
				}},
				{"killed run restarts cleanly", func(t *testing.T) {
					f.change(t)
					after := f.state(t)
					if reflect.DeepEqual(after, before) {
						t.Fatal("the fixture's change did not change the source")
					}
					killAt(t, e, "item-copied")
					if n := len(e.snapshots(t)); n != 2 {
						t.Fatalf("%d snapshots after a killed run, want 2", n)
					}
					s3, log := runAsPlanned(t, e)
					checkItemOK(t, s3)
					if got := f.restored(t, e, s3); !reflect.DeepEqual(got, after) {
						t.Fatalf("restore after the killed run differs from the source:\ngot  %v\nwant %v", got, after)
					}
					if p, _ := (repository.Repo{Root: e.repo}).Partials(context.Background(), "web"); len(p) != 0 {
						t.Errorf("partials left after a successful run: %v", p)
					}
					e.checkNoLeftovers(t, log)
				}},
				{"older snapshots restore as they were", func(t *testing.T) {
					if got := f.restored(t, e, s2); !reflect.DeepEqual(got, before) {
						t.Fatalf("restore of the second snapshot after later runs:\ngot  %v\nwant %v", got, before)
					}
				}},
			}
			for _, s := range steps {
				if !t.Run(s.name, s.run) {
					return // the later steps build on this one
				}
			}
			for _, b := range f.broken {
				t.Run("broken/"+b.name, func(t *testing.T) {
					e := newItemEnv(t, b.item)
					if b.setup != nil {
						b.setup(t)
					}
					code, _, errs := depot(t, "--config", e.config, "run")
					e.checkFailed(t, code, errs, b.cause)
				})
			}
		})
	}
}

// dataTools are the programs that copy or dump an item's data, recorded by
// runAsPlanned besides the programs the plan names.
var dataTools = []string{"rsync", "mariadb-dump", "mysqldump", "pg_dump", "pg_dumpall", "svnadmin"}

// runAsPlanned asks depot plan what the next run of item db will start,
// runs it, and fails unless the run started exactly those commands (on the
// quick path, some of those listed, in order: each runs only if the walk
// finds paths for it). Secrets are *** in the plan and masked in what the
// run started; the plan's build directory is the run's.
func runAsPlanned(t testing.TB, e *dbEnv) (repository.Snapshot, string) {
	t.Helper()
	plans := decodeJSON[[]director.SetPlan](t, mustDepot(t, "--config", e.config, "plan", "--json"))
	if len(plans) != 1 || len(plans[0].Items) != 1 {
		t.Fatalf("plan: %+v", plans)
	}
	item := plans[0].Items[0]
	tools := slices.Clone(dataTools)
	for _, c := range item.Commands {
		tools = append(tools, c[0])
	}
	recorded := recordTools(t, tools...)
	s, log := e.run(t)
	built := repository.Repo{Root: e.repo}.PartialDir("web", s.Stamp)
	var want, got []string
	for _, c := range item.Commands {
		want = append(want, strings.ReplaceAll(strings.Join(c, " "), plans[0].BuildDir, built))
	}
	for _, c := range recorded() {
		if len(c) == 2 && (c[1] == "--help" || c[1] == "--version") {
			continue // a look at what the tool can do, not a copy
		}
		for i, a := range c {
			if k, _, ok := strings.Cut(a, "="); ok && k == "--restrict-key" {
				c[i] = k + "=" + backupitems.Secret
			}
		}
		got = append(got, strings.Join(c, " "))
	}
	quick := strings.HasPrefix(item.Method, "quick")
	if quick && !isSubsequence(got, want) || !quick && !slices.Equal(got, want) {
		t.Fatalf("the run started other commands than plan printed (method %q):\nran\n  %s\nplanned\n  %s",
			item.Method, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	return s, log
}

// isSubsequence reports whether every element of sub is in seq, in order.
func isSubsequence(sub, seq []string) bool {
	for _, s := range sub {
		i := slices.Index(seq, s)
		if i < 0 {
			return false
		}
		seq = seq[i+1:]
	}
	return true
}

// recordTools puts in front of PATH, until the test ends, a wrapper for each
// installed tool that notes its arguments and runs the real one. It returns
// a function that gives the commands started since, in order.
func recordTools(t testing.TB, tools ...string) func() [][]string {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "commands")
	for _, tool := range tools {
		real, err := exec.LookPath(tool)
		if err != nil {
			continue // not installed: nothing can start it
		}
		script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\0' %s \"$@\" >>%s\nprintf '\\n' >>%s\nexec %s \"$@\"\n",
			hosts.ShellQuote(tool), hosts.ShellQuote(log), hosts.ShellQuote(log), hosts.ShellQuote(real))
		if err := os.WriteFile(filepath.Join(dir, tool), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	return func() [][]string {
		data, err := os.ReadFile(log)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		var out [][]string
		for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			if line != "" {
				out = append(out, strings.Split(strings.TrimSuffix(line, "\x00"), "\x00"))
			}
		}
		return out
	}
}

// checkItemOK fails unless the item "db" is in snapshot s with status ok.
func checkItemOK(t testing.TB, s repository.Snapshot) {
	t.Helper()
	m := readManifest(t, s)
	if len(m.Items) != 1 || m.Items[0].Name != "db" || m.Items[0].Status != repository.StatusOK {
		t.Fatalf("manifest of %s: items %+v, want db ok", s.Name(), m.Items)
	}
}

// addedBytes returns the bytes of the regular files of item "db" in b that
// are not hard links to files of a, and their names.
func addedBytes(t testing.TB, a, b repository.Snapshot) (int64, []string) {
	t.Helper()
	inodes := map[uint64]bool{}
	walk := func(root string, fn func(rel string, st *syscall.Stat_t)) {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			fn(rel, info.Sys().(*syscall.Stat_t))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	walk(filepath.Join(a.Path, "db"), func(_ string, st *syscall.Stat_t) { inodes[st.Ino] = true })
	var added int64
	var files []string
	walk(filepath.Join(b.Path, "db"), func(rel string, st *syscall.Stat_t) {
		if !inodes[st.Ino] {
			added += st.Size
			files = append(files, rel)
		}
	})
	return added, files
}

// killAt runs depot, which kills itself with SIGKILL at step, and checks it
// died and left no snapshot half-published.
func killAt(t testing.TB, e *dbEnv, step string) {
	t.Helper()
	cmd := exec.Command(depotBinary, "--config", e.config, "run")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(), "DEPOT_TEST_CRASH_AT="+step)
	if err := cmd.Run(); err == nil {
		t.Fatalf("the run told to die at %s exited 0:\n%s", step, stderr.String())
	}
	for _, s := range e.snapshots(t) {
		if !s.Complete {
			t.Fatalf("the killed run left %s without a manifest", s.Name())
		}
	}
}

// restoreTo restores item db of snapshot s into a new directory and returns it.
func restoreTo(t testing.TB, e *dbEnv, s repository.Snapshot) string {
	t.Helper()
	to := filepath.Join(t.TempDir(), "restored")
	mustDepot(t, "--config", e.config, "restore", "web@"+s.Stamp, "--item", "db", "--to", to)
	return to
}

// pathWith returns a PATH directory holding only the named tools (found on
// the current PATH), so that every other tool is missing.
func pathWith(t testing.TB, tools ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, tool := range tools {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatal(err)
		}
		if p, err = filepath.EvalSymlinks(p); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p, filepath.Join(dir, tool)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// writeFile writes content to name, making its directory.
func writeFile(t testing.TB, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func treeFixture(t *testing.T) *itemFixture {
	src := filepath.Join(t.TempDir(), "src")
	makeTree(t, src, 40, 4<<10)
	state := func(t *testing.T) any {
		return readTree(t, src, func(rel string) bool { return strings.HasSuffix(rel, ".log") })
	}
	return &itemFixture{
		item:  itemYAML("filesystem", "paths: ["+src+"]", `exclude: ["*.log"]`),
		state: state,
		restored: func(t *testing.T, e *dbEnv, s repository.Snapshot) any {
			return readTree(t, filepath.Join(restoreTo(t, e, s), src), nil)
		},
		change: func(t *testing.T) {
			writeFile(t, filepath.Join(src, "d1", "new-file"), "added after the first run\n")
			if err := os.Remove(filepath.Join(src, "empty")); err != nil {
				t.Fatal(err)
			}
		},
		broken: []brokenItem{
			{"missing source", itemYAML("filesystem", "paths: ["+src+"-nope]"), nil, src + "-nope"},
			// An exclude: depot's copier, which needs no rsync, would
			// make a first copy without one.
			{"rsync missing", itemYAML("filesystem", "paths: ["+src+"]", `exclude: ["*.log"]`), func(t *testing.T) { t.Setenv("PATH", pathWith(t, "sh", "date")) }, `\"rsync\": executable file not found`},
			{"no tools at all", itemYAML("filesystem", "paths: ["+src+"]"), func(t *testing.T) { t.Setenv("PATH", pathOnlySh(t)) }, "date: not found"},
		},
	}
}

func mysqlFixture(t *testing.T) *itemFixture {
	db := mariadb(t)
	name := newMySQLDatabase(t, db)
	n := 0
	return &itemFixture{
		// Without the users and grants: they are the whole server's, and
		// other tests running now add and drop users, so an unchanged
		// source would not dump unchanged globals (mysql_dba_test.go
		// covers them).
		item:  mysqlItem("["+name+"]", "globals: false"),
		state: func(t *testing.T) any { return mysqlState(t, db, name) },
		restored: func(t *testing.T, e *dbEnv, s repository.Snapshot) any {
			n++
			to := fmt.Sprintf("%s_c%d", name, n)
			t.Cleanup(func() { db.Exec("DROP DATABASE IF EXISTS " + to) })
			mustDepot(t, "--config", e.config, "restore", "web@"+s.Stamp, "--item", "db", "--to-database", to)
			return mysqlState(t, db, to)
		},
		change: func(t *testing.T) {
			mustExec(t, db, "CALL "+name+".add_item('added later')", "DELETE FROM "+name+".items WHERE id BETWEEN 50 AND 60")
		},
		broken: []brokenItem{
			{"wrong password", mysqlItem("[" + name + "]"), func(t *testing.T) { t.Setenv(testPasswordEnv, "not-the-password") }, "Access denied for user 'depot_test'"},
			{"dump tool missing", mysqlItem("[" + name + "]"), func(t *testing.T) { t.Setenv("PATH", pathOnlySh(t)) }, "neither mariadb-dump nor mysqldump is installed on the source host (local)"},
		},
	}
}

func postgresFixture(t *testing.T) *itemFixture {
	name := newPostgresDatabase(t)
	db := postgres(t, name)
	admin := postgres(t, "postgres")
	n := 0
	return &itemFixture{
		item:  postgresItem("[" + name + "]"),
		state: func(t *testing.T) any { return postgresState(t, name) },
		restored: func(t *testing.T, e *dbEnv, s repository.Snapshot) any {
			n++
			to := fmt.Sprintf("%s_c%d", name, n)
			t.Cleanup(func() { admin.Exec("DROP DATABASE IF EXISTS " + to + " WITH (FORCE)") })
			mustDepot(t, "--config", e.config, "restore", "web@"+s.Stamp, "--item", "db", "--to-database", to)
			return postgresState(t, to)
		},
		change: func(t *testing.T) {
			mustExec(t, db, "INSERT INTO items (name) VALUES ('added later')", "DELETE FROM items WHERE id BETWEEN 50 AND 60")
		},
		broken: []brokenItem{
			{"wrong password", postgresItem("[" + name + "]"), func(t *testing.T) { t.Setenv(testPasswordEnv, "not-the-password") }, "password authentication failed for user"},
			{"dump tool missing", postgresItem("[" + name + "]"), func(t *testing.T) { t.Setenv("PATH", pathOnlySh(t)) }, "pg_dump is not installed on the source host (local)"},
		},
	}
}

func svnFixture(t *testing.T) *itemFixture {
	r := newSVNRepo(t)
	for i := 1; i <= 5; i++ {
		r.commit(t, fmt.Sprintf("a at %d\n", i), "put", "/dev/stdin", "a.txt")
	}
	r.commit(t, "b\n", "mkdir", "dir", "put", "/dev/stdin", "dir/b.txt")
	n := 0
	return &itemFixture{
		item:  svnItem(r.path),
		state: func(t *testing.T) any { return svnState(t, r.path) },
		restored: func(t *testing.T, e *dbEnv, s repository.Snapshot) any {
			n++
			to := filepath.Join(t.TempDir(), fmt.Sprintf("svn%d", n))
			mustDepot(t, "--config", e.config, "restore", "web@"+s.Stamp, "--item", "db", "--to-svn", to)
			return svnState(t, to)
		},
		change: func(t *testing.T) { r.commit(t, "b changed\n", "put", "/dev/stdin", "dir/b.txt") },
		broken: []brokenItem{
			{"no repository", svnItem(r.path + "-nope"), nil, "svnlook uuid " + r.path + "-nope: svnlook exited 1"},
			{"tools missing", svnItem(r.path), func(t *testing.T) { t.Setenv("PATH", pathOnlySh(t)) }, `executable file not found`},
		},
	}
}

func commandFixture(t *testing.T) *itemFixture {
	data := filepath.Join(t.TempDir(), "data.txt")
	writeFile(t, data, strings.Repeat("a line the command prints\n", 200))
	read := func(t *testing.T, name string) any {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	return &itemFixture{
		item:  itemYAML("command", "command: [cat, "+data+"]"),
		state: func(t *testing.T) any { return read(t, data) },
		restored: func(t *testing.T, e *dbEnv, s repository.Snapshot) any {
			return read(t, filepath.Join(restoreTo(t, e, s), backupitems.DefaultStdoutFile))
		},
		change: func(t *testing.T) { writeFile(t, data, "changed\n") },
		broken: []brokenItem{
			{"command fails", itemYAML("command", "command: [cat, "+data+"-nope]"), nil, "No such file or directory"},
			{"program missing", itemYAML("command", "command: [depot-no-such-program]"), nil, `executable file not found`},
		},
	}
}
