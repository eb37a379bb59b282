package backupitems

import (
	"io"
	"strings"
	"testing"
)

func filtered(t *testing.T, in string, fn func([]byte, bool) ([]byte, error)) (string, error) {
	t.Helper()
	out, err := io.ReadAll(newLineFilter(strings.NewReader(in), fn))
	return string(out), err
}

func TestRenameFilter(t *testing.T) {
	long := "INSERT INTO `t` VALUES ('" + strings.Repeat("ALTER DATABASE `src` ", lineBuffer/10) + "');\n"
	tests := []struct {
		name, in, want, err string
	}{
		{"alter database", "ALTER DATABASE `src` CHARACTER SET latin1 COLLATE latin1_german1_ci ;\nSELECT 1;\n", "ALTER DATABASE `new``x` CHARACTER SET latin1 COLLATE latin1_german1_ci ;\nSELECT 1;\n", ""},
		{"use", "USE `src`;\n", "USE `new``x`;\n", ""},
		{"another database", "ALTER DATABASE `other` CHARACTER SET latin1 ;\n", "", "names another database"},
		{"a longer name", "ALTER DATABASE `src2` CHARACTER SET latin1 ;\n", "", "names another database"},
		{"inside a routine", "DELIMITER ;;\nUSE `other`;\n;;\nDELIMITER ;\n", "DELIMITER ;;\nUSE `other`;\n;;\nDELIMITER ;\n", ""},
		{"a long data line passes", long + "ALTER DATABASE `src` ;\n", long + "ALTER DATABASE `new``x` ;\n", ""},
		{"no final newline", "SELECT 1;", "SELECT 1;", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := filtered(t, tt.in, renameFilter("src", "new`x"))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %.200q, %v\nwant %.200q", got, err, tt.want)
			}
		})
	}
}

func TestNameScanner(t *testing.T) {
	tests := []struct {
		name, dump string
		found      bool
	}{
		{"plain dump", "CREATE TABLE `t` (\n  `a` int\n);\n/*!50001 VIEW `v` AS select `t`.`a` AS `a` from `t` */;\n", false},
		{"a view naming its database", "/*!50001 VIEW `v` AS select `shop`.`t`.`a` AS `a` from `t` */;\n", true},
		{"a routine naming it bare", "DELIMITER ;;\nCREATE PROCEDURE `p`()\nUPDATE shop.t SET a = 1 ;;\nDELIMITER ;\n", true},
		{"a longer name is another", "DELIMITER ;;\nUPDATE workshop.t SET a = 1 ;;\nDELIMITER ;\n", false},
		{"data may hold anything", "INSERT INTO `t` VALUES ('`shop`.`t` shop.t');\n", false},
		{"comments", "-- Dumping routines for database 'shop'\n", false},
		{"a statement too long to read", "CREATE TABLE `t` (" + strings.Repeat(" ", lineBuffer+10) + ");\n", true},
		{"data too long to read", "INSERT INTO `t` VALUES ('" + strings.Repeat("x", lineBuffer+10) + "');\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newNameScanner("shop")
			// Written in small pieces, as a pipe delivers them.
			for i := 0; i < len(tt.dump); i += 7 {
				s.Write([]byte(tt.dump[i:min(i+7, len(tt.dump))]))
			}
			s.Close()
			if s.found != tt.found {
				t.Errorf("found = %v, want %v", s.found, tt.found)
			}
		})
	}
}

func TestNoOwnerFilter(t *testing.T) {
	in := "CREATE TABLE public.t (a text);\nALTER TABLE public.t OWNER TO app;\nCOPY public.t (a) FROM stdin;\nALTER x OWNER TO y;\n\\.\nALTER FUNCTION public.f() OWNER TO app;\nSELECT 1;\n"
	want := "CREATE TABLE public.t (a text);\nCOPY public.t (a) FROM stdin;\nALTER x OWNER TO y;\n\\.\nSELECT 1;\n"
	if got, err := filtered(t, in, noOwnerFilter()); err != nil || got != want {
		t.Errorf("got %q, %v\nwant %q", got, err, want)
	}
}

func TestSkipRolesFilter(t *testing.T) {
	in := "CREATE ROLE postgres;\nALTER ROLE postgres WITH SUPERUSER;\nCREATE ROLE app;\nCREATE ROLE \"My Role\";\n"
	want := "ALTER ROLE postgres WITH SUPERUSER;\nCREATE ROLE app;\n"
	if got, err := filtered(t, in, skipRolesFilter([]string{"postgres", "My Role"})); err != nil || got != want {
		t.Errorf("got %q, %v\nwant %q", got, err, want)
	}
}

func TestPgSetting(t *testing.T) {
	for in, want := range map[string]string{
		"work_mem=8MB":                    `"work_mem" TO '8MB'`,
		`search_path=public, "My Schema"`: `"search_path" TO public, "My Schema"`,
		"application_name=it's":           `"application_name" TO 'it''s'`,
		"search_path=a; DROP TABLE x":     `"search_path" TO 'a; DROP TABLE x'`,
	} {
		if got := pgSetting(in); got != want {
			t.Errorf("pgSetting(%q) = %s, want %s", in, got, want)
		}
	}
}
