package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// svnRepo is a Subversion repository for a test, changed with svnmucc.
type svnRepo struct {
	path string
}

func newSVNRepo(t testing.TB) *svnRepo {
	t.Helper()
	for _, tool := range []string{"svnadmin", "svnlook", "svnmucc"} {
		_, err := exec.LookPath(tool)
		needService(t, "Subversion ("+tool+")", err)
	}
	r := &svnRepo{path: filepath.Join(t.TempDir(), "svn")}
	svnRun(t, "", "svnadmin", "create", r.path)
	return r
}

func svnRun(t testing.TB, stdin string, argv ...string) string {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// commit makes one revision with svnmucc actions; "put" actions read
// content from /dev/stdin.
func (r *svnRepo) commit(t testing.TB, content string, actions ...string) {
	t.Helper()
	svnRun(t, content, append([]string{"svnmucc", "-U", "file://" + r.path, "-m", "test"}, actions...)...)
}

// svnState describes a repository: its youngest revision and the content of
// a few paths at several revisions.
func svnState(t testing.TB, repo string) map[string]string {
	t.Helper()
	state := map[string]string{"youngest": strings.TrimSpace(svnRun(t, "", "svnlook", "youngest", repo))}
	for _, rev := range []string{"1", "3", "5", state["youngest"]} {
		for _, p := range []string{"a.txt", "dir/b.txt"} {
			cmd := exec.Command("svnlook", "cat", "-r", rev, repo, p)
			out, err := cmd.Output()
			if err != nil {
				out = []byte("(none)")
			}
			state[p+"@"+rev] = string(out)
		}
	}
	return state
}

func svnItem(repo string) string { return itemYAML("svn", "repository: "+repo) }

func TestSVNRoundTrip(t *testing.T) {
	r := newSVNRepo(t)
	for i := 1; i <= 3; i++ { // r1-r3
		r.commit(t, fmt.Sprintf("a at %d\n", i), "put", "/dev/stdin", "a.txt")
	}
	e := newItemEnv(t, svnItem(r.path))
	s1, _ := e.run(t)
	state1 := svnState(t, r.path)
	first := "r000000-000003.svndump.zst"

	s2, _ := e.run(t) // no new revisions: the same chain, no new file
	sameInode(t, s1, s2, first, true)
	if got := dirNames(t, filepath.Join(s2.Path, "db")); !reflect.DeepEqual(got, []string{first}) {
		t.Errorf("unchanged repository: files %q", got)
	}

	r.commit(t, "b\n", "mkdir", "dir", "put", "/dev/stdin", "dir/b.txt") // r4
	r.commit(t, "a at 5\n", "put", "/dev/stdin", "a.txt")                // r5
	s3, _ := e.run(t)
	state3 := svnState(t, r.path)
	sameInode(t, s1, s3, first, true)
	want := []string{first, "r000004-000005.svndump.zst"}
	if got := dirNames(t, filepath.Join(s3.Path, "db")); !reflect.DeepEqual(got, want) {
		t.Errorf("after two commits: files %q, want %q", got, want)
	}
	m := readManifest(t, s3)
	if m.Items[0].Meta["youngest"] != "5" {
		t.Errorf("manifest meta %v, want youngest 5", m.Items[0].Meta)
	}
	plan := mustDepot(t, "--config", e.config, "plan")
	if !strings.Contains(plan, "no new revisions since the base's 5: link its dumps") || strings.Contains(plan, "svnadmin dump") {
		t.Errorf("plan of a run with no new revision after 5 dumps something:\n%s", plan)
	}

	// Deleting the first snapshot breaks no other: each holds its chain.
	if err := os.RemoveAll(s1.Path); err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		stamp string
		want  map[string]string
	}{{s2.Stamp, state1}, {s3.Stamp, state3}} {
		to := filepath.Join(e.dir, fmt.Sprintf("restored%d", i))
		mustDepot(t, "--config", e.config, "restore", "web@"+c.stamp, "--item", "db", "--to-svn", to)
		if got := svnState(t, to); !reflect.DeepEqual(got, c.want) {
			t.Errorf("restore of %s:\ngot  %v\nwant %v", c.stamp, got, c.want)
		}
		if got, want := svnRun(t, "", "svnlook", "uuid", to), svnRun(t, "", "svnlook", "uuid", r.path); got != want {
			t.Errorf("restored UUID %s, want %s", got, want)
		}
	}
	code, _, errs := depot(t, "--config", e.config, "restore", "web", "--item", "db", "--to-svn", filepath.Join(e.dir, "restored1"))
	if code != 1 || !strings.Contains(errs, "svnadmin create") {
		t.Errorf("restore over an existing repository: exit %d\n%s", code, errs)
	}
	// A target an svn item cannot take is the command line's mistake:
	// exit 2 and one line, as for a tree item given --to-database.
	for _, args := range [][]string{{"--to-database", "x"}, {"--to-svn", "relative/path"}} {
		code, _, errs := depot(t, append([]string{"--config", e.config, "restore", "web", "--item", "db"}, args...)...)
		if code != 2 || !strings.Contains(errs, "restore item db: ") || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("restore %v of an svn item: exit %d, want 2 and one line:\n%s", args, code, errs)
		}
	}
}

// TestSVNNewChain: a repository replaced by another (a new UUID) starts a new
// chain from revision 0 instead of appending to the old one.
func TestSVNNewChain(t *testing.T) {
	r := newSVNRepo(t)
	r.commit(t, "one\n", "put", "/dev/stdin", "a.txt")
	e := newItemEnv(t, svnItem(r.path))
	e.run(t)
	if err := os.RemoveAll(r.path); err != nil {
		t.Fatal(err)
	}
	svnRun(t, "", "svnadmin", "create", r.path)
	r.commit(t, "other\n", "put", "/dev/stdin", "a.txt")
	r.commit(t, "other 2\n", "put", "/dev/stdin", "a.txt")
	s, log := e.run(t)
	if got := dirNames(t, filepath.Join(s.Path, "db")); !reflect.DeepEqual(got, []string{"r000000-000002.svndump.zst"}) {
		t.Errorf("files %q", got)
	}
	if !strings.Contains(log, "another repository than the base's") {
		t.Errorf("no warning about the replaced repository:\n%s", log)
	}
}

func TestSVNFailures(t *testing.T) {
	r := newSVNRepo(t)
	r.commit(t, "one\n", "put", "/dev/stdin", "a.txt")
	tests := []struct {
		name  string
		repo  string
		setup func(t *testing.T)
		cause string
	}{
		{"no repository", filepath.Join(r.path, "nope"), nil, "svnlook uuid " + filepath.Join(r.path, "nope") + ": svnlook exited 1"},
		{"tools missing", r.path, func(t *testing.T) { t.Setenv("PATH", pathOnlySh(t)) }, "svnlook uuid " + r.path + ": exec: \\\"svnlook\\\": executable file not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newItemEnv(t, svnItem(tt.repo))
			if tt.setup != nil {
				tt.setup(t)
			}
			code, _, errs := depot(t, "--config", e.config, "run")
			e.checkFailed(t, code, errs, tt.cause)
		})
	}
}

func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
