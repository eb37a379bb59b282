package director

import (
	"context"
	"path"

	"github.com/depot-backup/depot/backupitems"
	"github.com/depot-backup/depot/repository"
)

// goodCopy is an item's newest good copy: where its base is.
type goodCopy struct {
	typ      string
	base     repository.ItemBase // the item's directory and file list in the snapshot
	meta     map[string]string   // what the item recorded there
	snapshot string              // section/stamp of the snapshot it is in
	files    int64               // its regular files
}

// ofType is c if it holds an item of type typ, else no copy: a new item, or
// a name reused for another type.
func (c goodCopy) ofType(typ string) goodCopy {
	if c.typ != typ {
		return goodCopy{}
	}
	return c
}

// itemEnv makes an item's environment, the one way for run, plan and check,
// so that what plan and check see is what run gets: the hosts, the item's
// directory in the snapshot being built (buildDir "" for check, which builds
// nothing), its base (its newest good copy c, if of the same type) and, for
// a tree item, the base's file list for the quick path. Out is for run to
// set: plan and check write nothing.
func (d *Director) itemEnv(repo repository.Repo, set *SetConfig, h *backupitems.Common, buildDir string, c goodCopy) (backupitems.Env, backupitems.TreeEnv) {
	c = c.ofType(h.Type)
	env := backupitems.Env{
		Source:   d.source(set),
		Repo:     d.repoHost(),
		Base:     c.base.Dir,
		PrevMeta: c.meta,
		Log:      d.Log.With("set", set.Name, "item", h.Name),
	}
	if buildDir == "" {
		return env, repo.TreeEnv("", repository.ItemBase{})
	}
	env.Dir = path.Join(buildDir, h.Name)
	return env, repo.TreeEnv(env.Dir, c.base)
}

// planItem is what item will do in env (and tree, for a tree item).
func planItem(ctx context.Context, item backupitems.Item, env backupitems.Env, tree backupitems.TreeEnv) backupitems.Plan {
	if t, ok := item.(backupitems.TreeItem); ok {
		return t.PlanTree(ctx, env, tree)
	}
	return item.Plan(ctx, env)
}

// runItem backs item up in env (and tree, for a tree item, whose listing it
// returns too).
func runItem(ctx context.Context, item backupitems.Item, env backupitems.Env, tree backupitems.TreeEnv) (backupitems.Result, *backupitems.TreeListing, error) {
	if t, ok := item.(backupitems.TreeItem); ok {
		res, list, err := t.BackupTree(ctx, env, tree)
		return res, &list, err
	}
	res, err := item.Backup(ctx, env)
	return res, nil, err
}
