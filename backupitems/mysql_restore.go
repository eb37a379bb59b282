package backupitems

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Restore implements Restorer: --to-database loads one dump into a new
// database (or an existing empty one; a non-empty one only with Force) with
// the source database's character set and collation; --to-server loads the
// users, roles and grants and then every database under its own name.
func (m *MySQL) Restore(ctx context.Context, env RestoreEnv) error {
	if env.Server {
		return m.restoreServer(ctx, env)
	}
	if env.Database == "" {
		return &TargetError{Msg: fmt.Sprintf("a %s item restores with --to-database, --to-server or --to DIR", m.Type)}
	}
	dumps, err := listDumps(ctx, env.In, mysqlGlobalsFile)
	if err != nil {
		return err
	}
	file, err := restoreSource(env.SourceDatabase, env.Database, dumps)
	if err != nil {
		return err
	}
	src, _ := dumpDatabase(file)
	target := env.Database
	var props mysqlProps
	known, err := readProps(ctx, env.In, src, &props)
	if err != nil {
		return err
	}
	if target != src {
		names := props.NamesItself
		if !known {
			// A snapshot without the scan's result: scan the dump now.
			if names, err = scanDump(ctx, env.In, file, src); err != nil {
				return err
			}
		}
		if names {
			return fmt.Errorf("the dump of database %s names it in its statements (a view or routine refers to `%s`.…), which cannot be rewritten safely: loaded as %s they would read or change %s; restore it as %s on a server without it (--to-server, --restore-host), or edit a copy of the dump", src, src, target, src, src)
		}
	}
	r, password, client, conn, err := m.restoreConn(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close()
	created, err := r.createDatabase(ctx, conn, target, props, env.Force)
	if err != nil {
		return err
	}
	var filter func([]byte, bool) ([]byte, error)
	if target != src {
		filter = renameFilter(src, target)
	}
	env.Log.Info("loading", "dump", file, "database", target, "tool", client, "server", r.address())
	if err := r.load(ctx, env, client, password, file, target, filter); err != nil {
		if created {
			// Do not leave a half-loaded database under the new name.
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+quoteMySQL(target))
		}
		return fmt.Errorf("load %s into database %s: %w", file, target, err)
	}
	return nil
}

// restoreConn connects to the server a restore loads into, with the
// restore_ settings, and finds the client tool.
func (m *MySQL) restoreConn(ctx context.Context, env RestoreEnv) (*MySQL, string, string, *sql.DB, error) {
	rc, password, err := m.DBConn.forRestore(env.RestoreHost, env.RestorePort)
	if err != nil {
		return nil, "", "", nil, err
	}
	r := *m
	r.DBConn = rc
	client, err := findTool(ctx, env.Source, "mariadb", "mysql")
	if err != nil {
		return nil, "", "", nil, err
	}
	conn, err := r.open(ctx, env.Source, password)
	if err != nil {
		return nil, "", "", nil, err
	}
	return &r, password, client, conn, nil
}

// createDatabase makes database db with its properties, or checks that an
// existing one is empty (or that force is set). It tells whether it made it.
func (m *MySQL) createDatabase(ctx context.Context, conn *sql.DB, db string, props mysqlProps, force bool) (bool, error) {
	var exists, objects int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", db).Scan(&exists); err != nil {
		return false, fmt.Errorf("look up database %s: %w", db, err)
	}
	if exists > 0 {
		if err := conn.QueryRowContext(ctx, "SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?) + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?)", db, db).Scan(&objects); err != nil {
			return false, fmt.Errorf("look into database %s: %w", db, err)
		}
		if objects > 0 && !force {
			return false, fmt.Errorf("database %s exists and is not empty (%d tables and routines): name a new database, or pass --force to load into it", db, objects)
		}
		return false, nil
	}
	stmt := "CREATE DATABASE " + quoteMySQL(db)
	if props.CharacterSet != "" && isIdentifier(props.CharacterSet) {
		stmt += " CHARACTER SET " + props.CharacterSet
	}
	if props.Collation != "" && isIdentifier(props.Collation) {
		stmt += " COLLATE " + props.Collation
	}
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		return false, fmt.Errorf("create database %s: %w", db, err)
	}
	return true, nil
}

