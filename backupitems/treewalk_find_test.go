package backupitems

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/depot-backup/depot/hosts"
)

// forgingFind puts a find on PATH that runs the real one for the configured
// paths and then prints the records $DEPOT_TEST_FORGE holds (a newline for
// each NUL, which the environment cannot hold), or, with
// $DEPOT_TEST_JUNK set, that many copies of a record under it.
func forgingFind(t *testing.T) {
	t.Helper()
	shim := t.TempDir()
	script := `#!/bin/sh
if [ "$2" = -maxdepth ]; then exec /usr/bin/find "$@"; fi
/usr/bin/find "$@" || exit
printf '%s' "$DEPOT_TEST_FORGE" | tr '\n' '\0'
if [ -n "$DEPOT_TEST_JUNK" ]; then
  yes "f 644 1 1.0 1.0 1 0 0 $DEPOT_TEST_JUNK" | head -n 3000000 | tr '\n' '\0'
fi
`
	if err := os.WriteFile(filepath.Join(shim, "find"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", shim+":"+os.Getenv("PATH"))
}

// TestFindRecordsAreHostile: a source that rewrites or adds records fails the
// walk in one line that quotes the path; it never falls back to another walk
// of the same source, and it stops reading at the first bad record.
func TestFindRecordsAreHostile(t *testing.T) {
	root := makeWalkTree(t)
	forgingFind(t)
	rec := func(typ, p string) string { return typ + " 755 4096 1.0 1.0 2 0 0 " + p + "\n" }
	tests := []struct {
		name, forge, junk, want string
	}{
		{"dot-dot segments", rec("d", root+"/../../../tmp/evil"), "", `has a .. segment`},
		{"a stamp forged in another set", rec("d", root+"/../../holding/other/9999-12-31T235959Z"), "", `/../../holding/other/9999-12-31T235959Z": has a .. segment`},
		{"absolute after the slash", rec("f", "//etc/shadow"), "", `absolute`},
		{"outside the paths", rec("f", "/etc/shadow"), "", `"etc/shadow" is outside the configured paths`},
		{"in no walked directory", rec("f", root+"/nodir/x"), "", `is not inside a directory find walked`},
		{"a dot segment", rec("f", root+"/./a.txt"), "", `has a . segment`},
		{"an empty segment", rec("f", root+"//a.txt"), "", `has an empty segment`},
		{"printed twice", rec("f", root+"/a.txt"), "", `printed twice`},
		{"garbage", "hello\n", "", `unexpected output "hello"`},
		{"a negative size", "f 644 -1 1.0 1.0 1 0 0 " + root + "/a.txt\n", "", `unexpected output`},
		{"no NUL at the end", rec("f", root+"/zz")[:20], "", `ends inside record`},
		{"an overlong record", strings.Repeat("x", 3*maxFindRecord), "", `longer than`},
		{"3,000,000 junk records", "", root + "/nodir/junk", `is not inside a directory find walked`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("DEPOT_TEST_FORGE", tt.forge)
			t.Setenv("DEPOT_TEST_JUNK", tt.junk)
			began := time.Now()
			entries, _, err := walkRemote(context.Background(), hosts.Local{}, []string{root}, nil, false)
			if err == nil {
				t.Fatalf("accepted: %d entries", len(entries))
			}
			if errors.Is(err, errNoQuickWalk) {
				t.Errorf("%v: falls back to rsync's walk of the same source", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.want) || !strings.HasPrefix(msg, "find on local: ") || strings.Contains(msg, "\n") {
				t.Errorf("error %.400q, want one line naming the host and %q", msg, tt.want)
			}
			if took := time.Since(began); took > 10*time.Second {
				t.Errorf("took %v: the walk did not stop at the first bad record", took)
			}
		})
	}
	t.Run("nothing forged", func(t *testing.T) {
		t.Setenv("DEPOT_TEST_FORGE", "")
		t.Setenv("DEPOT_TEST_JUNK", "")
		if _, _, err := walkRemote(context.Background(), hosts.Local{}, []string{root}, nil, false); err != nil {
			t.Fatal(err)
		}
	})
}
