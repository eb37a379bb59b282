package backupitems

import (
	"context"
	"database/sql"
	"fmt"
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
// the database-level privileges of mysqlNeeds, held globally or on the
// database, and the right to read routines (SELECT on mysql.proc).
func (m *MySQL) missingPrivileges(ctx context.Context, conn *sql.DB, db string) ([]string, error) {
	const grantee = `CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')`
	have, err := column(ctx, conn, `SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = `+grantee+`
		UNION SELECT PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = `+grantee+` AND ? LIKE TABLE_SCHEMA`, db)
	if err != nil {
		return nil, fmt.Errorf("read the privileges of %s: %w", m.User, err)
	}
	var missing []string
	for _, p := range mysqlNeeds {
		if !slices.Contains(have, p) {
			missing = append(missing, p)
		}
	}
	if slices.Contains(have, "SELECT") && len(missing) == 0 {
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