// load streams a dump file through filter (nil: as it is) into the client,
// in database db ("": none, for the globals).
func (m *MySQL) load(ctx context.Context, env RestoreEnv, client, password, file, db string, filter func([]byte, bool) ([]byte, error)) error {
	argv := append([]string{client}, m.connArgs()...)
	if db != "" {
		argv = append(argv, "--database="+db)
	}
	return loadDump(ctx, env.In, file, func(stdin io.Reader) error {
		if filter != nil {
			stdin = newLineFilter(stdin, filter)
		}
		return secretRun{Argv: argv, EnvVar: "MYSQL_PWD", Password: password, Stdin: stdin}.run(ctx, env.Source)
	})
}

// scanDump tells whether a stored dump of database db names it.
func scanDump(ctx context.Context, in Input, file, db string) (bool, error) {
	s := newNameScanner(db)
	err := loadDump(ctx, in, file, func(r io.Reader) error {
		_, err := io.Copy(s, r)
		return err
	})
	s.Close()
	if err != nil {
		return false, fmt.Errorf("read %s: %w", file, err)
	}
	return s.found, nil
}

// restoreServer loads every database under its own name, then the users,
// roles and grants, into a server that holds none of the databases.
func (m *MySQL) restoreServer(ctx context.Context, env RestoreEnv) error {
	dumps, err := listDumps(ctx, env.In, mysqlGlobalsFile)
	if err != nil {
		return err
	}
	files, err := env.In.Files(ctx)
	if err != nil {
		return err
	}
	hasGlobals := false
	for _, f := range files {
		hasGlobals = hasGlobals || f == mysqlGlobalsFile
	}
	if len(dumps) == 0 && !hasGlobals {
		return fmt.Errorf("the snapshot holds no database dump and no globals")
	}
	r, password, client, conn, err := m.restoreConn(ctx, env)
	if err != nil {
		return err
	}
	defer conn.Close()
	names := make([]string, 0, len(dumps))
	for db := range dumps {
		names = append(names, db)
	}
	sort.Strings(names)
	// An empty database that the server has already is loaded into.
	var there []string
	for _, db := range names {
		var n int
		if err := conn.QueryRowContext(ctx, "SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?) + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?)", db, db).Scan(&n); err != nil {
			return fmt.Errorf("look into database %s: %w", db, err)
		}
		if n > 0 {
			there = append(there, db)
		}
	}
	if len(there) > 0 && !env.Force {
		return fmt.Errorf("the server at %s already holds %s, not empty: restore a whole server into one without them, or pass --force to load into them", r.address(), strings.Join(there, ", "))
	}
	for _, db := range names {
		var props mysqlProps
		if _, err := readProps(ctx, env.In, db, &props); err != nil {
			return err
		}
		if _, err := r.createDatabase(ctx, conn, db, props, true); err != nil {
			return err
		}
		env.Log.Info("loading", "dump", dumps[db], "database", db, "tool", client, "server", r.address())
		if err := r.load(ctx, env, client, password, dumps[db], db, nil); err != nil {
			return fmt.Errorf("load %s into database %s: %w", dumps[db], db, err)
		}
	}
	// The users, roles and grants come last, so that grants on tables and
	// routines find them. (MariaDB loads a view or routine whose definer
	// does not exist yet, with a note.)
	if hasGlobals {
		env.Log.Info("loading", "dump", mysqlGlobalsFile, "tool", client, "server", r.address())
		if err := r.load(ctx, env, client, password, mysqlGlobalsFile, "", nil); err != nil {
			return fmt.Errorf("load %s (users, roles, grants): %w", mysqlGlobalsFile, err)
		}
	}
	return nil
}
