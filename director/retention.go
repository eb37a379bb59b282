package director

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/depot-backup/depot/repository"
)

// RetentionAction is a migration or a deletion that retention decided.
type RetentionAction struct {
	Snapshot string            `json:"snapshot"`     // section/set/stamp before the action
	Action   repository.Action `json:"action"`       // Migrate or Delete
	To       string            `json:"to,omitempty"` // where a migrated snapshot went
	Reason   string            `json:"reason"`
}

// RetentionReport is what migrate or prune did to one set.
type RetentionReport struct {
	Set  string            `json:"set"`
	Done []RetentionAction `json:"done"`           // carried out, in order
	Left []RetentionAction `json:"left,omitempty"` // decided, left for depot prune
	// Held are the deletions the guard against mass deletion held back,
	// and HeldBecause says why and how to go ahead.
	Held        []RetentionAction `json:"held,omitempty"`
	HeldBecause string            `json:"held_because,omitempty"`
	Kept        int               `json:"kept"` // snapshots retention keeps where they are
	// Error is why retention stopped for this set, if it did.
	Error string `json:"error,omitempty"`
}

// Migrate moves into permanent, for the named sets (all when none is named),
// the holding snapshots that the permanent rules pick. It deletes nothing.
func (d *Director) Migrate(ctx context.Context, names []string, opts RunOptions) ([]RetentionReport, error) {
	return d.retain(ctx, names, opts, retainOptions{})
}

// Prune carries out every retention decision for the named sets (all when
// none is named): the migrations first, so a snapshot the permanent rules
// want is never deleted from holding, then the deletions.
func (d *Director) Prune(ctx context.Context, names []string, opts RunOptions) ([]RetentionReport, error) {
	return d.retain(ctx, names, opts, retainOptions{prune: true, confirm: opts.Confirm})
}

// retainOptions say what retention carries out.
type retainOptions struct {
	prune   bool // the deletions too, not only the migrations
	confirm bool // past the guard against mass deletion
}

func (d *Director) retain(ctx context.Context, names []string, opts RunOptions, o retainOptions) ([]RetentionReport, error) {
	sets, err := d.selectSets(names)
	if err != nil {
		return nil, err
	}
	repo, lock, err := d.lock(ctx, opts.Wait, !opts.LeaveTrash)
	if err != nil {
		return nil, err
	}
	defer d.emptyTrash(ctx, repo, opts) // once the lock is released
	defer lock.Unlock()
	var reports []RetentionReport
	failed := 0
	if o.prune {
		if err := d.removeStrayPartials(ctx, repo); err != nil {
			d.Log.Error("removing partials of sets no longer configured", "err", err)
			failed++
		}
	}
	for _, set := range sets {
		rep, err := d.retainSet(ctx, repo, set.Name, o, d.Log.With("set", set.Name))
		if err != nil {
			failed++
			rep.Error = err.Error()
			d.Log.Error("retention failed", "set", set.Name, "err", err)
			if ctx.Err() != nil {
				return reports, ctx.Err()
			}
		}
		reports = append(reports, rep)
	}
	if failed > 0 {
		return reports, ErrSetsFailed
	}
	return reports, nil
}

// emptyTrash removes the snapshots that retention moved into the trash,
// unless the caller does it later (opts.LeaveTrash). Called once the lock
// is released, it delays no other run; a removal cut short is finished by
// the next run.
func (d *Director) emptyTrash(ctx context.Context, repo repository.Repo, opts RunOptions) {
	if opts.LeaveTrash || ctx.Err() != nil {
		return
	}
	start := time.Now()
	if err := repo.EmptyTrash(ctx); err != nil {
		d.Log.Warn("could not finish deletions: the next run does", "err", err)
		return
	}
	d.Log.Debug("trash emptied", "seconds", seconds(time.Since(start)))
}

