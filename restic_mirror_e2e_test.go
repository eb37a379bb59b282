package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/depot-backup/depot/internal/objtest"
)

// resticEnv is a testEnv whose config has a restic mirror "cloud".
type resticEnv struct {
	*testEnv
	url      string // the restic repository
	password string // its password file
}

// withResticMirror adds a restic mirror at url to e's config, with a
// password file and the extra keys given (YAML, one per line).
func withResticMirror(t testing.TB, config, dir, url string, extra ...string) string {
	t.Helper()
	pw := filepath.Join(dir, "restic.pass")
	if err := os.WriteFile(pw, []byte("correct horse battery staple\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	m := fmt.Sprintf("mirrors:\n  - name: cloud\n    type: restic\n    repository: %q\n    password_file: %s\n", url, pw)
	for _, x := range extra {
		m += "    " + x + "\n"
	}
	if err := os.WriteFile(config, append(cfg, m...), 0o644); err != nil {
		t.Fatal(err)
	}
	return pw
}

// resticSnapshots lists the restic repository by hand, as an admin would.
func resticSnapshots(t testing.TB, url, pwFile string, env ...string) []struct {
	ID     string   `json:"id"`
	Parent string   `json:"parent"`
	Paths  []string `json:"paths"`
	Tags   []string `json:"tags"`
	Time   time.Time
} {
	t.Helper()
	cmd := exec.Command("restic", "snapshots", "--json")
	cmd.Env = append(os.Environ(), append(env, "RESTIC_REPOSITORY="+url, "RESTIC_PASSWORD_FILE="+pwFile)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("restic snapshots: %v", err)
	}
	var snaps []struct {
		ID     string   `json:"id"`
		Parent string   `json:"parent"`
		Paths  []string `json:"paths"`
		Tags   []string `json:"tags"`
		Time   time.Time
	}
	if err := json.Unmarshal(out, &snaps); err != nil {
		t.Fatal(err)
	}
	return snaps
}

// touchSource changes one file of e's source, so the next run differs.
func touchSource(t testing.TB, e *testEnv, i int) {
	t.Helper()
	p := filepath.Join(e.src, "d0", "sub0", "file-000.dat")
	if err := os.WriteFile(p, []byte(fmt.Sprintf("version %d\n", i)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestResticMirrorRoundTrip(t *testing.T) {
	objtest.Restic(t)
	url, _ := objtest.RestServer(t)
	url += "depot"
	e := newEnv(t, 5)
	pw := withResticMirror(t, e.config, e.dir, url)
	mustDepot(t, "--config", e.config, "validate")
	for i := range 3 {
		touchSource(t, e, i)
		mustDepot(t, "--config", e.config, "run")
	}
	want := e.snapshots(t)
	mustDepot(t, "--config", e.config, "init", "--mirror", "cloud")
	if out := mustDepot(t, "--config", e.config, "check"); !strings.Contains(out, "mirror cloud: restic repository "+url+": 0 snapshots") {
		t.Errorf("check before the mirror:\n%s", out)
	}
	out := mustDepot(t, "--config", e.config, "plan")
	for _, s := range want {
		if !strings.Contains(out, "send     holding/web/"+s.Stamp) {
			t.Errorf("plan does not send %s:\n%s", s.Stamp, out)
		}
	}
	mustDepot(t, "--config", e.config, "mirror", "cloud")

	snaps := resticSnapshots(t, url, pw)
	if len(snaps) != len(want) {
		t.Fatalf("restic has %d snapshots, want %d", len(snaps), len(want))
	}
	for i, s := range snaps {
		tags := strings.Join(s.Tags, ",")
		if !strings.Contains(tags, "set=web") || !strings.Contains(tags, "stamp="+want[i].Stamp) || !strings.Contains(tags, "section=holding") {
			t.Errorf("snapshot %d tags %v", i, s.Tags)
		}
		if !s.Time.Equal(want[i].Time()) {
			t.Errorf("snapshot %d dated %s, want %s", i, s.Time, want[i].Time())
		}
		if s.Paths[0] != snaps[0].Paths[0] {
			t.Errorf("paths differ between snapshots: %v and %v", s.Paths, snaps[0].Paths)
		}
		if i > 0 && s.Parent != snaps[i-1].ID {
			t.Errorf("snapshot %d has parent %q, want the one before", i, s.Parent)
		}
	}
	// What restic reported saved is recorded, one line per snapshot.
	rec, err := os.ReadFile(filepath.Join(e.repo, ".depot", "restic-cloud.jsonl"))
	if err != nil || strings.Count(string(rec), "\n") != len(want) || !strings.Contains(string(rec), `"snapshot_id"`) {
		t.Errorf("record of what was sent (%v):\n%s", err, rec)
	}

	// Up to date: nothing more to send.
	if out := mustDepot(t, "--config", e.config, "plan"); !strings.Contains(out, "nothing to do") {
		t.Errorf("plan after the mirror:\n%s", out)
	}
	_, _, errs := depot(t, "--config", e.config, "mirror", "cloud")
	if !strings.Contains(errs, "sent=0") {
		t.Errorf("second mirror sent something:\n%s", errs)
	}
	if out := mustDepot(t, "--config", e.config, "list", "--mirror", "cloud"); strings.Count(out, "holding  web") != len(want) {
		t.Errorf("list --mirror:\n%s", out)
	}
	if out := mustDepot(t, "--config", e.config, "check"); !strings.Contains(out, fmt.Sprintf(": %d snapshots", len(want))) {
		t.Errorf("check:\n%s", out)
	}
	if out := mustDepot(t, "--config", e.config, "verify", "--mirror", "cloud", "--sample", "50%"); !strings.Contains(out, "no errors") || !strings.Contains(out, "0 missing") {
		t.Errorf("verify --mirror --sample 50%%:\n%s", out)
	}
	mustDepot(t, "--config", e.config, "verify", "--mirror", "cloud")
	for _, args := range [][]string{{"verify", "--mirror", "cloud", "--sample", "5%", "--seed", "3"}, {"verify", "--mirror", "cloud", "--sample", "2"}, {"verify", "--mirror", "cloud", "--sample", "0%"}} {
		if code, _, errs := depot(t, append([]string{"--config", e.config}, args...)...); code != 2 {
			t.Errorf("depot %s: exit %d, want 2\n%s", strings.Join(args, " "), code, errs)
		}
	}

	// The repository is lost: restore from the mirror alone.
	latest := e.sourceTree(t)
	if err := os.RemoveAll(e.repo); err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(e.dir, "restored")
	mustDepot(t, "--config", e.config, "restore", "web", "--from-mirror", "cloud", "--item", "site", "--to", to)
	sameTree(t, readTree(t, filepath.Join(to, e.src), nil), latest)
	all := filepath.Join(e.dir, "restored-all")
	mustDepot(t, "--config", e.config, "restore", "web@"+want[0].Stamp, "--from-mirror", "cloud", "--to", all)
	got, err := os.ReadFile(filepath.Join(all, "site", e.src, "d0", "sub0", "file-000.dat"))
	if err != nil || string(got) != "version 0\n" {
		t.Errorf("the first snapshot restored %q (%v)", got, err)
	}
	entries, _ := os.ReadDir(e.dir)
	for _, en := range entries {
		if strings.HasPrefix(en.Name(), ".depot-restore-") {
			t.Errorf("scratch directory left behind: %s", en.Name())
		}
	}
}

func TestResticMirrorS3Database(t *testing.T) {
	objtest.Restic(t)
	db := mariadb(t)
	endpoint := objtest.S3(t)
	name := newMySQLDatabase(t, db)
	e := newItemEnv(t, mysqlItem("["+name+"]"))
	envFile := filepath.Join(e.dir, "s3.env")
	if err := os.WriteFile(envFile, []byte("# the bucket's keys\nAWS_ACCESS_KEY_ID=depot-test-key\nAWS_SECRET_ACCESS_KEY=\"depot-test-secret-9f\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	url := "s3:" + endpoint + "/" + strings.ReplaceAll(uniqueName("depot-"), "_", "-")
	withResticMirror(t, e.config, e.dir, url, "env_file: "+envFile)
	e.run(t)
	state := mysqlState(t, db, name)
	mustDepot(t, "--config", e.config, "init", "--mirror", "cloud")
	_, _, errs := depot(t, "--config", e.config, "--log-format", "json", "mirror", "cloud")
	if strings.Contains(errs, "depot-test-secret-9f") {
		t.Errorf("the secret key is in the log:\n%s", errs)
	}
	if err := os.RemoveAll(e.repo); err != nil {
		t.Fatal(err)
	}
	to := name + "_m"
	t.Cleanup(func() { db.Exec("DROP DATABASE IF EXISTS " + to) })
	mustDepot(t, "--config", e.config, "restore", "web", "--from-mirror", "cloud", "--item", "db", "--to-database", to)
	if got := mysqlState(t, db, to); !reflect.DeepEqual(got, state) {
		t.Errorf("restore from the S3 mirror differs:\ngot  %v\nwant %v", got, state)
	}
}

// mirrorFails runs depot mirror and checks the failure: exit 1, one line
// naming the mirror and the cause, nothing recorded as sent.
func mirrorFails(t testing.TB, e *testEnv, cause string) {
	t.Helper()
	code, _, errs := depot(t, "--config", e.config, "mirror", "cloud")
	if code != 1 {
		t.Fatalf("mirror: exit %d, want 1\n%s", code, errs)
	}
	var line string
	sc := bufio.NewScanner(strings.NewReader(errs))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "mirror failed") {
			line = sc.Text()
		}
	}
	t.Logf("the error: %s", line)
	if !strings.Contains(line, "mirror cloud") || !strings.Contains(line, cause) {
		t.Errorf("want one line naming mirror cloud and %q:\n%s", cause, errs)
	}
	if _, err := os.Stat(filepath.Join(e.repo, ".depot", "restic-cloud.jsonl")); err == nil {
		t.Errorf("a failed mirror recorded a snapshot as sent")
	}
}

func TestResticMirrorBadInput(t *testing.T) {
	objtest.Restic(t)
	url, _ := objtest.RestServer(t)
	endpoint := objtest.S3(t)

	t.Run("wrong password", func(t *testing.T) {
		e := newEnv(t, 5)
		pw := withResticMirror(t, e.config, e.dir, url+"pw")
		mustDepot(t, "--config", e.config, "init", "--mirror", "cloud")
		mustDepot(t, "--config", e.config, "run")
		if err := os.WriteFile(pw, []byte("not the password\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		mirrorFails(t, e, "wrong password")
		code, _, errs := depot(t, "--config", e.config, "restore", "web", "--from-mirror", "cloud", "--to", filepath.Join(e.dir, "out"))
		if code != 1 || !strings.Contains(errs, "wrong password") {
			t.Errorf("restore with a wrong password: exit %d\n%s", code, errs)
		}
	})
	t.Run("missing bucket", func(t *testing.T) {
		e := newEnv(t, 5)
		envFile := filepath.Join(e.dir, "s3.env")
		if err := os.WriteFile(envFile, []byte("AWS_ACCESS_KEY_ID=k\nAWS_SECRET_ACCESS_KEY=s\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		withResticMirror(t, e.config, e.dir, "s3:"+endpoint+"/never-made-"+strings.ReplaceAll(uniqueName("b"), "_", "-"), "env_file: "+envFile)
		mustDepot(t, "--config", e.config, "run")
		mirrorFails(t, e, "bucket does not exist")
	})
	t.Run("unreachable endpoint", func(t *testing.T) {
		e := newEnv(t, 5)
		withResticMirror(t, e.config, e.dir, "rest:http://127.0.0.1:1/depot")
		mustDepot(t, "--config", e.config, "run")
		mirrorFails(t, e, "connection refused")
		code, out, _ := depot(t, "--config", e.config, "check")
		if code != 1 || !strings.Contains(out, "FAIL  mirror cloud") {
			t.Errorf("check of an unreachable mirror: exit %d\n%s", code, out)
		}
	})
	t.Run("hostile snapshot", func(t *testing.T) {
		// A restic repository is outside input: a manifest whose item
		// name climbs out of the scratch directory is refused.
		e := newEnv(t, 5)
		pw := withResticMirror(t, e.config, e.dir, url+"hostile")
		mustDepot(t, "--config", e.config, "init", "--mirror", "cloud")
		snap := filepath.Join(e.dir, "forged")
		if err := os.MkdirAll(snap, 0o700); err != nil {
			t.Fatal(err)
		}
		manifest := `{"format": 1, "set": "web", "stamp": "2026-01-01T000000Z", "items": [{"name": "../../escape", "type": "filesystem", "status": "ok"}]}`
		if err := os.WriteFile(filepath.Join(snap, "manifest.json"), []byte(manifest), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("restic", "backup", "--tag", "depot", "--tag", "set=web", "--tag", "stamp=2026-01-01T000000Z", ".")
		cmd.Dir = snap
		cmd.Env = append(os.Environ(), "RESTIC_REPOSITORY="+url+"hostile", "RESTIC_PASSWORD_FILE="+pw)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("restic backup: %v\n%s", err, out)
		}
		code, _, errs := depot(t, "--config", e.config, "restore", "web", "--from-mirror", "cloud", "--to", filepath.Join(e.dir, "a", "b", "out"))
		if code != 1 || !strings.Contains(errs, "not a name depot writes") {
			t.Errorf("restore of a forged snapshot: exit %d\n%s", code, errs)
		}
		if _, err := os.Stat(filepath.Join(e.dir, "escape")); err == nil {
			t.Error("the forged item landed outside the target")
		}
	})
	t.Run("config", func(t *testing.T) {
		for _, c := range []struct{ name, mirror, want string }{
			{"no repository", "{name: cloud, type: restic, password_env: P}", `missing key "repository"`},
			{"no password", "{name: cloud, type: restic, repository: /x}", "needs password_file or password_env"},
			{"a target", "{name: cloud, type: restic, repository: /x, password_env: P, target: /y}", "has no target"},
			{"restic key on rsync", "{name: cloud, target: /y, password_env: P}", "belongs to a mirror of type restic"},
			{"unknown type", "{name: cloud, type: s3, target: /y}", `unknown mirror type "s3"`},
		} {
			t.Run(c.name, func(t *testing.T) {
				e := newEnv(t, 5)
				cfg, _ := os.ReadFile(e.config)
				if err := os.WriteFile(e.config, append(cfg, "mirrors:\n  - "+c.mirror+"\n"...), 0o644); err != nil {
					t.Fatal(err)
				}
				code, _, errs := depot(t, "--config", e.config, "validate")
				if code != 2 || !strings.Contains(errs, c.want) {
					t.Errorf("exit %d, want 2 and %q:\n%s", code, c.want, errs)
				}
			})
		}
	})
}

// TestResticMirrorCutResumes cuts a mirror in the middle of restic's upload:
// nothing is recorded as sent, restic holds no snapshot of it, and the next
// run sends it whole.
func TestResticMirrorCutResumes(t *testing.T) {
	objtest.Restic(t)
	url, data := objtest.RestServer(t)
	url += "cut"
	e := newSizedEnv(t, 5, 64, 1<<20) // 64 MiB: restic uploads it in several packs
	makeRandom(t, e.src, 64)
	withResticMirror(t, e.config, e.dir, url)
	mustDepot(t, "--config", e.config, "init", "--mirror", "cloud")
	mustDepot(t, "--config", e.config, "run")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		// Cut as soon as restic has uploaded its first pack.
		for ctx.Err() == nil {
			if packs, _ := filepath.Glob(filepath.Join(data, "cut", "data", "*", "*")); len(packs) > 0 {
				cancel()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var out, errb strings.Builder
	code := run(ctx, []string{"--config", e.config, "mirror", "cloud"}, &out, &errb)
	if code == 0 {
		t.Fatalf("the cut mirror succeeded:\n%s", errb.String())
	}
	if _, err := os.Stat(filepath.Join(e.repo, ".depot", "restic-cloud.jsonl")); err == nil {
		t.Error("a cut mirror recorded a snapshot as sent")
	}
	if n := len(resticSnapshotsOf(t, e.config)); n != 0 {
		t.Errorf("restic holds %d snapshots after the cut", n)
	}
	mustDepot(t, "--config", e.config, "mirror", "cloud")
	if n := len(resticSnapshotsOf(t, e.config)); n != 1 {
		t.Errorf("restic holds %d snapshots after the resumed mirror, want 1", n)
	}
}

// resticSnapshotsOf lists the mirror's snapshots through depot.
func resticSnapshotsOf(t testing.TB, config string) []map[string]any {
	t.Helper()
	return decodeJSON[[]map[string]any](t, mustDepot(t, "--config", config, "list", "--mirror", "cloud", "--json"))
}

// makeRandom overwrites the n largest files' content with random bytes, so
// restic cannot compress or deduplicate them away.
func makeRandom(t testing.TB, root string, n int) {
	t.Helper()
	buf := make([]byte, 1<<20)
	i := 0
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".dat") || i >= n {
			return err
		}
		i++
		if _, err := rand.Read(buf); err != nil {
			t.Fatal(err)
		}
		return os.WriteFile(p, buf, 0o644)
	})
}

// mirrorStamps returns the stamps on the restic mirror, oldest first.
func mirrorStamps(t testing.TB, config string) []string {
	t.Helper()
	var out []string
	for _, s := range resticSnapshotsOf(t, config) {
		out = append(out, s["stamp"].(string))
	}
	return out
}

func stampsOf(e *testEnv, t testing.TB) []string {
	var out []string
	for _, s := range e.snapshots(t) {
		out = append(out, s.Stamp)
	}
	return out
}

func TestResticMirrorRetention(t *testing.T) {
	objtest.Restic(t)
	url, _ := objtest.RestServer(t)

	t.Run("follows the repository", func(t *testing.T) {
		e := newEnv(t, 2)
		withResticMirror(t, e.config, e.dir, url+"follow")
		for i := range 4 {
			touchSource(t, e, i)
			mustDepot(t, "--config", e.config, "run")
			// --init makes the restic repository once, then finds it there.
			mustDepot(t, "--config", e.config, "mirror", "--init", "cloud")
		}
		if got, want := mirrorStamps(t, e.config), stampsOf(e, t); !reflect.DeepEqual(got, want) {
			t.Errorf("mirror holds %v, the repository %v", got, want)
		}

		// A snapshot that migrates to permanent is retagged, not sent again.
		cfg, _ := os.ReadFile(e.config)
		cfg = []byte(strings.Replace(string(cfg), "  holding: { max_recent_backups: 2 }\n",
			"  holding: { max_recent_backups: 2 }\n  permanent: { timezone: UTC, rules: [{name: daily, keep: 0}] }\n", 1))
		if err := os.WriteFile(e.config, cfg, 0o644); err != nil {
			t.Fatal(err)
		}
		mustDepot(t, "--config", e.config, "migrate")
		mustDepot(t, "--config", e.config, "mirror", "cloud")
		sections := map[string]string{}
		for _, s := range resticSnapshotsOf(t, e.config) {
			sections[s["stamp"].(string)] = s["section"].(string)
		}
		migrated := 0
		for _, s := range e.snapshots(t) {
			if s.Section == "permanent" {
				migrated++
			}
			if sections[s.Stamp] != s.Section {
				t.Errorf("%s is in %s, tagged %q on the mirror", s.Stamp, s.Section, sections[s.Stamp])
			}
		}
		if migrated == 0 || len(sections) != len(e.snapshots(t)) {
			t.Errorf("mirror holds %v", sections)
		}
	})

	t.Run("own rules and the guard", func(t *testing.T) {
		e := newEnv(t, 10)
		config := e.config
		base, _ := os.ReadFile(config)
		withResticMirror(t, config, e.dir, url+"own")
		mustDepot(t, "--config", config, "init", "--mirror", "cloud")
		for i := range 6 {
			touchSource(t, e, i)
			mustDepot(t, "--config", config, "run")
		}
		mustDepot(t, "--config", config, "mirror", "cloud")
		all := stampsOf(e, t)
		if got := mirrorStamps(t, config); len(got) != 6 {
			t.Fatalf("mirror holds %v", got)
		}

		// Keep only the newest: 5 forgets at once, more than the guard's 3.
		own := func(retention string) {
			if err := os.WriteFile(config, base, 0o644); err != nil {
				t.Fatal(err)
			}
			withResticMirror(t, config, e.dir, url+"own", "retention: "+retention)
		}
		own("{max_recent_backups: 1}")
		if out := mustDepot(t, "--config", config, "plan"); !strings.Contains(out, "hold     web: retention would forget 5") {
			t.Errorf("plan does not show the held back forgets:\n%s", out)
		}
		_, _, errs := depot(t, "--config", config, "mirror", "cloud")
		if got := mirrorStamps(t, config); len(got) != 6 || !strings.Contains(errs, "held back") {
			t.Errorf("the guard let the mirror forget: %v\n%s", got, errs)
		}

		// The first snapshot of the day (rule daily) and the newest stay.
		own("{max_recent_backups: 1, rules: [{name: daily, keep: 0}]}")
		mustDepot(t, "--config", config, "mirror", "cloud", "--confirm")
		if got, want := mirrorStamps(t, config), []string{all[0], all[5]}; !reflect.DeepEqual(got, want) {
			t.Errorf("own retention left %v, want %v", got, want)
		}
		// What the mirror's own rules forgot is not sent again.
		if out := mustDepot(t, "--config", config, "plan"); !strings.Contains(out, "nothing to do") {
			t.Errorf("plan after own retention:\n%s", out)
		}
	})
}

// TestResticMirrorSVN restores a chain of svn dumps from the mirror alone
// into a new Subversion repository.
func TestResticMirrorSVN(t *testing.T) {
	objtest.Restic(t)
	r := newSVNRepo(t)
	for i := 1; i <= 3; i++ {
		r.commit(t, fmt.Sprintf("a at %d\n", i), "put", "/dev/stdin", "a.txt")
	}
	url, _ := objtest.RestServer(t)
	e := newItemEnv(t, svnItem(r.path))
	withResticMirror(t, e.config, e.dir, url+"svn")
	e.run(t)
	r.commit(t, "b\n", "mkdir", "dir", "put", "/dev/stdin", "dir/b.txt")
	e.run(t)
	want := svnState(t, r.path)
	mustDepot(t, "--config", e.config, "mirror", "--init", "cloud")
	if err := os.RemoveAll(e.repo); err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(e.dir, "restored")
	mustDepot(t, "--config", e.config, "restore", "web", "--from-mirror", "cloud", "--item", "db", "--to-svn", to)
	if got := svnState(t, to); !reflect.DeepEqual(got, want) {
		t.Errorf("svn restored from the mirror:\ngot  %v\nwant %v", got, want)
	}
}

// TestResticMirrorSecretsNotInArgv runs restic through a wrapper that logs
// its argv: the password, the backend's keys and the URL's password never
// appear there, and bwlimit does.
func TestResticMirrorSecretsNotInArgv(t *testing.T) {
	objtest.Restic(t)
	real, err := exec.LookPath("restic")
	if err != nil {
		t.Fatal(err)
	}
	url, _ := objtest.RestServer(t)
	url = strings.Replace(url, "http://", "http://depot:url-secret-1@", 1) + "argv"
	e := newEnv(t, 5)
	bin := filepath.Join(e.dir, "bin")
	argvLog := filepath.Join(e.dir, "argv.log")
	wrapper := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$*\" >>%s\nexec %s \"$@\"\n", argvLog, real)
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "restic"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	t.Setenv("DEPOT_TEST_RESTIC_PASSWORD", "pw-secret-2")
	envFile := filepath.Join(e.dir, "backend.env")
	if err := os.WriteFile(envFile, []byte("AWS_SECRET_ACCESS_KEY=key-secret-3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(e.config)
	cfg = append(cfg, fmt.Sprintf("mirrors:\n  - { name: cloud, type: restic, repository: %q, password_env: DEPOT_TEST_RESTIC_PASSWORD, env_file: %s, bwlimit: 10M }\n", url, envFile)...)
	if err := os.WriteFile(e.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	mustDepot(t, "--config", e.config, "run")
	_, _, errs := depot(t, "--config", e.config, "mirror", "--init", "cloud")
	out := mustDepot(t, "--config", e.config, "list", "--mirror", "cloud")
	argv, err := os.ReadFile(argvLog)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(argv), "backup") || !strings.Contains(string(argv), "--limit-upload 10240") {
		t.Errorf("restic's argv lacks the backup or the limit:\n%s", argv)
	}
	for _, secret := range []string{"url-secret-1", "pw-secret-2", "key-secret-3"} {
		if strings.Contains(string(argv), secret) || strings.Contains(errs, secret) || strings.Contains(out, secret) {
			t.Errorf("%s is in restic's argv or depot's output:\nargv:\n%s\nlog:\n%s", secret, argv, errs)
		}
	}
}
