package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"github.com/depot-backup/depot/internal/proctest"
	"path/filepath"
	"strings"
	"testing"
)

// TestMySQLFailures breaks a mysql item in every way the issue names; each
// fails the set with one line naming the item and the cause, and leaves no
// snapshot, temporary file or password behind.
func TestMySQLFailures(t *testing.T) {
	db := mariadb(t)
	name := newMySQLDatabase(t, db)
	tests := []struct {
		name  string
		item  string
		setup func(t *testing.T, e *dbEnv)
		cause string
	}{
		{"wrong password", mysqlItem("[" + name + "]"), func(t *testing.T, _ *dbEnv) {
			t.Setenv(testPasswordEnv, "not-the-password")
		}, "Access denied for user 'depot_test'"},
		{"password variable unset", mysqlItem("[" + name + "]"), func(t *testing.T, _ *dbEnv) {
			t.Setenv(testPasswordEnv, "")
		}, "password_env: environment variable " + testPasswordEnv + " is not set"},
		{"unknown database", mysqlItem("[" + name + "_nope]"), nil, "database " + name + "_nope does not exist on 127.0.0.1:3306"},
		{"server down", mysqlItem("["+name+"]", "port: 1"), nil, "connect to 127.0.0.1:1 as depot_test: dial tcp 127.0.0.1:1: connect: connection refused"},
		{"dump tool missing", mysqlItem("[" + name + "]"), func(t *testing.T, _ *dbEnv) {
			t.Setenv("PATH", pathOnlySh(t))
		}, "neither mariadb-dump nor mysqldump is installed on the source host (local)"},
		{"disk full", mysqlItem("[" + name + "]"), func(t *testing.T, e *dbEnv) {
			big := make([]byte, 1<<20)
			mustExec(t, db, "CREATE TABLE "+name+".big (id INT PRIMARY KEY, data LONGBLOB)")
			t.Cleanup(func() { db.Exec("DROP TABLE " + name + ".big") })
			for i := range 4 {
				_, _ = rand.Read(big)
				if _, err := db.Exec("INSERT INTO "+name+".big VALUES (?, ?)", i, big); err != nil {
					t.Fatal(err)
				}
			}
			mountTmpfs(t, e.repo, 1<<20)
			initRepo(t, e.config)
		}, "write " + name + ".sql.zst: write "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newItemEnv(t, tt.item)
			if tt.setup != nil {
				tt.setup(t, e)
			}
			code, _, errs := depot(t, "--config", e.config, "run")
			e.checkFailed(t, code, errs, tt.cause)
			if tt.name == "disk full" && !strings.Contains(errs, "no space left on device") {
				t.Errorf("the error does not say the disk is full:\n%s", errs)
			}
		})
	}
}

// blockDumps holds a write lock on the database's items table, so that a dump
// of it waits, until the returned function releases it.
func blockDumps(t testing.TB, db *sql.DB, name string) (release func()) {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "LOCK TABLES "+name+".items WRITE"); err != nil {
		t.Fatal(err)
	}
	released := false
	release = func() {
		if !released {
			released = true
			conn.ExecContext(context.Background(), "UNLOCK TABLES")
			conn.Close()
		}
	}
	t.Cleanup(release)
	return release
}

// TestMySQLDumpKilledHalfway stops depot while mariadb-dump runs, as SIGTERM
// does: the set fails, no dump process survives, nothing is published and
// no temporary file stays; the next run succeeds.
func TestMySQLDumpKilledHalfway(t *testing.T) {
	db := mariadb(t)
	name := newMySQLDatabase(t, db)
	e := newItemEnv(t, mysqlItem("["+name+"]"))
	release := blockDumps(t, db, name)
	wait, cancel := runInBackground("--config", e.config, "run")
	waitForProcess(t, "mariadb-dump", name)
	cancel()
	code, errs := wait()
	if code != 1 || !strings.Contains(errs, "interrupted") {
		t.Fatalf("exit %d, want 1 and interrupted:\n%s", code, errs)
	}
	if pids := proctest.Mentioning(t, name); len(pids) > 0 {
		t.Fatalf("dump processes survive: %v", pids)
	}
	if snaps := e.snapshots(t); len(snaps) != 0 {
		t.Fatalf("an interrupted run published %v", snaps)
	}
	e.checkNoLeftovers(t, errs)
	release()
	s, _ := e.run(t)
	if _, err := filepath.Glob(filepath.Join(s.Path, "db", name+".sql.zst")); err != nil {
		t.Fatal(err)
	}
}

// TestMySQLPasswordNotInCmdline reads the command line of every process while
// a dump runs: the password is in none of them.
func TestMySQLPasswordNotInCmdline(t *testing.T) {
	db := mariadb(t)
	name := newMySQLDatabase(t, db)
	e := newItemEnv(t, mysqlItem("["+name+"]"))
	release := blockDumps(t, db, name)
	wait, _ := runInBackground("--config", e.config, "run")
	cmdlines := waitForProcess(t, "mariadb-dump", name)
	release()
	code, errs := wait()
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	seen := false
	for _, c := range cmdlines {
		if strings.Contains(c, testDBPassword) {
			t.Errorf("a command line holds the password: %s", c)
		}
		seen = seen || strings.Contains(c, "--user="+testDBUser)
	}
	if !seen {
		t.Errorf("no dump command line among the %d read", len(cmdlines))
	}
	e.checkNoLeftovers(t, errs)
}
