package repository

import (
	"context"
	"fmt"
	"path"
)

// Strays lists what a set's folders hold besides snapshots: names that are
// not a stamp, or are not a directory. Snapshots ignores them, so they are
// never counted, kept or pruned; a run reports them, since depot never makes
// them and something else (a hand, or a host that could write there) did.
// Each is "section/name".
func (r Repo) Strays(ctx context.Context, set string) ([]string, error) {
	var out []string
	for _, section := range []string{Holding, Permanent} {
		entries, err := r.Files().ReadDir(ctx, path.Join(r.Root, section, set))
		if err != nil {
			return nil, fmt.Errorf("list %s/%s: %w", section, set, err)
		}
		for _, e := range entries {
			if _, err := ParseStamp(e.Name); err != nil || !e.IsDir {
				out = append(out, section+"/"+e.Name)
			}
		}
	}
	return out, nil
}
