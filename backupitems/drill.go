package backupitems

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/lib/pq"

	"github.com/depot-backup/depot/hosts"
)

// DrillResult is what a restore drill proved of one dump.
type DrillResult struct {
	Database string `json:"database,omitempty"` // the dumped database (or the svn repository)
	Scratch  string `json:"scratch,omitempty"`  // where it was loaded, then dropped
	Tables   int64  `json:"tables"`
	Rows     int64  `json:"rows"` // the server's estimate, after ANALYZE where it has one
	Query    string `json:"query,omitempty"`
	// Revision is the youngest revision an svn drill loaded and verified.
	Revision int64 `json:"revision,omitempty"`
	// Command is the drill_command that checked a command item's output.
	Command string `json:"command,omitempty"`
}

// NoDrillError is a Driller's answer when the item declares nothing to
// drill: the drill skips it and says why.
type NoDrillError struct{ Why string }

func (e *NoDrillError) Error() string { return e.Why }

// Driller is an item type that can prove its dumps load: each is loaded
// with the item's own restore (its restore_ settings) into a scratch target
// named by scratch, checked, and removed again, whatever happened.
type Driller interface {
	Drill(ctx context.Context, env RestoreEnv, scratch func(db string) string) ([]DrillResult, error)
}

var (
	_ Driller = (*MySQL)(nil)
	_ Driller = (*PostgreSQL)(nil)
	_ Driller = (*SVN)(nil)
	_ Driller = (*CommandItem)(nil)
)

// drillDumps returns the database dumps of a snapshot, sorted by database.
func drillDumps(ctx context.Context, in Input, globals string) ([]string, error) {
	dumps, err := listDumps(ctx, in, globals)
	if err != nil {
		return nil, err
	}
	if len(dumps) == 0 {
		return nil, fmt.Errorf("the snapshot holds no database dump")
	}
	names := make([]string, 0, len(dumps))
	for db := range dumps {
		names = append(names, db)
	}
	sort.Strings(names)
	return names, nil
}

// Drill implements Driller.
func (m *MySQL) Drill(ctx context.Context, env RestoreEnv, scratch func(string) string) ([]DrillResult, error) {
	dbs, err := drillDumps(ctx, env.In, mysqlGlobalsFile)
	if err != nil {
		return nil, err
	}
	var out []DrillResult
	for _, src := range dbs {
		res := DrillResult{Database: src, Scratch: scratch(src)}
		err := m.drillOne(ctx, env, &res)
		if err != nil {
			return out, fmt.Errorf("database %s: %w", src, err)
		}
		out = append(out, res)
	}
	return out, nil
}

func (m *MySQL) drillOne(ctx context.Context, env RestoreEnv, res *DrillResult) error {
	_, _, _, conn, err := m.restoreConn(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close()
	var exists int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", res.Scratch).Scan(&exists); err != nil {
		return err
	}
	if exists > 0 {
		return fmt.Errorf("scratch database %s exists already: drop it, or wait for the drill that made it", res.Scratch)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+quoteMySQL(res.Scratch))
	e := env
	e.Database, e.SourceDatabase, e.Force = res.Scratch, res.Database, false
	if err := m.Restore(ctx, e); err != nil {
		return err
	}
	c, err := conn.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "USE "+quoteMySQL(res.Scratch)); err != nil {
		return err
	}
	if err := c.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(TABLE_ROWS), 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'", res.Scratch).Scan(&res.Tables, &res.Rows); err != nil {
		return fmt.Errorf("count tables: %w", err)
	}
	if m.DrillQuery != "" {
		if res.Query, err = drillQuery(ctx, c, m.DrillQuery); err != nil {
			return err
		}
	}
	return nil
}

// Drill implements Driller.
func (p *PostgreSQL) Drill(ctx context.Context, env RestoreEnv, scratch func(string) string) ([]DrillResult, error) {
	dbs, err := drillDumps(ctx, env.In, pgGlobalsFile)
	if err != nil {
		return nil, err
	}
	var out []DrillResult
	for _, src := range dbs {
		res := DrillResult{Database: src, Scratch: scratch(src)}
		if err := p.drillOne(ctx, env, &res); err != nil {
			return out, fmt.Errorf("database %s: %w", src, err)
		}
		out = append(out, res)
	}
	return out, nil
}

