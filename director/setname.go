package director

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/depot-backup/depot/repository"
)

// knownSet returns a UsageError (exit 2) for a set name that neither the
// config nor the repository has: a typo must not read as "0 snapshots,
// all fine". A set only the repository has (removed from the config) is
// known: its snapshots can still be listed, verified and restored.
func (d *Director) knownSet(ctx context.Context, repo repository.Repo, name string) error {
	if slices.Contains(d.setNames(), name) {
		return nil
	}
	inRepo, err := repo.Sets(ctx)
	if err != nil {
		return err
	}
	if slices.Contains(inRepo, name) {
		return nil
	}
	known := d.setNames()
	for _, n := range inRepo {
		if !slices.Contains(known, n) {
			known = append(known, n)
		}
	}
	list := "none"
	if len(known) > 0 {
		list = strings.Join(known, ", ")
	}
	return &UsageError{Msg: fmt.Sprintf("no set %q in %s or in the repository (sets: %s)", name, d.Config.File, list)}
}
