package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/depot-backup/depot/director"
)

// TestDrill drills a set holding a tree, a MariaDB and a PostgreSQL database
// and an svn repository: each loads, is counted and queried, and nothing
// of the drill is left behind; then a failing drill_query and a damaged
// file list fail their items, and the history records it all.
func TestDrill(t *testing.T) {
	my := mariadb(t)
	myName := newMySQLDatabase(t, my)
	pgName := newPostgresDatabase(t)
	admin := postgres(t, "postgres")
	svn := newSVNRepo(t)
	svn.commit(t, "one\n", "put", "/dev/stdin", "a.txt")
	svn.commit(t, "two\n", "put", "/dev/stdin", "b.txt")

	e := newEnv(t, 10)
	tmp := t.TempDir() // the drills' scratch directories go here
	t.Setenv("TMPDIR", tmp)
	creds := "        user: " + testDBUser + "\n        password_env: " + testPasswordEnv + "\n"
	items := fmt.Sprintf(`      - name: my
        type: mysql
%s        databases: [%s]
        drill_query: "SELECT COUNT(*) FROM items"
      - name: pg
        type: postgresql
%s        databases: [%s]
        drill_query: "SELECT COUNT(*) FROM log"
      - { name: code, type: svn, repository: %s }
`, creds, myName, creds, pgName, svn.path)
	writeConfig := func(extra string) {
		cfg, err := os.ReadFile(e.config)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.Replace(string(cfg), "        exclude: [\"*.log\"]\n", "        exclude: [\"*.log\"]\n"+extra, 1)
		if err := os.WriteFile(e.config, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig(items)
	prom := filepath.Join(e.dir, "depot.prom")
	if f, err := os.OpenFile(e.config, os.O_APPEND|os.O_WRONLY, 0); err == nil {
		fmt.Fprintf(f, "metrics: { textfile: %s }\n", prom)
		f.Close()
	}
	t.Setenv(testPasswordEnv, testDBPassword)
	args := []string{"--config", e.config}
	mustDepot(t, append(args, "run")...)

	out := mustDepot(t, append(args, "drill")...)
	for _, want := range []string{
		"ok    web/site (filesystem) holding/web/",
		"files restored and compared",
		"ok    web/my (mysql) holding/web/",
		myName + ": 2 tables, about ",
		"drill_query 200",
		"ok    web/pg (postgresql) holding/web/",
		pgName + ": 2 tables, about 400 rows, drill_query 200",
		"ok    web/code (svn) holding/web/",
		"loaded and verified revisions 0-2",
		"4 items drilled: 4 ok, 0 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("drill output lacks %q:\n%s", want, out)
		}
	}
	noScratch := func() {
		t.Helper()
		var n int
		if err := my.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'depot\\_drill\\_%'").Scan(&n); err != nil || n != 0 {
			t.Errorf("%d scratch MariaDB databases left (%v)", n, err)
		}
		if err := admin.QueryRow("SELECT COUNT(*) FROM pg_database WHERE datname LIKE 'depot\\_drill\\_%'").Scan(&n); err != nil || n != 0 {
			t.Errorf("%d scratch PostgreSQL databases left (%v)", n, err)
		}
		if left, _ := filepath.Glob(filepath.Join(tmp, "depot-drill*")); len(left) > 0 {
			t.Errorf("scratch directories left: %v", left)
		}
	}
	noScratch()

	// A drill_query that fails fails its item, and only it.
	cfg, _ := os.ReadFile(e.config)
	os.WriteFile(e.config, []byte(strings.Replace(string(cfg), "SELECT COUNT(*) FROM items", "SELECT COUNT(*) FROM no_such_table", 1)), 0o644)
	code, out, errs := depot(t, append(args, "drill")...)
	if code != 1 || !strings.Contains(out, "FAIL  web/my (mysql)") || !strings.Contains(out, "no_such_table") ||
		!strings.Contains(out, "4 items drilled: 3 ok, 1 failed") || !strings.Contains(errs, "restore drill failed: 1 of 4 items") {
		t.Errorf("drill with a failing drill_query: exit %d\n%s%s", code, out, errs)
	}
	noScratch()

	// A damaged file list fails the tree's drill.
	s := e.snapshots(t)[0]
	list := filepath.Join(s.Path, readManifest(t, s).Items[0].FileList)
	data, _ := os.ReadFile(list)
	data[len(data)/2] ^= 0xff
	os.WriteFile(list, data, 0o600)
	code, out, _ = depot(t, append(args, "drill", "web")...)
	if code != 1 || !strings.Contains(out, "FAIL  web/site (filesystem)") || !strings.Contains(out, "does not match its hash") {
		t.Errorf("drill of a damaged list: exit %d\n%s", code, out)
	}

	recs := decodeJSON[[]director.DrillRecord](t, mustDepot(t, append(args, "drill", "--history", "--json", "--last", "0")...))
	if len(recs) != 12 || recs[0].Status != "ok" || recs[4].Item != "site" || recs[5].Status != "failed" || recs[8].Status != "failed" {
		t.Errorf("drill history: %+v", recs)
	}
	metrics, _ := os.ReadFile(prom)
	for _, want := range []string{`depot_drill_last_status{item="my",set="web"} 0`, `depot_drill_last_status{item="pg",set="web"} 1`, `depot_drill_tables{item="pg",set="web"} 2`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s:\n%s", want, metrics)
		}
	}
	// status shows each item's last drill.
	if out := mustDepot(t, append(args, "status")...); !strings.Contains(out, "last restore drills:") || !strings.Contains(out, "web/my  ") || !strings.Contains(out, "web/site  ") || !strings.Contains(out, "FAILED: ") {
		t.Errorf("status without the drills:\n%s", out)
	}
	sts := decodeJSON[[]director.SetStatus](t, mustDepot(t, append(args, "status", "--json")...))
	if len(sts) != 1 || len(sts[0].Drills) != 4 || sts[0].Drills[0].Item != "site" || sts[0].Drills[0].Status != "failed" || sts[0].Drills[1].Status != "failed" || sts[0].Drills[2].Status != "ok" {
		t.Errorf("status --json drills: %+v", sts)
	}
	if code, _, errs := depot(t, append(args, "drill", "nope")...); code != 2 || !strings.Contains(errs, `no set "nope"`) {
		t.Errorf("drill of an unknown set: exit %d, %s", code, errs)
	}
}
