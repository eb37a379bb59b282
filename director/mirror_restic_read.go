package director

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/repository"
	"github.com/depot-backup/depot/rsync"
)

// resticMirror returns the configured mirror name, which must be of type
// restic, for what (a verb's flag).
func (d *Director) resticMirror(name, what string) (MirrorConfig, error) {
	m, ok := d.mirror(name)
	if !ok {
		return m, &UsageError{Msg: fmt.Sprintf("no mirror %q in %s", name, d.Config.File)}
	}
	if !m.IsRestic() {
		return m, &UsageError{Msg: fmt.Sprintf("%s: mirror %q is a depot repository (type rsync): point a config's repository.path at it instead", what, name)}
	}
	return m, nil
}

// MirrorEntry is one snapshot in `depot list --mirror NAME`.
type MirrorEntry struct {
	Set     string `json:"set"`
	Stamp   string `json:"stamp"`
	Section string `json:"section"`
	ID      string `json:"restic_id"`
}

// ListMirror returns the depot snapshots in a restic mirror, oldest first,
// of one set or of all.
func (d *Director) ListMirror(ctx context.Context, name, set string) ([]MirrorEntry, error) {
	m, err := d.resticMirror(name, "list --mirror")
	if err != nil {
		return nil, err
	}
	snaps, err := m.restic().Snapshots(ctx)
	if err != nil {
		return nil, fmt.Errorf("mirror %s: %w", name, err)
	}
	var out []MirrorEntry
	for _, s := range snaps {
		if set == "" || s.Set == set {
			out = append(out, MirrorEntry{Set: s.Set, Stamp: s.Stamp, Section: s.Section, ID: s.ShortID})
		}
	}
	return out, nil
}

