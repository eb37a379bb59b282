package repository

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"

	"github.com/depot-backup/depot/backupitems"
	"github.com/depot-backup/depot/hosts"
)

// ItemBase is the base snapshot's copy of an item, which a build links
// unchanged files from: the item's directory there and its file list ("" for
// none of either).
type ItemBase struct {
	Dir      string
	FileList string
}

// ItemWriter writes one item into a build: it readies the item's directory,
// gives the item its output (Output, and Tree for a tree item), and at the
// end writes the item's file list from what the item reported, whichever way
// it wrote.
type ItemWriter struct {
	build *Build
	name  string
	dir   string // the item's directory in the build
	out   *itemOutput
	tree  backupitems.TreeEnv
}

// Item is the writer of the item name into b, from base (the item's newest
// good copy, or none).
func (b *Build) Item(name string, base ItemBase) *ItemWriter {
	dir := path.Join(b.Dir, name)
	w := &ItemWriter{
		build: b,
		name:  name,
		dir:   dir,
		out:   &itemOutput{repo: b.Repo, dir: dir, base: base, mtime: b.Time()},
		tree:  b.Repo.TreeEnv(dir, base),
	}
	return w
}

// TreeEnv is what a tree item writing into dir gets beyond its Env, with
// base as the base's copy of it (see backupitems.TreeEnv): for plan too,
// which builds nothing.
func (r Repo) TreeEnv(dir string, base ItemBase) backupitems.TreeEnv {
	_, remote := r.Host().(hosts.Remote)
	tree := backupitems.TreeEnv{Remote: remote}
	if base.Dir != "" && base.FileList != "" {
		tree.Prev = &prevTree{repo: r, dir: dir, base: base}
	}
	return tree
}

// Dir is the item's directory in the build.
func (w *ItemWriter) Dir() string { return w.dir }

// Output writes the item's files (see backupitems.Env.Out).
func (w *ItemWriter) Output() backupitems.Output { return w.out }

// Tree is what a tree item gets beyond its Env.
func (w *ItemWriter) Tree() backupitems.TreeEnv { return w.tree }

// Prepare makes the item's directory. What an interrupted attempt left there
// stays only for a resumable type without a base: a dump is redone anyway,
// and stale files (a database dropped since) must not slip into the
// snapshot; a tree is resumed only when nothing in it is a hard link to the
// base, for rsync would change the attributes of a file that changed only in
// them in place, in the base snapshot too.
func (w *ItemWriter) Prepare(ctx context.Context, resumable bool) error {
	fsys := w.build.Repo.Files()
	if !resumable || w.out.base.Dir != "" {
		if err := fsys.RemoveAll(ctx, w.dir); err != nil {
			return err
		}
	}
	return fsys.MkdirAll(ctx, w.dir)
}

// ItemList is the file list an ItemWriter wrote.
type ItemList struct {
	Path   string // in the snapshot: FileListDir/<item>.tsv.zst
	SHA256 string // of the list as written
	Stats  ScanStats
}

// Finish writes the item's file list into the build, carrying hashes over
// from the base's list, and then releases tree. A tree item's list comes
// from tree, the listing it returned: the paths it names, stat'ed where
// they are on this machine, or a walk of the item's directory. Any other
// item's (tree nil) comes from a walk of the item's directory, for files
// it may have written beside Output, with the hashes Output computed while
// writing; or, when the directory is on another host, from what it wrote
// through Output.
func (w *ItemWriter) Finish(ctx context.Context, tree *backupitems.TreeListing) (ItemList, error) {
	src := listSource{root: w.dir}
	switch {
	case tree != nil && tree.Paths != nil:
		src.paths = pathList(tree.Paths)
		if w.tree.Remote {
			src.root = tree.Root
		}
	case w.tree.Remote:
		src = listSource{entries: w.out.entries()}
	case tree == nil && len(w.out.written) > 0:
		src.known = w.out.entries()
	}
	if tree != nil && tree.Source != nil {
		src.source = sourceStats(tree.Source)
	}
	if tree != nil && tree.Hashed != nil {
		src.hashed = tree.Hashed
	}
	if tree != nil && tree.Close != nil {
		defer tree.Close()
	}
	list := ItemList{Path: path.Join(FileListDir, w.name+".tsv.zst")}
	var err error
	list.Stats, list.SHA256, err = w.writeFileList(ctx, src, path.Join(w.build.Dir, list.Path))
	return list, err
}

// listSource is where an item's file list comes from: paths an item reported
// under a local root, a walk of a local root, or entries known without
// either.
type listSource struct {
	root    string
	paths   PathList
	entries []Entry
	known   []Entry // in memory already: stand in for the base's list
	source  SourceStats
	hashed  CopyHashes
}

// pathList adapts a tree item's listing of paths.
func pathList(paths func(func(backupitems.TreePath) error) error) PathList {
	return func(fn func(string, bool) error) error {
		return paths(func(p backupitems.TreePath) error { return fn(p.Path, p.Linked) })
	}
}

// sourceStats adapts what a tree item's walk saw of the source.
func sourceStats(src func(string) (backupitems.SourceStat, bool)) SourceStats {
	return func(p string) (SourceStat, bool) {
		st, ok := src(p)
		return SourceStat{Uid: st.Uid, Gid: st.Gid, Ctime: st.Ctime}, ok
	}
}

