package director

import (
	"context"
	"log/slog"
	"slices"
	"strings"

	"github.com/depot-backup/depot/backupitems"
	"github.com/depot-backup/depot/repository"
)

// tidyPartial removes from a resumed .partial whatever does not belong to
// the set's configured items, so nothing stale is published.
func (d *Director) tidyPartial(ctx context.Context, build *repository.Build, set *SetConfig, log *slog.Logger) error {
	var items []string
	for _, it := range set.Items {
		items = append(items, it.Header().Name)
	}
	removed, err := build.Tidy(ctx, items)
	if len(removed) > 0 {
		log.Warn("removed from the interrupted run what no configured item owns", "paths", strings.Join(removed, ","))
	}
	return err
}

// strayPartials lists the sets with work in progress in the repository
// that the config no longer has.
func (d *Director) strayPartials(ctx context.Context, repo repository.Repo) ([]string, error) {
	sets, err := repo.PartialSets(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range sets {
		if !slices.Contains(d.setNames(), s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// warnStrayPartials logs each stray partial, for plan.
func (d *Director) warnStrayPartials(ctx context.Context, repo repository.Repo) {
	stray, err := d.strayPartials(ctx, repo)
	if err != nil {
		d.Log.Warn("cannot list partials", "err", err)
	}
	for _, s := range stray {
		d.Log.Warn("interrupted run of a set no longer configured; depot prune removes it", "set", s, "partial", repo.PartialSetDir(s))
	}
}

// checkStrayPartials is check's line for each stray partial.
func (d *Director) checkStrayPartials(ctx context.Context, repo repository.Repo) []backupitems.Check {
	stray, err := d.strayPartials(ctx, repo)
	if err != nil {
		return []backupitems.Check{{What: "partials in " + repo.Root, Err: err}}
	}
	var out []backupitems.Check
	for _, s := range stray {
		out = append(out, backupitems.Check{What: "partial " + repo.PartialSetDir(s), Detail: warnPrefix + "an interrupted run of set " + s + ", which the config no longer has; depot prune removes it"})
	}
	return out
}

// removeStrayPartials deletes the stray partials, for prune.
func (d *Director) removeStrayPartials(ctx context.Context, repo repository.Repo) error {
	stray, err := d.strayPartials(ctx, repo)
	if err != nil {
		return err
	}
	for _, s := range stray {
		d.Log.Info("removing the interrupted run of a set no longer configured", "set", s, "partial", repo.PartialSetDir(s))
		if err := repo.RemovePartials(ctx, s); err != nil {
			return err
		}
	}
	return nil
}
