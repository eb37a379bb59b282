package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pgDatabaseProps describes a database's own properties from the catalogs,
// with its name left out, for comparison.
func pgDatabaseProps(t testing.TB, admin *sql.DB, name string) map[string]string {
	t.Helper()
	props := map[string]string{}
	one := func(key, q string) {
		var v sql.NullString
		if err := admin.QueryRow(q, name).Scan(&v); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		props[key] = strings.ReplaceAll(v.String, name, "DB")
	}
	one("owner", "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1")
	one("encoding", "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = $1")
	one("locale", "SELECT datlocprovider::text || ' ' || datcollate || ' ' || datctype || ' ' || coalesce(daticulocale, '') FROM pg_database WHERE datname = $1")
	one("connlimit", "SELECT datconnlimit::text FROM pg_database WHERE datname = $1")
	one("acl", "SELECT datacl::text FROM pg_database WHERE datname = $1")
	one("comment", "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1")
	one("settings", `SELECT string_agg(coalesce(pg_get_userbyid(NULLIF(s.setrole, 0)), '') || ':' || array_to_string(s.setconfig, ','), ';' ORDER BY 1)
		FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = $1`)
	return props
}

// pgRole creates a role, dropped (with what it owns) when the test ends.
func pgRole(t testing.TB, admin *sql.DB, attrs string) string {
	t.Helper()
	role := uniqueName("depot_role_")
	mustExec(t, admin, "CREATE ROLE "+role+" "+attrs)
	t.Cleanup(func() { admin.Exec("DROP ROLE IF EXISTS " + role) })
	return role
}

