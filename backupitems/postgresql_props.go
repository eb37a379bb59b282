package backupitems

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/lib/pq"
)

// pgProps are a PostgreSQL database's own properties, read from the catalogs
// at backup and kept next to its dump in <database>.database.json: a plain
// pg_dump without --create has none of them, and with --create it names the
// database (and cannot load in a transaction).
type pgProps struct {
	Owner          string `json:"owner"`
	Encoding       string `json:"encoding"`
	Collate        string `json:"collate"`
	Ctype          string `json:"ctype"`
	LocaleProvider string `json:"locale_provider,omitempty"` // "icu" or "libc"
	ICULocale      string `json:"icu_locale,omitempty"`
	ConnLimit      int    `json:"connection_limit"`
	// Settings are ALTER DATABASE ... SET, as "name=value".
	Settings []string `json:"settings,omitempty"`
	// RoleSettings are ALTER ROLE ... IN DATABASE ... SET, per role.
	RoleSettings map[string][]string `json:"role_settings,omitempty"`
	Comment      *string             `json:"comment,omitempty"`
	// ACL is the database's access list, nil for the default one (CONNECT
	// and TEMPORARY for PUBLIC).
	ACL []pgGrant `json:"acl"`
}

// pgGrant is one privilege in a database's ACL; an empty Grantee is PUBLIC.
type pgGrant struct {
	Grantee   string `json:"grantee"`
	Privilege string `json:"privilege"`
	Grantable bool   `json:"grantable,omitempty"`
}

// pgProperties reads database db's properties through conn (any database
// of the server).
func pgProperties(ctx context.Context, conn *sql.DB, db string) (pgProps, error) {
	var p pgProps
	var version int
	if err := conn.QueryRowContext(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		return p, fmt.Errorf("read the server's version: %w", err)
	}
	provider, icu := "'c'", "NULL"
	switch {
	case version >= 170000:
		provider, icu = "d.datlocprovider", "d.datlocale"
	case version >= 150000:
		provider, icu = "d.datlocprovider", "d.daticulocale"
	}
	var prov string
	var icuLocale, comment sql.NullString
	var aclNull bool
	err := conn.QueryRowContext(ctx, `SELECT pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding), d.datcollate, d.datctype,
		`+provider+`::text, `+icu+`, d.datconnlimit, shobj_description(d.oid, 'pg_database'), d.datacl IS NULL
		FROM pg_database d WHERE d.datname = $1`, db).Scan(&p.Owner, &p.Encoding, &p.Collate, &p.Ctype, &prov, &icuLocale, &p.ConnLimit, &comment, &aclNull)
	if err != nil {
		return p, fmt.Errorf("read the properties of database %s: %w", db, err)
	}
	switch prov {
	case "i":
		p.LocaleProvider, p.ICULocale = "icu", icuLocale.String
	case "c":
		p.LocaleProvider = "libc"
	}
	if comment.Valid {
		p.Comment = &comment.String
	}
	if !aclNull {
		p.ACL = []pgGrant{}
		rows, err := conn.QueryContext(ctx, `SELECT CASE WHEN a.grantee = 0 THEN '' ELSE pg_get_userbyid(a.grantee) END, a.privilege_type, a.is_grantable
			FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = $1 ORDER BY 1, 2`, db)
		if err != nil {
			return p, fmt.Errorf("read the access list of database %s: %w", db, err)
		}
		for rows.Next() {
			var g pgGrant
			if err := rows.Scan(&g.Grantee, &g.Privilege, &g.Grantable); err != nil {
				rows.Close()
				return p, err
			}
			p.ACL = append(p.ACL, g)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return p, err
		}
	}
	rows, err := conn.QueryContext(ctx, `SELECT COALESCE(pg_get_userbyid(NULLIF(s.setrole, 0)), ''), unnest(s.setconfig)
		FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = $1 ORDER BY 1`, db)
	if err != nil {
		return p, fmt.Errorf("read the settings of database %s: %w", db, err)
	}
	defer rows.Close()
	for rows.Next() {
		var role, setting string
		if err := rows.Scan(&role, &setting); err != nil {
			return p, err
		}
		if role == "" {
			p.Settings = append(p.Settings, setting)
			continue
		}
		if p.RoleSettings == nil {
			p.RoleSettings = map[string][]string{}
		}
		p.RoleSettings[role] = append(p.RoleSettings[role], setting)
	}
	return p, rows.Err()
}

