package backupitems

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"slices"
	"strings"
)

// mysqlProps are a MySQL database's own properties, kept next to its dump
// in <database>.database.json: a dump holds no CREATE DATABASE, so they
// would be lost otherwise.
type mysqlProps struct {
	CharacterSet string `json:"character_set"`
	Collation    string `json:"collation"`
	// NamesItself is set when the dump's statements (a view's body, a
	// routine) name the database itself: loaded under another name they
	// would read or change the source database, so such a restore is
	// refused.
	NamesItself bool `json:"names_itself"`
}

// mysqlNeeds are the privileges a dump of a whole database needs, at the
// database level: with table-level grants the dump tool sees, and dumps,
// only part of it.
var mysqlNeeds = []string{"SELECT", "SHOW VIEW", "TRIGGER", "EVENT"}

// preflight looks at database db before it is dumped: its properties, that
// the dump user may see all of it (else the dump would be silently partial),
// and whether it has tables that a transaction does not make consistent. It
// returns a warning for those, or an error for what the user cannot see.
func (m *MySQL) preflight(ctx context.Context, conn *sql.DB, db string) (mysqlProps, string, error) {
	var p mysqlProps
	err := conn.QueryRowContext(ctx, "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", db).Scan(&p.CharacterSet, &p.Collation)
	if err != nil {
		return p, "", fmt.Errorf("read the properties of database %s: %w", db, err)
	}
	missing, err := m.missingPrivileges(ctx, conn, db)
	if err != nil {
		return p, "", err
	}
	if len(missing) > 0 {
		return p, "", fmt.Errorf("user %s lacks %s on database %s, so its dump would leave out what the user cannot see; grant it (depot check prints the grants the item needs)", m.User, strings.Join(missing, ", "), db)
	}
	tables, err := column(ctx, conn, `SELECT CONCAT(TABLE_NAME, ' (', ENGINE, ')') FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' AND ENGINE NOT IN ('InnoDB', 'XtraDB') ORDER BY TABLE_NAME`, db)
	if err != nil {
		return p, "", fmt.Errorf("look for non-transactional tables in %s: %w", db, err)
	}
	if len(tables) == 0 || m.lock() {
		return p, "", nil
	}
	if len(tables) > 3 {
		tables = append(tables[:3], fmt.Sprintf("and %d more", len(tables)-3))
	}
	return p, fmt.Sprintf("database %s has non-transactional tables (%s): its dump is not one point in time; set consistency: lock to lock its tables while it is dumped", db, strings.Join(tables, ", ")), nil
}

// missingPrivileges lists what the connected user lacks to dump all of db:
// the database-level privileges of mysqlNeeds (and LOCK TABLES to lock),
// held globally or on the database, and the right to read routines (SELECT
// on mysql.proc).
func (m *MySQL) missingPrivileges(ctx context.Context, conn *sql.DB, db string) ([]string, error) {
	const grantee = `CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')`
	have, err := column(ctx, conn, `SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = `+grantee+`
		UNION SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = `+grantee+` AND ? LIKE TABLE_SCHEMA`, db)
	if err != nil {
		return nil, fmt.Errorf("read the privileges of %s: %w", m.User, err)
	}
	roleHas, roleProc, err := rolePrivileges(ctx, conn, db)
	if err != nil {
		return nil, fmt.Errorf("read the privileges of %s's role: %w", m.User, err)
	}
	have = append(have, roleHas...)
	needs := mysqlNeeds
	if m.lock() {
		needs = append(slices.Clip(needs), "LOCK TABLES")
	}
	var missing []string
	for _, p := range needs {
		if !slices.Contains(have, p) {
			missing = append(missing, p)
		}
	}
	if slices.Contains(have, "SELECT") && len(missing) == 0 && !roleProc {
		// Global or database-wide SELECT: is it on mysql.proc too?
		var n int
		err := conn.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = `+grantee+` AND PRIVILEGE_TYPE = 'SELECT')
			+ (SELECT COUNT(*) FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = `+grantee+` AND PRIVILEGE_TYPE = 'SELECT' AND 'mysql' LIKE TABLE_SCHEMA)
			+ (SELECT COUNT(*) FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE = `+grantee+` AND PRIVILEGE_TYPE = 'SELECT' AND TABLE_SCHEMA = 'mysql' AND TABLE_NAME = 'proc')`).Scan(&n)
		if err != nil {
			return nil, fmt.Errorf("read the privileges of %s: %w", m.User, err)
		}
		if n == 0 {
			missing = append(missing, "SELECT on mysql.proc (to read routines)")
		}
	}
	return missing, nil
}

// rolePrivileges reads the privileges that the session's role (a user's
// default role) holds on database db and whether it may read mysql.proc,
// from SHOW GRANTS: information_schema lists only the user's own.
func rolePrivileges(ctx context.Context, conn *sql.DB, db string) ([]string, bool, error) {
	var role sql.NullString
	err := conn.QueryRowContext(ctx, "SELECT CURRENT_ROLE()").Scan(&role)
	if err != nil || !role.Valid || role.String == "" || role.String == "NONE" || strings.Contains(role.String, "@") {
		return nil, false, nil // no role, or MySQL's roles, which information_schema lists
	}
	lines, err := column(ctx, conn, "SHOW GRANTS FOR "+quoteMySQL(role.String))
	if err != nil {
		return nil, false, err
	}
	var have []string
	proc := false
	for _, l := range lines {
		privs, rest, ok := strings.Cut(strings.TrimPrefix(l, "GRANT "), " ON ")
		if !ok {
			continue
		}
		obj, _, _ := strings.Cut(rest, " TO ")
		list := strings.Split(privs, ", ")
		if privs == "ALL PRIVILEGES" {
			list = append([]string{"SELECT"}, mysqlNeeds...)
		}
		switch {
		case obj == "*.*":
			have = append(have, list...)
			proc = proc || slices.Contains(list, "SELECT")
		case obj == "`mysql`.*" || obj == "`mysql`.`proc`":
			proc = proc || slices.Contains(list, "SELECT")
		case strings.HasSuffix(obj, "`.*") && strings.HasPrefix(obj, "`"):
			pattern := strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(obj, "`"), "`.*"), "``", "`")
			if likeMatch(pattern, db) {
				have = append(have, list...)
			}
		}
	}
	return have, proc, nil
}

