package backupitems

import (
	"context"
	"fmt"
	"io"

	"github.com/lib/pq"
)

// Restore implements Restorer: it loads a database's dump with psql, in one
// transaction, into a new database created from template0, or into an
// existing empty one (a non-empty one only with Force, where objects that
// exist already make the load fail). The roles in globals.sql.zst are not
// loaded: they belong to the whole server; see the README.
func (p *PostgreSQL) Restore(ctx context.Context, env RestoreEnv) error {
	if env.Database == "" {
		return fmt.Errorf("a %s item restores with --to-database or --to DIR", p.Type)
	}
	dumps, err := listDumps(ctx, env.In, pgGlobalsFile)
	if err != nil {
		return err
	}
	file, target, err := restoreSource(env.Database, dumps)
	if err != nil {
		return err
	}
	password, err := p.password()
	if err != nil {
		return err
	}
	if _, err := findTool(ctx, env.Source, "psql"); err != nil {
		return err
	}
	conn, err := p.open(ctx, env.Source, password, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close()
	var exists int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM pg_database WHERE datname = $1", target).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", target, err)
	}
	if exists > 0 {
		n, err := p.objects(ctx, env, password, target)
		if err != nil {
			return err
		}
		if n > 0 && !env.Force {
			return fmt.Errorf("database %s exists and is not empty (%d relations): name a new database, or pass --force to load into it", target, n)
		}
	} else if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(target)+" TEMPLATE template0"); err != nil {
		return fmt.Errorf("create database %s: %w", target, err)
	}
	argv := append([]string{"psql", "--no-psqlrc", "--quiet", "--single-transaction", "--set=ON_ERROR_STOP=1"}, p.connArgs()...)
	argv = append(argv, "--dbname="+conninfo(target))
	env.Log.Info("loading", "dump", file, "database", target)
	err = loadDump(ctx, env.In, file, func(stdin io.Reader) error {
		return secretRun{Argv: argv, EnvVar: "PGPASSWORD", Password: password, Stdin: stdin}.run(ctx, env.Source)
	})
	if err != nil {
		if exists == 0 {
			// Do not leave a half-made database under the new name.
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(target))
		}
		return fmt.Errorf("load %s into database %s: %w", file, target, err)
	}
	return nil
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
