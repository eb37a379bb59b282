package director

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/depot-backup/depot/repository"
)

// resticPlan is what a restic mirror run would do: the repository's
// complete snapshots that the mirror lacks, oldest first, the snapshots
// that migrated since they were sent, and what retention forgets.
type resticPlan struct {
	Have    []repository.ResticSnapshot // on the mirror now
	Send    []repository.Snapshot
	Retag   []retag
	Forget  []resticForget
	Held    map[string]string // set: why its forgets are held back
	Spared  []string          // set/stamp kept although the repository lacks it
	Missing int               // repository snapshots the mirror lacks
}

type retag struct {
	snap    repository.ResticSnapshot
	section string
}

type resticForget struct {
	snap   repository.ResticSnapshot
	reason string
}

// planRestic compares the repository with the restic mirror m.
func (d *Director) planRestic(ctx context.Context, repo repository.Repo, m MirrorConfig, confirm bool) (resticPlan, error) {
	p := resticPlan{Held: map[string]string{}}
	have, err := m.restic().Snapshots(ctx)
	if err != nil {
		return p, err
	}
	p.Have = have
	onMirror := map[string]repository.ResticSnapshot{}
	for _, s := range have {
		onMirror[s.Set+"/"+s.Stamp] = s
	}
	sets, err := repo.Sets(ctx)
	if err != nil {
		return p, err
	}
	wanted := map[string]map[string]bool{}
	for _, set := range sets {
		snaps, err := repo.Snapshots(ctx, set)
		if err != nil {
			return p, err
		}
		for _, s := range snaps {
			if !s.Complete {
				continue
			}
			if wanted[set] == nil {
				wanted[set] = map[string]bool{}
			}
			wanted[set][s.Stamp] = true
			have, ok := onMirror[set+"/"+s.Stamp]
			switch {
			case !ok:
				p.Send = append(p.Send, s)
			case have.Section != s.Section:
				p.Retag = append(p.Retag, retag{have, s.Section})
			}
		}
	}
	sort.SliceStable(p.Send, func(i, j int) bool { return p.Send[i].Stamp < p.Send[j].Stamp })
	p.Missing = len(p.Send)
	if m.Retention != nil {
		// Judged with what is to be sent, so nothing is sent that the
		// mirror's own rules would forget at once.
		all := append([]repository.ResticSnapshot(nil), have...)
		for _, s := range p.Send {
			all = append(all, repository.ResticSnapshot{Set: s.Set, Stamp: s.Stamp, Section: s.Section})
		}
		skip := map[string]bool{}
		for _, f := range d.resticOwnRetention(all, m) {
			if f.snap.ID == "" {
				skip[f.snap.Set+"/"+f.snap.Stamp] = true
				continue
			}
			p.Forget = append(p.Forget, f)
		}
		var send []repository.Snapshot
		for _, s := range p.Send {
			if !skip[s.Set+"/"+s.Stamp] {
				send = append(send, s)
			}
		}
		p.Send = send
	} else {
		deleted, err := repo.Deleted(ctx)
		if err != nil {
			return p, err
		}
		for _, s := range have {
			switch key := s.Set + "/" + s.Stamp; {
			case wanted[s.Set][s.Stamp]:
			case len(wanted[s.Set]) == 0 || !deleted[key]:
				p.Spared = append(p.Spared, key)
			default:
				p.Forget = append(p.Forget, resticForget{s, "deleted by the repository's retention"})
			}
		}
	}
	// The guard: more than MirrorMaxDelete of one set at once waits for
	// --confirm.
	perSet, total := map[string]int{}, map[string]int{}
	for _, s := range have {
		total[s.Set]++
	}
	for _, f := range p.Forget {
		perSet[f.snap.Set]++
	}
	var kept []resticForget
	for _, f := range p.Forget {
		set := f.snap.Set
		if limit := repository.MirrorMaxDelete(total[set]); perSet[set] > limit && !confirm {
			p.Held[set] = fmt.Sprintf("retention would forget %d snapshots of %s on the mirror, more than %d at once: none forgotten; run depot mirror --confirm to go ahead", perSet[set], set, limit)
			continue
		}
		kept = append(kept, f)
	}
	p.Forget = kept
	return p, nil
}