// EmptyTrash removes the snapshots that retention moved into the trash
// (see RunOptions.LeaveTrash), without the repository's lock: removing
// never races with a run, which takes nothing from the trash.
func (d *Director) EmptyTrash(ctx context.Context) {
	repo, err := d.openRepo(ctx)
	if err != nil {
		d.Log.Warn("could not finish deletions: the next run does", "err", err)
		return
	}
	d.emptyTrash(ctx, repo, RunOptions{})
}

// lockRuns takes the repository's lock as a run does: shared with other
// runs where the repository allows (see repository.Repo.LockRuns), each set
// then taking its own; first, when no one else is at work and tidy is set,
// it finishes the deletions a killed run left. The daemon's runs do not
// tidy: the daemon empties the trash after each job's turn, and a backup
// must not wait for that.
func (d *Director) lockRuns(ctx context.Context, wait time.Duration, tidy bool) (repository.Repo, repository.Unlocker, error) {
	repo, err := d.openRepo(ctx)
	if err != nil {
		return repository.Repo{}, nil, err
	}
	if !repo.RunsShareLock() {
		return d.lock(ctx, wait, tidy)
	}
	if tidy {
		if alone, err := repo.Lock(ctx, 0); err == nil {
			if err := repo.EmptyTrash(ctx); err != nil {
				d.Log.Warn("could not finish earlier deletions", "err", err)
			}
			alone.Unlock()
		}
	}
	lock, err := repo.LockRuns(ctx, wait)
	if err != nil {
		return repository.Repo{}, nil, err
	}
	if err := step(ctx, "locked"); err != nil {
		lock.Unlock()
		return repository.Repo{}, nil, err
	}
	return repo, lock, nil
}

// lock connects to the repository host, if it is remote, and takes the
// repository's lock, then (with tidy) finishes the deletions a killed run
// left.
func (d *Director) lock(ctx context.Context, wait time.Duration, tidy bool) (repository.Repo, repository.Unlocker, error) {
	repo, err := d.openRepo(ctx)
	if err != nil {
		return repository.Repo{}, nil, err
	}
	lock, err := repo.Lock(ctx, wait)
	if err != nil {
		return repository.Repo{}, nil, err
	}
	if err := step(ctx, "locked"); err != nil {
		lock.Unlock()
		return repository.Repo{}, nil, err
	}
	if !tidy {
		return repo, lock, nil
	}
	if err := repo.EmptyTrash(ctx); err != nil {
		d.Log.Warn("could not finish earlier deletions", "err", err)
	}
	return repo, lock, nil
}

// applyRetention decides the fate of set's snapshots and carries it out, as
// depot run does after a backup: every migration, then (with prune) every
// deletion unless the guard against mass deletion holds them back. The
// caller holds the lock.
func (d *Director) applyRetention(ctx context.Context, repo repository.Repo, set string, prune bool, log *slog.Logger) (RetentionReport, error) {
	return d.retainSet(ctx, repo, set, retainOptions{prune: prune}, log)
}