// likeMatch tells whether s matches the SQL LIKE pattern (%, _ and \ escapes),
// as a database name in a grant is matched.
func likeMatch(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	switch c := pattern[0]; {
	case c == '%':
		for i := 0; i <= len(s); i++ {
			if likeMatch(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case c == '_':
		return s != "" && likeMatch(pattern[1:], s[1:])
	case c == '\\' && len(pattern) > 1:
		return s != "" && s[0] == pattern[1] && likeMatch(pattern[2:], s[1:])
	default:
		return s != "" && s[0] == c && likeMatch(pattern[1:], s[1:])
	}
}

// minimalGrants are the statements that give the item's user (account,
// as CURRENT_USER() gives it: user@host) what a run needs and no more.
func (m *MySQL) minimalGrants(account string) []string {
	at := strings.LastIndex(account, "@")
	name, host := account, "%"
	if at >= 0 {
		name, host = account[:at], account[at+1:]
	}
	user := "'" + strings.ReplaceAll(name, "'", "''") + "'@'" + strings.ReplaceAll(host, "'", "''") + "'"
	privs := strings.Join(mysqlNeeds, ", ")
	if m.lock() {
		privs += ", LOCK TABLES"
	}
	var out []string
	if len(m.Databases) == 0 {
		out = append(out, "GRANT "+privs+", SHOW DATABASES ON *.* TO "+user)
	} else {
		for _, db := range m.Databases {
			out = append(out, "GRANT "+privs+" ON "+quoteMySQL(strings.NewReplacer("_", `\_`, "%", `\%`).Replace(db))+".* TO "+user)
		}
		out = append(out, "GRANT SELECT ON mysql.proc TO "+user)
	}
	if m.globals() && len(m.Databases) > 0 {
		out[len(out)-1] = "GRANT SELECT ON mysql.* TO " + user + "  -- globals: users, roles, grants and routines"
	}
	return out
}

// column runs a query whose rows are one string each.
func column(ctx context.Context, conn *sql.DB, query string, args ...any) ([]string, error) {
	rows, err := conn.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s sql.NullString
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s.String)
	}
	return out, rows.Err()
}

// mysqlGlobalsSQL writes the users, roles and grants as SQL from SHOW
// CREATE USER and SHOW GRANTS, for servers whose dump tool has no
// --system=users (MySQL's mysqldump): each CREATE USER as IF NOT EXISTS, so
// that a server's own accounts do not stop a load.
func mysqlGlobalsSQL(ctx context.Context, conn *sql.DB, w io.Writer) error {
	// MySQL 8 prints binary password hashes in hex only when asked.
	_, _ = conn.ExecContext(ctx, "SET SESSION print_identified_with_as_hex = ON")
	// MariaDB keeps roles in mysql.user too, marked is_role.
	rows, err := conn.QueryContext(ctx, "SELECT User, Host, is_role = 'Y' FROM mysql.user ORDER BY User, Host")
	if err != nil {
		rows, err = conn.QueryContext(ctx, "SELECT User, Host, FALSE FROM mysql.user ORDER BY User, Host")
	}
	if err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	type account struct {
		user, host string
		role       bool
	}
	var accounts []account
	for rows.Next() {
		var a account
		if err := rows.Scan(&a.user, &a.host, &a.role); err != nil {
			rows.Close()
			return err
		}
		accounts = append(accounts, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var grants []string
	for _, a := range accounts {
		name := quoteMySQL(a.user)
		var create string
		if a.role {
			create = "CREATE ROLE IF NOT EXISTS " + name
		} else {
			name += "@" + quoteMySQL(a.host)
			if err := conn.QueryRowContext(ctx, "SHOW CREATE USER "+name).Scan(&create); err != nil {
				return fmt.Errorf("show create user %s: %w", name, err)
			}
			if rest, ok := strings.CutPrefix(create, "CREATE USER "); ok {
				create = "CREATE USER IF NOT EXISTS " + rest
			}
		}
		if _, err := fmt.Fprintf(w, "%s;\n", create); err != nil {
			return err
		}
		g, err := column(ctx, conn, "SHOW GRANTS FOR "+name)
		if err != nil {
			return fmt.Errorf("show grants for %s: %w", name, err)
		}
		grants = append(grants, g...)
	}
	// Grants after every user and role exists: a role granted to a user.
	for _, g := range grants {
		if _, err := fmt.Fprintf(w, "%s;\n", g); err != nil {
			return err
		}
	}
	return nil
}
