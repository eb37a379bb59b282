package repository

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/depot-backup/depot/backupitems"
)

// copyHashOf is what a copyHasher records of the file at p holding data.
func copyHashOf(t testing.TB, p string, data []byte) backupitems.CopyHash {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return backupitems.CopyHash{Dev: st.Dev, Ino: st.Ino, Size: st.Size, Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano(), SHA256: sha256.Sum256(data)}
}

// TestScanTakesACopyHashOnlyForTheFileRead: a hash read while the copy was
// made reaches the file list only while the path is still the very file
// that was read. A copy replaced since by another file (same size, same
// mtime, another inode), rewritten in place with its mtime put back (only
// the ctime tells), or grown, is read again, so the hash of what was read
// before never reaches the list.
func TestScanTakesACopyHashOnlyForTheFileRead(t *testing.T) {
	root := t.TempDir()
	old := map[string][]byte{"kept": []byte("kept data"), "replaced": []byte("old content"), "rewritten": []byte("old content"), "grown": []byte("old")}
	hints := map[string]backupitems.CopyHash{}
	for name, data := range old {
		p := filepath.Join(root, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		hints[name] = copyHashOf(t, p, data)
	}
	now := map[string][]byte{"kept": old["kept"], "replaced": []byte("new content"), "rewritten": []byte("new content"), "grown": []byte("old and more")}
	mtime := time.Unix(0, hints["replaced"].Mtime)

	// Another file renamed over the path, with the same size and mtime.
	tmp := filepath.Join(t.TempDir(), "tmp")
	if err := os.WriteFile(tmp, now["replaced"], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(root, "replaced")); err != nil {
		t.Fatal(err)
	}
	// The same inode rewritten in place, its mtime put back: only its ctime
	// differs, once the kernel's coarse clock has ticked.
	rewritten := filepath.Join(root, "rewritten")
	for copyHashOf(t, rewritten, nil).Ctime == hints["rewritten"].Ctime {
		f, err := os.OpenFile(rewritten, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(now["rewritten"], 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if err := os.Chtimes(rewritten, time.Unix(0, hints["rewritten"].Mtime), time.Unix(0, hints["rewritten"].Mtime)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "grown"), now["grown"], 0o644); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	w, err := NewFileListWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	hashed := func(p string) (backupitems.CopyHash, bool) { h, ok := hints[p]; return h, ok }
	stats, err := Scan(context.Background(), root, nil, nil, hashed, w)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := NewFileListReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	listed, err := readEntries(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range listed {
		sum := sha256.Sum256(now[e.Path])
		if e.Hash != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: listed hash %s, want the hash of what it holds", e.Path, e.Hash)
		}
	}
	if len(listed) != len(now) {
		t.Errorf("listed %d files, want %d", len(listed), len(now))
	}
	if stats.FilesPrehashed != 1 || stats.FilesHashed != 4 {
		t.Errorf("stats %+v: want the kept file's hash taken, the other three read again", stats)
	}
}
