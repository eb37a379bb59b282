package backupitems

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/lib/pq"
)

// Restore implements Restorer. --to-database creates the database with the
// source's properties (owner, encoding, locale, connection limit) from
// template0, or uses an existing empty one (a non-empty one only with
// Force, where objects that exist already make the load fail); loads the
// dump with psql in one transaction; then, outside it, re-creates the
// database's settings, role settings, comment and access list, and runs
// ANALYZE. --to-server loads the roles and tablespaces and then every
// database under its own name.
func (p *PostgreSQL) Restore(ctx context.Context, env RestoreEnv) error {
	if env.Server {
		return p.restoreServer(ctx, env)
	}
	if env.Database == "" {
		return &TargetError{Msg: fmt.Sprintf("a %s item restores with --to-database, --to-server or --to DIR", p.Type)}
	}
	dumps, err := listDumps(ctx, env.In, pgGlobalsFile)
	if err != nil {
		return err
	}
	file, err := restoreSource(env.SourceDatabase, env.Database, dumps)
	if err != nil {
		return err
	}
	src, _ := dumpDatabase(file)
	r, password, conn, err := p.restoreConn(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close()
	return r.restoreDatabase(ctx, env, conn, password, src, file, env.Database, env.Force)
}

// restoreConn connects to the postgres database of the server a restore
// loads into, with the restore_ settings, and checks psql is there.
func (p *PostgreSQL) restoreConn(ctx context.Context, env RestoreEnv) (*PostgreSQL, string, *sql.DB, error) {
	rc, password, err := p.DBConn.forRestore(env.RestoreHost, env.RestorePort)
	if err != nil {
		return nil, "", nil, err
	}
	r := *p
	r.DBConn = rc
	if _, err := findTool(ctx, env.Source, "psql"); err != nil {
		return nil, "", nil, err
	}
	conn, err := r.open(ctx, env.Source, password, "postgres")
	if err != nil {
		return nil, "", nil, err
	}
	return &r, password, conn, nil
}

// restoreDatabase loads the dump file of database src into target.
func (p *PostgreSQL) restoreDatabase(ctx context.Context, env RestoreEnv, conn *sql.DB, password, src, file, target string, force bool) error {
	var props pgProps
	known, err := readProps(ctx, env.In, src, &props)
	if err != nil {
		return err
	}
	var exists int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM pg_database WHERE datname = $1", target).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", target, err)
	}
	if exists > 0 {
		n, err := p.objects(ctx, env, password, target)
		if err != nil {
			return err
		}
		if n > 0 && !force {
			return fmt.Errorf("database %s exists and is not empty (%d relations): name a new database, or pass --force to load into it", target, n)
		}
	} else {
		stmt := "CREATE DATABASE " + pq.QuoteIdentifier(target) + " TEMPLATE template0"
		if known {
			stmt = props.createStatement(target, p.NoOwner)
		}
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			var pqErr *pq.Error
			if errors.As(err, &pqErr) && pqErr.Code == "42704" && !p.NoOwner {
				return fmt.Errorf("create database %s: %w (load the roles with --to-server, create the role, or set no_owner: true)", target, err)
			}
			return fmt.Errorf("create database %s: %w", target, err)
		}
	}
	fail := func(err error) error {
		if exists == 0 {
			// Do not leave a half-made database under the new name.
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(target))
		}
		return err
	}
	env.Log.Info("loading", "dump", file, "database", target, "server", p.address())
	var filter func([]byte, bool) ([]byte, error)
	if p.NoOwner {
		filter = noOwnerFilter()
	}
	if err := p.load(ctx, env, password, file, target, true, filter); err != nil {
		return fail(fmt.Errorf("load %s into database %s: %w", file, target, err))
	}
	if known && exists == 0 {
		if p.NoOwner {
			// The source's roles need not exist: leave out what is theirs.
			roles, err := column(ctx, conn, "SELECT rolname FROM pg_roles")
			if err != nil {
				return fail(fmt.Errorf("list roles: %w", err))
			}
			for _, gone := range props.dropRoles(roles) {
				env.Log.Warn("no_owner: the role does not exist here; its settings and privileges in the database are left out", "role", gone, "database", target)
			}
		}
		for _, stmt := range props.afterStatements(target, p.NoOwner) {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fail(fmt.Errorf("database %s: %s: %w", target, stmt, err))
			}
		}
	}
	db, err := p.open(ctx, env.Source, password, target)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
		return fmt.Errorf("analyze database %s: %w", target, err)
	}
	return nil
}

