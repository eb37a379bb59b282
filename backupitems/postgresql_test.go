package backupitems

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"testing"

	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/internal/testenv"
)

// TestPostgreSQLListsDatabases checks the list a postgresql item with no
// databases dumps: every database that takes connections, not the templates.
// (Dumping them all in a test would race with other tests' databases.)
func TestPostgreSQLListsDatabases(t *testing.T) {
	ctx := context.Background()
	p := &PostgreSQL{DBConn: DBConn{User: testenv.DBUser}}
	db, err := p.open(ctx, hosts.Local{}, testenv.DBPassword, "postgres")
	testenv.Need(t, "PostgreSQL on 127.0.0.1:5432 with role "+testenv.DBUser, err)
	defer db.Close()
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	name := "depot_list_" + hex.EncodeToString(b)
	db.Exec("DROP DATABASE IF EXISTS " + name)
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	defer db.Exec("DROP DATABASE IF EXISTS " + name)

	all, err := p.databases(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(all, name) || !slices.Contains(all, "postgres") || slices.Contains(all, "template0") || slices.Contains(all, "template1") {
		t.Errorf("databases = %q: want %s and postgres, no templates", all, name)
	}
	p.Databases = []string{name, name + "_nope"}
	if _, err := p.databases(ctx, db); err == nil || err.Error() != "database "+name+"_nope does not exist on 127.0.0.1:5432" {
		t.Errorf("a missing database: %v", err)
	}
}
