package backupitems

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/depot-backup/depot/hosts"
)

func init() {
	Register(Type{
		Name:    "mysql",
		Summary: "MySQL and MariaDB databases, one consistent zstd-compressed dump per database; an unchanged database is a hard link",
		New:     func() Item { return &MySQL{} },
	})
}

// MySQL dumps MySQL or MariaDB databases with the vendor's dump tool
// (mariadb-dump or mysqldump, whichever the source host has), one file
// <database>.sql.zst per database. The dump options make identical data give
// identical bytes, so an unchanged database is stored once.
type MySQL struct {
	Common    `yaml:",inline"`
	DBConn    `yaml:",inline"`
	Databases []string `yaml:"databases"`
	ExtraArgs []string `yaml:"extra_args"`
}

var (
	_ Item     = (*MySQL)(nil)
	_ Restorer = (*MySQL)(nil)
)

// mysqlSystemDatabases are left out when the config names no databases.
var mysqlSystemDatabases = []string{"information_schema", "performance_schema", "mysql", "sys"}

// mysqlDumpOptions make a consistent dump of everything in a database, with
// binary data kept exact and no date in it.
var mysqlDumpOptions = []string{"--single-transaction", "--routines", "--triggers", "--events", "--hex-blob", "--skip-dump-date"}

// Validate implements Item.
func (m *MySQL) Validate() []FieldError {
	errs := m.DBConn.validate()
	if m.Socket != "" && m.Host == "" && m.Port != 0 {
		errs = append(errs, FieldError{Key: "port", Index: -1, Message: "a port goes with host, not with socket"})
	}
	errs = append(errs, validateNames("databases", m.Databases)...)
	return append(errs, validateArgs("extra_args", m.ExtraArgs)...)
}

// validateNames checks a list of database names.
func validateNames(key string, names []string) []FieldError {
	var errs []FieldError
	for i, n := range names {
		switch {
		case n == "":
			errs = append(errs, FieldError{Key: key, Index: i, Message: "empty database name"})
		case strings.HasPrefix(n, "-"):
			errs = append(errs, FieldError{Key: key, Index: i, Message: fmt.Sprintf("database name %q starts with '-', which a dump tool would take for an option", n)})
		case slices.Index(names, n) < i:
			errs = append(errs, FieldError{Key: key, Index: i, Message: fmt.Sprintf("database %q is listed twice", n)})
		}
	}
	return errs
}

// validateArgs checks extra_args.
func validateArgs(key string, args []string) []FieldError {
	var errs []FieldError
	for i, a := range args {
		if a == "" {
			errs = append(errs, FieldError{Key: key, Index: i, Message: "empty argument"})
		} else if !strings.HasPrefix(a, "-") {
			errs = append(errs, FieldError{Key: key, Index: i, Message: fmt.Sprintf("%q is not an option; list databases under databases", a)})
		}
	}
	return errs
}

// connArgs are the dump and client tools' connection options. The password
// is not among them: it travels in MYSQL_PWD (see secretRun).
func (m *MySQL) connArgs() []string {
	args := []string{"--user=" + m.User}
	if m.Socket != "" {
		return append(args, "--protocol=SOCKET", "--socket="+m.Socket)
	}
	host, port := m.hostPort(3306)
	return append(args, "--protocol=TCP", "--host="+host, "--port="+strconv.Itoa(port))
}

// address describes the server in messages.
func (m *MySQL) address() string {
	if m.Socket != "" {
		return m.Socket
	}
	host, port := m.hostPort(3306)
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// dumpArgv is the dump of one database with tool.
func (m *MySQL) dumpArgv(tool, db string) []string {
	argv := append([]string{tool}, mysqlDumpOptions...)
	argv = append(argv, m.connArgs()...)
	argv = append(argv, m.ExtraArgs...)
	return append(argv, "--", db)
}

// Plan implements Item.
func (m *MySQL) Plan(ctx context.Context, env Env) Plan {
	dbs, err := planDatabases(ctx, m.Databases, m.password, func(password string) (*sql.DB, error) {
		return m.open(ctx, env.Source, password)
	}, m.databases)
	var p Plan
	if err != nil {
		dbs, p.Method = []string{"(every database but " + strings.Join(mysqlSystemDatabases, ", ") + ")"}, err.Error()
	}
	for _, db := range dbs {
		p.Sources = append(p.Sources, "mysql://"+m.User+"@"+m.address()+"/"+db)
	}
	if err != nil {
		dbs = []string{"DATABASE"}
	}
	tool, terr := findTool(ctx, env.Source, "mariadb-dump", "mysqldump")
	if terr != nil {
		tool, p.Method = "mariadb-dump", joinNotes(p.Method, terr.Error())
	}
	for _, db := range dbs {
		p.Commands = append(p.Commands, m.dumpArgv(tool, db))
	}
	return p
}

// open connects to the server through h, so that a server that listens only
// on the source host is reached in every mode.
func (m *MySQL) open(ctx context.Context, h hosts.Host, password string) (*sql.DB, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd = m.User, password
	if m.Socket != "" {
		cfg.Net, cfg.Addr = "unix", m.Socket
	} else {
		cfg.Net, cfg.Addr = "tcp", m.address()
	}
	cfg.Timeout = 30 * time.Second
	cfg.DialFunc = h.Dial
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s as %s: %w", m.address(), m.User, err)
	}
	return db, nil
}