// load streams a dump through filter (nil: as it is) into psql, connected
// to database db, in one transaction when single is set.
func (p *PostgreSQL) load(ctx context.Context, env RestoreEnv, password, file, db string, single bool, filter func([]byte, bool) ([]byte, error)) error {
	argv := []string{"psql", "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1"}
	if single {
		argv = append(argv, "--single-transaction")
	}
	argv = append(argv, p.connArgs()...)
	argv = append(argv, "--dbname="+conninfo(db))
	return loadDump(ctx, env.In, file, func(stdin io.Reader) error {
		if filter != nil {
			stdin = newLineFilter(stdin, filter)
		}
		return secretRun{Argv: argv, EnvVar: "PGPASSWORD", Password: password, Stdin: stdin}.run(ctx, env.Source)
	})
}

// noOwnerFilter drops the ALTER ... OWNER TO statements of a plain dump, as
// pg_restore --no-owner does: the restoring user owns everything. Lines of
// COPY data are passed on untouched.
func noOwnerFilter() func([]byte, bool) ([]byte, error) {
	inCopy := false
	return func(line []byte, whole bool) ([]byte, error) {
		switch {
		case inCopy:
			if bytes.Equal(line, []byte("\\.\n")) {
				inCopy = false
			}
		case bytes.HasPrefix(line, []byte("COPY ")) && bytes.HasSuffix(line, []byte(" FROM stdin;\n")):
			inCopy = true
		case whole && bytes.HasPrefix(line, []byte("ALTER ")) && bytes.Contains(line, []byte(" OWNER TO ")) && bytes.HasSuffix(line, []byte(";\n")):
			return nil, nil
		}
		return line, nil
	}
}

// objects counts the tables, views, sequences and other relations that a
// database holds outside the system schemas.
func (p *PostgreSQL) objects(ctx context.Context, env RestoreEnv, password, db string) (int, error) {
	conn, err := p.open(ctx, env.Source, password, db)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var n int
	err = conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("look into database %s: %w", db, err)
	}
	return n, nil
}

// restoreServer loads the roles and tablespaces, then every database under
// its own name with its properties, into a server that holds none of them.
func (p *PostgreSQL) restoreServer(ctx context.Context, env RestoreEnv) error {
	dumps, err := listDumps(ctx, env.In, pgGlobalsFile)
	if err != nil {
		return err
	}
	files, err := env.In.Files(ctx)
	if err != nil {
		return err
	}
	hasGlobals := false
	for _, f := range files {
		hasGlobals = hasGlobals || f == pgGlobalsFile
	}
	if len(dumps) == 0 && !hasGlobals {
		return fmt.Errorf("the snapshot holds no database dump and no globals")
	}
	r, password, conn, err := p.restoreConn(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close()
	names := make([]string, 0, len(dumps))
	for db := range dumps {
		names = append(names, db)
	}
	sort.Strings(names)
	existing, err := column(ctx, conn, "SELECT datname FROM pg_database WHERE datname = ANY($1) ORDER BY datname", pq.Array(names))
	if err != nil {
		return fmt.Errorf("list databases: %w", err)
	}
	// A database that every server has (postgres) is loaded into when it
	// is empty.
	var there []string
	for _, db := range existing {
		n, err := r.objects(ctx, env, password, db)
		if err != nil {
			return err
		}
		if n > 0 {
			there = append(there, db)
		}
	}
	if len(there) > 0 && !env.Force {
		return fmt.Errorf("the server at %s already holds %s, not empty: restore a whole server into one without them, or pass --force to load into them", r.address(), strings.Join(there, ", "))
	}
	if hasGlobals {
		roles, err := column(ctx, conn, "SELECT rolname FROM pg_roles")
		if err != nil {
			return fmt.Errorf("list roles: %w", err)
		}
		env.Log.Info("loading", "dump", pgGlobalsFile, "server", r.address())
		if err := r.load(ctx, env, password, pgGlobalsFile, "postgres", true, skipRolesFilter(roles)); err != nil {
			return fmt.Errorf("load %s (roles, tablespaces): %w", pgGlobalsFile, err)
		}
	}
	for _, db := range names {
		if err := r.restoreDatabase(ctx, env, conn, password, db, dumps[db], db, env.Force); err != nil {
			return err
		}
	}
	return nil
}

// skipRolesFilter drops the CREATE ROLE of roles that the server has
// already (its superuser, say); their ALTER ROLE ... WITH still gives them
// the source's attributes and password.
func skipRolesFilter(existing []string) func([]byte, bool) ([]byte, error) {
	skip := map[string]bool{}
	for _, r := range existing {
		skip["CREATE ROLE "+pq.QuoteIdentifier(r)+";\n"] = true
		skip["CREATE ROLE "+r+";\n"] = true
	}
	return func(line []byte, whole bool) ([]byte, error) {
		if whole && skip[string(line)] {
			return nil, nil
		}
		return line, nil
	}
}
