package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// What a DBA restoring MariaDB expects: users and definers come back, a
// restore under another name never touches the source, properties survive,
// and no dump is silently partial.

// mysqlCreateDatabase returns SHOW CREATE DATABASE of name.
func mysqlCreateDatabase(t testing.TB, db *sql.DB, name string) string {
	t.Helper()
	var n, stmt string
	if err := db.QueryRow("SHOW CREATE DATABASE "+name).Scan(&n, &stmt); err != nil {
		t.Fatal(err)
	}
	return stmt
}

// mysqlUser creates user@127.0.0.1 and @localhost with the test password
// and the given grants (with %s for the account), dropped when the test ends.
func mysqlUser(t testing.TB, db *sql.DB, grants ...string) string {
	t.Helper()
	user := uniqueName("depot_u_")
	for _, host := range []string{"127.0.0.1", "localhost"} {
		u := fmt.Sprintf("'%s'@'%s'", user, host)
		mustExec(t, db, "CREATE USER "+u+" IDENTIFIED BY '"+testDBPassword+"'")
		t.Cleanup(func() { db.Exec("DROP USER IF EXISTS " + u) })
		for _, g := range grants {
			mustExec(t, db, fmt.Sprintf(g, u))
		}
	}
	return user
}

func mysqlConnAs(t testing.TB, user, password string, port int, dbname string) *sql.DB {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = user, password, "tcp", "127.0.0.1:"+strconv.Itoa(port), dbname
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { db.Close() })
	return db
}

// otherConfig writes a config for e's repository with another item "db".
func (e *dbEnv) otherConfig(t testing.TB, item string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "depot.yaml")
	cfg := fmt.Sprintf("version: 1\nrepository:\n  path: %s\nsets:\n  - name: web\n    items:\n%s\n", e.repo, item)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// inDatabase runs statements on one connection that uses database name.
