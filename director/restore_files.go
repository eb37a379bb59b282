package director

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/repository"
	"github.com/depot-backup/depot/rsync"
)

// restoreFiles copies items (all of them, or the paths o.Paths names in
// them) out of snap into o.To: a directory here, or user@host[:port]:/dir.
// With one item its content lands in the target itself, else each item in
// a directory of its own. A path keeps its place below the item: site's
// var/www/index.html lands in TARGET/var/www/index.html.
func (d *Director) restoreFiles(ctx context.Context, snap repository.Snapshot, items []string, o RestoreOptions) error {
	addr, dir, err := restoreTarget(o.To)
	if err != nil {
		return err
	}
	dst := d.hosts.get(addr)
	if addr != "" && d.Config.Repository.Host != "" {
		return &UsageError{Msg: "restore --to USER@HOST:/DIR needs the repository on this machine: rsync cannot copy between two remote hosts; restore here, or run depot on the repository host"}
	}
	picked, err := d.restorePaths(ctx, snap, items, o)
	if err != nil {
		return err
	}
	if addr == "" {
		if err := checkTarget(dir, o.Force); err != nil {
			return err
		}
		if err := d.outsideRepository("restore --to", dir); err != nil {
			return err
		}
		// The target and its parents are made here; rsync makes only each
		// item's directory below it.
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("restore target: %w", err)
		}
	} else if err := checkRemoteTarget(ctx, dst, dir, o.Force); err != nil {
		return err
	}
	for _, name := range items {
		rels, ok := picked[name]
		if len(o.Paths) > 0 && !ok {
			continue
		}
		to := dir
		if o.Item == "" {
			to = path.Join(dir, name)
		}
		opts := rsync.Options{
			Sources:    []string{filepath.Join(snap.Path, name) + "/"},
			Dest:       to + "/",
			HardLinks:  true,
			ACLs:       true,
			Xattrs:     true,
			NumericIDs: true,
			Sparse:     true,
		}
		if len(rels) > 0 {
			// --relative from the item directory ("/./" marks where the
			// kept part of each path starts).
			opts.Relative, opts.Sources = true, nil
			for _, rel := range rels {
				opts.Sources = append(opts.Sources, filepath.Join(snap.Path, name)+"/./"+rel)
			}
		}
		if _, err := rsync.RunBetween(ctx, d.repoHost(), dst, opts); err != nil {
			return fmt.Errorf("restore item %s: %w", name, err)
		}
		d.Log.Info("restored", "snapshot", snap.Name(), "item", name, "paths", len(rels), "to", o.To)
	}
	return nil
}

// restoreTarget splits --to into a host address ("" for this machine) and
// a directory.
func restoreTarget(to string) (addr, dir string, err error) {
	if to == "" {
		return "", "", &UsageError{Msg: "restore needs --to DIR"}
	}
	if strings.HasPrefix(to, "/") || !strings.Contains(to, ":/") {
		return "", to, nil
	}
	addr, dir, err = ParseTarget(to)
	if err != nil {
		return "", "", &UsageError{Msg: fmt.Sprintf("restore --to %s", err)}
	}
	return addr, dir, nil
}

// restorePaths resolves --path arguments: for each item, the paths to copy
// (relative to its directory), each checked against the item's file list.
// A path found in no item is an error before anything is copied.
func (d *Director) restorePaths(ctx context.Context, snap repository.Snapshot, items []string, o RestoreOptions) (map[string][]string, error) {
	if len(o.Paths) == 0 {
		return nil, nil
	}
	chosen := map[string]bool{}
	for _, name := range items {
		chosen[name] = true
	}
	out := map[string][]string{}
	for _, p := range o.Paths {
		q := resolvePath(snap.Manifest, p)
		found := false
		for _, it := range q.items {
			if !chosen[it.Name] {
				continue
			}
			if q.rel == "" {
				return nil, &UsageError{Msg: fmt.Sprintf("--path %s names a whole item: use --item %s", p, it.Name)}
			}
			if it.Type != "filesystem" {
				if len(q.items) > 1 {
					continue // a source path is looked for in the tree items only
				}
				return nil, &UsageError{Msg: fmt.Sprintf("--path restores paths of tree items; %s is a %s item", it.Name, it.Type)}
			}
			_, ok, err := findEntry(ctx, d.repo(), snap, it, q.rel)
			if err != nil {
				return nil, err
			}
			if ok {
				out[it.Name] = append(out[it.Name], q.rel)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("snapshot %s has no path %s (depot ls %s@%s lists its paths)", snap.Name(), p, snap.Set, snap.Stamp)
		}
	}
	return out, nil
}

// checkRemoteTarget refuses a restore into a remote directory that has
// content, unless forced, and makes it.
func checkRemoteTarget(ctx context.Context, h hosts.Host, dir string, force bool) error {
	fsys := repository.NewHostFS(h)
	defer fsys.Close()
	entries, err := fsys.ReadDir(ctx, dir)
	if err != nil {
		return fmt.Errorf("restore target %s on %s: %w", dir, h.Name(), err)
	}
	if len(entries) > 0 && !force {
		return &UsageError{Msg: fmt.Sprintf("restore target %s on %s is not empty; choose an empty directory or pass --force to write over it", dir, h.Name())}
	}
	if err := fsys.MkdirAll(ctx, dir); err != nil {
		return fmt.Errorf("restore target %s on %s: %w", dir, h.Name(), err)
	}
	return nil
}