// writeFileList writes an item's file list to dst in the repository, carrying
// hashes over from the base's list (if any), and returns the figures and the
// SHA-256 of the written list.
func (w *ItemWriter) writeFileList(ctx context.Context, l listSource, dst string) (ScanStats, string, error) {
	repo := w.build.Repo
	if err := repo.Files().MkdirAll(ctx, path.Dir(dst)); err != nil {
		return ScanStats{}, "", err
	}
	h := sha256.New()
	f, err := repo.Files().Create(ctx, dst)
	if err != nil {
		return ScanStats{}, "", fmt.Errorf("file list: %w", err)
	}
	defer f.Close()
	fw, err := NewFileListWriter(io.MultiWriter(f, h))
	if err != nil {
		return ScanStats{}, "", err
	}
	var stats ScanStats
	if l.entries != nil || l.root == "" {
		stats, err = writeEntries(fw, l.entries)
	} else {
		var base EntryReader
		switch {
		case l.known != nil:
			base = EntriesReader(l.known)
		case w.out.base.FileList != "":
			if r, err := repo.OpenFileList(ctx, w.out.base.FileList); err == nil {
				defer r.Close()
				base = r
			} // else an unreadable base list costs only hashing
		}
		if l.paths != nil {
			stats, err = ScanPaths(ctx, filepath.FromSlash(l.root), l.paths, base, l.source, fw)
		} else {
			stats, err = Scan(ctx, filepath.FromSlash(l.root), base, l.source, l.hashed, fw)
		}
	}
	if err != nil {
		return stats, "", err
	}
	if err := fw.Close(); err != nil {
		return stats, "", fmt.Errorf("file list: %w", err)
	}
	if err := f.Close(); err != nil {
		return stats, "", fmt.Errorf("file list: %w", err)
	}
	return stats, hex.EncodeToString(h.Sum(nil)), nil
}

func writeEntries(w *FileListWriter, entries []Entry) (ScanStats, error) {
	var stats ScanStats
	for _, e := range entries {
		if err := w.Write(e); err != nil {
			return stats, err
		}
		if e.IsRegular() {
			stats.Files++
			stats.Bytes += e.Size
		}
	}
	return stats, nil
}

// prevTree is the base snapshot's copy of a tree item (backupitems.PrevTree).
type prevTree struct {
	repo Repo
	dir  string // the item's directory in the build
	base ItemBase
}

// List implements backupitems.PrevTree.
func (t *prevTree) List(ctx context.Context) (backupitems.PrevList, error) {
	r, err := t.repo.OpenFileList(ctx, t.base.FileList)
	if err != nil {
		return nil, err
	}
	return prevList{r}, nil
}

// prevList reads a file list as a backupitems.PrevList.
type prevList struct{ r *FileListReader }

func (l prevList) Next() (backupitems.PrevEntry, error) {
	e, err := l.r.Next()
	if err != nil {
		return backupitems.PrevEntry{}, err
	}
	return backupitems.PrevEntry{Path: e.Path, Mode: e.Mode, Size: e.Size, Mtime: e.Mtime, Ctime: e.Ctime, Uid: e.Uid, Gid: e.Gid}, nil
}

func (l prevList) Close() error { return l.r.Close() }

// linkBatch is how many files LinkTree links at a time on this machine,
// where a batch costs no round trip: memory stays bounded, whatever the
// number of files.
const linkBatch = 1 << 16

// Link implements backupitems.PrevTree. On this machine it links in batches
// (the directories are made by the first, the directories among the files,
// which come last, keep their attributes once all files are in); another
// host gets every file in one stream, for it may clone the base whole.
func (t *prevTree) Link(ctx context.Context, dirs []string, files func(func(backupitems.PrevEntry) error) error, drop []string) ([]string, error) {
	fsys := t.repo.Files()
	if h, ok := fsys.(*HostFS); ok {
		copies, err := h.LinkTreeFrom(ctx, t.base.Dir, t.dir, dirs, func(fn func(LinkFile) error) error {
			return files(func(f backupitems.PrevEntry) error {
				return fn(LinkFile{Path: f.Path, Mode: f.Mode, Size: f.Size, Mtime: f.Mtime, Uid: f.Uid, Gid: f.Gid})
			})
		}, drop)
		if errors.Is(err, ErrNoLinkTree) {
			return nil, fmt.Errorf("%w: %w", backupitems.ErrNoTreeLink, err)
		}
		return copies, err
	}
	_, local := fsys.(LocalFS)
	var copies []string
	batch := make([]LinkFile, 0, linkBatch)
	first := true
	flush := func() error {
		if !first && len(batch) == 0 {
			return nil
		}
		c, err := fsys.LinkTree(ctx, t.base.Dir, t.dir, dirs, batch, drop)
		if errors.Is(err, ErrNoLinkTree) {
			if !first {
				// The batches before left links: Dir must be empty.
				if rerr := t.emptyDir(ctx); rerr != nil {
					return rerr
				}
			}
			return fmt.Errorf("%w: %w", backupitems.ErrNoTreeLink, err)
		}
		if err != nil {
			return err
		}
		copies = append(copies, c...)
		batch, dirs, drop, first = batch[:0], nil, nil, false
		return nil
	}
	err := files(func(f backupitems.PrevEntry) error {
		batch = append(batch, LinkFile{Path: f.Path, Mode: f.Mode, Size: f.Size, Mtime: f.Mtime, Uid: f.Uid, Gid: f.Gid})
		if local && len(batch) == linkBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return copies, err
}

// emptyDir removes everything in the item's directory.
func (t *prevTree) emptyDir(ctx context.Context) error {
	fsys := t.repo.Files()
	if err := fsys.RemoveAll(ctx, t.dir); err != nil {
		return err
	}
	return fsys.MkdirAll(ctx, t.dir)
}
