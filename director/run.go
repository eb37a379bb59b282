package director

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/depot-backup/depot/backupitems"
	"github.com/depot-backup/depot/repository"
)

// ErrSetsFailed means at least one set failed; each failure has been logged.
var ErrSetsFailed = errors.New("one or more sets failed")

// RunOptions tune a run.
type RunOptions struct {
	Wait time.Duration // how long to wait for another run's lock
	// StopAfter stops the run cleanly after this long (see ErrStopped).
	StopAfter time.Duration
	// InWindows skips the sets whose windows are closed, and stops the run
	// when the first window of the others closes.
	InWindows bool
	// Confirm lets prune delete past the guard against mass deletion.
	Confirm bool
	// LeaveTrash leaves the snapshots retention deleted in the trash, for
	// the caller to remove (EmptyTrash) when that delays nothing: the
	// daemon does, after its job's turn. By default a run or prune removes
	// them once it has released the lock.
	LeaveTrash bool
}

// Run backs up the named sets (all when none are named), up to the config's
// concurrency at once, and applies retention (migrations, then deletions) to
// each set that succeeded. A failed set does not stop the others; Run
// returns ErrSetsFailed if any failed.
func (d *Director) Run(ctx context.Context, names []string, opts RunOptions) error {
	sets, err := d.selectSets(names)
	if err != nil {
		return err
	}
	sets, ctx, cancel := d.stopContext(ctx, sets, opts)
	defer cancel()
	repo, lock, err := d.lockRuns(ctx, opts.Wait, !opts.LeaveTrash)
	if err != nil {
		d.notifyUnrun(ctx, sets, err)
		return err
	}
	defer d.emptyTrash(ctx, repo, opts) // once the lock is released
	defer lock.Unlock()
	defer d.writeMetrics(ctx, repo)
	var res runResults
	if n := d.Config.Concurrency; n > 1 && len(sets) > 1 {
		res = d.runConcurrently(ctx, repo, sets, n, opts.Wait)
	} else {
		for _, set := range sets {
			if res.add(d.forSet(true).runOne(ctx, repo, set, opts.Wait)); res.end != nil {
				break
			}
		}
	}
	return res.err()
}

// runResults adds up how the sets of a run ended.
type runResults struct {
	failed     int
	locked     error // the last set another run held, if any
	lockedOnly bool  // every failed set was held by another run
	end        error // why the run ended early, if it did
}

func (r *runResults) add(o setOutcome) {
	if o.failed {
		if r.failed == 0 {
			r.lockedOnly = true
		}
		r.failed++
		r.lockedOnly = r.lockedOnly && o.locked != nil
	}
	if o.locked != nil {
		r.locked = o.locked
	}
	if o.end != nil && r.end == nil {
		r.end = o.end
	}
}

// err is the run's error: why it ended early; the lock of another run
// (exit 3) when every failed set failed on that; else ErrSetsFailed when
// a set failed.
func (r *runResults) err() error {
	switch {
	case r.end != nil:
		return r.end
	case r.failed > 0 && r.lockedOnly:
		return r.locked
	case r.failed > 0:
		return ErrSetsFailed
	}
	return nil
}

// setOutcome is how one set's run ended: failed or not; locked, when
// another run held the set; end, when the whole run must end (told to stop,
// cancelled).
type setOutcome struct {
	failed bool
	locked error
	end    error
}

// runOne runs one set under its own lock and logs how it ended.
func (d *Director) runOne(ctx context.Context, repo repository.Repo, set *SetConfig, wait time.Duration) setOutcome {
	start := d.Now()
	setLock, err := repo.LockSet(ctx, set.Name, wait)
	if err != nil {
		d.Log.Error("set failed", "set", set.Name, "err", err)
		o := setOutcome{failed: true, end: ctx.Err()}
		if errors.Is(err, repository.ErrLocked) {
			o.locked = err
		}
		return o
	}
	defer setLock.Unlock()
	snap, err := d.runReported(ctx, repo, set, start)
	if serr := stopped(ctx); err != nil && serr != nil {
		d.Log.Warn("set stopped, will resume: .partial is kept for the next run", "set", set.Name, "why", serr)
		return setOutcome{failed: true, end: serr}
	}
	var partial *ItemsFailedError
	if errors.As(err, &partial) {
		// Each failed item has had its error line.
		d.Log.Warn("set partial", "set", set.Name, "snapshot", partial.Snapshot, "failed_items", strings.Join(partial.Items, ","), "seconds", seconds(d.Now().Sub(start)))
		return setOutcome{failed: true}
	}
	if err != nil {
		d.Log.Error("set failed", "set", set.Name, "err", err)
		return setOutcome{failed: true, end: ctx.Err()}
	}
	d.Log.Info("set done", "set", set.Name, "snapshot", snap.Name(), "seconds", seconds(d.Now().Sub(start)))
	return setOutcome{}
}

