package repository

import (
	"context"
	"fmt"
	"path/filepath"
)

// PartialSets lists the sets that have work in progress in .partial.
func (r Repo) PartialSets(ctx context.Context) ([]string, error) {
	entries, err := r.Files().ReadDir(ctx, filepath.Join(r.Root, partial))
	if err != nil {
		return nil, fmt.Errorf("list partials: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir {
			out = append(out, e.Name)
		}
	}
	return out, nil
}

// PartialSetDir is the directory of set's work in progress.
func (r Repo) PartialSetDir(set string) string { return filepath.Join(r.Root, partial, set) }

// RemovePartials deletes set's work in progress, through the trash.
func (r Repo) RemovePartials(ctx context.Context, set string) error {
	if err := r.removeDir(ctx, r.PartialSetDir(set)); err != nil {
		return fmt.Errorf("remove %s: %w", r.PartialSetDir(set), err)
	}
	return nil
}

// Tidy removes from a resumed build whatever does not belong to the items
// named: a file, the directory of an item no longer configured, or its file
// list. It returns the paths removed, relative to the build.
func (b *Build) Tidy(ctx context.Context, items []string) ([]string, error) {
	keep := map[string]bool{}
	lists := map[string]bool{}
	for _, it := range items {
		keep[it] = true
		lists[it+".tsv.zst"] = true
	}
	fsys := b.Repo.Files()
	var removed []string
	entries, err := fsys.ReadDir(ctx, b.Dir)
	if err != nil {
		return nil, fmt.Errorf("tidy %s: %w", b.Dir, err)
	}
	for _, e := range entries {
		if keep[e.Name] && e.IsDir {
			continue
		}
		if e.Name == FileListDir && e.IsDir {
			inner, err := fsys.ReadDir(ctx, filepath.Join(b.Dir, FileListDir))
			if err != nil {
				return removed, fmt.Errorf("tidy %s: %w", b.Dir, err)
			}
			for _, l := range inner {
				if !lists[l.Name] || l.IsDir {
					rel := FileListDir + "/" + l.Name
					if err := fsys.RemoveAll(ctx, filepath.Join(b.Dir, rel)); err != nil {
						return removed, fmt.Errorf("tidy %s: %w", b.Dir, err)
					}
					removed = append(removed, rel)
				}
			}
			continue
		}
		if err := fsys.RemoveAll(ctx, filepath.Join(b.Dir, e.Name)); err != nil {
			return removed, fmt.Errorf("tidy %s: %w", b.Dir, err)
		}
		removed = append(removed, e.Name)
	}
	return removed, nil
}
