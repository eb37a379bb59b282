package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// More of what a DBA expects of MariaDB dumps: history, a database dropped
// during the run, users and grants where the dump tool cannot dump them.

// TestMySQLDumpHistory: dump_history keeps the history of system-versioned
// tables.
func TestMySQLDumpHistory(t *testing.T) {
	db := mariadb(t)
	name := uniqueName("depot_t_")
	mustExec(t, db, "CREATE DATABASE "+name)
	t.Cleanup(func() { db.Exec("DROP DATABASE IF EXISTS " + name) })
	inDatabase(t, db, name,
		"CREATE TABLE prices (id INT PRIMARY KEY, price INT) WITH SYSTEM VERSIONING",
		"INSERT INTO prices VALUES (1, 10), (2, 20)",
		"UPDATE prices SET price = price + 1",
		"UPDATE prices SET price = price + 1",
	)
	history := func(dbname string) int {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM " + dbname + ".prices FOR SYSTEM_TIME ALL").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tt := range []struct {
		name string
		keys []string
		want int
	}{{"without", nil, 2}, {"with", []string{"dump_history: true"}, 6}} {
		t.Run(tt.name, func(t *testing.T) {
			e := newItemEnv(t, mysqlItem("["+name+"]", append([]string{"globals: false"}, tt.keys...)...))
			e.run(t)
			to := name + "_" + tt.name
			t.Cleanup(func() { db.Exec("DROP DATABASE IF EXISTS " + to) })
			mustDepot(t, "--config", e.config, "restore", "web", "--item", "db", "--to-database", to)
			if got := history(to); got != tt.want {
				t.Errorf("%d rows of history, want %d (source: %d)", got, tt.want, history(name))
			}
		})
	}
}

// TestMySQLVanishedDatabase: in the mode that dumps every database, one
// dropped after the listing is a warning; the others are published.
func TestMySQLVanishedDatabase(t *testing.T) {
	db := mariadb(t)
	a, b := newMySQLDatabase(t, db), newMySQLDatabase(t, db)
	if a > b {
		a, b = b, a
	}
	user := mysqlUser(t, db, "GRANT ALL ON "+a+".* TO %s", "GRANT ALL ON "+b+".* TO %s", "GRANT SELECT ON mysql.proc TO %s")
	e := newItemEnv(t, strings.Replace(mysqlItem("[]", "globals: false"), "user: "+testDBUser, "user: "+user, 1))
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "LOCK TABLES "+a+".items WRITE"); err != nil {
		t.Fatal(err)
	}
	wait, _ := runInBackground("--config", e.config, "run")
	// The run waits for the lock on a's table, then b is dropped.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var n int
		db.QueryRow("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ? AND STATE LIKE 'Waiting for table%'", user).Scan(&n)
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the run never waited for the lock")
		}
	}
	mustExec(t, db, "DROP DATABASE "+b)
	if _, err := conn.ExecContext(context.Background(), "UNLOCK TABLES"); err != nil {
		t.Fatal(err)
	}
	code, errs := wait()
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	s := e.snapshots(t)[0]
	if _, err := os.Stat(filepath.Join(s.Path, "db", a+".sql.zst")); err != nil {
		t.Error(err)
	}
	w := readManifest(t, s).Items[0].Warnings
	if len(w) != 1 || w[0] != "database "+b+" was dropped during the run: not backed up" {
		t.Errorf("warnings %q", w)
	}
}

// TestMySQLGlobalsFromGrants: where the dump tool is mysqldump (no
// --system=users), the users and grants come from SHOW CREATE USER and SHOW
// GRANTS, and load onto another server, where the user logs in.
func TestMySQLGlobalsFromGrants(t *testing.T) {
	db := mariadb(t)
	name := newMySQLDatabase(t, db)
	app := mysqlUser(t, db, "GRANT SELECT ON "+name+".* TO %s")
	e := newItemEnv(t, mysqlItem("["+name+"]", "restore_user: "+scratchAdmin, "restore_password_env: "+scratchAdminEnv))
	bin := pathOnlySh(t)
	if err := os.Symlink("/usr/bin/mysqldump", filepath.Join(bin, "mysqldump")); err != nil {
		t.Fatal(err)
	}
	path := os.Getenv("PATH")
	t.Setenv("PATH", bin)
	s, _ := e.run(t)
	t.Setenv("PATH", path)
	globals := zstdcat(t, filepath.Join(s.Path, "db", "globals.sql.zst"))
	if strings.Contains(globals, "mariadb_dump_import_role") {
		t.Fatal("the globals come from mariadb-dump --system=users, not from SHOW GRANTS")
	}
	for _, want := range []string{"CREATE USER IF NOT EXISTS `" + app + "`@`127.0.0.1` IDENTIFIED BY PASSWORD '*", "GRANT SELECT ON `" + name + "`.* TO `" + app + "`@`127.0.0.1`;"} {
		if !strings.Contains(globals, want) {
			t.Errorf("globals lack %q:\n%s", want, globals)
		}
	}
	port, _ := scratchMariaDB(t)
	t.Setenv(scratchAdminEnv, scratchAdminPassword)
	mustDepot(t, "--config", e.config, "restore", "web", "--item", "db", "--to-server", "--restore-port", strconv.Itoa(port))
	var n int
	if err := mysqlConnAs(t, app, testDBPassword, port, name).QueryRow("SELECT COUNT(*) FROM items").Scan(&n); err != nil || n != 200 {
		t.Errorf("%s on the new server: %d rows, %v", app, n, err)
	}
}

// zstdcat returns the decompressed content of a file.
func zstdcat(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec, err := zstd.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	data, err := io.ReadAll(dec)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestMySQLGrantsThroughRole: privileges that the backup user holds through
// its default role count, which information_schema does not show.
func TestMySQLGrantsThroughRole(t *testing.T) {
	db := mariadb(t)
	name := newMySQLDatabase(t, db)
	role := uniqueName("depot_r_")
	mustExec(t, db, "CREATE ROLE "+role, "GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON "+name+".* TO "+role, "GRANT SELECT ON mysql.proc TO "+role)
	t.Cleanup(func() { db.Exec("DROP ROLE IF EXISTS " + role) })
	user := mysqlUser(t, db, "GRANT "+role+" TO %s", "SET DEFAULT ROLE "+role+" FOR %s")
	e := newItemEnv(t, strings.Replace(mysqlItem("["+name+"]", "globals: false"), "user: "+testDBUser, "user: "+user, 1))
	e.run(t)
	locking := e.otherConfig(t, strings.Replace(mysqlItem("["+name+"]", "globals: false", "consistency: lock"), "user: "+testDBUser, "user: "+user, 1))
	if code, _, errs := depot(t, "--config", locking, "run"); code != 1 || !strings.Contains(errs, "lacks LOCK TABLES on database "+name) {
		t.Errorf("consistency: lock without LOCK TABLES: exit %d\n%s", code, errs)
	}
	mustExec(t, db, "REVOKE TRIGGER ON "+name+".* FROM "+role)
	code, _, errs := depot(t, "--config", e.config, "run")
	if code != 1 || !strings.Contains(errs, "lacks TRIGGER on database "+name) {
		t.Errorf("without TRIGGER in the role: exit %d\n%s", code, errs)
	}
}
