package backupitems

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"

	"github.com/depot-backup/depot/hosts"
)

// This file holds what the dumping item types share: credentials, running a
// tool on the source host with a password, and streaming its output through
// zstd into the snapshot.

// DBConn are the connection keys of the database item types.
type DBConn struct {
	Host         string `yaml:"host"`
	Port         int    `yaml:"port"`
	Socket       string `yaml:"socket"`
	User         string `yaml:"user"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	// The restore_ keys are used only by restore (borgmatic's convention):
	// a least-privilege backup user cannot create databases or users. Each
	// defaults to its backup counterpart.
	RestoreUser         string `yaml:"restore_user"`
	RestorePasswordEnv  string `yaml:"restore_password_env"`
	RestorePasswordFile string `yaml:"restore_password_file"`
	RestoreHost         string `yaml:"restore_host"`
	RestorePort         int    `yaml:"restore_port"`
	// DrillQuery is run by depot drill in the scratch database it loads
	// the newest dump into; the drill fails when it fails.
	DrillQuery string `yaml:"drill_query"`
}

// validate checks the connection keys.
func (c *DBConn) validate() []FieldError {
	var errs []FieldError
	add := func(key, format string, args ...any) {
		errs = append(errs, FieldError{Key: key, Index: -1, Message: fmt.Sprintf(format, args...)})
	}
	if c.User == "" {
		add("user", "required: the database user depot connects as")
	}
	if c.PasswordEnv != "" && c.PasswordFile != "" {
		add("password_file", "set either password_env or password_file, not both")
	}
	if c.PasswordFile != "" && !filepath.IsAbs(c.PasswordFile) {
		add("password_file", "path %q is relative; write it from the root", c.PasswordFile)
	}
	if c.Host != "" && c.Socket != "" {
		add("socket", "set either host (and port) or socket, not both")
	}
	if c.Socket != "" && !filepath.IsAbs(c.Socket) {
		add("socket", "path %q is relative; write it from the root", c.Socket)
	}
	if c.Port != 0 && (c.Port < 1 || c.Port > 65535) {
		add("port", "%d is not a TCP port (1-65535)", c.Port)
	}
	if c.RestorePasswordEnv != "" && c.RestorePasswordFile != "" {
		add("restore_password_file", "set either restore_password_env or restore_password_file, not both")
	}
	if c.RestorePasswordFile != "" && !filepath.IsAbs(c.RestorePasswordFile) {
		add("restore_password_file", "path %q is relative; write it from the root", c.RestorePasswordFile)
	}
	if c.RestorePort != 0 && (c.RestorePort < 1 || c.RestorePort > 65535) {
		add("restore_port", "%d is not a TCP port (1-65535)", c.RestorePort)
	}
	return errs
}

// forRestore returns the connection a restore uses and its password: the
// restore_ keys where set, else the backup's, with host and port (from
// --restore-host and --restore-port) over both when given. A restore host
// means TCP, not the configured socket.
func (c DBConn) forRestore(host string, port int) (DBConn, string, error) {
	r := c
	if c.RestoreUser != "" {
		r.User = c.RestoreUser
	}
	ownPassword := c.RestorePasswordEnv != "" || c.RestorePasswordFile != ""
	if ownPassword {
		r.PasswordEnv, r.PasswordFile = c.RestorePasswordEnv, c.RestorePasswordFile
	}
	if host == "" {
		host = c.RestoreHost
	}
	if port == 0 {
		port = c.RestorePort
	}
	if host != "" {
		r.Host, r.Socket = host, ""
	}
	if port != 0 {
		r.Port = port
	}
	pw, err := r.password()
	if err != nil && ownPassword {
		err = fmt.Errorf("restore_%w", err) // the key's name: restore_password_env
	}
	return r, pw, err
}

// hostPort returns host:port with the defaults filled in.
func (c *DBConn) hostPort(defPort int) (string, int) {
	host, port := c.Host, c.Port
	if host == "" {
		host = "127.0.0.1"
	}
	if port == 0 {
		port = defPort
	}
	return host, port
}

// password reads the configured password, or returns "" when none is
// configured. It is read on the host that runs depot.
func (c *DBConn) password() (string, error) {
	var pw string
	switch {
	case c.PasswordEnv != "":
		v, ok := os.LookupEnv(c.PasswordEnv)
		if !ok || v == "" {
			return "", fmt.Errorf("password_env: environment variable %s is not set", c.PasswordEnv)
		}
		pw = v
	case c.PasswordFile != "":
		data, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("password_file: %w", err)
		}
		pw = strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
		if pw == "" {
			return "", fmt.Errorf("password_file: %s is empty", c.PasswordFile)
		}
	default:
		return "", nil
	}
	if strings.ContainsAny(pw, "\n\x00") {
		return "", errors.New("the password contains a line break or NUL, which depot cannot pass on")
	}
	return pw, nil
}

// secretRun is a tool run on the source host with a password in one of its
// environment variables. The password is the first line of the tool's
// standard input, read by a constant shell wrapper that exports it and execs
// the tool; the rest of the input (an SQL stream to load) follows it. So the
// password never appears in an argv, a file or depot's own environment, and
// the same works through a plain stdin pipe over SSH.
type secretRun struct {
	Argv     []string
	EnvVar   string // MYSQL_PWD or PGPASSWORD
	Password string // "" runs Argv as it is
	Stdin    io.Reader
	Stdout   io.Writer
}

func (r secretRun) run(ctx context.Context, h hosts.Host) error {
	cmd := hosts.Command{Argv: r.Argv, Stdin: r.Stdin, Stdout: r.Stdout}
	if r.Password != "" {
		script := "IFS= read -r " + r.EnvVar + "; export " + r.EnvVar + `; exec "$@"`
		cmd.Argv = append([]string{"sh", "-c", script, "sh"}, r.Argv...)
		in := io.Reader(strings.NewReader(r.Password + "\n"))
		if r.Stdin != nil {
			in = io.MultiReader(in, r.Stdin)
		}
		cmd.Stdin = in
	}
	err := h.Run(ctx, cmd)
	var exit *hosts.ExitError
	if errors.As(err, &exit) {
		exit.Argv = r.Argv // name the tool, not the wrapper
	}
	return err
}

// output runs argv on h and returns its standard output.
func output(ctx context.Context, h hosts.Host, argv ...string) (string, error) {
	var out bytes.Buffer
	if err := h.Run(ctx, hosts.Command{Argv: argv, Stdout: &out}); err != nil {
		return "", err
	}
	return out.String(), nil
}

// planDatabases is the databases a dump item's plan names: the configured
// ones (Backup checks that they exist), else those list finds on the
// server, logged in with the item's password through open.
func planDatabases(ctx context.Context, configured []string, password func() (string, error),
	open func(password string) (*sql.DB, error), list func(context.Context, *sql.DB) ([]string, error)) ([]string, error) {
	if len(configured) > 0 {
		return configured, nil
	}
	pw, err := password()
	if err != nil {
		return nil, err
	}
	conn, err := open(pw)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return list(ctx, conn)
}

// joinNotes joins what a plan has to say about an item.
func joinNotes(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// findTool returns the first of names that is installed on h.
func findTool(ctx context.Context, h hosts.Host, names ...string) (string, error) {
	script := `for t; do command -v "$t" >/dev/null && { echo "$t"; exit 0; }; done; exit 127`
	out, err := output(ctx, h, append([]string{"sh", "-c", script, "sh"}, names...)...)
	if err != nil {
		var exit *hosts.ExitError
		if errors.As(err, &exit) && exit.Code == 127 {
			what := names[0] + " is not"
			if len(names) > 1 {
				what = "neither " + strings.Join(names, " nor ") + " is"
			}
			return "", fmt.Errorf("%s installed on the source host (%s)", what, h.Name())
		}
		return "", fmt.Errorf("look for %s on %s: %w", strings.Join(names, ", "), h.Name(), err)
	}
	return strings.TrimSpace(out), nil
}

// newEncoder compresses a dump at the default level, about zstd -3, in the
// caller's goroutine, which keeps memory low and gives the same bytes for the
// same input. Measured with scripts/bench_db.sh (1 GB, two cores shared with
// the database server): 1.05 times the wall time of mariadb-dump | zstd, at
// the same size. The fastest level was as fast as the pipeline but 10%
// larger on text; WithLowerEncoderMem cost 40% more CPU.
func newEncoder(w io.Writer) (*zstd.Encoder, error) {
	return zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
}

// newDecoder decompresses a dump for a restore.
func newDecoder(r io.Reader) (*zstd.Decoder, error) {
	return zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
}

// stickyWriter remembers the first write error, which explains a dump tool's
// failure (a full disk) better than the tool's own "broken pipe".
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	s.err = err
	return n, err
}

// storeStream creates name in the snapshot and fills it with what run writes,
// zstd-compressed when compress is set. A failed run leaves nothing behind: the
// file is aborted, never committed truncated.
func storeStream(ctx context.Context, out Output, name string, compress bool, run func(stdout io.Writer) error) (FileInfo, error) {
	f, err := out.Create(ctx, name)
	if err != nil {
		return FileInfo{}, fmt.Errorf("create %s: %w", name, err)
	}
	sink := &stickyWriter{w: f}
	if compress {
		var enc *zstd.Encoder
		if enc, err = newEncoder(sink); err != nil {
			f.Abort()
			return FileInfo{}, err
		}
		err = throughPipe(enc, run)
		if cerr := enc.Close(); err == nil {
			err = cerr
		}
	} else {
		// A command may leave a child behind that holds its output open:
		// the host's own copying gives up on it after a while.
		err = run(sink)
	}
	if sink.err != nil {
		err = fmt.Errorf("write %s: %w", name, sink.err)
	}
	if err != nil {
		f.Abort()
		return FileInfo{}, err
	}
	return f.Commit()
}

// tally adds committed files to a Result's transfer figures.
func (r *Result) tally(info FileInfo) {
	if !info.Linked {
		r.FilesTransferred++
		r.BytesTransferred += info.Size
	}
}

// dumpFileName is the file a database's dump is stored in: the name with the
// characters a file name cannot hold (and a leading dot) percent-encoded, so
// that dumpDatabase gives the name back.
func dumpFileName(db string) string {
	name := url.PathEscape(db)
	if strings.HasPrefix(name, ".") {
		name = "%2E" + name[1:]
	}
	if name == "globals" {
		// globals.sql.zst holds the users and roles.
		name = "%67lobals"
	}
	return name + ".sql.zst"
}

// propsFileName is the file that holds database db's own properties (owner,
// character set, settings...): what a dump of the database leaves out.
func propsFileName(db string) string {
	return strings.TrimSuffix(dumpFileName(db), ".sql.zst") + ".database.json"
}

// storeProps writes database db's properties into the snapshot.
func storeProps(ctx context.Context, out Output, db string, props any) (FileInfo, error) {
	data, err := json.MarshalIndent(props, "", "  ")
	if err != nil {
		return FileInfo{}, err
	}
	info, err := storeStream(ctx, out, propsFileName(db), false, func(w io.Writer) error {
		_, err := w.Write(append(data, '\n'))
		return err
	})
	if err != nil {
		return FileInfo{}, fmt.Errorf("store the properties of database %s: %w", db, err)
	}
	return info, nil
}

// readProps reads database db's properties into props, and tells whether
// the snapshot has them (one made by an older depot has not).
func readProps(ctx context.Context, in Input, db string, props any) (bool, error) {
	files, err := in.Files(ctx)
	if err != nil {
		return false, err
	}
	name := propsFileName(db)
	if !slices.Contains(files, name) {
		return false, nil
	}
	r, err := in.Open(ctx, name)
	if err != nil {
		return false, err
	}
	defer r.Close()
	if err := json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(props); err != nil {
		return false, fmt.Errorf("read %s: %w", name, err)
	}
	return true, nil
}

// dumpDatabase is the database whose dump file is name, if it is one.
func dumpDatabase(name string) (string, bool) {
	base, ok := strings.CutSuffix(name, ".sql.zst")
	if !ok || strings.Contains(base, "/") {
		return "", false
	}
	db, err := url.PathUnescape(base)
	return db, err == nil
}

// restoreSource picks the dump that a --to-database restore loads: the one
// of database src, or the only one when src is empty. dumps maps database
// names to file names. Names are taken whole: "a=b" is a database name.
func restoreSource(src, target string, dumps map[string]string) (file string, err error) {
	if target == "" {
		return "", errors.New("no database name to restore into")
	}
	names := make([]string, 0, len(dumps))
	for n := range dumps {
		names = append(names, n)
	}
	sort.Strings(names)
	switch {
	case src != "":
		if f, ok := dumps[src]; ok {
			return f, nil
		}
		return "", fmt.Errorf("the snapshot has no dump of database %q (it has: %s)", src, strings.Join(names, ", "))
	case len(dumps) == 1:
		return dumps[names[0]], nil
	case len(dumps) == 0:
		return "", errors.New("the snapshot holds no database dump")
	}
	return "", fmt.Errorf("the item holds %d databases (%s): pick one with --database SOURCE --to-database %s", len(dumps), strings.Join(names, ", "), target)
}

// listDumps maps the databases dumped in an item to their files, leaving out
// the files named in skip.
func listDumps(ctx context.Context, in Input, skip ...string) (map[string]string, error) {
	files, err := in.Files(ctx)
	if err != nil {
		return nil, err
	}
	dumps := map[string]string{}
	for _, f := range files {
		if db, ok := dumpDatabase(f); ok && !slices.Contains(skip, f) {
			dumps[db] = f
		}
	}
	return dumps, nil
}

// loadDump streams a compressed dump from in into run's standard input.
func loadDump(ctx context.Context, in Input, file string, run func(stdin io.Reader) error) error {
	r, err := in.Open(ctx, file)
	if err != nil {
		return err
	}
	defer r.Close()
	dec, err := newDecoder(r)
	if err != nil {
		return err
	}
	defer dec.Close()
	return run(dec)
}
