package backupitems

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

var (
	_ Checker = (*MySQL)(nil)
	_ Checker = (*PostgreSQL)(nil)
)

// Check implements Checker: the password is there, a login works, the user
// may see all of every database it dumps, and the dump tool runs. It prints
// the minimal grants the item needs.
func (m *MySQL) Check(ctx context.Context, env Env) []Check {
	var checks []Check
	login := Check{What: "login " + m.User + "@" + m.address()}
	password, err := m.password()
	if err != nil {
		login.Err = err
		return append(checks, login)
	}
	conn, err := m.open(ctx, env.Source, password)
	if err != nil {
		login.Err = err
		return append(checks, login)
	}
	defer conn.Close()
	var version, account string
	if err := conn.QueryRowContext(ctx, "SELECT VERSION(), CURRENT_USER()").Scan(&version, &account); err != nil {
		login.Err = err
		return append(checks, login)
	}
	login.Detail = "logged in, server " + version
	checks = append(checks, login)
	checks = append(checks, toolVersion(ctx, env, "mariadb-dump", "mysqldump"))
	grants := Check{What: "grants of " + m.User, Detail: "it needs: " + strings.Join(m.minimalGrants(account), "; ")}
	dbs, err := m.databases(ctx, conn)
	if err != nil {
		grants.Err = err
		return append(checks, grants)
	}
	for _, db := range dbs {
		if missing, err := m.missingPrivileges(ctx, conn, db); err != nil || len(missing) > 0 {
			if err == nil {
				err = fmt.Errorf("lacks %s on database %s; it needs: %s", strings.Join(missing, ", "), db, strings.Join(m.minimalGrants(account), "; "))
			}
			grants.Err = err
			break
		}
	}
	if grants.Err == nil && m.globals() {
		var n int
		if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM mysql.user").Scan(&n); err != nil {
			grants.Err = fmt.Errorf("globals: true, but the user cannot read mysql.user (%v); it needs: %s", err, strings.Join(m.minimalGrants(account), "; "))
		}
	}
	checks = append(checks, grants)
	if m.RestoreUser != "" || m.RestorePasswordEnv != "" || m.RestorePasswordFile != "" || m.RestoreHost != "" || m.RestorePort != 0 {
		checks = append(checks, m.checkRestoreLogin(ctx, env, conn, dbs)...)
	}
	return checks
}

// checkRestoreLogin checks the restore_ settings' login and, where it is
// another user on the same server, compares what the two see of each
// database: a backup user that sees less would make partial dumps.
func (m *MySQL) checkRestoreLogin(ctx context.Context, env Env, backup *sql.DB, dbs []string) []Check {
	rc, password, err := m.DBConn.forRestore("", 0)
	r := *m
	r.DBConn = rc
	c := Check{What: "restore login " + r.User + "@" + r.address()}
	if err != nil {
		c.Err = err
		return []Check{c}
	}
	conn, err := r.open(ctx, env.Source, password)
	if err != nil {
		c.Err = err
		return []Check{c}
	}
	defer conn.Close()
	c.Detail = "logged in"
	checks := []Check{c}
	if r.User == m.User || r.address() != m.address() {
		return checks
	}
	v := Check{What: "what " + m.User + " sees", Detail: fmt.Sprintf("every object of %d databases, as %s sees them", len(dbs), r.User)}
	for _, db := range dbs {
		mine, err := mysqlObjects(ctx, backup, db)
		if err == nil {
			var all string
			if all, err = mysqlObjects(ctx, conn, db); err == nil && mine != all {
				err = fmt.Errorf("database %s: %s sees %s, %s sees %s", db, m.User, mine, r.User, all)
			}
		}
		if err != nil {
			v.Err, v.Detail = err, ""
			break
		}
	}
	return append(checks, v)
}

// mysqlObjects counts what the connected user sees of database db.
func mysqlObjects(ctx context.Context, conn *sql.DB, db string) (string, error) {
	var tables, triggers, routines, events int
	err := conn.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?),
		(SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?),
		(SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?),
		(SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?)`, db, db, db, db).Scan(&tables, &triggers, &routines, &events)
	if err != nil {
		return "", fmt.Errorf("count the objects of %s: %w", db, err)
	}
	return fmt.Sprintf("%d tables and views, %d triggers, %d routines, %d events", tables, triggers, routines, events), nil
}

// Check implements Checker: the password is there, a login works, and
// pg_dump and psql run.
func (p *PostgreSQL) Check(ctx context.Context, env Env) []Check {
	var checks []Check
	login := Check{What: "login " + p.User + "@" + p.address()}
	password, err := p.password()
	if err != nil {
		login.Err = err
		return append(checks, login)
	}
	conn, err := p.open(ctx, env.Source, password, "postgres")
	if err != nil {
		login.Err = err
		return append(checks, login)
	}
	defer conn.Close()
	var version string
	var super bool
	if err := conn.QueryRowContext(ctx, "SELECT current_setting('server_version'), rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&version, &super); err != nil {
		login.Err = err
		return append(checks, login)
	}
	login.Detail = "logged in, server " + version
	checks = append(checks, login)
	checks = append(checks, toolVersion(ctx, env, "pg_dump"))
	if p.globals() {
		c := Check{What: "globals of " + p.User}
		if !super {
			c.Err = fmt.Errorf("globals: true dumps the roles with their password hashes, which needs a superuser (or set globals: false)")
		} else {
			c.Detail = "superuser: can dump the roles"
		}
		checks = append(checks, c)
	}
	if _, err := p.databases(ctx, conn); err != nil {
		checks = append(checks, Check{What: "databases", Err: err})
	}
	if p.RestoreUser != "" || p.RestorePasswordEnv != "" || p.RestorePasswordFile != "" || p.RestoreHost != "" || p.RestorePort != 0 {
		rc, pw, err := p.DBConn.forRestore("", 0)
		r := *p
		r.DBConn = rc
		c := Check{What: "restore login " + r.User + "@" + r.address()}
		var db *sql.DB
		if err == nil {
			db, err = r.open(ctx, env.Source, pw, "postgres")
		}
		if err != nil {
			c.Err = err
		} else {
			db.Close()
			c.Detail = "logged in"
		}
		checks = append(checks, c)
	}
	return checks
}

// toolVersion checks that the first of tools that is installed runs.
func toolVersion(ctx context.Context, env Env, tools ...string) Check {
	c := Check{What: tools[0] + " on " + env.Source.Name()}
	tool, err := findTool(ctx, env.Source, tools...)
	if err != nil {
		c.Err = err
		return c
	}
	c.What = tool + " on " + env.Source.Name()
	out, err := output(ctx, env.Source, tool, "--version")
	if err != nil {
		c.Err = fmt.Errorf("not runnable: %w", err)
		return c
	}
	c.Detail, _, _ = strings.Cut(strings.TrimSpace(out), "\n")
	return c
}