// TestPostgreSQLDatabaseProperties restores databases under new names on the
// server that holds them: owner, encoding, locale (libc and ICU), connection
// limit, settings, a role's settings in the database, comment and access
// list come back as they were, ANALYZE has run, and no_owner gives
// everything to the restoring user.
func TestPostgreSQLDatabaseProperties(t *testing.T) {
	admin := postgres(t, "postgres")
	owner := pgRole(t, admin, "")
	reader := pgRole(t, admin, "LOGIN")
	latin, icu := uniqueName("depot_t_"), uniqueName("depot_t_")
	for _, db := range []string{latin, icu} {
		t.Cleanup(func() { admin.Exec("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)") })
	}
	mustExec(t, admin,
		"CREATE DATABASE "+latin+" OWNER "+owner+" ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0 CONNECTION LIMIT 7",
		"ALTER DATABASE "+latin+" SET work_mem = '8MB'",
		"ALTER DATABASE "+latin+` SET search_path = public, "My Schema"`,
		"ALTER ROLE "+reader+" IN DATABASE "+latin+" SET statement_timeout = '5s'",
		"COMMENT ON DATABASE "+latin+" IS 'it''s the shop'",
		"REVOKE CONNECT, TEMPORARY ON DATABASE "+latin+" FROM PUBLIC",
		"GRANT CONNECT ON DATABASE "+latin+" TO "+reader,
		"CREATE DATABASE "+icu+" LOCALE_PROVIDER icu ICU_LOCALE 'de-DE' LOCALE 'C.UTF-8' TEMPLATE template0",
	)
	mustExec(t, postgres(t, latin),
		"CREATE TABLE items (id int PRIMARY KEY, name text)",
		"INSERT INTO items SELECT i, 'ä ' || i FROM generate_series(1, 100) i",
		"ALTER TABLE items OWNER TO "+owner,
	)
	mustExec(t, postgres(t, icu), "CREATE TABLE words (w text)", "INSERT INTO words VALUES ('a'), ('Ä'), ('z'), ('b')")

	src := pgDatabaseProps(t, admin, latin)
	if !strings.Contains(src["settings"], "work_mem=8MB") || !strings.Contains(src["settings"], reader+":statement_timeout=5s") || !strings.Contains(src["acl"], reader+"=c/") || src["encoding"] != "LATIN1" {
		t.Fatalf("the source's properties are not what the test made: %v", src)
	}
	e := newItemEnv(t, postgresItem("["+latin+", "+icu+"]"))
	e.run(t)
	for _, src := range []string{latin, icu} {
		to := src + "_new"
		t.Cleanup(func() { admin.Exec("DROP DATABASE IF EXISTS " + to + " WITH (FORCE)") })
		mustDepot(t, "--config", e.config, "restore", "web", "--item", "db", "--database", src, "--to-database", to)
		if got, want := pgDatabaseProps(t, admin, to), pgDatabaseProps(t, admin, src); strings.Join(mapLines(got), "\n") != strings.Join(mapLines(want), "\n") {
			t.Errorf("%s restored as %s:\n%s\nwant\n%s", src, to, strings.Join(mapLines(got), "\n"), strings.Join(mapLines(want), "\n"))
		}
	}
	var order string
	postgres(t, icu+"_new").QueryRow("SELECT string_agg(w, '' ORDER BY w) FROM words").Scan(&order)
	if order != "aÄbz" {
		t.Errorf("ICU de-DE order: %q, want aÄbz", order)
	}
	var analyzed bool
	postgres(t, latin+"_new").QueryRow("SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'items'").Scan(&analyzed)
	if !analyzed {
		t.Error("no ANALYZE after the restore")
	}

	noOwner := e.otherConfig(t, postgresItem("["+latin+", "+icu+"]", "no_owner: true"))
	to := latin + "_no"
	t.Cleanup(func() { admin.Exec("DROP DATABASE IF EXISTS " + to + " WITH (FORCE)") })
	mustDepot(t, "--config", noOwner, "restore", "web", "--item", "db", "--database", latin, "--to-database", to)
	var dbOwner, tableOwner string
	admin.QueryRow("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", to).Scan(&dbOwner)
	postgres(t, to).QueryRow("SELECT tableowner FROM pg_tables WHERE tablename = 'items'").Scan(&tableOwner)
	if dbOwner != testDBUser || tableOwner != testDBUser {
		t.Errorf("no_owner: the database is %s's and the table %s's, want %s", dbOwner, tableOwner, testDBUser)
	}

	code, _, errs := depot(t, "--config", e.config, "restore", "web", "--item", "db", "--to-database", "x")
	if code != 1 || !strings.Contains(errs, "pick one with --database SOURCE --to-database x") {
		t.Errorf("two databases, none picked: exit %d\n%s", code, errs)
	}
	bad := e.otherConfig(t, postgresItem("["+latin+"]", "extra_args: [--create]"))
	code, _, errs = depot(t, "--config", bad, "validate")
	if code != 2 || !strings.Contains(errs, "--create is depot's to choose") {
		t.Errorf("extra_args --create: exit %d\n%s", code, errs)
	}
}

func mapLines(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+": "+v)
	}
	slices.Sort(out)
	return out
}

