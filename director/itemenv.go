package director

import (
	"path"

	"github.com/depot-backup/depot/backupitems"
	"github.com/depot-backup/depot/repository"
)

// itemEnv makes an item's environment, the one way for run, plan and check,
// so that what plan and check see is what run gets: the hosts, the item's
// directory in the snapshot being built (buildDir "" for check, which builds
// nothing), its base (the newest good copy of the item, if of the same
// type) and the base's file list for the quick path. Out is for run to set:
// plan and check write nothing. The tree base is returned too, for run to
// read back what the item read of the base's list.
func (d *Director) itemEnv(repo repository.Repo, set *SetConfig, h *backupitems.Common, buildDir string, base baseItem) (backupitems.Env, *treeBase) {
	base = base.ofType(h.Type)
	env := backupitems.Env{
		Source:    d.source(set),
		Repo:      d.repoHost(),
		Base:      base.dir,
		BaseMeta:  base.meta,
		ListPaths: remote(d.repoHost()),
		Log:       d.Log.With("set", set.Name, "item", h.Name),
	}
	if buildDir == "" {
		return env, nil
	}
	env.Dir = path.Join(buildDir, h.Name)
	if base.dir == "" || base.fileList == "" {
		return env, nil
	}
	tree := &treeBase{repo: repo, dir: env.Dir, baseDir: base.dir, baseList: base.fileList}
	env.Tree = tree
	return env, tree
}

// ofType is b if it holds an item of type typ, else no base: a new item, or
// a name reused for another type.
func (b baseItem) ofType(typ string) baseItem {
	if b.typ != typ {
		return baseItem{}
	}
	return b
}
