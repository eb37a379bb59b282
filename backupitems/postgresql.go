package backupitems

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/depot-backup/depot/hosts"
)

func init() {
	Register(Type{
		Name:    "postgresql",
		Summary: "PostgreSQL databases, one zstd-compressed pg_dump per database plus the roles; an unchanged database is a hard link",
		New:     func() Item { return &PostgreSQL{} },
	})
}

// PostgreSQL dumps PostgreSQL databases with pg_dump in plain SQL format, one
// file <database>.sql.zst per database, and the roles and tablespaces with
// pg_dumpall --globals-only into globals.sql.zst.
//
// Plain format because it is the one whose bytes are identical for identical
// data: a custom-format archive carries its creation time in its header. Since
// PostgreSQL 15.14 a plain dump holds a random \restrict key unless one is
// given; the item generates a key once and keeps it in the manifest
// (Result.Meta "restrict_key"), so the key stays stable from run to run and
// the database being dumped cannot guess it.
type PostgreSQL struct {
	Common    `yaml:",inline"`
	DBConn    `yaml:",inline"`
	Databases []string `yaml:"databases"`
	Globals   *bool    `yaml:"globals"`
	// NoOwner restores with pg_restore --no-owner's meaning: the restoring
	// user owns what is loaded, and the source's owners need not exist.
	NoOwner   bool     `yaml:"no_owner"`
	ExtraArgs []string `yaml:"extra_args"`
}

var (
	_ Item     = (*PostgreSQL)(nil)
	_ Restorer = (*PostgreSQL)(nil)
)

// pgGlobalsFile holds the roles and tablespaces (see dumpFileName for a
// database named "globals").
const pgGlobalsFile = "globals.sql.zst"

// pgMetaKey is the Result.Meta key of the \restrict key.
const pgMetaKey = "restrict_key"

// Validate implements Item.
func (p *PostgreSQL) Validate() []FieldError {
	errs := p.DBConn.validate()
	errs = append(errs, validateNames("databases", p.Databases)...)
	errs = append(errs, validateArgs("extra_args", p.ExtraArgs)...)
	for i, a := range p.ExtraArgs {
		name, _, _ := strings.Cut(a, "=")
		if name == "--create" || name == "-C" || name == "--clean" || name == "-c" || name == "--format" || strings.HasPrefix(a, "-F") {
			errs = append(errs, FieldError{Key: "extra_args", Index: i, Message: fmt.Sprintf("%s is depot's to choose: it records the database's properties itself and loads a plain dump in one transaction", a)})
		}
	}
	return errs
}

func (p *PostgreSQL) globals() bool { return p.Globals == nil || *p.Globals }

// host is the server's host, or its socket directory.
func (p *PostgreSQL) host() (string, int) {
	if p.Socket != "" {
		port := p.Port
		if port == 0 {
			port = 5432
		}
		return p.Socket, port
	}
	return p.hostPort(5432)
}

// address describes the server in messages.
func (p *PostgreSQL) address() string {
	host, port := p.host()
	if p.Socket != "" {
		return fmt.Sprintf("%s/.s.PGSQL.%d", host, port)
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// connArgs are the libpq tools' connection options; the password travels in
// PGPASSWORD (see secretRun), and no tool ever prompts for one.
func (p *PostgreSQL) connArgs() []string {
	host, port := p.host()
	return []string{"--host=" + host, "--port=" + strconv.Itoa(port), "--username=" + p.User, "--no-password"}
}

// conninfo quotes a database name as a libpq connection string, so that no
// name (one with "=" in it, say) is taken for something else.
func conninfo(db string) string {
	return "dbname='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(db) + "'"
}

// dumpArgv is pg_dump of one database; key is the \restrict key or "".
func (p *PostgreSQL) dumpArgv(db, key string) []string {
	argv := append([]string{"pg_dump", "--format=plain"}, p.connArgs()...)
	if key != "" {
		argv = append(argv, "--restrict-key="+key)
	}
	argv = append(argv, p.ExtraArgs...)
	return append(argv, "--dbname="+conninfo(db))
}

// globalsArgv is pg_dumpall of the roles and tablespaces.
func (p *PostgreSQL) globalsArgv(key string) []string {
	argv := append([]string{"pg_dumpall", "--globals-only"}, p.connArgs()...)
	if key != "" {
		argv = append(argv, "--restrict-key="+key)
	}
	return argv
}

// Plan implements Item.
func (p *PostgreSQL) Plan(ctx context.Context, env Env) Plan {
	dbs, err := planDatabases(ctx, p.Databases, p.password, func(password string) (*sql.DB, error) {
		return p.open(ctx, env.Source, password, "postgres")
	}, p.databases)
	var out Plan
	if err != nil {
		dbs, out.Method = []string{"(every database but the templates)"}, err.Error()
	}
	for _, db := range dbs {
		out.Sources = append(out.Sources, "postgresql://"+p.User+"@"+p.address()+"/"+db)
	}
	if err != nil {
		dbs = []string{"DATABASE"}
	}
	key, kerr := p.restrictKey(ctx, env)
	if kerr != nil {
		out.Method = joinNotes(out.Method, kerr.Error())
	}
	if key != "" {
		key = Secret
	}
	if p.globals() {
		out.Commands = append(out.Commands, p.globalsArgv(key))
	}
	for _, db := range dbs {
		out.Commands = append(out.Commands, p.dumpArgv(db, key))
	}
	return out
}

// dialer makes pq connect through a host.
type dialer struct{ h hosts.Host }

func (d dialer) Dial(network, addr string) (net.Conn, error) {
	return d.h.Dial(context.Background(), network, addr)
}

func (d dialer) DialTimeout(network, addr string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.h.Dial(ctx, network, addr)
}

func (d dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return d.h.Dial(ctx, network, addr)
}

// open connects to database db through h.
func (p *PostgreSQL) open(ctx context.Context, h hosts.Host, password, db string) (*sql.DB, error) {
	cfg, err := pq.NewConfig("")
	if err != nil {
		return nil, err
	}
	host, port := p.host()
	cfg.Host, cfg.Port, cfg.User, cfg.Password, cfg.Database = host, uint16(port), p.User, password, db
	cfg.ConnectTimeout = 30 * time.Second
	// As libpq, which the dump tools use: TLS when the server offers it,
	// never over a unix socket. (pq's own default requires it.)
	switch {
	case p.Socket != "":
		cfg.SSLMode = pq.SSLModeDisable
	case cfg.SSLMode == "":
		cfg.SSLMode = pq.SSLModePrefer
	}
	conn, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, err
	}
	conn.Dialer(dialer{h})
	sdb := sql.OpenDB(conn)
	sdb.SetMaxOpenConns(1)
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("connect to %s as %s: %w", p.address(), p.User, err)
	}
	return sdb, nil
}