// PrintMirrorList writes a restic mirror's snapshots as a table or JSON.
func (d *Director) PrintMirrorList(entries []MirrorEntry, asJSON bool) error {
	if asJSON {
		if entries == nil {
			entries = []MirrorEntry{}
		}
		enc := json.NewEncoder(d.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	if len(entries) == 0 {
		_, err := fmt.Fprintln(d.Out, "no snapshots on the mirror yet")
		return err
	}
	tw := tabwriter.NewWriter(d.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SECTION\tSET\tSTAMP\tRESTIC ID\t")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", e.Section, e.Set, e.Stamp, e.ID)
	}
	return tw.Flush()
}

// findResticSnapshot resolves SET or SET@STAMP among a mirror's snapshots
// like findSnapshot does in the repository.
func findResticSnapshot(snaps []repository.ResticSnapshot, target, mirror string) (repository.ResticSnapshot, error) {
	set, stamp, _ := strings.Cut(target, "@")
	if set == "" {
		return repository.ResticSnapshot{}, &UsageError{Msg: "name a set: SET or SET@STAMP"}
	}
	if err := checkSetName(set); err != nil {
		return repository.ResticSnapshot{}, err
	}
	var match []repository.ResticSnapshot
	for _, s := range snaps {
		if s.Set == set && strings.HasPrefix(s.Stamp, stamp) {
			match = append(match, s)
		}
	}
	switch {
	case len(match) == 0:
		return repository.ResticSnapshot{}, &UsageError{Msg: fmt.Sprintf("mirror %s has no snapshot %s (see depot list --mirror %s)", mirror, target, mirror)}
	case stamp == "" || len(match) == 1:
		return match[len(match)-1], nil
	}
	for _, s := range match {
		if s.Stamp == stamp {
			return s, nil
		}
	}
	return repository.ResticSnapshot{}, &UsageError{Msg: fmt.Sprintf("stamp %s matches %d snapshots of %s on mirror %s; give more of it", stamp, len(match), set, mirror)}
}

// restoreFromRestic restores a snapshot from a restic mirror alone: restic
// restores its manifest, then the items asked for, into a scratch directory
// beside the target; from there they go where the repository's restore
// would put them (a directory, a database, an svn repository).
func (d *Director) restoreFromRestic(ctx context.Context, o RestoreOptions) error {
	m, err := d.resticMirror(o.FromMirror, "restore --from-mirror")
	if err != nil {
		return err
	}
	if len(o.Paths) > 0 {
		return &UsageError{Msg: "restore --from-mirror restores whole items: --path works on the repository's snapshots"}
	}
	if addr, _, err := restoreTarget(o.To); err == nil && addr != "" {
		return &UsageError{Msg: "restore --from-mirror restores to a directory on this machine, not to " + o.To}
	}
	if o.To != "" {
		if err := checkTarget(o.To, o.Force); err != nil {
			return err
		}
		if err := d.outsideRepository("restore --to", o.To); err != nil {
			return err
		}
	}
	r := m.restic()
	snaps, err := r.Snapshots(ctx)
	if err != nil {
		return fmt.Errorf("mirror %s: %w", m.Name, err)
	}
	rs, err := findResticSnapshot(snaps, o.Target, m.Name)
	if err != nil {
		return err
	}
	scratchIn := os.TempDir()
	if o.To != "" {
		scratchIn = filepath.Dir(filepath.Clean(o.To))
		if err := os.MkdirAll(scratchIn, 0o700); err != nil {
			return fmt.Errorf("restore target: %w", err)
		}
	}
	scratch, err := os.MkdirTemp(scratchIn, ".depot-restore-")
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer os.RemoveAll(scratch)
	if err := r.Restore(ctx, rs.ID, scratch, "/"+repository.ManifestName); err != nil {
		return fmt.Errorf("mirror %s: %w", m.Name, err)
	}
	local := repository.Repo{Root: scratch}
	man, err := local.ReadManifest(ctx, scratch)
	if err != nil {
		return fmt.Errorf("mirror %s: snapshot %s/%s: %w", m.Name, rs.Set, rs.Stamp, err)
	}
	if man.Set != rs.Set || man.Stamp != rs.Stamp {
		return fmt.Errorf("mirror %s: restic snapshot %s is tagged %s@%s but its manifest says %s@%s", m.Name, rs.ShortID, rs.Set, rs.Stamp, man.Set, man.Stamp)
	}
	snap := repository.Snapshot{Section: rs.Section, Set: rs.Set, Stamp: rs.Stamp, Path: scratch, Complete: true, Manifest: man}
	var items, include []string
	for _, it := range man.Items {
		// The manifest came from outside: its names must stay inside
		// the scratch directory.
		if !validName.MatchString(it.Name) || it.FileList != "" && !filepath.IsLocal(it.FileList) {
			return fmt.Errorf("mirror %s: snapshot %s/%s: its manifest names item %q with file list %q: not a name depot writes", m.Name, rs.Set, rs.Stamp, it.Name, it.FileList)
		}
	}
	recs, err := d.restorableItems(snap, o.Item)
	if err != nil {
		return err
	}
	for _, it := range recs {
		items = append(items, it.Name)
		include = append(include, "/"+it.Name)
		if it.FileList != "" {
			include = append(include, "/"+it.FileList)
		}
	}
	if len(items) == 0 {
		return &UsageError{Msg: fmt.Sprintf("snapshot %s/%s on mirror %s has no item %q", rs.Set, rs.Stamp, m.Name, o.Item)}
	}
	if err := r.Restore(ctx, rs.ID, scratch, include...); err != nil {
		return fmt.Errorf("mirror %s: %w", m.Name, err)
	}
	if o.Database != "" || o.SVNPath != "" || o.Server {
		return d.restoreInto(ctx, local, snap, man, o)
	}
	for _, name := range items {
		dst := o.To
		if o.Item == "" {
			dst = filepath.Join(o.To, name)
		}
		if err := moveInto(ctx, filepath.Join(scratch, name), dst); err != nil {
			return fmt.Errorf("restore item %s: %w", name, err)
		}
		d.Log.Info("restored", "mirror", m.Name, "snapshot", rs.Section+"/"+rs.Set+"/"+rs.Stamp, "item", name, "to", dst)
	}
	return nil
}

// moveInto puts the directory src at dst: a rename when dst is new or
// empty, else a copy over it (restore --force).
func moveInto(ctx context.Context, src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	_ = os.Remove(dst) // only if it is an empty directory
	if _, err := os.Lstat(dst); errors.Is(err, os.ErrNotExist) {
		return os.Rename(src, dst)
	}
	opts := rsync.Options{Sources: []string{src + "/"}, Dest: dst + "/", HardLinks: true, ACLs: true, Xattrs: true, NumericIDs: true, Sparse: true}
	_, err := rsync.Run(ctx, hosts.Local{}, opts)
	return err
}

// verifyRestic checks a restic mirror with restic check, reading all of its
// data or, with subset ("5%"), that share of it picked at random; and lists
// the repository's snapshots it lacks when the repository is there.
func (d *Director) verifyRestic(ctx context.Context, m MirrorConfig, subset string) error {
	if subset == "" {
		subset = "100%"
	}
	var out strings.Builder
	if err := m.restic().Check(ctx, subset, &out); err != nil {
		fmt.Fprintf(d.Out, "mirror %s: restic check failed\n", m.Name)
		return fmt.Errorf("mirror %s: %w", m.Name, err)
	}
	diffs := 0
	if repo, err := d.openRepo(ctx); err == nil {
		p, err := d.planRestic(ctx, repo, m, false)
		if err != nil {
			return fmt.Errorf("mirror %s: %w", m.Name, err)
		}
		for _, s := range p.Send {
			fmt.Fprintf(d.Out, "missing    %s/%s/%s\n", s.Section, s.Set, s.Stamp)
			diffs++
		}
		fmt.Fprintf(d.Out, "mirror %s: restic check read %s of the data: no errors; %d snapshots, %d missing\n", m.Name, subset, len(p.Have), diffs)
	} else {
		fmt.Fprintf(d.Out, "mirror %s: restic check read %s of the data: no errors\n", m.Name, subset)
	}
	if diffs > 0 {
		return ErrVerifyFailed
	}
	return nil
}

// VerifyResticShare checks the restic mirror name, reading share ("5%") of
// its data picked at random.
func (d *Director) VerifyResticShare(ctx context.Context, name, share string) error {
	m, ok := d.mirror(name)
	switch {
	case !ok:
		return &UsageError{Msg: fmt.Sprintf("no mirror %q in %s", name, d.Config.File)}
	case !m.IsRestic():
		return &UsageError{Msg: fmt.Sprintf("--mirror %s --sample %s: a share of the data is read from a restic mirror; mirror %q is a depot repository: give --sample N snapshots", name, share, name)}
	}
	return d.verifyRestic(ctx, m, share)
}
