package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"github.com/depot-backup/depot/internal/proctest"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/lib/pq"
)

// postgres connects to database db of the test server as the test account,
// or skips (fails in CI) when there is none.
func postgres(t testing.TB, db string) *sql.DB {
	t.Helper()
	cfg, err := pq.NewConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database = "127.0.0.1", 5432, testDBUser, testDBPassword, db
	cfg.SSLMode = "disable"
	conn, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sdb := sql.OpenDB(conn)
	needService(t, "PostgreSQL on 127.0.0.1:5432 with role "+testDBUser, sdb.Ping())
	t.Cleanup(func() { sdb.Close() })
	return sdb
}

// newPostgresDatabase creates a database with tables, a sequence, a function
// and a trigger, dropped when the test ends.
func newPostgresDatabase(t testing.TB) string {
	t.Helper()
	admin := postgres(t, "postgres")
	name := uniqueName("depot_t_")
	mustExec(t, admin, "CREATE DATABASE "+name)
	t.Cleanup(func() { admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") })
	db := postgres(t, name)
	mustExec(t, db,
		"CREATE TABLE items (id serial PRIMARY KEY, name text, price numeric(10,2), data bytea, made timestamptz DEFAULT now())",
		"CREATE TABLE log (id int PRIMARY KEY, msg text)",
		`CREATE FUNCTION log_item() RETURNS trigger LANGUAGE plpgsql AS $$
		 BEGIN INSERT INTO log VALUES (NEW.id, 'added ' || NEW.name); RETURN NEW; END $$`,
		"CREATE TRIGGER items_ai AFTER INSERT ON items FOR EACH ROW EXECUTE FUNCTION log_item()",
		`INSERT INTO items (name, price, data)
		 SELECT 'item ' || i || E' — ünïcödé \'"\\ \\restrict', i * 1.25, decode(md5(i::text) || '00ff', 'hex')
		 FROM generate_series(1, 200) i`,
	)
	return name
}

// postgresState describes a database for comparison: per table its row count
// and the md5 of its rows in order, the sequence's position, the functions
// and the triggers.
func postgresState(t testing.TB, name string) map[string]string {
	t.Helper()
	db := postgres(t, name)
	state := map[string]string{}
	one := func(q string) string {
		var v sql.NullString
		if err := db.QueryRow(q).Scan(&v); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return v.String
	}
	for _, tbl := range []string{"items", "log"} {
		state["table "+tbl] = one(fmt.Sprintf("SELECT count(*) || ' rows, md5 ' || md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM %s t", tbl))
	}
	state["sequence"] = one("SELECT last_value FROM items_id_seq")
	state["functions"] = one("SELECT string_agg(proname || ':' || md5(prosrc), ',' ORDER BY proname) FROM pg_proc WHERE pronamespace = 'public'::regnamespace")
	state["triggers"] = one("SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE NOT tgisinternal")
	return state
}

func postgresItem(dbs string, extra ...string) string {
	return itemYAML("postgresql", append([]string{"user: " + testDBUser, "password_env: " + testPasswordEnv, "databases: " + dbs}, extra...)...)
}

func TestPostgreSQLRoundTrip(t *testing.T) {
	name := newPostgresDatabase(t)
	db := postgres(t, name)
	admin := postgres(t, "postgres")
	e := newItemEnv(t, postgresItem("["+name+"]"))
	dump := name + ".sql.zst"

	s1, log1 := e.run(t)
	state1 := postgresState(t, name)
	s2, log2 := e.run(t)
	sameInode(t, s1, s2, dump, true)
	sameInode(t, s1, s2, "globals.sql.zst", true)
	if st := readManifest(t, s2).Items[0].Stats; st.BytesTransferred != 0 {
		t.Errorf("an unchanged database transferred %d bytes", st.BytesTransferred)
	}

	mustExec(t, db,
		"INSERT INTO items (name, price) VALUES ('added later', 9.99)",
		"UPDATE items SET price = price + 1 WHERE id % 7 = 0",
		"DELETE FROM items WHERE id BETWEEN 50 AND 60",
	)
	s3, log3 := e.run(t)
	state3 := postgresState(t, name)
	sameInode(t, s2, s3, dump, false)
	if reflect.DeepEqual(state1, state3) {
		t.Fatal("the change did not change the database's state")
	}

	for i, c := range []struct {
		stamp string
		want  map[string]string
	}{{s1.Stamp, state1}, {s2.Stamp, state1}, {s3.Stamp, state3}} {
		to := fmt.Sprintf("%s_r%d", name, i)
		t.Cleanup(func() { admin.Exec("DROP DATABASE IF EXISTS " + to + " WITH (FORCE)") })
		mustDepot(t, "--config", e.config, "restore", "web@"+c.stamp, "--item", "db", "--to-database", to)
		if got := postgresState(t, to); !reflect.DeepEqual(got, c.want) {
			t.Errorf("restore of %s differs from the database then:\ngot  %v\nwant %v", c.stamp, got, c.want)
		}
	}

	// A database that exists and holds tables is refused; an empty one is
	// loaded into.
	code, _, errs := depot(t, "--config", e.config, "restore", "web", "--item", "db", "--to-database", name+"_r0")
	if code != 1 || !strings.Contains(errs, "exists and is not empty") {
		t.Fatalf("restore into a non-empty database: exit %d\n%s", code, errs)
	}
	empty := name + "_empty"
	mustExec(t, admin, "CREATE DATABASE "+empty)
	t.Cleanup(func() { admin.Exec("DROP DATABASE IF EXISTS " + empty + " WITH (FORCE)") })
	mustDepot(t, "--config", e.config, "restore", "web", "--item", "db", "--to-database", empty)
	if got := postgresState(t, empty); !reflect.DeepEqual(got, state3) {
		t.Errorf("restore into an empty database differs:\ngot  %v\nwant %v", got, state3)
	}

	e.checkNoLeftovers(t, log1, log2, log3)
}

// TestPgDumpPlainIsDeterministic is why the item uses plain format with a
// fixed --restrict-key: two dumps of unchanged data are identical bytes. (A
// custom-format archive differs in its header's creation time.)
func TestPgDumpPlainIsDeterministic(t *testing.T) {
	name := newPostgresDatabase(t)
	dump := func() []byte {
		cmd := exec.Command("pg_dump", "--format=plain", "--restrict-key=depotTestKey1", "--host=127.0.0.1", "--username="+testDBUser, "--no-password", "--dbname="+name)
		cmd.Env = append(cmd.Environ(), "PGPASSWORD="+testDBPassword)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("pg_dump: %v", err)
		}
		return out
	}
	a, b := dump(), dump()
	if !bytes.Equal(a, b) {
		t.Fatal("two plain dumps of an unchanged database differ")
	}
	if !bytes.Contains(a, []byte(`\restrict depotTestKey1`)) {
		t.Log("this pg_dump writes no \\restrict line (older than 15.14)")
	}
}

func TestPostgreSQLFailures(t *testing.T) {
	name := newPostgresDatabase(t)
	tests := []struct {
		name  string
		item  string
		setup func(t *testing.T)
		cause string
	}{
		{"wrong password", postgresItem("[" + name + "]"), func(t *testing.T) {
			t.Setenv(testPasswordEnv, "not-the-password")
		}, "connect to 127.0.0.1:5432 as depot_test: pq: password authentication failed for user"},
		{"unknown database", postgresItem("[" + name + "_nope]"), nil, "database " + name + "_nope does not exist on 127.0.0.1:5432"},
		{"server down", postgresItem("["+name+"]", "port: 1"), nil, "connect to 127.0.0.1:1 as depot_test: dial tcp 127.0.0.1:1: connect: connection refused"},
		{"dump tool missing", postgresItem("[" + name + "]"), func(t *testing.T) {
			t.Setenv("PATH", pathOnlySh(t))
		}, "pg_dump is not installed on the source host (local)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newItemEnv(t, tt.item)
			if tt.setup != nil {
				tt.setup(t)
			}
			code, _, errs := depot(t, "--config", e.config, "run")
			e.checkFailed(t, code, errs, tt.cause)
		})
	}
}

// TestPostgreSQLDumpKilledHalfway stops depot while pg_dump waits for a lock,
// and checks the password is in no command line meanwhile.
func TestPostgreSQLDumpKilledHalfway(t *testing.T) {
	name := newPostgresDatabase(t)
	e := newItemEnv(t, postgresItem("["+name+"]"))
	tx, err := postgres(t, name).BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	mustExec(t, tx, "LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
	wait, cancel := runInBackground("--config", e.config, "run")
	for _, c := range waitForProcess(t, "pg_dump", name) {
		if strings.Contains(c, testDBPassword) {
			t.Errorf("a command line holds the password: %s", c)
		}
	}
	cancel()
	code, errs := wait()
	if code != 1 || !strings.Contains(errs, "interrupted") {
		t.Fatalf("exit %d, want 1 and interrupted:\n%s", code, errs)
	}
	if pids := proctest.Mentioning(t, "dbname='"+name); len(pids) > 0 {
		t.Fatalf("dump processes survive: %v", pids)
	}
	if snaps := e.snapshots(t); len(snaps) != 0 {
		t.Fatalf("an interrupted run published %v", snaps)
	}
	e.checkNoLeftovers(t, errs)
	tx.Rollback()
	e.run(t)
}