// databases returns the databases to dump: the configured ones, each checked
// to exist, or every database that takes connections but the templates.
func (p *PostgreSQL) databases(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT datname, datallowconn AND NOT datistemplate FROM pg_database ORDER BY datname")
	if err != nil {
		return nil, fmt.Errorf("list databases: %w", err)
	}
	defer rows.Close()
	all := map[string]bool{}
	var dumpable []string
	for rows.Next() {
		var name string
		var ok bool
		if err := rows.Scan(&name, &ok); err != nil {
			return nil, fmt.Errorf("list databases: %w", err)
		}
		all[name] = true
		if ok {
			dumpable = append(dumpable, name)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list databases: %w", err)
	}
	if len(p.Databases) == 0 {
		return dumpable, nil
	}
	for _, want := range p.Databases {
		if !all[want] {
			return nil, fmt.Errorf("database %s does not exist on %s", want, p.address())
		}
	}
	return p.Databases, nil
}

// restrictKey returns the base's \restrict key, or a new random one when
// there is no base, and "" when pg_dump is too old to know the option (and
// so writes no random key either).
func (p *PostgreSQL) restrictKey(ctx context.Context, env Env) (string, error) {
	help, err := output(ctx, env.Source, "pg_dump", "--help")
	if err != nil {
		return "", fmt.Errorf("pg_dump --help: %w", err)
	}
	if !strings.Contains(help, "--restrict-key") {
		return "", nil
	}
	if k := env.PrevMeta[pgMetaKey]; k != "" && isAlnum(k) {
		return k, nil
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b), nil
}

func isAlnum(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	}) < 0
}

// Backup implements Item.
func (p *PostgreSQL) Backup(ctx context.Context, env Env) (Result, error) {
	password, err := p.password()
	if err != nil {
		return Result{}, err
	}
	conn, err := p.open(ctx, env.Source, password, "postgres")
	if err != nil {
		return Result{}, err
	}
	defer conn.Close()
	dbs, err := p.databases(ctx, conn)
	if err != nil {
		return Result{}, err
	}
	if _, err := findTool(ctx, env.Source, "pg_dump"); err != nil {
		return Result{}, err
	}
	key, err := p.restrictKey(ctx, env)
	if err != nil {
		return Result{}, err
	}
	var res Result
	if key != "" {
		res.Meta = map[string]string{pgMetaKey: key}
	}
	dump := func(file string, argv []string) error {
		info, err := storeStream(ctx, env.Out, file, true, func(stdout io.Writer) error {
			return secretRun{Argv: argv, EnvVar: "PGPASSWORD", Password: password, Stdout: stdout}.run(ctx, env.Source)
		})
		if err == nil {
			res.tally(info)
		}
		return err
	}
	if p.globals() {
		if err := dump(pgGlobalsFile, p.globalsArgv(key)); err != nil {
			return Result{}, fmt.Errorf("dump globals: %w", err)
		}
	}
	for _, db := range dbs {
		props, err := pgProperties(ctx, conn, db)
		if err == nil {
			env.Log.Debug("dumping", "database", db)
			err = dump(dumpFileName(db), p.dumpArgv(db, key))
			if err != nil {
				err = fmt.Errorf("dump %s: %w", db, err)
			}
		}
		if err != nil {
			if p.vanished(ctx, conn, db) {
				res.Warnings = append(res.Warnings, fmt.Sprintf("database %s was dropped during the run: not backed up", db))
				continue
			}
			return Result{}, err
		}
		info, err := storeProps(ctx, env.Out, db, props)
		if err != nil {
			return Result{}, err
		}
		res.tally(info)
	}
	if len(dbs) == 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("no databases to back up on %s", p.address()))
	}
	return res, nil
}

// vanished tells whether db is gone from the server, in the mode that
// dumps every database: a database dropped after the listing is not an
// error of the item.
func (p *PostgreSQL) vanished(ctx context.Context, conn *sql.DB, db string) bool {
	if len(p.Databases) > 0 {
		return false
	}
	var n int
	err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM pg_database WHERE datname = $1", db).Scan(&n)
	return err == nil && n == 0
}
