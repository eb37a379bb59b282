package director

import (
	"context"
	"path"

	"github.com/depot-backup/depot/backupitems"
	"github.com/depot-backup/depot/repository"
)

// itemWriter writes one item into a build: it readies the item's directory,
// gives the item its environment (Out, and the base's file list for the
// quick path), and at the end writes the item's file list from what the
// item reported, whichever way it wrote.
type itemWriter struct {
	build *repository.Build
	name  string
	base  baseItem
	env   backupitems.Env
	out   *fsOutput
	tree  *treeBase // nil without a base file list
}

// newItemWriter is the writer of item h of set into build, from base (the
// item's newest good copy).
func (d *Director) newItemWriter(set *SetConfig, h *backupitems.Common, build *repository.Build, base baseItem) *itemWriter {
	base = base.ofType(h.Type)
	env, tree := d.itemEnv(build.Repo, set, h, build.Dir, base)
	out := &fsOutput{repo: build.Repo, dir: env.Dir, baseDir: base.dir, baseList: base.fileList, mtime: build.Time()}
	env.Out = out
	return &itemWriter{build: build, name: h.Name, base: base, env: env, out: out, tree: tree}
}

// prepare makes the item's directory. What an interrupted attempt left there
// stays only for a resumable type without a base: a dump is redone anyway,
// and stale files (a database dropped since) must not slip into the
// snapshot; a tree is resumed only when nothing in it is a hard link to the
// base, for rsync would change the attributes of a file that changed only in
// them in place, in the base snapshot too.
func (w *itemWriter) prepare(ctx context.Context, resumable bool) error {
	fsys := w.build.Repo.Files()
	if !resumable || w.base.dir != "" {
		if err := fsys.RemoveAll(ctx, w.env.Dir); err != nil {
			return err
		}
	}
	return fsys.MkdirAll(ctx, w.env.Dir)
}

// finish writes the item's file list into the build and names it in rec.
// The list comes from the paths the item reports, stat'ed where they are on
// this machine; else from a walk of the item's directory or, when that is on
// another host, from what the item wrote through Out.
func (w *itemWriter) finish(ctx context.Context, res backupitems.Result, rec *repository.ItemRecord) (repository.ScanStats, error) {
	dir, pushed := w.env.Dir, w.env.ListPaths
	list := listing{root: dir}
	var known []repository.Entry // the base's list, when the item read it whole
	if w.tree != nil && w.tree.readAll {
		known = w.tree.entries
	}
	switch {
	case res.Listing != nil && pushed:
		list = listing{root: res.Listing.Root, paths: res.Listing.Paths, known: known, source: sourceStats(res.Listing)}
	case res.Listing != nil:
		list = listing{root: dir, paths: res.Listing.Paths, known: known, source: sourceStats(res.Listing)}
	case pushed:
		list = listing{entries: w.out.entries()}
	case len(w.out.written) > 0:
		// Walk, for files an item may have written beside Out, but take
		// the hashes Out computed while writing instead of reading the
		// dumps again.
		list = listing{root: dir, known: w.out.entries()}
	}
	rec.FileList = path.Join(repository.FileListDir, w.name+".tsv.zst")
	stats, sum, err := writeFileList(ctx, w.build.Repo, list, w.base.fileList, path.Join(w.build.Dir, rec.FileList))
	if err != nil {
		return stats, err
	}
	rec.FileListSHA256 = sum
	return stats, nil
}