// retainSet is applyRetention with every option: each migration is logged
// with its reason and writes the snapshot's record first; each deletion is
// logged and entered in the deletion log first (mirrors follow that log).
func (d *Director) retainSet(ctx context.Context, repo repository.Repo, set string, o retainOptions, log *slog.Logger) (RetentionReport, error) {
	rep := RetentionReport{Set: set, Done: []RetentionAction{}}
	snaps, err := retentionSnapshots(ctx, repo, set)
	if err != nil {
		return rep, err
	}
	policy, err := d.policy(ctx, repo)
	if err != nil {
		return rep, err
	}
	ds := repository.Decide(snaps, policy)
	guard := repository.CheckGuard(ds, policy.MaxDelete)
	hold := o.prune && guard.Holds() && !o.confirm
	if hold {
		rep.HeldBecause = guard.String()
		log.Warn("deletions held back", "why", rep.HeldBecause)
		d.held.note(set, rep.HeldBecause)
	}
	for _, dec := range ds {
		if dec.Action == repository.Keep {
			rep.Kept++
		}
	}
	for _, dec := range ds {
		if dec.Action != repository.Migrate {
			continue
		}
		a := RetentionAction{Snapshot: dec.Snapshot.Name(), Action: dec.Action, Reason: dec.Reason}
		log.Info("migrating", "snapshot", a.Snapshot, "reason", dec.Reason)
		if dec.Record != nil {
			rec := *dec.Record
			rec.Migrated = d.Now().UTC()
			if err := repo.WriteRecord(ctx, dec.Snapshot.Path, &rec); err != nil {
				return rep, fmt.Errorf("migrate %s: %w", a.Snapshot, err)
			}
		}
		m, err := repo.Migrate(ctx, dec.Snapshot)
		if err != nil {
			return rep, err
		}
		a.To = m.Name()
		rep.Done = append(rep.Done, a)
		if err := step(ctx, "migrated-one"); err != nil {
			return rep, err
		}
	}
	for _, dec := range ds {
		if dec.Action != repository.Delete {
			continue
		}
		a := RetentionAction{Snapshot: dec.Snapshot.Name(), Action: dec.Action, Reason: dec.Reason}
		switch {
		case !o.prune:
			rep.Left = append(rep.Left, a)
			continue
		case hold:
			rep.Held = append(rep.Held, a)
			continue
		}
		log.Info("pruning", "snapshot", a.Snapshot, "reason", dec.Reason)
		if err := repo.RecordDeletion(ctx, dec.Snapshot, dec.Reason, d.Now()); err != nil {
			return rep, err
		}
		if err := repo.Trash(ctx, dec.Snapshot); err != nil {
			return rep, err
		}
		rep.Done = append(rep.Done, a)
		if err := step(ctx, "pruned-one"); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// snapshotName is section/set/stamp.
// PrintRetention writes what migrate or prune did, for people or as JSON.
func (d *Director) PrintRetention(reports []RetentionReport, asJSON bool) error {
	if asJSON {
		if reports == nil {
			reports = []RetentionReport{}
		}
		enc := json.NewEncoder(d.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(reports)
	}
	tw := tabwriter.NewWriter(d.Out, 0, 4, 2, ' ', 0)
	for _, r := range reports {
		var counts []string
		for _, c := range []struct {
			action repository.Action
			verb   string
		}{{repository.Migrate, "migrated"}, {repository.Delete, "deleted"}} {
			if n := countActions(r.Done, c.action); n > 0 {
				counts = append(counts, fmt.Sprintf("%d %s", n, c.verb))
			}
		}
		counts = append(counts, fmt.Sprintf("%d kept", r.Kept))
		fmt.Fprintf(tw, "set %s: %s\n", r.Set, strings.Join(counts, ", "))
		for _, a := range r.Done {
			switch a.Action {
			case repository.Migrate:
				fmt.Fprintf(tw, "  migrated\t%s -> %s\t%s\n", a.Snapshot, a.To, a.Reason)
			default:
				fmt.Fprintf(tw, "  deleted\t%s\t%s\n", a.Snapshot, a.Reason)
			}
		}
		for _, a := range r.Left {
			fmt.Fprintf(tw, "  to prune\t%s\t%s (depot prune deletes it)\n", a.Snapshot, a.Reason)
		}
		if r.HeldBecause != "" {
			fmt.Fprintf(tw, "  held back: %s\n", r.HeldBecause)
		}
		for _, a := range r.Held {
			fmt.Fprintf(tw, "  held\t%s\t%s\n", a.Snapshot, a.Reason)
		}
		if r.Error != "" {
			fmt.Fprintf(tw, "  failed: %s\n", r.Error)
		}
	}
	return tw.Flush()
}

func countActions(as []RetentionAction, action repository.Action) int {
	n := 0
	for _, a := range as {
		if a.Action == action {
			n++
		}
	}
	return n
}
