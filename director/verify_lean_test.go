package director

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestVerifyLeanLines: in a further snapshot, lines of files hashed already
// are confirmed from their bytes; that shortcut still fails a list whose
// lines are out of order, a hash that differs, a file that is missing and one
// the list lacks, and it confirms nothing on a file a line does not name.
func TestVerifyLeanLines(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"a": "alpha", "b": "bravo", "c": "charlie"}
	sums := map[string]string{}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(body))
		sums[name] = hex.EncodeToString(sum[:])
	}
	line := func(name, sum string) string {
		return fmt.Sprintf("100644\t%d\t1796323479727574585\t1796323525755574585\t0\t0\t%s\t%s\n", len(files[name]), sum, name)
	}
	list := func(lines ...string) []byte {
		enc, err := zstd.NewWriter(nil)
		if err != nil {
			t.Fatal(err)
		}
		return enc.EncodeAll([]byte("depot-filelist 2\n"+strings.Join(lines, "")), nil)
	}
	good := list(line("a", sums["a"]), line("b", sums["b"]), line("c", sums["c"]))
	cache := newHashCache()
	verify := func(data []byte) (problems []string, err error) {
		_, err = verifyItem(context.Background(), dir, data, cache, func(msg string) { problems = append(problems, msg) })
		return problems, err
	}
	for round := range 2 { // the second round confirms every file from its line
		if problems, err := verify(good); len(problems) != 0 || err != nil {
			t.Fatalf("round %d of a good list: %q, %v", round, problems, err)
		}
	}
	for _, c := range []struct {
		name string
		list []byte
		want string // in a problem or the error
	}{
		{"out of order", list(line("b", sums["b"]), line("a", sums["a"]), line("c", sums["c"])), `"a" does not sort after "b"`},
		{"repeated", list(line("a", sums["a"]), line("a", sums["a"]), line("b", sums["b"]), line("c", sums["c"])), `"a" does not sort after "a"`},
		{"another hash", list(line("a", sums["a"]), line("b", sums["c"]), line("c", sums["c"])), "b: content differs"},
		{"missing", list(line("a", sums["a"]), line("b", sums["b"]), line("bb", sums["b"]), line("c", sums["c"])), "bb: missing"},
		{"not listed", list(line("a", sums["a"]), line("c", sums["c"])), "b: on disk but not in the file list"},
		{"a file's line at another name", list(line("a", sums["a"]), line("b", sums["b"]), line("c", sums["b"])), "c: content differs"},
	} {
		t.Run(c.name, func(t *testing.T) {
			problems, err := verify(c.list)
			got := strings.Join(problems, "; ")
			if err != nil {
				got += "; " + err.Error()
			}
			if !strings.Contains(got, c.want) {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}
