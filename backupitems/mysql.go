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
// <database>.sql.zst per database, its character set and collation in
// <database>.database.json, and the users, roles and grants in
// globals.sql.zst. The dump options make identical data give identical
// bytes, so an unchanged database is stored once.
type MySQL struct {
	Common    `yaml:",inline"`
	DBConn    `yaml:",inline"`
	Databases []string `yaml:"databases"`
	Globals   *bool    `yaml:"globals"`
	// Consistency "lock" dumps each database under a read lock of all its
	// tables, for non-transactional (MyISAM, Aria) tables; the default
	// dumps in one transaction and warns when such tables are there.
	Consistency string   `yaml:"consistency"`
	DumpHistory bool     `yaml:"dump_history"`
	ExtraArgs   []string `yaml:"extra_args"`
}

var (
	_ Item     = (*MySQL)(nil)
	_ Restorer = (*MySQL)(nil)
)

// mysqlSystemDatabases are left out when the config names no databases.
var mysqlSystemDatabases = []string{"information_schema", "performance_schema", "mysql", "sys"}

// mysqlDumpOptions make a dump of everything in a database, with binary data
// kept exact and no date in it.
var mysqlDumpOptions = []string{"--routines", "--triggers", "--events", "--hex-blob", "--skip-dump-date"}

// mysqlGlobalsArgs dump the users, roles and grants, each CREATE USER as
// IF NOT EXISTS so that a server's own accounts (root) do not stop a load.
var mysqlGlobalsArgs = []string{"--system=users", "--insert-ignore", "--skip-dump-date"}

// mysqlDatabaseArgs would make a dump name its database (CREATE DATABASE,
// USE), which a restore under another name must not meet.
var mysqlDatabaseArgs = []string{"--databases", "-B", "--all-databases", "-A", "--system"}

// Validate implements Item.
func (m *MySQL) Validate() []FieldError {
	errs := m.DBConn.validate()
	if m.Socket != "" && m.Host == "" && m.Port != 0 {
		errs = append(errs, FieldError{Key: "port", Index: -1, Message: "a port goes with host, not with socket"})
	}
	if m.Consistency != "" && m.Consistency != "lock" && m.Consistency != "transaction" {
		errs = append(errs, FieldError{Key: "consistency", Index: -1, Message: fmt.Sprintf("%q is not a consistency: transaction (the default) or lock", m.Consistency)})
	}
	errs = append(errs, validateNames("databases", m.Databases)...)
	errs = append(errs, validateArgs("extra_args", m.ExtraArgs)...)
	for i, a := range m.ExtraArgs {
		name, _, _ := strings.Cut(a, "=")
		if slices.Contains(mysqlDatabaseArgs, name) {
			errs = append(errs, FieldError{Key: "extra_args", Index: i, Message: fmt.Sprintf("%s would make the dump name its database; list databases under databases, and globals: true dumps the users", a)})
		}
	}
	return errs
}

func (m *MySQL) globals() bool { return m.Globals == nil || *m.Globals }

func (m *MySQL) lock() bool { return m.Consistency == "lock" }

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
	if m.lock() {
		argv = append(argv, "--lock-tables")
	} else {
		argv = append(argv, "--single-transaction")
	}
	if m.DumpHistory {
		argv = append(argv, "--dump-history")
	}
	argv = append(argv, m.connArgs()...)
	argv = append(argv, m.ExtraArgs...)
	return append(argv, "--", db)
}

// globalsArgv is the dump of the users, roles and grants.
func (m *MySQL) globalsArgv(tool string) []string {
	argv := append([]string{tool}, mysqlGlobalsArgs...)
	return append(argv, m.connArgs()...)
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
	if m.globals() {
		if tool != "mariadb-dump" {
			p.Method = joinNotes(p.Method, "globals from SHOW CREATE USER and SHOW GRANTS (mysqldump has no --system=users)")
		} else {
			p.Commands = append(p.Commands, m.globalsArgv(tool))
		}
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
	defer conn.Close()
	dbs, err := m.databases(ctx, conn)
	if err != nil {
		return Result{}, err
	}
	var res Result
	if len(dbs) == 0 && !m.globals() {
		res.Warnings = append(res.Warnings, fmt.Sprintf("no databases to back up on %s", m.address()))
		return res, nil
	}
	tool, err := findTool(ctx, env.Source, "mariadb-dump", "mysqldump")
	if err != nil {
		return Result{}, err
	}
	run := func(argv []string) func(io.Writer) error {
		return func(stdout io.Writer) error {
			return secretRun{Argv: argv, EnvVar: "MYSQL_PWD", Password: password, Stdout: stdout}.run(ctx, env.Source)
		}
	}
	if m.globals() {
		dumpGlobals := run(m.globalsArgv(tool))
		if tool != "mariadb-dump" {
			// mysqldump has no --system=users: ask the server.
			dumpGlobals = func(w io.Writer) error { return mysqlGlobalsSQL(ctx, conn, w) }
		}
		info, err := storeStream(ctx, env.Out, mysqlGlobalsFile, true, dumpGlobals)
		if err != nil {
			return Result{}, fmt.Errorf("dump globals (users, roles, grants; the user needs SELECT on mysql.*): %w", err)
		}
		res.tally(info)
	}
	if len(dbs) == 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("no databases to back up on %s", m.address()))
	}
	for _, db := range dbs {
		if strings.HasPrefix(db, "-") {
			return Result{}, fmt.Errorf("database %q starts with '-': name the databases to back up", db)
		}
		props, warn, err := m.preflight(ctx, conn, db)
		if err != nil {
			if gone := m.vanished(ctx, conn, db); gone {
				res.Warnings = append(res.Warnings, fmt.Sprintf("database %s was dropped during the run: not backed up", db))
				continue
			}
			return Result{}, err
		}
		if warn != "" {
			res.Warnings = append(res.Warnings, warn)
		}
		env.Log.Debug("dumping", "database", db, "tool", tool)
		scan := newNameScanner(db)
		dump := run(m.dumpArgv(tool, db))
		info, err := storeStream(ctx, env.Out, dumpFileName(db), true, func(stdout io.Writer) error {
			err := dump(io.MultiWriter(stdout, scan))
			scan.Close()
			return err
		})
		if err != nil {
			if gone := m.vanished(ctx, conn, db); gone {
				res.Warnings = append(res.Warnings, fmt.Sprintf("database %s was dropped during the run: not backed up", db))
				continue
			}
			return Result{}, fmt.Errorf("dump %s: %w", db, err)
		}
		res.tally(info)
		props.NamesItself = scan.found
		info, err = storeProps(ctx, env.Out, db, props)
		if err != nil {
			return Result{}, err
		}
		res.tally(info)
	}
	return res, nil
}

// mysqlGlobalsFile holds the users, roles and grants (see dumpFileName for
// a database named "globals").
const mysqlGlobalsFile = "globals.sql.zst"

// vanished tells whether db is gone from the server, in the mode that
// dumps every database: a database dropped after the listing is not an
// error of the item.
func (m *MySQL) vanished(ctx context.Context, conn *sql.DB, db string) bool {
	if len(m.Databases) > 0 {
		return false
	}
	var n int
	err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", db).Scan(&n)
	return err == nil && n == 0
}

// quoteMySQL quotes an identifier for MySQL.
func quoteMySQL(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}
