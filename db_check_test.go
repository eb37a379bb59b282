package main

import (
	"strings"
	"testing"
)

// TestCheckDatabaseItems: check logs in to each database item's server with
// its password, runs the dump tool, and fails, naming the item, when the
// password variable is unset or wrong.
func TestCheckDatabaseItems(t *testing.T) {
	mariadb(t)
	postgres(t, "postgres")
	items := mysqlItem("[]", "restore_user: "+testDBUser) + "\n" + strings.Replace(postgresItem("[postgres]"), "name: db", "name: pg", 1)
	e := newItemEnv(t, items)
	tests := []struct {
		name  string
		value string // of the password variable; "" unsets it
		code  int
		want  []string
	}{
		{"logged in", testDBPassword, 0, []string{
			"ok    item web/db: login " + testDBUser + "@127.0.0.1:3306: logged in, server 10.",
			"ok    item web/db: mariadb-dump on local: mariadb-dump",
			"ok    item web/db: grants of " + testDBUser + ": it needs: GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, SHOW DATABASES ON *.* TO '" + testDBUser + "'@'127.0.0.1'",
			"ok    item web/db: restore login " + testDBUser + "@127.0.0.1:3306: logged in",
			"ok    item web/pg: login " + testDBUser + "@127.0.0.1:5432: logged in, server 1",
			"ok    item web/pg: pg_dump on local: pg_dump (PostgreSQL)",
		}},
		{"unset", "", 1, []string{
			"FAIL  item web/db: login " + testDBUser + "@127.0.0.1:3306: password_env: environment variable " + testPasswordEnv + " is not set",
			"FAIL  item web/pg: login " + testDBUser + "@127.0.0.1:5432: password_env: environment variable " + testPasswordEnv + " is not set",
		}},
		{"wrong", "not-the-password", 1, []string{
			"FAIL  item web/db: login " + testDBUser + "@127.0.0.1:3306: connect to 127.0.0.1:3306 as " + testDBUser + ": Error 1045",
			"FAIL  item web/pg: login " + testDBUser + "@127.0.0.1:5432: connect to 127.0.0.1:5432 as " + testDBUser + ": pq: password authentication failed",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(testPasswordEnv, tt.value)
			code, out, errs := depot(t, "--config", e.config, "check")
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tt.code, out, errs)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("no line %q:\n%s", w, out)
				}
			}
			if strings.Contains(out+errs, testDBPassword) {
				t.Errorf("check shows the password:\n%s", out)
			}
		})
	}
}
