package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/depot-backup/depot/director"
)

// TestPlanListsDatabases: a dump item that names no databases plans a dump
// of each database the server has, as the run will dump them, and a plan
// that cannot log in says why instead of failing.
func TestPlanListsDatabases(t *testing.T) {
	name := newPostgresDatabase(t)
	e := newItemEnv(t, postgresItem("[]"))
	plans := decodeJSON[[]director.SetPlan](t, mustDepot(t, "--config", e.config, "plan", "--json"))
	it := plans[0].Items[0]
	want := "--dbname=dbname='" + name + "'"
	if !slices.ContainsFunc(it.Commands, func(c []string) bool { return c[len(c)-1] == want }) {
		t.Errorf("plan of every database has no dump of %s: %q", name, it.Commands)
	}
	if !slices.Contains(it.Sources, "postgresql://"+testDBUser+"@127.0.0.1:5432/"+name) {
		t.Errorf("sources %q lack %s", it.Sources, name)
	}

	t.Setenv(testPasswordEnv, "not-the-password")
	plans = decodeJSON[[]director.SetPlan](t, mustDepot(t, "--config", e.config, "plan", "--json"))
	it = plans[0].Items[0]
	if !strings.Contains(it.Method, "password authentication failed") || len(it.Commands) == 0 || it.Commands[len(it.Commands)-1][len(it.Commands[len(it.Commands)-1])-1] != "--dbname=dbname='DATABASE'" {
		t.Errorf("plan without a login: method %q, commands %q", it.Method, it.Commands)
	}
}