func inDatabase(t testing.TB, db *sql.DB, name string, stmts ...string) {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, s := range append([]string{"USE " + name}, stmts...) {
		if _, err := conn.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// TestMySQLRestoreUnderNewName restores under another name on the server
// that holds the source: the dump's ALTER DATABASE lines (a routine made
// under another character set) go to the new database, the source stays
// byte for byte as it was even when the load fails halfway, and a dump that
// names its own database in a view is refused before anything is made.
func TestMySQLRestoreUnderNewName(t *testing.T) {
	db := mariadb(t)
	src := uniqueName("depot_t_")
	mustExec(t, db, "CREATE DATABASE "+src+" CHARACTER SET latin1 COLLATE latin1_german1_ci")
	t.Cleanup(func() { db.Exec("DROP DATABASE IF EXISTS " + src) })
	inDatabase(t, db, src,
		"CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20))",
		"INSERT INTO items VALUES (1, 'straße'), (2, 'x')",
		"CREATE PROCEDURE count_items() SELECT COUNT(*) FROM items",
		"ALTER DATABASE "+src+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
	)
	e := newItemEnv(t, mysqlItem("["+src+"]", "globals: false"))
	e.run(t)
	before, sum := mysqlCreateDatabase(t, db, src), mysqlState(t, db, src)

	// A restore user that may create only the new databases cannot load a
	// routine whose definer is another user: the load fails halfway, after
	// the dump's ALTER DATABASE.
	failed := src + "_f"
	ru := mysqlUser(t, db, "GRANT ALL ON `"+strings.ReplaceAll(src, "_", `\_`)+`\_%%`+"`.* TO %s")
	restoreConfig := e.otherConfig(t, mysqlItem("["+src+"]", "globals: false", "restore_user: "+ru))
	code, _, errs := depot(t, "--config", restoreConfig, "restore", "web", "--item", "db", "--to-database", failed)
	if code != 1 || !strings.Contains(errs, "load "+src+".sql.zst into database "+failed) {
		t.Fatalf("a load that must fail: exit %d\n%s", code, errs)
	}
	var n int
	db.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", failed).Scan(&n)
	if n != 0 {
		t.Errorf("the failed load left database %s behind", failed)
	}
	if got := mysqlCreateDatabase(t, db, src); got != before {
		t.Errorf("a failed load under another name changed the source:\n%s\nwant\n%s", got, before)
	}

	to := src + "_new"
	t.Cleanup(func() { db.Exec("DROP DATABASE IF EXISTS " + to) })
	mustDepot(t, "--config", e.config, "restore", "web", "--item", "db", "--to-database", to)
	if got := mysqlCreateDatabase(t, db, src); got != before {
		t.Errorf("the restore changed the source:\n%s\nwant\n%s", got, before)
	}
	if got := mysqlState(t, db, src); fmt.Sprint(got) != fmt.Sprint(sum) {
		t.Errorf("the restore changed the source's data: %v, want %v", got, sum)
	}
	if got, want := mysqlCreateDatabase(t, db, to), strings.Replace(before, src, to, 1); got != want {
		t.Errorf("the new database is\n%s\nwant\n%s", got, want)
	}
	var coll string
	if err := db.QueryRow("SELECT DATABASE_COLLATION FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?", to).Scan(&coll); err != nil || coll != "latin1_german1_ci" {
		t.Errorf("the routine's database collation is %q (%v), want latin1_german1_ci", coll, err)
	}
	if got, want := mysqlState(t, db, to), mysqlState(t, db, src); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("restored %v, want %v", got, want)
	}

	// A view whose definer is gone is dumped with the source's name in it.
	gone := mysqlUser(t, db)
	mustExec(t, db, "CREATE DEFINER='"+gone+"'@'localhost' VIEW "+src+".v AS SELECT id FROM "+src+".items")
	mustExec(t, db, "DROP USER '"+gone+"'@'localhost'")
	e.run(t)
	refused := src + "_v"
	code, _, errs = depot(t, "--config", e.config, "restore", "web", "--item", "db", "--to-database", refused)
	if code != 1 || !strings.Contains(errs, "names it in its statements") {
		t.Fatalf("a dump that names its database: exit %d\n%s", code, errs)
	}
	db.QueryRow("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", refused).Scan(&n)
	if n != 0 {
		t.Errorf("the refused restore made database %s", refused)
	}

	// The first snapshot loads under a new name on a server that does not
	// have the source at all.
	port, scratch := scratchMariaDB(t)
	t.Setenv(scratchAdminEnv, scratchAdminPassword)
	first := e.snapshots(t)[0].Stamp
	admin := e.otherConfig(t, mysqlItem("["+src+"]", "globals: false", "restore_user: "+scratchAdmin, "restore_password_env: "+scratchAdminEnv))
	mustDepot(t, "--config", admin, "restore", "web@"+first, "--item", "db", "--to-database", to, "--restore-port", strconv.Itoa(port))
	if got, want := mysqlCreateDatabase(t, scratch, to), strings.Replace(before, src, to, 1); got != want {
		t.Errorf("on a server without the source:\n%s\nwant\n%s", got, want)
	}
}

// TestMySQLWholeServer backs up a database with its users, a role and
// objects whose definer is one of them, and restores the whole server onto
// an empty second one: the users log in with their passwords, the definers
// resolve, the collation is the source's.
func TestMySQLWholeServer(t *testing.T) {
	db := mariadb(t)
	src := uniqueName("depot_t_")
	mustExec(t, db, "CREATE DATABASE "+src+" CHARACTER SET latin1 COLLATE latin1_swedish_ci")
	t.Cleanup(func() { db.Exec("DROP DATABASE IF EXISTS " + src) })
	role := uniqueName("depot_r_")
	mustExec(t, db, "CREATE ROLE "+role, "GRANT SELECT ON "+src+".* TO "+role)
	t.Cleanup(func() { db.Exec("DROP ROLE IF EXISTS " + role) })
	app := mysqlUser(t, db, "GRANT ALL ON "+src+".* TO %s", "GRANT "+role+" TO %s")
	mustExec(t, db, "SET DEFAULT ROLE "+role+" FOR '"+app+"'@'127.0.0.1'")
	inDatabase(t, db, src,
		"CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20))",
		"INSERT INTO items VALUES (1, 'a'), (2, 'b')",
		"CREATE DEFINER='"+app+"'@'127.0.0.1' SQL SECURITY DEFINER VIEW v AS SELECT COUNT(*) AS n FROM items",
		"CREATE DEFINER='"+app+"'@'127.0.0.1' PROCEDURE p() SQL SECURITY DEFINER SELECT COUNT(*) FROM items",
	)
	e := newItemEnv(t, mysqlItem("["+src+"]", "restore_user: "+scratchAdmin, "restore_password_env: "+scratchAdminEnv))
	s, _ := e.run(t)
	if _, err := os.Stat(filepath.Join(s.Path, "db", "globals.sql.zst")); err != nil {
		t.Fatal(err)
	}

	port, scratch := scratchMariaDB(t)
	t.Setenv(scratchAdminEnv, scratchAdminPassword)
	mustDepot(t, "--config", e.config, "restore", "web", "--item", "db", "--to-server", "--restore-host", "127.0.0.1", "--restore-port", strconv.Itoa(port))

	if got := mysqlCreateDatabase(t, scratch, src); !strings.Contains(got, "latin1_swedish_ci") && !strings.Contains(got, "CHARACTER SET latin1 */") {
		t.Errorf("restored database: %s", got)
	}
	as := mysqlConnAs(t, app, testDBPassword, port, src)
	var n int
	if err := as.QueryRow("SELECT n FROM v").Scan(&n); err != nil || n != 2 {
		t.Errorf("the view as its definer on the new server: %d, %v", n, err)
	}
	if _, err := as.Exec("CALL p()"); err != nil {
		t.Errorf("the procedure on the new server: %v", err)
	}
	var grants string
	if err := scratch.QueryRow("SELECT GROUP_CONCAT(ROLE) FROM information_schema.APPLICABLE_ROLES WHERE GRANTEE = ?", "'"+app+"'@'127.0.0.1'").Scan(&grants); err == nil {
		t.Logf("roles: %s", grants)
	}
	var def sql.NullString
	scratch.QueryRow("SELECT DEFAULT_ROLE FROM mysql.user WHERE User = ? AND Host = '127.0.0.1'", app).Scan(&def)
	if def.String != role {
		t.Errorf("default role of %s on the new server: %q, want %q", app, def.String, role)
	}

	code, _, errs := depot(t, "--config", e.config, "restore", "web", "--item", "db", "--to-server", "--restore-port", strconv.Itoa(port))
	if code != 1 || !strings.Contains(errs, "already holds "+src) {
		t.Errorf("a second whole-server restore: exit %d\n%s", code, errs)
	}
	if code, _, errs := depot(t, "--config", e.config, "restore", "web", "--item", "db", "--to-server", "--to-database", "x"); code != 2 || !strings.Contains(errs, "exactly one of") {
		t.Errorf("--to-server with --to-database: exit %d\n%s", code, errs)
	}
}

// TestMySQLPartialViewRefused: a user with table-level grants sees part of
// a database; the run fails instead of publishing a partial dump, and check
// prints the grants the item needs, which make the run pass.
func TestMySQLPartialViewRefused(t *testing.T) {
	db := mariadb(t)
	name := newMySQLDatabase(t, db)
	user := mysqlUser(t, db, "GRANT SELECT ON "+name+".items TO %s")
	item := strings.Replace(mysqlItem("["+name+"]", "globals: false"), "user: "+testDBUser, "user: "+user, 1)
	e := newItemEnv(t, item)
	code, _, errs := depot(t, "--config", e.config, "run")
	e.checkFailed(t, code, errs, "user "+user+" lacks SELECT, SHOW VIEW, TRIGGER, EVENT on database "+name)

	code, out, _ := depot(t, "--config", e.config, "check")
	want := "GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON `" + strings.ReplaceAll(name, "_", `\_`) + "`.* TO '" + user + "'@'127.0.0.1'"
	if code != 1 || !strings.Contains(out, "FAIL  item web/db: grants of "+user) || !strings.Contains(out, want) {
		t.Fatalf("check: exit %d, want 1 and %q\n%s", code, want, out)
	}
	// With a privileged restore user, check compares what the two see.
	withAdmin := e.otherConfig(t, strings.Replace(mysqlItem("["+name+"]", "globals: false", "restore_user: "+testDBUser), "user: "+testDBUser, "user: "+user, 1))
	_, out, _ = depot(t, "--config", withAdmin, "check")
	if !strings.Contains(out, "FAIL  item web/db: what "+user+" sees: database "+name+": "+user+" sees 1 tables and views, 0 triggers, 0 routines, 0 events, "+testDBUser+" sees 2 tables and views, 1 triggers, 1 routines, 0 events") {
		t.Errorf("check with a restore user:\n%s", out)
	}
	for _, g := range []string{want, "GRANT SELECT ON mysql.proc TO '" + user + "'@'127.0.0.1'"} {
		mustExec(t, db, g)
	}
	if out := mustDepot(t, "--config", e.config, "check"); !strings.Contains(out, "ok    item web/db: grants of "+user) {
		t.Errorf("check after the grants:\n%s", out)
	}
	if out := mustDepot(t, "--config", withAdmin, "check"); !strings.Contains(out, "ok    item web/db: what "+user+" sees: every object of 1 databases") {
		t.Errorf("check with a restore user after the grants:\n%s", out)
	}
	e.run(t)
}

// TestMySQLNonTransactional: MyISAM tables are not consistent under
// --single-transaction. Without consistency: lock the run warns; with it,
// rows written in pairs to an InnoDB and a MyISAM table during the dump
// come back in pairs.
func TestMySQLNonTransactional(t *testing.T) {
	db := mariadb(t)
	name := uniqueName("depot_t_")
	mustExec(t, db, "CREATE DATABASE "+name)
	t.Cleanup(func() { db.Exec("DROP DATABASE IF EXISTS " + name) })
	inDatabase(t, db, name,
		"CREATE TABLE a_inno (id INT AUTO_INCREMENT PRIMARY KEY, pad CHAR(200)) ENGINE=InnoDB",
		"CREATE TABLE b_myisam (id INT PRIMARY KEY, pad CHAR(200)) ENGINE=MyISAM",
		"INSERT INTO a_inno (pad) VALUES ('x')",
	)
	for range 16 { // 65536 rows in each, so that the dump takes a while
		inDatabase(t, db, name, "INSERT INTO a_inno (pad) SELECT pad FROM a_inno")
	}
	inDatabase(t, db, name, "INSERT INTO b_myisam SELECT id, pad FROM a_inno")

	e := newItemEnv(t, mysqlItem("["+name+"]", "globals: false"))
	s, log := e.run(t)
	w := readManifest(t, s).Items[0].Warnings
	if len(w) != 1 || !strings.Contains(w[0], "non-transactional tables (b_myisam (MyISAM))") || !strings.Contains(log, "non-transactional") {
		t.Errorf("warnings %q\n%s", w, log)
	}

	locked := newItemEnv(t, mysqlItem("["+name+"]", "globals: false", "consistency: lock"))
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	writes := make(chan int)
	go func() {
		conn, err := db.Conn(context.Background())
		if err != nil {
			writes <- 0
			return
		}
		defer conn.Close()
		n := 0
		for ctx.Err() == nil {
			_, err := conn.ExecContext(context.Background(), "LOCK TABLES "+name+".a_inno WRITE, "+name+".b_myisam WRITE")
			if err == nil {
				conn.ExecContext(context.Background(), "INSERT INTO "+name+".a_inno (pad) VALUES ('w')")
				conn.ExecContext(context.Background(), "INSERT INTO "+name+".b_myisam SELECT MAX(id), 'w' FROM "+name+".a_inno")
				n++
			}
			conn.ExecContext(context.Background(), "UNLOCK TABLES")
		}
		writes <- n
	}()
	time.Sleep(50 * time.Millisecond)
	s, _ = locked.run(t)
	stop()
	t.Logf("%d pairs written during the runs", <-writes)
	if w := readManifest(t, s).Items[0].Warnings; len(w) != 0 {
		t.Errorf("consistency: lock still warns: %q", w)
	}
	to := name + "_r"
	t.Cleanup(func() { db.Exec("DROP DATABASE IF EXISTS " + to) })
	mustDepot(t, "--config", locked.config, "restore", "web", "--item", "db", "--to-database", to)
	var a, b int
	db.QueryRow("SELECT COUNT(*) FROM " + to + ".a_inno").Scan(&a)
	db.QueryRow("SELECT COUNT(*) FROM " + to + ".b_myisam").Scan(&b)
	if a != b || a < 65536 {
		t.Errorf("a locked dump under writes has %d InnoDB rows and %d MyISAM rows", a, b)
	}
}
