package repository

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadEnvFile(t *testing.T) {
	for _, c := range []struct {
		name, file string
		want       []string
		err        string
	}{
		{"keys", "# keys\nAWS_ACCESS_KEY_ID=AKIA\n\nexport AWS_SECRET_ACCESS_KEY=\"s3cr=t\"\nB2_KEY='x y'\n",
			[]string{"AWS_ACCESS_KEY_ID=AKIA", "AWS_SECRET_ACCESS_KEY=s3cr=t", "B2_KEY=x y"}, ""},
		{"no equals sign", "AWS_ACCESS_KEY_ID=AKIA\nthe-secret-itself\n", nil, ":2: want KEY=value"},
		{"space in the key", "A B=1\n", nil, ":1: want KEY=value"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "env")
			if err := os.WriteFile(p, []byte(c.file), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := readEnvFile(p)
			switch {
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("error %v, want %q", err, c.err)
			case c.err != "" && strings.Contains(err.Error(), "secret"):
				t.Fatalf("the error shows the line: %v", err)
			case c.err == "" && (err != nil || !reflect.DeepEqual(got, c.want)):
				t.Fatalf("got %q (%v), want %q", got, err, c.want)
			}
		})
	}
}

func TestResticEnvKeepsSecretsOutOfArgv(t *testing.T) {
	t.Setenv("DEPOT_TEST_RESTIC_PW", "pw-in-env")
	env, err := Restic{Repository: "rest:http://u:p@h/", PasswordEnv: "DEPOT_TEST_RESTIC_PW"}.env()
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(env, "\n")
	for _, want := range []string{"RESTIC_REPOSITORY=rest:http://u:p@h/", "RESTIC_PASSWORD=pw-in-env", "TZ=UTC"} {
		if !strings.Contains(joined, want) {
			t.Errorf("environment lacks %s: %q", want, env)
		}
	}
	if _, err := (Restic{PasswordEnv: "DEPOT_TEST_UNSET_VARIABLE"}).env(); err == nil || !strings.Contains(err.Error(), "is not set") {
		t.Errorf("an unset password variable: %v", err)
	}
}
