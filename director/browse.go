package director

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/depot-backup/depot/repository"
)

// ls, versions and diff answer from the snapshots' file lists: one read of a
// list (a few MB for 100,000 files), never a walk of a snapshot.

// openItemList opens the file list of item rec in snapshot s, after checking
// it against the SHA-256 its manifest records: a damaged list is an error,
// never a wrong answer.
func openItemList(ctx context.Context, repo repository.Repo, s repository.Snapshot, rec repository.ItemRecord) (*repository.FileListReader, error) {
	data, err := readItemList(ctx, repo, s, rec)
	if err != nil {
		return nil, err
	}
	r, err := repository.NewFileListReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: item %s: %w", s.Name(), rec.Name, err)
	}
	return r, nil
}

// readItemList reads the compressed file list of item rec in snapshot s,
// checked against its manifest's hash.
func readItemList(ctx context.Context, repo repository.Repo, s repository.Snapshot, rec repository.ItemRecord) ([]byte, error) {
	if rec.FileList == "" {
		return nil, fmt.Errorf("snapshot %s: item %s has no file list", s.Name(), rec.Name)
	}
	data, err := repo.Files().ReadFile(ctx, path.Join(s.Path, rec.FileList))
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: item %s: %w", s.Name(), rec.Name, err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != rec.FileListSHA256 {
		return nil, fmt.Errorf("snapshot %s: item %s: file list %s does not match its hash in the manifest (damaged; depot verify checks the snapshot)", s.Name(), rec.Name, rec.FileList)
	}
	return data, nil
}

// goodItems returns the items of a snapshot that hold data.
func goodItems(m *repository.Manifest) []repository.ItemRecord {
	var out []repository.ItemRecord
	for _, it := range m.Items {
		if it.Status != repository.StatusFailed {
			out = append(out, it)
		}
	}
	return out
}

// pathQuery is a PATH argument resolved against a snapshot's items: "ITEM",
// "ITEM/REL", or a path inside the items as the source named it
// ("/var/www/index.html", looked for in every item).
type pathQuery struct {
	items []repository.ItemRecord
	rel   string // relative to the item directory; "" for the whole item
}

func resolvePath(m *repository.Manifest, p string) pathQuery {
	p = strings.Trim(path.Clean("/"+p), "/")
	items := goodItems(m)
	if p == "" {
		return pathQuery{items: items}
	}
	first, rest, _ := strings.Cut(p, "/")
	for _, it := range items {
		if it.Name == first {
			return pathQuery{items: []repository.ItemRecord{it}, rel: rest}
		}
	}
	return pathQuery{items: items, rel: p}
}

// under reports whether p is rel or inside it.
func under(p, rel string) bool {
	return rel == "" || p == rel || strings.HasPrefix(p, rel+"/")
}

// pastPrefix reports whether, in file list order, p comes after rel and
// everything under it: a reader can stop there.
func pastPrefix(p, rel string) bool {
	return rel != "" && !under(p, rel) && repository.PathLess(rel, p)
}

// LsEntry is one path of a snapshot as depot ls prints it.
type LsEntry struct {
	Path   string    `json:"path"` // ITEM/REL
	Type   string    `json:"type"` // file, dir, symlink or other
	Mode   string    `json:"mode"` // permission bits, octal
	Size   int64     `json:"size"`
	Mtime  time.Time `json:"mtime"`
	Uid    *uint32   `json:"uid,omitempty"` // the source's, when the list records it
	Gid    *uint32   `json:"gid,omitempty"`
	SHA256 string    `json:"sha256,omitempty"`
}

func lsEntry(item string, e repository.Entry) LsEntry {
	le := LsEntry{Path: item + "/" + e.Path, Type: entryType(e), Mode: fmt.Sprintf("%04o", e.Mode&0o7777), Size: e.Size, Mtime: time.Unix(0, e.Mtime).UTC(), SHA256: e.Hash}
	if e.HasSource() {
		uid, gid := e.Uid, e.Gid
		le.Uid, le.Gid = &uid, &gid
	}
	return le
}

func entryType(e repository.Entry) string {
	switch {
	case e.IsRegular():
		return "file"
	case e.IsDir():
		return "dir"
	case e.IsSymlink():
		return "symlink"
	}
	return "other"
}

// Ls prints the paths of a snapshot (the newest of SET, or SET@STAMP): all of
// them, or PATH and what is under it. It streams: memory does not grow with
// the number of files, and with JSON it writes one array element at a time.
func (d *Director) Ls(ctx context.Context, target, p string, asJSON bool) error {
	snap, err := d.findSnapshot(ctx, target)
	if err != nil {
		return err
	}
	repo := d.repo()
	q := resolvePath(snap.Manifest, p)
	w := bufio.NewWriterSize(d.Out, 64<<10)
	defer w.Flush()
	enc := json.NewEncoder(w)
	if asJSON {
		w.WriteString("[")
	}
	found := 0
	for _, it := range q.items {
		err := eachEntry(ctx, repo, snap, it, q.rel, func(e repository.Entry) error {
			le := lsEntry(it.Name, e)
			if asJSON {
				if found > 0 {
					w.WriteString(",")
				}
				found++
				return enc.Encode(le)
			}
			found++
			_, err := fmt.Fprintf(w, "%s %s %10d  %s  %s\n", modeString(e.Mode), owner(e), e.Size, le.Mtime.Format("2006-01-02 15:04:05"), displayPath(le.Path, e))
			return err
		})
		if err != nil {
			return err
		}
	}
	if asJSON {
		w.WriteString("]\n")
	}
	if found == 0 && q.rel != "" {
		w.Flush()
		return fmt.Errorf("snapshot %s has no path %s (see depot ls %s@%s)", snap.Name(), p, snap.Set, snap.Stamp)
	}
	return w.Flush()
}

// eachEntry calls fn for the entries of an item's list at or under rel, and
// stops reading once the list is past them.
func eachEntry(ctx context.Context, repo repository.Repo, snap repository.Snapshot, it repository.ItemRecord, rel string, fn func(repository.Entry) error) error {
	r, err := openItemList(ctx, repo, snap, it)
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("snapshot %s: item %s: %w", snap.Name(), it.Name, err)
		}
		if pastPrefix(e.Path, rel) {
			return nil
		}
		if !under(e.Path, rel) {
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

func owner(e repository.Entry) string {
	if !e.HasSource() {
		return fmt.Sprintf("%-11s", "-")
	}
	return fmt.Sprintf("%-11s", fmt.Sprintf("%d:%d", e.Uid, e.Gid))
}

func displayPath(p string, e repository.Entry) string {
	if e.IsDir() {
		return p + "/"
	}
	return p
}

// modeLetters are ls -l's letters for the file types of st_mode.
var modeLetters = map[uint32]byte{0o040000: 'd', 0o120000: 'l', 0o010000: 'p', 0o140000: 's', 0o020000: 'c', 0o060000: 'b'}

// modeString writes st_mode as ls -l does: drwxr-xr-x.
func modeString(mode uint32) string {
	b := []byte("-rwxrwxrwx")
	if t, ok := modeLetters[mode&0o170000]; ok {
		b[0] = t
	}
	for i := 0; i < 9; i++ {
		if mode&(1<<(8-i)) == 0 {
			b[i+1] = '-'
		}
	}
	special := func(bit uint32, at int, set, unset byte) {
		if mode&bit != 0 {
			if b[at] == '-' {
				b[at] = unset
			} else {
				b[at] = set
			}
		}
	}
	special(0o4000, 3, 's', 'S')
	special(0o2000, 6, 's', 'S')
	special(0o1000, 9, 't', 'T')
	return string(b)
}