// resticOwnRetention decides with the mirror's own rules, the way the
// repository's retention decides: the newest max_recent_backups of each
// set, plus the first snapshot of each day a rule matches, the newest keep
// of them.
func (d *Director) resticOwnRetention(have []repository.ResticSnapshot, m MirrorConfig) []resticForget {
	policy := m.resticPolicy(d.Config)
	bySet := map[string][]repository.Snapshot{}
	byKey := map[string]repository.ResticSnapshot{}
	for _, s := range have {
		byKey[s.Set+"/"+s.Stamp] = s
		bySet[s.Set] = append(bySet[s.Set], repository.Snapshot{Section: repository.Holding, Set: s.Set, Stamp: s.Stamp, Complete: true})
	}
	var out []resticForget
	for _, snaps := range bySet {
		// Twice: once to see which the rules take, once to apply their keeps.
		first := repository.Decide(snaps, policy)
		for _, dc := range repository.Decide(repository.Apply(snaps, first), policy) {
			if dc.Action == repository.Delete {
				out = append(out, resticForget{byKey[dc.Snapshot.Set+"/"+dc.Snapshot.Stamp], dc.Reason})
			}
		}
		for _, dc := range first {
			if dc.Action == repository.Delete {
				out = append(out, resticForget{byKey[dc.Snapshot.Set+"/"+dc.Snapshot.Stamp], dc.Reason})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].snap.Stamp < out[j].snap.Stamp })
	return out
}

// resticRecord is one line of .depot/restic-NAME.jsonl: a snapshot restic
// reported saved.
type resticRecord struct {
	Set     string                   `json:"set"`
	Stamp   string                   `json:"stamp"`
	Section string                   `json:"section"`
	At      time.Time                `json:"at"`
	Summary repository.ResticSummary `json:"restic"`
}

// mirrorRestic backs up each snapshot the restic mirror lacks, oldest first,
// then applies retention with restic forget --prune.
func (d *Director) mirrorRestic(ctx context.Context, repo repository.Repo, m MirrorConfig, o MirrorOptions) error {
	what := "mirror " + m.Name
	log := d.Log.With("mirror", m.Name)
	r := m.restic()
	start := d.Now()
	if o.Init {
		if err := d.initRestic(ctx, m, true); err != nil {
			return err
		}
	}
	p, err := d.planRestic(ctx, repo, m, o.Confirm)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	// A killed restic leaves a stale lock; unlock removes only such.
	if err := r.Unlock(ctx); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	stable := filepath.Join(repo.StateDir(), "restic", m.Name)
	if err := os.MkdirAll(stable, 0o700); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	parents := map[string]string{}
	for _, s := range p.Have {
		parents[s.Set] = s.ID // oldest first: the newest wins
	}
	var sent, bytesAdded int64
	for _, s := range p.Send {
		link := filepath.Join(stable, s.Set)
		if err := pointLink(link, s.Path); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		sum, err := r.Backup(ctx, s, repository.BackupOptions{Stable: link, Parent: parents[s.Set]})
		if err != nil {
			return fmt.Errorf("%s: %s/%s/%s: %w", what, s.Section, s.Set, s.Stamp, err)
		}
		parents[s.Set] = sum.SnapshotID
		sent++
		bytesAdded += sum.DataAdded
		if err := d.recordResticSent(repo, m.Name, resticRecord{Set: s.Set, Stamp: s.Stamp, Section: s.Section, At: d.Now().UTC(), Summary: sum}); err != nil {
			log.Warn("cannot record what restic saved", "err", err)
		}
		log.Info("mirror: saved", "snapshot", s.Section+"/"+s.Set+"/"+s.Stamp, "restic_snapshot", sum.SnapshotID,
			"files_new", sum.FilesNew, "files_changed", sum.FilesChanged, "data_added", sum.DataAdded)
	}
	for _, t := range p.Retag {
		if err := r.Retag(ctx, t.snap, t.section); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	for _, key := range p.Spared {
		log.Warn("mirror: kept", "snapshot", key, "reason", "not in the repository, but its retention did not delete it")
	}
	for set, why := range p.Held {
		log.Warn("mirror: deletions held back", "set", set, "why", why)
	}
	var ids []string
	for _, f := range p.Forget {
		ids = append(ids, f.snap.ID)
		log.Info("mirror: forget", "snapshot", f.snap.Set+"/"+f.snap.Stamp, "reason", f.reason)
	}
	if err := r.Forget(ctx, ids); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	log.Info("mirror done", "mirror", what, "sent", sent, "data_added", bytesAdded, "forgotten", len(ids),
		"held_back", len(p.Held), "spared", len(p.Spared), "seconds", seconds(d.Now().Sub(start)))
	return nil
}

// pointLink makes link a symbolic link to target, replacing it atomically.
func pointLink(link, target string) error {
	tmp := link + ".new"
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, link)
}

// recordResticSent appends what restic reported saved to the mirror's log
// in the repository's state directory.
func (d *Director) recordResticSent(repo repository.Repo, name string, rec resticRecord) error {
	line, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(repo.StateDir(), "restic-"+name+".jsonl"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(line, '\n'))
	return errors.Join(err, f.Close())
}
