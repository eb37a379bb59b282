package director

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/depot-backup/depot/backupitems"
	"github.com/depot-backup/depot/repository"
)

// RestoreOptions say what to restore where.
type RestoreOptions struct {
	Target string // SET or SET@STAMP (a unique prefix of a stamp will do)
	Item   string // one item; all items when empty
	To     string // directory to copy the files into
	// Database and SVNPath load an item back into its service instead:
	// a new database, or a new Subversion repository at a path.
	Database string
	SVNPath  string
	// SourceDatabase picks one of an item's databases for Database.
	SourceDatabase string
	// Server loads a database item's globals and every database into a
	// server, at RestoreHost and RestorePort when set.
	Server      bool
	RestoreHost string
	RestorePort int
	Force       bool // restore into a non-empty directory, database or server
	// Paths restores only these paths of tree items (files or subtrees):
	// ITEM/PATH, or a path as the source named it.
	Paths []string
	// FromMirror restores from this restic mirror instead of the
	// repository, which need not exist.
	FromMirror string
}

// Restore copies a snapshot's items out of the repository. With one item, its
// content lands directly in To; with all items, each lands in To/<item>.
// Modes, times, symlinks, hard links, ACLs and xattrs come back as stored.
func (d *Director) Restore(ctx context.Context, o RestoreOptions) error {
	if o.FromMirror != "" {
		return d.restoreFromRestic(ctx, o)
	}
	snap, err := d.findSnapshot(ctx, o.Target)
	if err != nil {
		return err
	}
	if o.Item != "" && !strings.Contains(o.Target, "@") && !snap.HasGood(o.Item) {
		// The newest snapshot lacks the item (it failed there): take its
		// newest good copy.
		if good, ok := d.newestGood(ctx, snap.Set, o.Item); ok {
			d.Log.Warn("the newest snapshot has no good copy of the item; restoring its newest good copy", "item", o.Item, "snapshot", good.Name())
			snap = good
		}
	}
	m := snap.Manifest
	var items []string
	recs, err := d.restorableItems(snap, o.Item)
	if err != nil {
		return err
	}
	for _, it := range recs {
		items = append(items, it.Name)
	}
	if len(items) == 0 {
		var names []string
		for _, it := range m.Items {
			names = append(names, it.Name)
		}
		return &UsageError{Msg: fmt.Sprintf("snapshot %s/%s has no item %q (items: %s)", snap.Set, snap.Stamp, o.Item, strings.Join(names, ", "))}
	}
	if o.Database != "" || o.SVNPath != "" || o.Server {
		if len(o.Paths) > 0 {
			return &UsageError{Msg: "--path restores files into --to DIR, not into a database, server or svn repository"}
		}
		return d.restoreInto(ctx, d.repo(), snap, m, o)
	}
	return d.restoreFiles(ctx, snap, items, o)
}

// restoreInto loads one item back into its service with the item type's
// Restorer, using the connection settings of the item in the current config.
// repo holds snap: the repository, or a restic mirror's snapshot restored
// into a scratch directory.
func (d *Director) restoreInto(ctx context.Context, repo repository.Repo, snap repository.Snapshot, m *repository.Manifest, o RestoreOptions) error {
	var rec *repository.ItemRecord
	for i := range m.Items {
		if m.Items[i].Name == o.Item || o.Item == "" && len(m.Items) == 1 {
			rec = &m.Items[i]
		}
	}
	if rec == nil {
		return &UsageError{Msg: fmt.Sprintf("snapshot %s/%s has several items: name one with --item", snap.Set, snap.Stamp)}
	}
	set, ok := d.Config.Set(snap.Set)
	var item ItemConfig
	if ok {
		for _, it := range set.Items {
			if it.Header().Name == rec.Name {
				item = it
			}
		}
	}
	if item.Item == nil || item.Header().Type != rec.Type {
		return fmt.Errorf("item %s (%s) is not in the config as a %s item: its connection settings are needed to load it back; restore its files with --to DIR instead", rec.Name, rec.Type, rec.Type)
	}
	restorer, ok := item.Item.(backupitems.Restorer)
	if !ok {
		return &UsageError{Msg: fmt.Sprintf("item %s is a %s item, which restores with --to DIR only", rec.Name, rec.Type)}
	}
	env := backupitems.RestoreEnv{
		Source:         d.source(set),
		In:             fsInput{repo: repo, dir: filepath.Join(snap.Path, rec.Name), fileList: filepath.Join(snap.Path, rec.FileList)},
		Meta:           rec.Meta,
		Database:       o.Database,
		SourceDatabase: o.SourceDatabase,
		Server:         o.Server,
		RestoreHost:    o.RestoreHost,
		RestorePort:    o.RestorePort,
		SVNPath:        o.SVNPath,
		Force:          o.Force,
		Log:            d.Log.With("set", snap.Set, "stamp", snap.Stamp, "item", rec.Name),
	}
	if err := restorer.Restore(ctx, env); err != nil {
		var te *backupitems.TargetError
		if errors.As(err, &te) {
			return &UsageError{Msg: fmt.Sprintf("restore item %s: %s", rec.Name, te.Msg)}
		}
		return fmt.Errorf("restore item %s: %w", rec.Name, err)
	}
	d.Log.Info("restored", "snapshot", snap.Name(), "item", rec.Name, "database", o.Database, "server", o.Server, "svn", o.SVNPath)
	return nil
}

