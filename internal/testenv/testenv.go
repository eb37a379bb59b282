// Package testenv decides, in one place, what a test does when something it
// needs from the machine is missing, and holds the test accounts of the
// database servers.
package testenv

import (
	"fmt"
	"os"
	"testing"
)

// The account scripts/services.sh creates in MariaDB and PostgreSQL; the
// script and the tests must agree on it.
const (
	DBUser     = "depot_test"
	DBPassword = "depot-test-pw-7Hq2"
	// PasswordEnv is the variable the test configs name in password_env.
	PasswordEnv = "DEPOT_TEST_DB_PASSWORD"
)

// InCI reports whether the tests run under CI=true, where every test must run.
func InCI() bool { return os.Getenv("CI") == "true" }

// Need skips the test when something it needs (a service, a tool, a
// privilege) is not there, saying what and why; under CI=true it fails the
// test instead, so that a missing install step cannot hide as a skip. A nil
// err means the need is met.
func Need(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("%s is not available: %v (scripts/test.sh installs and starts it)", what, err)
	if InCI() {
		t.Fatal(msg)
	} else {
		t.Skip(msg)
	}
}
