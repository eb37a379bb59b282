package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// mariadb connects to the test server as the test account, or skips (fails
// in CI) when there is none.
func mariadb(t testing.TB) *sql.DB {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = testDBUser, testDBPassword, "tcp", "127.0.0.1:3306"
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	needService(t, "MariaDB on 127.0.0.1:3306 with user "+testDBUser, db.Ping())
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t testing.TB, db interface {
	Exec(string, ...any) (sql.Result, error)
}, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// newMySQLDatabase creates a database with tables of every kind of value, a
// routine and a trigger, dropped when the test ends.
func newMySQLDatabase(t testing.TB, db *sql.DB) string {
	t.Helper()
	name := uniqueName("depot_t_")
	mustExec(t, db, "CREATE DATABASE "+name)
	t.Cleanup(func() { db.Exec("DROP DATABASE IF EXISTS " + name) })
	// Routines and triggers as applications write them: unqualified, made
	// in the database they belong to.
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, stmt := range []string{
		"USE " + name,
		"CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) CHARACTER SET utf8mb4, price DECIMAL(10,2), data BLOB, made DATETIME(6))",
		"CREATE TABLE log (id INT PRIMARY KEY, msg TEXT)",
		"CREATE PROCEDURE add_item(n VARCHAR(100)) INSERT INTO items (name) VALUES (n)",
		"CREATE TRIGGER items_ai AFTER INSERT ON items FOR EACH ROW INSERT INTO log VALUES (NEW.id, CONCAT('added ', NEW.name))",
	} {
		if _, err := conn.ExecContext(context.Background(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	for i := range 200 {
		blob := make([]byte, 64+i)
		_, _ = rand.Read(blob)
		blob[0] = 0 // a NUL, which only --hex-blob keeps safe
		if _, err := db.Exec("INSERT INTO "+name+".items (name, price, data, made) VALUES (?, ?, ?, NOW(6))",
			fmt.Sprintf("item %d — ünïcödé '\"\\ %d", i, i), float64(i)*1.25, blob); err != nil {
			t.Fatal(err)
		}
	}
	return name
}

// mysqlState describes a database for comparison: per table its row count
// and CHECKSUM TABLE, and its routines and triggers.
func mysqlState(t testing.TB, db *sql.DB, name string) map[string]string {
	t.Helper()
	state := map[string]string{}
	query := func(q string, args ...any) [][2]string {
		rows, err := db.Query(q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		var out [][2]string
		for rows.Next() {
			var a, b sql.NullString
			if err := rows.Scan(&a, &b); err != nil {
				t.Fatal(err)
			}
			out = append(out, [2]string{a.String, b.String})
		}
		return out
	}
	for _, tbl := range query("SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", name) {
		q := "`" + name + "`.`" + tbl[0] + "`"
		var count int
		if err := db.QueryRow("SELECT COUNT(*) FROM " + q).Scan(&count); err != nil {
			t.Fatal(err)
		}
		sum := query("CHECKSUM TABLE " + q)[0][1]
		state["table "+tbl[0]] = fmt.Sprintf("%d rows, checksum %s", count, sum)
	}
	for _, r := range query("SELECT ROUTINE_NAME, ROUTINE_DEFINITION FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?", name) {
		state["routine "+r[0]] = r[1]
	}
	for _, r := range query("SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?", name) {
		state["trigger "+r[0]] = r[1]
	}
	return state
}

func mysqlItem(dbs string, extra ...string) string {
	return itemYAML("mysql", append([]string{"user: " + testDBUser, "password_env: " + testPasswordEnv, "databases: " + dbs}, extra...)...)
}

func TestMySQLRoundTrip(t *testing.T) {
	db := mariadb(t)
	name := newMySQLDatabase(t, db)
	e := newItemEnv(t, mysqlItem("["+name+"]"))
	dump := name + ".sql.zst"

	s1, log1 := e.run(t)
	state1 := mysqlState(t, db, name)
	s2, log2 := e.run(t)
	sameInode(t, s1, s2, dump, true)
	if st := readManifest(t, s2).Items[0].Stats; st.BytesTransferred != 0 {
		t.Errorf("an unchanged database transferred %d bytes", st.BytesTransferred)
	}

	mustExec(t, db,
		"CALL "+name+".add_item('added later')",
		"UPDATE "+name+".items SET price = price + 1 WHERE id % 7 = 0",
		"DELETE FROM "+name+".items WHERE id BETWEEN 50 AND 60",
	)
	s3, log3 := e.run(t)
	state3 := mysqlState(t, db, name)
	sameInode(t, s2, s3, dump, false)
	if reflect.DeepEqual(state1, state3) {
		t.Fatal("the change did not change the database's state")
	}

	for i, c := range []struct {
		stamp string
		want  map[string]string
	}{{s1.Stamp, state1}, {s2.Stamp, state1}, {s3.Stamp, state3}} {
		to := fmt.Sprintf("%s_r%d", name, i)
		t.Cleanup(func() { db.Exec("DROP DATABASE IF EXISTS " + to) })
		mustDepot(t, "--config", e.config, "restore", "web@"+c.stamp, "--item", "db", "--to-database", to)
		if got := mysqlState(t, db, to); !reflect.DeepEqual(got, c.want) {
			t.Errorf("restore of %s differs from the database then:\ngot  %v\nwant %v", c.stamp, got, c.want)
		}
	}

	// A database that exists and holds tables is refused, unless forced.
	to := name + "_r0"
	code, _, errs := depot(t, "--config", e.config, "restore", "web", "--item", "db", "--to-database", to)
	if code != 1 || !strings.Contains(errs, "exists and is not empty") {
		t.Fatalf("restore into a non-empty database: exit %d\n%s", code, errs)
	}
	mustDepot(t, "--config", e.config, "restore", "web", "--item", "db", "--to-database", to, "--force")
	if got := mysqlState(t, db, to); !reflect.DeepEqual(got, state3) {
		t.Errorf("forced restore differs:\ngot  %v\nwant %v", got, state3)
	}

	// --to DIR copies the dump out as it is.
	dir := filepath.Join(e.dir, "files")
	mustDepot(t, "--config", e.config, "restore", "web", "--item", "db", "--to", dir)
	if _, err := os.Stat(filepath.Join(dir, dump)); err != nil {
		t.Error(err)
	}

	e.checkNoLeftovers(t, log1, log2, log3)
}

// TestMySQLEveryDatabase leaves databases out of the config: the item dumps
// every database the user sees but the system ones. The user sees only the
// two databases of this test, so other tests' databases do not interfere.
func TestMySQLEveryDatabase(t *testing.T) {
	db := mariadb(t)
	a, b := newMySQLDatabase(t, db), newMySQLDatabase(t, db)
	user := uniqueName("depot_u_")
	for _, host := range []string{"127.0.0.1", "localhost"} {
		u := fmt.Sprintf("'%s'@'%s'", user, host)
		// MariaDB 10.11 shows routines to those who may read mysql.proc.
		mustExec(t, db, "CREATE USER "+u+" IDENTIFIED BY '"+testDBPassword+"'",
			"GRANT ALL ON "+a+".* TO "+u, "GRANT ALL ON "+b+".* TO "+u, "GRANT SELECT ON mysql.proc TO "+u)
		t.Cleanup(func() { db.Exec("DROP USER IF EXISTS " + u) })
	}
	item := strings.Replace(mysqlItem("[]", "globals: false"), "user: "+testDBUser, "user: "+user, 1)
	e := newItemEnv(t, item)
	s, _ := e.run(t)
	entries, err := os.ReadDir(filepath.Join(s.Path, "db"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, en := range entries {
		got = append(got, en.Name())
	}
	want := []string{a + ".database.json", a + ".sql.zst", b + ".database.json", b + ".sql.zst"}
	slices.Sort(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("dumped %q, want %q", got, want)
	}
}

// TestMySQLSocket connects through the server's socket as root, which
// Debian's MariaDB authenticates by the client's uid: no password at all.
func TestMySQLSocket(t *testing.T) {
	db := mariadb(t)
	name := newMySQLDatabase(t, db)
	const socket = "/run/mysqld/mysqld.sock"
	item := "      - name: db\n        type: mysql\n        user: root\n        socket: " + socket + "\n        databases: [" + name + "]"
	e := newItemEnv(t, item)
	if _, err := os.Stat(socket); err != nil {
		needService(t, "MariaDB's socket", err)
	}
	e.run(t)
	to := name + "_r"
	t.Cleanup(func() { db.Exec("DROP DATABASE IF EXISTS " + to) })
	mustDepot(t, "--config", e.config, "restore", "web", "--item", "db", "--to-database", to)
	if got, want := mysqlState(t, db, to), mysqlState(t, db, name); !reflect.DeepEqual(got, want) {
		t.Errorf("restore through the socket:\ngot  %v\nwant %v", got, want)
	}
}
