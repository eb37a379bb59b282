package main

import (
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/lib/pq"
)

// Second database servers, empty, started by a test on a free port and
// stopped when it ends: the target of a whole-server restore.

// freePort returns a TCP port nothing listens on just now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// scratchDir makes a directory that the service's OS user owns (the
// servers refuse to run as root), removed when the test ends.
func scratchDir(t testing.TB, owner string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "depot-scratch-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if out, err := exec.Command("chown", owner+":", dir).CombinedOutput(); err != nil {
		t.Fatalf("chown %s: %v %s", dir, err, out)
	}
	return dir
}

// scratchAdmin is the account a scratch server has for depot's restore.
const (
	scratchAdmin         = "depot_admin"
	scratchAdminPassword = "scratch-admin-pw-3Kd"
	scratchAdminEnv      = "DEPOT_TEST_ADMIN_PASSWORD"
)

// scratchMariaDB starts an empty MariaDB server on a free port, with one
// administrator, scratchAdmin@127.0.0.1. It returns the port and a
// connection as that administrator.
func scratchMariaDB(t testing.TB) (int, *sql.DB) {
	t.Helper()
	mariadb(t) // the main server is there, so the tools are
	if os.Getuid() != 0 {
		needService(t, "a scratch MariaDB server (the test starts it as root)", fmt.Errorf("not root"))
	}
	dir := scratchDir(t, "mysql")
	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	if out, err := exec.Command("mariadb-install-db", "--no-defaults", "--user=mysql", "--datadir="+data, "--skip-test-db", "--auth-root-authentication-method=socket").CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	port := freePort(t)
	cmd := exec.Command("/usr/sbin/mariadbd", "--no-defaults", "--user=mysql", "--datadir="+data, "--socket="+sock,
		"--port="+strconv.Itoa(port), "--bind-address=127.0.0.1", "--pid-file="+filepath.Join(dir, "pid"),
		"--innodb-buffer-pool-size=16M", "--skip-log-bin", "--log-error="+filepath.Join(dir, "err.log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	admin := fmt.Sprintf("'%s'@'127.0.0.1'", scratchAdmin)
	setup := "CREATE USER " + admin + " IDENTIFIED BY '" + scratchAdminPassword + "'; GRANT ALL ON *.* TO " + admin + " WITH GRANT OPTION; GRANT PROXY ON ''@'%' TO " + admin + " WITH GRANT OPTION;"
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var out []byte
		if out, err = exec.Command("mariadb", "--no-defaults", "--socket="+sock, "-u", "root", "-e", setup).CombinedOutput(); err == nil {
			break
		}
		err = fmt.Errorf("%v: %s", err, out)
	}
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "err.log"))
		t.Fatalf("scratch MariaDB does not answer: %v\n%s", err, log)
	}
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = scratchAdmin, scratchAdminPassword, "tcp", "127.0.0.1:"+strconv.Itoa(port)
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(conn)
	t.Cleanup(func() { db.Close() })
	return port, db
}

// pgBin is the directory of this machine's PostgreSQL server programs.
func pgBin(t testing.TB) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(dirs) == 0 {
		needService(t, "PostgreSQL's initdb", fmt.Errorf("not in /usr/lib/postgresql/*/bin"))
	}
	return filepath.Dir(dirs[len(dirs)-1])
}

// scratchPostgres starts an empty PostgreSQL server on a free port, where
// the superuser postgres logs in over TCP without a password and every
// other role with its password. It returns the port.
func scratchPostgres(t testing.TB) int {
	t.Helper()
	postgres(t, "postgres")
	if os.Getuid() != 0 {
		needService(t, "a scratch PostgreSQL server (the test starts it as root)", fmt.Errorf("not root"))
	}
	bin := pgBin(t)
	dir := scratchDir(t, "postgres")
	data := filepath.Join(dir, "data")
	asPostgres := func(argv ...string) {
		t.Helper()
		if out, err := exec.Command("runuser", append([]string{"-u", "postgres", "--"}, argv...)...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
	asPostgres(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8")
	hba := "host all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\nlocal all all trust\n"
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	exec.Command("chown", "postgres:", filepath.Join(data, "pg_hba.conf")).Run()
	port := freePort(t)
	asPostgres(filepath.Join(bin, "pg_ctl"), "-D", data, "-l", filepath.Join(dir, "log"), "-w", "-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c shared_buffers=16MB", port, dir), "start")
	t.Cleanup(func() {
		exec.Command("runuser", "-u", "postgres", "--", filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop").Run()
	})
	return port
}

// scratchPostgresConn connects to database db of a scratch server as user.
func scratchPostgresConn(t testing.TB, port int, user, password, db string) (*sql.DB, error) {
	t.Helper()
	cfg, err := pq.NewConfig("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database = "127.0.0.1", uint16(port), user, password, db
	cfg.SSLMode = "disable"
	conn, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sdb := sql.OpenDB(conn)
	t.Cleanup(func() { sdb.Close() })
	return sdb, sdb.Ping()
}
