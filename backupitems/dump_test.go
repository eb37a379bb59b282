package backupitems

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/depot-backup/depot/hosts"
)

func TestDumpFileNames(t *testing.T) {
	tests := []struct{ db, file string }{
		{"wordpress", "wordpress.sql.zst"},
		{"shop-2024_v1.0", "shop-2024_v1.0.sql.zst"},
		{"a/b", "a%2Fb.sql.zst"},
		{".hidden", "%2Ehidden.sql.zst"},
		{"100%", "100%25.sql.zst"},
		{"with space", "with%20space.sql.zst"},
		{"ünï", "%C3%BCn%C3%AF.sql.zst"},
	}
	for _, tt := range tests {
		if got := dumpFileName(tt.db); got != tt.file {
			t.Errorf("dumpFileName(%q) = %q, want %q", tt.db, got, tt.file)
		}
		if db, ok := dumpDatabase(tt.file); !ok || db != tt.db {
			t.Errorf("dumpDatabase(%q) = %q, %v; want %q", tt.file, db, ok, tt.db)
		}
	}
	if got := dumpFileName("globals"); got != "%67lobals.sql.zst" {
		t.Errorf("dumpFileName(globals) = %q", got)
	}
	if db, _ := dumpDatabase(dumpFileName("globals")); db != "globals" {
		t.Errorf("the globals database comes back as %q", db)
	}
	for _, f := range []string{"globals.txt", "r000000-000001.svndump.zst", "sub/x.sql.zst", "bad%zz.sql.zst"} {
		if db, ok := dumpDatabase(f); ok {
			t.Errorf("dumpDatabase(%q) = %q, want no database", f, db)
		}
	}
}

func TestRestoreSource(t *testing.T) {
	one := map[string]string{"shop": "shop.sql.zst"}
	two := map[string]string{"shop": "shop.sql.zst", "blog": "blog.sql.zst", "a=b": "a%3Db.sql.zst"}
	tests := []struct {
		name        string
		src, target string
		dumps       map[string]string
		file        string
		err         string
	}{
		{"the only database", "", "check", one, "shop.sql.zst", ""},
		{"picked", "blog", "blog_check", two, "blog.sql.zst", ""},
		{"a name with =", "a=b", "c", two, "a%3Db.sql.zst", ""},
		{"several, none picked", "", "check", two, "", "the item holds 3 databases (a=b, blog, shop): pick one with --database SOURCE --to-database check"},
		{"picked one that is not there", "nope", "x", two, "", `the snapshot has no dump of database "nope" (it has: a=b, blog, shop)`},
		{"no dumps", "", "x", map[string]string{}, "", "the snapshot holds no database dump"},
		{"empty target", "shop", "", one, "", "no database name to restore into"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file, err := restoreSource(tt.src, tt.target, tt.dumps)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || file != tt.file {
				t.Fatalf("= %q, %v; want %q", file, err, tt.file)
			}
		})
	}
}

func TestSVNChain(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		whole bool
		last  int
	}{
		{"one range", []string{"r000000-000003.svndump.zst"}, true, 3},
		{"in order", []string{"r000004-000005.svndump.zst", "r000000-000003.svndump.zst", "other"}, true, 5},
		{"beyond six digits", []string{"r000000-999999.svndump.zst", "r1000000-1000002.svndump.zst"}, true, 1000002},
		{"gap", []string{"r000000-000003.svndump.zst", "r000005-000006.svndump.zst"}, false, 6},
		{"not from 0", []string{"r000001-000003.svndump.zst"}, false, 3},
		{"none", []string{"stdout"}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, whole := svnChain(tt.files)
			if whole != tt.whole {
				t.Errorf("whole = %v, want %v", whole, tt.whole)
			}
			if len(rs) > 0 && rs[len(rs)-1].to != tt.last {
				t.Errorf("last = %d, want %d", rs[len(rs)-1].to, tt.last)
			}
		})
	}
}