// createStatement is the CREATE DATABASE of db with p's properties, from
// template0 (the encoding and locale may differ from template1's). With
// noOwner the restoring user owns it.
func (p pgProps) createStatement(db string, noOwner bool) string {
	q := "CREATE DATABASE " + pq.QuoteIdentifier(db) + " TEMPLATE template0"
	if p.Encoding != "" {
		q += " ENCODING " + pq.QuoteLiteral(p.Encoding)
	}
	if p.LocaleProvider == "icu" {
		q += " LOCALE_PROVIDER icu ICU_LOCALE " + pq.QuoteLiteral(p.ICULocale)
	}
	if p.Collate != "" {
		q += " LC_COLLATE " + pq.QuoteLiteral(p.Collate)
	}
	if p.Ctype != "" {
		q += " LC_CTYPE " + pq.QuoteLiteral(p.Ctype)
	}
	if p.Owner != "" && !noOwner {
		q += " OWNER " + pq.QuoteIdentifier(p.Owner)
	}
	if p.ConnLimit != -1 && p.ConnLimit != 0 {
		q += fmt.Sprintf(" CONNECTION LIMIT %d", p.ConnLimit)
	}
	return q
}

// afterStatements re-create, once the data is loaded, the settings, role
// settings, comment and access list of p on database db.
func (p pgProps) afterStatements(db string, noOwner bool) []string {
	qdb := pq.QuoteIdentifier(db)
	var out []string
	for _, s := range p.Settings {
		out = append(out, "ALTER DATABASE "+qdb+" SET "+pgSetting(s))
	}
	roles := make([]string, 0, len(p.RoleSettings))
	for r := range p.RoleSettings {
		roles = append(roles, r)
	}
	slices.Sort(roles)
	for _, r := range roles {
		for _, s := range p.RoleSettings[r] {
			out = append(out, "ALTER ROLE "+pq.QuoteIdentifier(r)+" IN DATABASE "+qdb+" SET "+pgSetting(s))
		}
	}
	if p.Comment != nil {
		out = append(out, "COMMENT ON DATABASE "+qdb+" IS "+pq.QuoteLiteral(*p.Comment))
	}
	if p.ACL != nil {
		out = append(out, "REVOKE ALL ON DATABASE "+qdb+" FROM PUBLIC")
		for _, g := range p.ACL {
			if noOwner && g.Grantee == p.Owner {
				continue
			}
			to := "PUBLIC"
			if g.Grantee != "" {
				to = pq.QuoteIdentifier(g.Grantee)
			}
			stmt := "GRANT " + g.Privilege + " ON DATABASE " + qdb + " TO " + to
			if g.Grantable {
				stmt += " WITH GRANT OPTION"
			}
			if isPrivilege(g.Privilege) {
				out = append(out, stmt)
			}
		}
	}
	return out
}

// dropRoles leaves out the role settings and privileges of roles that are
// not among existing, and returns those roles.
func (p *pgProps) dropRoles(existing []string) []string {
	var gone []string
	for r := range p.RoleSettings {
		if !slices.Contains(existing, r) {
			gone = append(gone, r)
			delete(p.RoleSettings, r)
		}
	}
	acl := p.ACL[:0:0]
	for _, g := range p.ACL {
		if g.Grantee == "" || slices.Contains(existing, g.Grantee) {
			acl = append(acl, g)
		} else if !slices.Contains(gone, g.Grantee) {
			gone = append(gone, g.Grantee)
		}
	}
	if p.ACL != nil {
		p.ACL = acl
	}
	slices.Sort(gone)
	return gone
}

func isPrivilege(s string) bool {
	return slices.Contains([]string{"CREATE", "CONNECT", "TEMPORARY"}, s)
}

// pgListSettings hold lists of names, which pg_db_role_setting keeps in
// SQL's own syntax (quoted where needed): they are written back as they are.
var pgListSettings = []string{"search_path", "temp_tablespaces", "session_preload_libraries", "local_preload_libraries", "shared_preload_libraries"}

// pgSetting turns "name=value" from pg_db_role_setting into "name TO value".
func pgSetting(s string) string {
	name, value, _ := strings.Cut(s, "=")
	if slices.Contains(pgListSettings, strings.ToLower(name)) && !strings.ContainsAny(value, ";\n") {
		return pq.QuoteIdentifier(name) + " TO " + value
	}
	return pq.QuoteIdentifier(name) + " TO " + pq.QuoteLiteral(value)
}
