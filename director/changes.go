package director

import (
	"context"
	"path"
	"strings"

	"github.com/depot-backup/depot/notify"
	"github.com/depot-backup/depot/repository"
)

// MaxChangePaths is how many paths of each kind a change report names.
const MaxChangePaths = 20

// changeReport compares the file lists of the snapshot in dir (manifest m)
// with its base's: what was added, changed and removed, item by item. The
// lists are merged as sorted streams, so memory does not grow with the
// number of files. It returns nil when the snapshot has no base.
func changeReport(ctx context.Context, repo repository.Repo, dir string, m *repository.Manifest) (*notify.Changes, error) {
	if m.Base == "" {
		return nil, nil
	}
	section, stamp, _ := strings.Cut(m.Base, "/")
	baseDir := repo.Dir(section, m.Set, stamp)
	bm, err := repo.ReadManifest(ctx, baseDir)
	if err != nil {
		return nil, err
	}
	c := &notify.Changes{Base: m.Base, Added: notify.ChangeList{Paths: []string{}}, Changed: notify.ChangeList{Paths: []string{}}, Removed: notify.ChangeList{Paths: []string{}}}
	baseLists := map[string]string{}
	for _, it := range bm.Items {
		if it.FileList != "" {
			baseLists[it.Name+"\x00"+it.Type] = path.Join(baseDir, it.FileList)
		}
	}
	for _, it := range m.Items {
		if it.FileList == "" {
			continue
		}
		key := it.Name + "\x00" + it.Type
		err := compareLists(ctx, repo, baseLists[key], path.Join(dir, it.FileList), it.Name, c)
		delete(baseLists, key)
		if err != nil {
			return nil, err
		}
	}
	for key, list := range baseLists { // items that are gone
		name, _, _ := strings.Cut(key, "\x00")
		if err := compareLists(ctx, repo, list, "", name, c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// compareLists merges the old and new file lists of an item ("" for none)
// into c.
func compareLists(ctx context.Context, repo repository.Repo, oldList, newList, item string, c *notify.Changes) error {
	open := func(p string) (repository.EntryReader, func(), error) {
		if p == "" {
			return repository.EntriesReader(nil), func() {}, nil
		}
		r, err := repo.OpenFileList(ctx, p)
		if err != nil {
			return nil, nil, err
		}
		return r, func() { r.Close() }, nil
	}
	oldR, closeOld, err := open(oldList)
	if err != nil {
		return err
	}
	defer closeOld()
	newR, closeNew, err := open(newList)
	if err != nil {
		return err
	}
	defer closeNew()
	return mergeLists(ctx, oldR, newR, func(o, n *repository.Entry) error {
		switch {
		case o == nil:
			note(&c.Added, item, *n)
		case n == nil:
			note(&c.Removed, item, *o)
		case changed(*o, *n):
			note(&c.Changed, item, *n)
		}
		return nil
	})
}

// changed reports whether a path's content, type or permissions differ. A
// directory's times change with its entries, which are reported themselves.
func changed(o, n repository.Entry) bool {
	switch {
	case o.Mode != n.Mode:
		return true
	case n.IsDir():
		return false
	case o.Hash != "" && n.Hash != "":
		return o.Hash != n.Hash
	}
	return o.Size != n.Size || o.Mtime != n.Mtime
}

func note(l *notify.ChangeList, item string, e repository.Entry) {
	l.Count++
	if len(l.Paths) < MaxChangePaths {
		p := item + "/" + e.Path
		if e.IsDir() {
			p += "/"
		}
		l.Paths = append(l.Paths, p)
	}
}