// databases returns the databases to dump: the configured ones, each checked
// to exist, or every database the user sees but the system ones.
func (m *MySQL) databases(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SHOW DATABASES")
	if err != nil {
		return nil, fmt.Errorf("list databases: %w", err)
	}
	defer rows.Close()
	var all []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("list databases: %w", err)
		}
		all = append(all, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list databases: %w", err)
	}
	if len(m.Databases) > 0 {
		for _, want := range m.Databases {
			if !slices.Contains(all, want) {
				return nil, fmt.Errorf("database %s does not exist on %s (or %s may not see it)", want, m.address(), m.User)
			}
		}
		return m.Databases, nil
	}
	var out []string
	for _, name := range all {
		if !slices.Contains(mysqlSystemDatabases, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// Backup implements Item.
func (m *MySQL) Backup(ctx context.Context, env Env) (Result, error) {
	password, err := m.password()
	if err != nil {
		return Result{}, err
	}
	conn, err := m.open(ctx, env.Source, password)
	if err != nil {
		return Result{}, err
	}
	dbs, err := m.databases(ctx, conn)
	conn.Close()
	if err != nil {
		return Result{}, err
	}
	var res Result
	if len(dbs) == 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("no databases to back up on %s", m.address()))
		return res, nil
	}
	tool, err := findTool(ctx, env.Source, "mariadb-dump", "mysqldump")
	if err != nil {
		return Result{}, err
	}
	for _, db := range dbs {
		if strings.HasPrefix(db, "-") {
			return Result{}, fmt.Errorf("database %q starts with '-': name the databases to back up", db)
		}
		env.Log.Debug("dumping", "database", db, "tool", tool)
		info, err := storeStream(ctx, env.Out, dumpFileName(db), true, func(stdout io.Writer) error {
			return secretRun{Argv: m.dumpArgv(tool, db), EnvVar: "MYSQL_PWD", Password: password, Stdout: stdout}.run(ctx, env.Source)
		})
		if err != nil {
			return Result{}, fmt.Errorf("dump %s: %w", db, err)
		}
		res.tally(info)
	}
	return res, nil
}

// quoteMySQL quotes an identifier for MySQL.
func quoteMySQL(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// Restore implements Restorer: it loads a dump into a new database, or into
// an existing empty one (a non-empty one only with Force).
func (m *MySQL) Restore(ctx context.Context, env RestoreEnv) error {
	if env.Database == "" {
		return fmt.Errorf("a %s item restores with --to-database or --to DIR", m.Type)
	}
	dumps, err := listDumps(ctx, env.In)
	if err != nil {
		return err
	}
	file, target, err := restoreSource(env.Database, dumps)
	if err != nil {
		return err
	}
	password, err := m.password()
	if err != nil {
		return err
	}
	client, err := findTool(ctx, env.Source, "mariadb", "mysql")
	if err != nil {
		return err
	}
	conn, err := m.open(ctx, env.Source, password)
	if err != nil {
		return err
	}
	defer conn.Close()
	var exists, tables int
	if err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", target).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", target, err)
	}
	if exists > 0 {
		if err := conn.QueryRowContext(ctx, "SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?) + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?)", target, target).Scan(&tables); err != nil {
			return fmt.Errorf("look into database %s: %w", target, err)
		}
		if tables > 0 && !env.Force {
			return fmt.Errorf("database %s exists and is not empty (%d tables and routines): name a new database, or pass --force to load into it", target, tables)
		}
	} else if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+quoteMySQL(target)); err != nil {
		return fmt.Errorf("create database %s: %w", target, err)
	}
	argv := append([]string{client}, m.connArgs()...)
	argv = append(argv, "--database="+target)
	env.Log.Info("loading", "dump", file, "database", target, "tool", client)
	err = loadDump(ctx, env.In, file, func(stdin io.Reader) error {
		return secretRun{Argv: argv, EnvVar: "MYSQL_PWD", Password: password, Stdin: stdin}.run(ctx, env.Source)
	})
	if err != nil {
		if exists == 0 {
			// Do not leave a half-loaded database under the new name.
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+quoteMySQL(target))
		}
		return fmt.Errorf("load %s into database %s: %w", file, target, err)
	}
	return nil
}
