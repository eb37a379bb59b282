package backupitems

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/depot-backup/depot/hosts"
)

// TestFirstCopySparseFlag: a first copy with rsync's own walk drops rsync's
// -S only when the walk before it, on this machine, saw no file that may
// have holes; plan prints the same flags, and a sparse file stays sparse.
func TestFirstCopySparseFlag(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sparse  bool     // the source has a file with a hole
		exclude []string // one no walk of depot's can interpret: no walk
		fifo    bool     // the source has a fifo: rsync copies, not depot's copier
		copier  bool     // depot's copier copies: no rsync
		wantS   bool
	}{
		{name: "dense", fifo: true, wantS: false},
		{name: "sparse file", sparse: true, wantS: true},
		{name: "no walk", exclude: []string{"**/cache"}, wantS: true},
		{name: "dense, copier", copier: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"a", "sub/b", "empty"} {
				data := strings.Repeat(name, 3000*len(name))
				if name == "empty" {
					data = ""
				}
				if err := os.WriteFile(filepath.Join(src, name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			holed := filepath.Join(src, "sub", "disk.img")
			if tc.sparse {
				makeHoled(t, holed)
			}
			if tc.fifo {
				if err := syscall.Mkfifo(filepath.Join(src, "fifo"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			env := localItemEnv(t, dir)
			item := env.Dir
			f := &Filesystem{Paths: []string{src}, Exclude: tc.exclude}
			p := f.PlanTree(context.Background(), env, TreeEnv{})
			if tc.copier {
				if len(p.Commands) != 0 || p.Method != copyMethod || os.Geteuid() != 0 {
					t.Fatalf("plan: %+v", p)
				}
				return
			}
			if len(p.Commands) != 1 || len(p.Commands[0]) < 2 {
				t.Fatalf("plan: %+v", p)
			}
			flags := p.Commands[0][1]
			if got := strings.HasPrefix(flags, "-a") && strings.Contains(flags, "S"); got != tc.wantS {
				t.Errorf("plan's rsync flags %s: -S %v, want %v", flags, got, tc.wantS)
			}
			if _, list, err := f.BackupTree(context.Background(), env, TreeEnv{}); err != nil {
				t.Fatal(err)
			} else if list.Close != nil {
				list.Close()
			}
			if tc.sparse {
				copied := filepath.Join(item, holed)
				var st syscall.Stat_t
				if err := syscall.Stat(copied, &st); err != nil {
					t.Fatal(err)
				}
				if st.Size != 8<<20 || st.Blocks*512 > 1<<20 {
					t.Errorf("copy of the sparse file: size %d, %d bytes on disk; want 8 MiB in under 1 MiB", st.Size, st.Blocks*512)
				}
			}
		})
	}
}

// TestNeedsSparse: a source on another host keeps -S, whatever its walk
// (find does not say how many blocks a file takes).
func TestNeedsSparse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		source hosts.Host
		sparse int
		want   bool
	}{
		{"local, none", hosts.Local{}, 0, false},
		{"local, one", hosts.Local{}, 1, true},
		{"remote, none", &hosts.SSH{}, 0, true},
	} {
		if got := needsSparse(Env{Source: tc.source}, tc.sparse); got != tc.want {
			t.Errorf("%s: needsSparse %v, want %v", tc.name, got, tc.want)
		}
	}
}

// makeHoled writes an 8 MiB file that is a hole but for its first and last
// bytes, or skips when this file system does not keep holes.
func makeHoled(t testing.TB, p string) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("h"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("t"), 8<<20-1); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 >= st.Size {
		t.Skip("this file system does not keep holes")
	}
}
