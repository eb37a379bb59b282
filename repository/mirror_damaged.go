package repository

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// damagedName is the file in a mirror's .depot/ that verify --mirror writes:
// one set/stamp a line, the mirror snapshots whose files differ from their
// file lists. The next mirror copies them again.
const damagedName = "damaged"

// WriteDamaged records the damaged snapshots of the mirror dst (set/stamp
// each), replacing the previous record; none removes it.
func WriteDamaged(ctx context.Context, dst Repo, damaged []string) error {
	path := filepath.Join(dst.StateDir(), damagedName)
	if len(damaged) == 0 {
		return dst.Files().Remove(ctx, path)
	}
	sort.Strings(damaged)
	if err := dst.Files().MkdirAll(ctx, dst.StateDir()); err != nil {
		return err
	}
	return dst.writeFileAtomic(ctx, path, []byte(strings.Join(damaged, "\n")+"\n"))
}

// readDamaged returns the damaged snapshots verify --mirror recorded.
func readDamaged(ctx context.Context, dst Repo) (map[string]bool, error) {
	path := filepath.Join(dst.StateDir(), damagedName)
	ok, err := dst.Files().Exists(ctx, path)
	if err != nil || !ok[0] {
		return map[string]bool{}, err
	}
	data, err := dst.Files().ReadFile(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	out := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		if line != "" {
			out[line] = true
		}
	}
	return out, nil
}

// reopenDamaged moves a damaged mirror snapshot back into dst's .partial,
// without its manifest, so that the copy that follows repairs it in place
// (comparing content, not size and time) and publishes it again.
func reopenDamaged(ctx context.Context, dst Repo, s Snapshot) error {
	part := dst.PartialDir(s.Set, s.Stamp)
	if err := dst.Files().RemoveAll(ctx, part); err != nil {
		return err
	}
	if err := dst.Files().MkdirAll(ctx, filepath.Dir(part)); err != nil {
		return err
	}
	if err := dst.Files().Rename(ctx, s.Path, part); err != nil {
		return fmt.Errorf("reopen damaged %s: %w", s.Name(), err)
	}
	return dst.Files().Remove(ctx, filepath.Join(part, ManifestName))
}
