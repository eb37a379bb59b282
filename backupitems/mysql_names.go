package backupitems

import (
	"bytes"
	"fmt"
)

// A mariadb-dump of one database names that database in two ways:
//
//   - ALTER DATABASE `db` CHARACTER SET ... around a routine made under
//     another default character set (and back after it). At load time
//     these are rewritten to name the target database, so a restore under
//     another name never changes the source's defaults.
//   - `db`.`table` inside a view's body (mariadb-dump writes views whose
//     definer is missing that way) or a routine's. These cannot be
//     rewritten safely (the same bytes may be a table-qualified column, or
//     text), so the dump is scanned as it is written, and a restore under
//     another name of a dump that names its database is refused up front.

// nameScanner finds statements in a dump that name database db.
type nameScanner struct {
	lineScanner
	quoted  []byte // `db`.
	plain   []byte // db. where db is a bare identifier, else nil
	inBlock bool   // between DELIMITER ;; and DELIMITER ; (routines, triggers, events)
	found   bool
}

func newNameScanner(db string) *nameScanner {
	s := &nameScanner{quoted: []byte(quoteMySQL(db) + ".")}
	if isIdentifier(db) {
		s.plain = []byte(db + ".")
	}
	s.fn = s.line
	return s
}

func (s *nameScanner) line(line []byte, whole bool) {
	switch {
	case bytes.HasPrefix(line, []byte("DELIMITER ;;")):
		s.inBlock = true
		return
	case bytes.HasPrefix(line, []byte("DELIMITER ;")):
		s.inBlock = false
		return
	case !s.inBlock && (bytes.HasPrefix(line, []byte("INSERT ")) || bytes.HasPrefix(line, []byte("REPLACE "))):
		return // rows of data
	case bytes.HasPrefix(line, []byte("-- ")):
		return
	}
	if !whole || bytes.Contains(line, s.quoted) || s.plain != nil && containsWord(line, s.plain) {
		// A statement too long to look at whole is taken to name it.
		s.found = true
	}
}

// containsWord tells whether line holds word not preceded by a part of an
// identifier.
func containsWord(line, word []byte) bool {
	for i := 0; ; {
		j := bytes.Index(line[i:], word)
		if j < 0 {
			return false
		}
		at := i + j
		if at == 0 || !isIdentByte(line[at-1]) && line[at-1] != '.' {
			return true
		}
		i = at + 1
	}
}

func isIdentByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '$' || b == '`' || b >= 0x80
}

func isIdentifier(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isIdentByte(s[i]) || s[i] == '`' {
			return false
		}
	}
	return s != ""
}

// renameFilter rewrites, as a dump of database src is loaded into target,
// the statements that name src as a whole (ALTER DATABASE, USE) to name
// target instead.
func renameFilter(src, target string) func(line []byte, whole bool) ([]byte, error) {
	from, to := []byte(quoteMySQL(src)), []byte(quoteMySQL(target))
	inBlock := false
	return func(line []byte, whole bool) ([]byte, error) {
		switch {
		case bytes.HasPrefix(line, []byte("DELIMITER ;;")):
			inBlock = true
		case bytes.HasPrefix(line, []byte("DELIMITER ;")):
			inBlock = false
		}
		if inBlock || !whole {
			return line, nil
		}
		for _, stmt := range []string{"ALTER DATABASE ", "USE "} {
			rest, ok := bytes.CutPrefix(line, []byte(stmt))
			if !ok {
				continue
			}
			name, ok := bytes.CutPrefix(rest, from)
			if !ok || len(name) > 0 && name[0] != ' ' && name[0] != ';' && name[0] != '\n' {
				return nil, fmt.Errorf("the dump has a statement that names another database: %.80s", line)
			}
			out := append([]byte(stmt), to...)
			return append(out, name...), nil
		}
		return line, nil
	}
}