// checkTarget refuses a restore into a directory that has content, unless forced.
func checkTarget(dir string, force bool) error {
	if dir == "" {
		return &UsageError{Msg: "restore needs --to DIR"}
	}
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore target: %w", err)
	}
	defer f.Close()
	if _, err := f.Readdirnames(1); err == io.EOF || force {
		return nil
	} else if err != nil {
		return fmt.Errorf("restore target %s: %w", dir, err)
	}
	return &UsageError{Msg: fmt.Sprintf("restore target %s is not empty; choose an empty directory or pass --force to write over it", dir)}
}

// findSnapshot resolves SET or SET@STAMP to a complete snapshot: the newest
// when no stamp is given, else the one whose stamp is or starts with STAMP.
func (d *Director) findSnapshot(ctx context.Context, target string) (repository.Snapshot, error) {
	set, stamp, _ := strings.Cut(target, "@")
	if set == "" {
		return repository.Snapshot{}, &UsageError{Msg: "name a set: SET or SET@STAMP"}
	}
	if err := checkSetName(set); err != nil {
		return repository.Snapshot{}, err
	}
	repo, err := d.openRepo(ctx)
	if err != nil {
		return repository.Snapshot{}, err
	}
	if err := d.knownSet(ctx, repo, set); err != nil {
		return repository.Snapshot{}, err
	}
	snaps, err := repo.Snapshots(ctx, set)
	if err != nil {
		return repository.Snapshot{}, err
	}
	var match []repository.Snapshot
	for _, s := range snaps {
		if s.Complete && strings.HasPrefix(s.Stamp, stamp) {
			match = append(match, s)
		}
	}
	switch {
	case len(match) == 0 && stamp == "":
		return repository.Snapshot{}, fmt.Errorf("set %s has no complete snapshot in %s", set, d.repo().Root)
	case len(match) == 0:
		return repository.Snapshot{}, &UsageError{Msg: fmt.Sprintf("set %s has no snapshot %s (see depot list %s)", set, stamp, set)}
	case stamp == "" || len(match) == 1:
		return match[len(match)-1], nil
	}
	for _, s := range match {
		if s.Stamp == stamp {
			return s, nil
		}
	}
	return repository.Snapshot{}, &UsageError{Msg: fmt.Sprintf("stamp %s matches %d snapshots of %s; give more of it", stamp, len(match), set)}
}

// newestGood returns the newest complete snapshot of set that holds a good
// copy of item.
func (d *Director) newestGood(ctx context.Context, set, item string) (repository.Snapshot, bool) {
	snaps, err := d.repo().Snapshots(ctx, set)
	if err != nil {
		return repository.Snapshot{}, false
	}
	for i := len(snaps) - 1; i >= 0; i-- {
		if snaps[i].HasGood(item) {
			return snaps[i], true
		}
	}
	return repository.Snapshot{}, false
}

// restorableItems returns the items of snap that a restore of item ("" for
// all) takes: a failed item holds no data, which is an error when it was
// named and a warning otherwise.
func (d *Director) restorableItems(snap repository.Snapshot, item string) ([]repository.ItemRecord, error) {
	var out []repository.ItemRecord
	for _, it := range snap.Manifest.Items {
		if item != "" && it.Name != item {
			continue
		}
		if it.Status == repository.StatusFailed {
			if item != "" {
				return nil, fmt.Errorf("item %s failed in snapshot %s, which holds none of its data: %s", it.Name, snap.Name(), it.Error)
			}
			d.Log.Warn("item failed in this snapshot: nothing to restore", "snapshot", snap.Name(), "item", it.Name)
			continue
		}
		out = append(out, it)
	}
	return out, nil
}