// runSet makes one snapshot of set, then migrates and prunes.
func (d *Director) runSet(ctx context.Context, repo repository.Repo, set *SetConfig) (repository.Snapshot, error) {
	if err := d.connect(ctx, set); err != nil {
		return repository.Snapshot{}, err
	}
	started, snaps, err := d.startTime(ctx, repo, set.Name, d.Log.With("set", set.Name))
	if err != nil {
		return repository.Snapshot{}, err
	}
	snaps = baseCandidates(snaps, started, d.Log.With("set", set.Name))
	base, hasBase := latestComplete(snaps)
	if strays, err := repo.Strays(ctx, set.Name); err == nil && len(strays) > 0 {
		d.Log.Warn("names in the set's folders that are not snapshots are ignored", "set", set.Name, "names", strays)
	}
	build, err := repo.Begin(ctx, set.Name, started)
	if err != nil {
		return repository.Snapshot{}, err
	}
	log := d.Log.With("set", set.Name, "stamp", build.Stamp)
	if build.Resumed != "" {
		log.Info("resuming interrupted run", "partial", build.Resumed)
		if err := d.tidyPartial(ctx, build, set, log); err != nil {
			return repository.Snapshot{}, err
		}
	}
	if err := step(ctx, "begun"); err != nil {
		return repository.Snapshot{}, err
	}
	m := &repository.Manifest{
		Format:       repository.ManifestFormat,
		Set:          set.Name,
		Stamp:        build.Stamp,
		Started:      started.UTC(),
		DepotVersion: d.Version,
		ConfigDigest: d.Config.Digest,
	}
	if hasBase {
		m.Base = base.Section + "/" + base.Stamp
	}
	failed, err := d.backupItems(ctx, set, build, m, goodCopies(snaps), log)
	if err != nil {
		return repository.Snapshot{}, err
	}
	if err := step(ctx, "items-done"); err != nil {
		return repository.Snapshot{}, err
	}
	m.Finished = d.Now().UTC()
	if err := build.WriteManifest(ctx, m); err != nil {
		return repository.Snapshot{}, err
	}
	if err := step(ctx, "manifest-written"); err != nil {
		return repository.Snapshot{}, err
	}
	snap, err := build.Publish(ctx)
	if err != nil {
		return repository.Snapshot{}, err
	}
	if err := step(ctx, "published"); err != nil {
		return snap, err
	}
	if _, err = d.applyRetention(ctx, repo, set.Name, !d.Config.PruneDeferred(), log); err != nil {
		return snap, err
	}
	if len(failed) > 0 {
		return snap, &ItemsFailedError{Snapshot: snap.Name(), Items: failed}
	}
	return snap, nil
}

// backupItem runs one item into the build from its newest good copy c (of
// its type) and records its file list.
func (d *Director) backupItem(ctx context.Context, set *SetConfig, it ItemConfig, build *repository.Build, c goodCopy, log *slog.Logger) (repository.ItemRecord, error) {
	h := it.Header()
	rec := repository.ItemRecord{Name: h.Name, Type: h.Type, Status: repository.StatusOK}
	log = log.With("item", h.Name)
	warn := func(warnings ...string) {
		for _, s := range warnings {
			log.Warn(s)
			rec.Warnings, rec.Status = append(rec.Warnings, s), repository.StatusWarning
		}
	}
	w := build.Item(h.Name, c.base)
	env, _ := d.itemEnv(build.Repo, set, h, build.Dir, c)
	env.Out, env.Log = w.Output(), log
	t, _ := backupitems.Lookup(h.Type)
	if err := w.Prepare(ctx, t.Resumable); err != nil {
		return rec, err
	}
	d.progressItem(h.Name)
	log.Info("backing up", "type", h.Type)
	res, listing, err := runItem(ctx, it.Item, env, w.Tree())
	if err == nil {
		err = step(ctx, "item-copied")
	}
	if err != nil {
		return rec, err
	}
	warn(res.Warnings...)
	rec.Stats.FilesTransferred, rec.Stats.BytesTransferred, rec.Meta = res.FilesTransferred, res.BytesTransferred, res.Meta
	list, err := w.Finish(ctx, listing)
	if err == nil {
		err = checkListed(it, list.Stats, c, warn)
	}
	if err != nil {
		return rec, err
	}
	rec.FileList, rec.FileListSHA256, rec.Stats.Files, rec.Stats.Bytes = list.Path, list.SHA256, list.Stats.Files, list.Stats.Bytes
	log.Info("item done", "files", list.Stats.Files, "bytes", list.Stats.Bytes,
		"files_transferred", res.FilesTransferred, "bytes_transferred", res.BytesTransferred, "files_hashed", list.Stats.FilesHashed, "files_prehashed", list.Stats.FilesPrehashed)
	return rec, step(ctx, "item-listed")
}

// checkListed judges an item by its new file list: it warns of source files
// that vanished and of an empty tree, and fails an item that shrank past its
// guard against the base.
func checkListed(it ItemConfig, stats repository.ScanStats, c goodCopy, warn func(...string)) error {
	if stats.Vanished > 0 {
		warn(fmt.Sprintf("%d source files vanished between the walk and the copy", stats.Vanished))
	}
	if g, ok := it.Item.(backupitems.ShrinkGuarded); ok {
		if err := backupitems.CheckShrink(g, stats.Files, c.files); err != nil {
			return err
		}
	}
	if stats.Files == 0 && it.Header().Type == "filesystem" {
		// Never 0 files in silence: an empty tree is more often a wrong
		// path or an unmounted disk than what was meant.
		warn("no files were backed up: check the source paths")
	}
	return nil
}