func (p *PostgreSQL) drillOne(ctx context.Context, env RestoreEnv, res *DrillResult) error {
	r, password, conn, err := p.restoreConn(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close()
	var exists int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM pg_database WHERE datname = $1", res.Scratch).Scan(&exists); err != nil {
		return err
	}
	if exists > 0 {
		return fmt.Errorf("scratch database %s exists already: drop it, or wait for the drill that made it", res.Scratch)
	}
	defer func() {
		drop := "DROP DATABASE IF EXISTS " + pq.QuoteIdentifier(res.Scratch)
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), drop+" WITH (FORCE)"); err != nil {
			conn.ExecContext(context.WithoutCancel(ctx), drop) // before PostgreSQL 13
		}
	}()
	e := env
	e.Database, e.SourceDatabase, e.Force = res.Scratch, res.Database, false
	if err := p.Restore(ctx, e); err != nil {
		return err
	}
	db, err := r.open(ctx, env.Source, password, res.Scratch)
	if err != nil {
		return err
	}
	defer db.Close()
	err = db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(GREATEST(c.reltuples, 0)), 0)::bigint
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`).Scan(&res.Tables, &res.Rows)
	if err != nil {
		return fmt.Errorf("count tables: %w", err)
	}
	if p.DrillQuery != "" {
		c, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		if res.Query, err = drillQuery(ctx, c, p.DrillQuery); err != nil {
			return err
		}
	}
	return nil
}

// drillQuery runs the item's drill_query and returns its first value.
func drillQuery(ctx context.Context, c *sql.Conn, q string) (string, error) {
	rows, err := c.QueryContext(ctx, q)
	if err != nil {
		return "", fmt.Errorf("drill_query: %w", err)
	}
	defer rows.Close()
	var v sql.NullString
	if rows.Next() {
		cols, _ := rows.Columns()
		dest := make([]any, len(cols))
		dest[0] = &v
		for i := 1; i < len(cols); i++ {
			dest[i] = new(sql.RawBytes)
		}
		if err := rows.Scan(dest...); err != nil {
			return "", fmt.Errorf("drill_query: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("drill_query: %w", err)
	}
	if !v.Valid {
		return "NULL", nil
	}
	return v.String, nil
}

// Drill implements Driller: the chain of dumps is loaded into a new
// repository in a temporary directory on the source host (mktemp -t: in its
// TMPDIR, else /tmp), which svnadmin
// verify then checks whole; the directory is removed after.
func (s *SVN) Drill(ctx context.Context, env RestoreEnv, scratch func(string) string) ([]DrillResult, error) {
	var tmp bytes.Buffer
	if err := env.Source.Run(ctx, hosts.Command{Argv: []string{"mktemp", "-d", "-t", "depot-drill.XXXXXX"}, Stdout: &tmp}); err != nil {
		return nil, fmt.Errorf("make a scratch directory: %w", err)
	}
	dir := strings.TrimSpace(tmp.String())
	if !path.IsAbs(dir) || path.Clean(dir) != dir || !strings.HasPrefix(path.Base(dir), "depot-drill.") || strings.Contains(dir, "\n") {
		return nil, fmt.Errorf("mktemp printed %q", dir)
	}
	defer env.Source.Run(context.WithoutCancel(ctx), hosts.Command{Argv: []string{"rm", "-rf", "--", dir}})
	repo := path.Join(dir, scratch(""))
	e := env
	e.SVNPath = repo
	if err := s.Restore(ctx, e); err != nil {
		return nil, err
	}
	if err := env.Source.Run(ctx, hosts.Command{Argv: []string{"svnadmin", "verify", "--quiet", "--", repo}}); err != nil {
		return nil, fmt.Errorf("svnadmin verify: %w", err)
	}
	var youngest bytes.Buffer
	if err := env.Source.Run(ctx, hosts.Command{Argv: []string{"svnlook", "youngest", "--", repo}, Stdout: &youngest}); err != nil {
		return nil, fmt.Errorf("svnlook youngest: %w", err)
	}
	res := DrillResult{Database: s.Repository, Scratch: repo}
	fmt.Sscan(youngest.String(), &res.Revision)
	return []DrillResult{res}, nil
}