// TestPostgreSQLWholeServer restores a database with its roles onto a
// second, empty server: the roles log in with their passwords, the owner
// and the role's settings in the database are there, and a second restore
// onto the now non-empty server is refused.
func TestPostgreSQLWholeServer(t *testing.T) {
	admin := postgres(t, "postgres")
	app := pgRole(t, admin, "LOGIN PASSWORD 'app-pw-1'")
	name := uniqueName("depot_t_")
	t.Cleanup(func() { admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") })
	mustExec(t, admin,
		"CREATE DATABASE "+name+" OWNER "+app,
		"ALTER ROLE "+app+" IN DATABASE "+name+" SET work_mem = '3MB'",
	)
	mustExec(t, postgres(t, name), "CREATE TABLE t (id int)", "INSERT INTO t VALUES (1), (2)", "ALTER TABLE t OWNER TO "+app)

	// postgres is on every server: loaded into as it is empty there.
	e := newItemEnv(t, postgresItem("["+name+", postgres]", "restore_user: postgres"))
	e.run(t)
	port := scratchPostgres(t)
	// Without the roles, the owner is missing: refused with the ways out,
	// and no_owner loads it as the restoring user's.
	code, _, errs := depot(t, "--config", e.config, "restore", "web", "--item", "db", "--database", name, "--to-database", "lone", "--restore-port", strconv.Itoa(port))
	if code != 1 || !strings.Contains(errs, `role "`+app+`" does not exist`) || !strings.Contains(errs, "set no_owner: true") {
		t.Errorf("a restore without the owner role: exit %d\n%s", code, errs)
	}
	noOwner := e.otherConfig(t, postgresItem("["+name+"]", "restore_user: postgres", "no_owner: true"))
	mustDepot(t, "--config", noOwner, "restore", "web", "--item", "db", "--database", name, "--to-database", "lone", "--restore-port", strconv.Itoa(port))
	lone, err := scratchPostgresConn(t, port, "postgres", "", "lone")
	if err != nil {
		t.Fatal(err)
	}
	var owner string
	if err := lone.QueryRow("SELECT tableowner FROM pg_tables WHERE tablename = 't'").Scan(&owner); err != nil || owner != "postgres" {
		t.Errorf("no_owner on a server without the roles: table owned by %q, %v", owner, err)
	}
	lone.Close()
	super, _ := scratchPostgresConn(t, port, "postgres", "", "postgres")
	mustExec(t, super, "DROP DATABASE lone")

	mustDepot(t, "--config", e.config, "restore", "web", "--item", "db", "--to-server", "--restore-port", strconv.Itoa(port))

	as, err := scratchPostgresConn(t, port, app, "app-pw-1", name)
	if err != nil {
		t.Fatalf("%s logs in to the new server: %v", app, err)
	}
	var n int
	var workMem string
	if err := as.QueryRow("SELECT count(*), current_setting('work_mem') FROM t").Scan(&n, &workMem); err != nil || n != 2 || workMem != "3MB" {
		t.Errorf("as %s on the new server: %d rows, work_mem %s, %v", app, n, workMem, err)
	}
	if got, want := pgDatabaseProps(t, super, name), pgDatabaseProps(t, admin, name); strings.Join(mapLines(got), "\n") != strings.Join(mapLines(want), "\n") {
		t.Errorf("on the new server:\n%v\nwant\n%v", got, want)
	}
	code, _, errs = depot(t, "--config", e.config, "restore", "web", "--item", "db", "--to-server", "--restore-port", strconv.Itoa(port))
	if code != 1 || !strings.Contains(errs, "already holds "+name) {
		t.Errorf("a second whole-server restore: exit %d\n%s", code, errs)
	}
}

// TestPostgreSQLVanishedDatabase: with no databases listed, one dropped
// after the listing is a warning, and the others are published. (On a
// scratch server, whose databases are all the test's.)
func TestPostgreSQLVanishedDatabase(t *testing.T) {
	port := scratchPostgres(t)
	super, err := scratchPostgresConn(t, port, "postgres", "", "postgres")
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, super, "CREATE DATABASE a", "CREATE DATABASE b")
	a, err := scratchPostgresConn(t, port, "postgres", "", "a")
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, a, "CREATE TABLE t (id int)")
	tx, err := a.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	mustExec(t, tx, "LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
	e := newItemEnv(t, itemYAML("postgresql", "user: postgres", "port: "+strconv.Itoa(port), "globals: false"))
	wait, _ := runInBackground("--config", e.config, "run")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var n int
		super.QueryRow("SELECT count(*) FROM pg_stat_activity WHERE datname = 'a' AND wait_event_type = 'Lock' AND application_name = 'pg_dump'").Scan(&n)
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pg_dump never waited for the lock")
		}
	}
	mustExec(t, super, "DROP DATABASE b WITH (FORCE)")
	tx.Rollback()
	code, errs := wait()
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	s := e.snapshots(t)[0]
	for _, f := range []string{"a.sql.zst", "a.database.json", "postgres.sql.zst"} {
		if _, err := os.Stat(filepath.Join(s.Path, "db", f)); err != nil {
			t.Error(err)
		}
	}
	if w := readManifest(t, s).Items[0].Warnings; len(w) != 1 || w[0] != "database b was dropped during the run: not backed up" {
		t.Errorf("warnings %q", w)
	}
}
