package archive

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDirReader: reading through a directory's descriptor gives what Read
// gives, for every type of file, moving between directories and back, and
// reads a small file's extended attributes through its descriptor.
func TestDirReader(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "a", "b"), 0o755))
	must(os.WriteFile(filepath.Join(root, "a", "small"), []byte("small file"), 0o640))
	must(os.WriteFile(filepath.Join(root, "a", "empty"), nil, 0o600))
	must(os.WriteFile(filepath.Join(root, "a", "b", "large"), make([]byte, smallFile+1), 0o600))
	must(os.Symlink("../small", filepath.Join(root, "a", "b", "link")))
	must(unix.Mkfifo(filepath.Join(root, "a", "fifo"), 0o600))
	must(os.WriteFile(filepath.Join(root, "x"), []byte("top"), 0o600))
	xattrs := true
	for _, p := range []string{"a/small", "a/b/large", "a/b"} {
		if err := unix.Setxattr(filepath.Join(root, p), "user.depot", []byte("v-"+p), 0); err != nil {
			t.Logf("no user xattrs here (%v): checked without", err)
			xattrs = false
			break
		}
	}
	r := NewDirReader()
	defer r.Close()
	for _, rel := range []string{"a", "a/b", "a/b/large", "a/b/link", "a/empty", "a/fifo", "a/small", "x", "a/b/large", "a/small"} {
		p := filepath.Join(root, rel)
		want, err := Read(rel, p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Read(rel, p)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		got.st.Atim, want.st.Atim = unix.Timespec{}, unix.Timespec{} // reading sets it
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: DirReader read\n%+v\nRead\n%+v", rel, got, want)
		}
		if xattrs && (rel == "a/small" || rel == "a/b/large" || rel == "a/b") && got.xattrs["user.depot"] != "v-"+rel {
			t.Errorf("%s: xattrs %v", rel, got.xattrs)
		}
		got.release()
		want.release()
	}
	if _, err := r.Read("a/gone", filepath.Join(root, "a", "gone")); !os.IsNotExist(err) {
		t.Errorf("a missing file: %v, want not exist", err)
	}
}