func TestPassword(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("DEPOT_TEST_PW", `s3 cr\et'"`)
	tests := []struct {
		name string
		conn DBConn
		want string
		err  string
	}{
		{"none", DBConn{}, "", ""},
		{"env", DBConn{PasswordEnv: "DEPOT_TEST_PW"}, `s3 cr\et'"`, ""},
		{"env unset", DBConn{PasswordEnv: "DEPOT_TEST_UNSET"}, "", "password_env: environment variable DEPOT_TEST_UNSET is not set"},
		{"file with newline", DBConn{PasswordFile: write("nl", " pw \n")}, " pw ", ""},
		{"file with CRLF", DBConn{PasswordFile: write("crlf", "pw\r\n")}, "pw", ""},
		{"empty file", DBConn{PasswordFile: write("empty", "\n")}, "", "is empty"},
		{"two lines", DBConn{PasswordFile: write("two", "a\nb\n")}, "", "line break"},
		{"missing file", DBConn{PasswordFile: filepath.Join(dir, "nope")}, "", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.conn.password()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("= %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestSecretRun checks the password reaches the tool's environment intact and
// the rest of the input follows it, whatever characters the password holds.
func TestSecretRun(t *testing.T) {
	for _, pw := range []string{"plain", `sp ace\back'quote"dq$x` + "`tick`", " lead and trail "} {
		var out bytes.Buffer
		r := secretRun{
			Argv:     []string{"sh", "-c", `printf '%s|' "$MYSQL_PWD"; cat`},
			EnvVar:   "MYSQL_PWD",
			Password: pw,
			Stdin:    strings.NewReader("the stream\n"),
			Stdout:   &out,
		}
		if err := r.run(context.Background(), hosts.Local{}); err != nil {
			t.Fatal(err)
		}
		if want := pw + "|the stream\n"; out.String() != want {
			t.Errorf("got %q, want %q", out.String(), want)
		}
	}
	err := secretRun{Argv: []string{"false"}, EnvVar: "PGPASSWORD", Password: "x"}.run(context.Background(), hosts.Local{})
	var exit *hosts.ExitError
	if !errors.As(err, &exit) || exit.Code != 1 || err.Error() != "false exited 1" {
		t.Errorf("error %q, want one naming the tool, not the wrapper", err)
	}
}

// memOutput is an Output in memory, to see what storeStream commits.
type memOutput struct{ committed, aborted []string }

type memFile struct {
	out  *memOutput
	name string
	buf  bytes.Buffer
}

func (o *memOutput) Create(_ context.Context, name string) (OutputFile, error) {
	return &memFile{out: o, name: name}, nil
}
func (o *memOutput) LinkBase(context.Context, string) error      { return nil }
func (o *memOutput) BaseFiles(context.Context) ([]string, error) { return nil, nil }
func (f *memFile) Write(p []byte) (int, error)                   { return f.buf.Write(p) }
func (f *memFile) Abort()                                        { f.out.aborted = append(f.out.aborted, f.name) }
func (f *memFile) Commit() (FileInfo, error) {
	f.out.committed = append(f.out.committed, f.name)
	return FileInfo{Size: int64(f.buf.Len())}, nil
}

func TestStoreStreamAbortsOnFailure(t *testing.T) {
	out := &memOutput{}
	_, err := storeStream(context.Background(), out, "db.sql.zst", true, func(w io.Writer) error {
		_, _ = w.Write([]byte("half a dump"))
		return errors.New("dump tool died")
	})
	if err == nil || len(out.committed) != 0 || len(out.aborted) != 1 {
		t.Fatalf("err %v, committed %v, aborted %v: want the file aborted", err, out.committed, out.aborted)
	}
	out = &memOutput{}
	info, err := storeStream(context.Background(), out, "db.sql.zst", true, func(w io.Writer) error {
		_, err := w.Write(bytes.Repeat([]byte("row\n"), 1000))
		return err
	})
	if err != nil || len(out.committed) != 1 || info.Size == 0 || info.Size > 200 {
		t.Fatalf("err %v, committed %v, size %d: want one small compressed file", err, out.committed, info.Size)
	}
}

// TestDumpFileNameCharacters pins the characters a dump's file name keeps
// as they are, which the README lists: every other byte is %XX.
func TestDumpFileNameCharacters(t *testing.T) {
	const kept = "$&+-.0123456789:=@ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz~"
	var got string
	for c := byte(1); c < 0x80; c++ {
		if dumpFileName("x"+string(c)) == "x"+string(c)+".sql.zst" {
			got += string(c)
		}
	}
	if got != kept {
		t.Errorf("kept %q, want %q", got, kept)
	}
	if got := dumpFileName("é"); got != "%C3%A9.sql.zst" {
		t.Errorf("é: %q", got)
	}
}

func TestLikeMatch(t *testing.T) {
	for _, tt := range []struct {
		pattern, s string
		want       bool
	}{
		{"shop", "shop", true},
		{"shop", "shop2", false},
		{"shop%", "shop2", true},
		{`shop\_a`, "shop_a", true},
		{`shop\_a`, "shopxa", false},
		{"shop_a", "shopxa", true},
		{"%", "", true},
		{"a%b", "ab", true},
		{"a%b", "ac", false},
	} {
		if got := likeMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("likeMatch(%q, %q) = %v", tt.pattern, tt.s, got)
		}
	}
}
