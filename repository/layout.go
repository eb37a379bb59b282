// Package repository owns the on-disk layout of a depot repository: snapshots in
// holding/ and permanent/, work in progress in .partial/, the lock and run history
// in .depot/. A snapshot is published by one rename after its manifest is
// written, so a directory under holding/ or permanent/ is always complete.
package repository

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"github.com/depot-backup/depot/hosts"
)

// Sections of a repository. Snapshots live in holding or permanent; work in
// progress lives in partial and is never read as a snapshot.
const (
	Holding   = "holding"
	Permanent = "permanent"
	partial   = ".partial"
	stateDir  = ".depot"
	trashDir  = "trash" // inside .depot: snapshots being deleted
)

// StampLayout formats a snapshot's start time in UTC: sortable, no colons.
const StampLayout = "2006-01-02T150405Z"

// Stamp returns the stamp for t.
func Stamp(t time.Time) string { return t.UTC().Format(StampLayout) }

// ParseStamp parses a stamp made by Stamp.
func ParseStamp(s string) (time.Time, error) { return time.Parse(StampLayout, s) }

// Repo is a repository: a root directory on a file system, this machine's or
// a repository host's.
type Repo struct {
	Root string
	FS   FS // nil means LocalFS
}

// Host is the machine the repository is on: its file system's host, or
// this machine.
func (r Repo) Host() hosts.Host {
	if fs, ok := r.FS.(*HostFS); ok {
		return fs.Host
	}
	return hosts.Local{}
}

// Files returns the repository's file system.
func (r Repo) Files() FS {
	if r.FS == nil {
		return LocalFS{}
	}
	return r.FS
}

// Snapshot is a published snapshot of a set.
type Snapshot struct {
	Section string // Holding or Permanent
	Set     string
	Stamp   string
	Path    string // absolute directory
	// Complete is true when the snapshot has a manifest that parses.
	// Everything depot publishes is complete; an incomplete one was put
	// there by hand or damaged, and is never a base, never counted by
	// retention and never mirrored.
	Complete bool
	// Record is why a permanent snapshot migrated, when it has one (see
	// Repo.ReadRecords); nil otherwise.
	Record *Record
	// Manifest is the snapshot's parsed manifest, nil when incomplete.
	Manifest *Manifest
}

// Name is how depot names the snapshot to people and in reports:
// section/set/stamp, its path under the repository's root.
func (s Snapshot) Name() string { return s.Section + "/" + s.Set + "/" + s.Stamp }

// FailedItems names the items that failed in the snapshot: a partial
// snapshot has some, and holds the other items' data.
func (s Snapshot) FailedItems() []string {
	if s.Manifest == nil {
		return nil
	}
	var out []string
	for _, it := range s.Manifest.Items {
		if it.Status == StatusFailed {
			out = append(out, it.Name)
		}
	}
	return out
}

// HasGood reports whether the snapshot holds a good (not failed) copy of
// item.
func (s Snapshot) HasGood(item string) bool {
	if s.Manifest == nil {
		return false
	}
	for _, it := range s.Manifest.Items {
		if it.Name == item {
			return it.Status != StatusFailed
		}
	}
	return false
}

// Time is the snapshot's start time.
func (s Snapshot) Time() time.Time {
	t, _ := ParseStamp(s.Stamp)
	return t
}

// Dir returns the directory of a snapshot in a section.
func (r Repo) Dir(section, set, stamp string) string {
	return filepath.Join(r.Root, section, set, stamp)
}

// PartialDir returns the directory where a snapshot of set is built.
func (r Repo) PartialDir(set, stamp string) string {
	return filepath.Join(r.Root, partial, set, stamp)
}

// StateDir is the directory for the lock, run history and trash.
func (r Repo) StateDir() string { return filepath.Join(r.Root, stateDir) }

// Snapshots lists the published snapshots of set in both sections, oldest
// first, each with its manifest. Directories whose name is not a stamp are
// ignored; a snapshot whose manifest is missing or does not parse is
// incomplete. A repository that does not exist yet has no snapshots.
func (r Repo) Snapshots(ctx context.Context, set string) ([]Snapshot, error) {
	var out []Snapshot
	var manifests []string
	for _, section := range []string{Holding, Permanent} {
		dir := filepath.Join(r.Root, section, set)
		entries, err := r.Files().ReadDir(ctx, dir)
		if err != nil {
			return nil, fmt.Errorf("list snapshots: %w", err)
		}
		for _, e := range entries {
			if _, err := ParseStamp(e.Name); err != nil || !e.IsDir {
				continue
			}
			path := filepath.Join(dir, e.Name)
			out = append(out, Snapshot{Section: section, Set: set, Stamp: e.Name, Path: path})
			manifests = append(manifests, filepath.Join(path, ManifestName))
		}
	}
	// One round trip for them all: a repository host may hold hundreds.
	data, err := r.Files().ReadFiles(ctx, manifests...)
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	for i := range out {
		if data[i] == nil {
			continue // missing or unreadable (a directory, say): incomplete, like one that does not parse
		}
		if m, err := parseManifest(data[i], out[i].Path); err == nil {
			out[i].Complete, out[i].Manifest = true, m
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Stamp < out[j].Stamp })
	return out, nil
}

// Sets lists the set names that have snapshots or partials in the repository.
func (r Repo) Sets(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	for _, section := range []string{Holding, Permanent, partial} {
		entries, err := r.Files().ReadDir(ctx, filepath.Join(r.Root, section))
		if err != nil {
			return nil, fmt.Errorf("list sets: %w", err)
		}
		for _, e := range entries {
			if e.IsDir {
				seen[e.Name] = true
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// Latest returns the newest complete snapshot of set in either section, the
// base for --link-dest, and false when the set has none.
func (r Repo) Latest(ctx context.Context, set string) (Snapshot, bool, error) {
	snaps, err := r.Snapshots(ctx, set)
	if err != nil {
		return Snapshot{}, false, err
	}
	for i := len(snaps) - 1; i >= 0; i-- {
		if snaps[i].Complete {
			return snaps[i], true, nil
		}
	}
	return Snapshot{}, false, nil
}

// Partials lists the stamps of set's snapshots in progress, oldest first.
func (r Repo) Partials(ctx context.Context, set string) ([]string, error) {
	entries, err := r.Files().ReadDir(ctx, filepath.Join(r.Root, partial, set))
	if err != nil {
		return nil, fmt.Errorf("list partials: %w", err)
	}
	var out []string
	for _, e := range entries {
		if _, err := ParseStamp(e.Name); err == nil && e.IsDir {
			out = append(out, e.Name)
		}
	}
	sort.Strings(out)
	return out, nil
}
