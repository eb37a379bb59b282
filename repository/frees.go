package repository

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"time"
)

// freesDir holds, inside .depot, one record per set of what deleting each of
// its snapshots frees, so that depot list answers without walking every
// snapshot (FS.ExclusiveSize reads every inode of a tree).
const freesDir = "frees"

// freesFormat is the version of a frees record; another version is ignored.
const freesFormat = 1

// freesMaxSize bounds a frees record read from disk: a year of dailies takes
// some 40 KB, so anything far larger is not a record depot wrote.
const freesMaxSize = 8 << 20

// freesRecord is the file .depot/frees/<set>.json.
type freesRecord struct {
	Format    int                   `json:"format"`
	Set       string                `json:"set"`
	Snapshots map[string]freesEntry `json:"snapshots"` // by stamp
}

// freesEntry is what deleting one snapshot frees, valid while the snapshot's
// key is unchanged.
type freesEntry struct {
	Key   string `json:"key"`
	Frees int64  `json:"frees"`
}

// Frees is what deleting each of a set's snapshots would free, in bytes, for
// depot list.
type Frees struct {
	Bytes []int64 // one per snapshot, -1 where it cannot be told
	Errs  []error // why, where Bytes is -1
	// Computed counts the snapshots walked because the record had no
	// valid figure for them; the others came from the record.
	Computed int
	// Ignored says why the record on disk was not used, if it was not;
	// SaveErr why the updated record could not be written (a read-only
	// repository, say). Neither changes the figures.
	Ignored, SaveErr error
}

// Frees tells, for each of snaps (the published snapshots of set, oldest
// first, as Snapshots returns them), the disk space that deleting it frees.
//
// A snapshot shares files (hard links) only with the snapshots it was linked
// from or that were linked from it: for each item, the nearest older and
// newer snapshots holding a good copy of it. So a figure stays true while the
// snapshot, its manifest and those neighbours are unchanged; publishing or
// deleting a neighbour, or migrating nothing but the section, is what moves
// it. Each figure is recorded under .depot/frees with a key of exactly those
// facts, and taken from there while the key matches; every other snapshot is
// walked (FS.ExclusiveSize) and the record updated. The record is input like
// any file on disk: one that does not parse, is too large, names another set
// or has a negative figure is ignored whole, and everything is walked again.
// No figure is recorded while the set has a snapshot in progress, whose
// links into its base change what the base frees.
func (r Repo) Frees(ctx context.Context, set string, snaps []Snapshot) Frees {
	out := Frees{Bytes: make([]int64, len(snaps)), Errs: make([]error, len(snaps))}
	rec, err := r.readFrees(ctx, set)
	if err != nil {
		out.Ignored = err
	}
	busy := r.setBusy(ctx, set)
	next := freesRecord{Format: freesFormat, Set: set, Snapshots: map[string]freesEntry{}}
	nb := itemNeighbours(snaps)
	for i, s := range snaps {
		if err := ctx.Err(); err != nil {
			out.Bytes[i], out.Errs[i] = -1, err
			continue
		}
		key, cacheable := freesKey(r.Root, snaps, i, nb)
		if e, ok := rec.Snapshots[s.Stamp]; ok && cacheable && e.Key == key {
			out.Bytes[i] = e.Frees
			next.Snapshots[s.Stamp] = e
			continue
		}
		n, err := r.Files().ExclusiveSize(ctx, s.Path)
		out.Computed++
		if err != nil {
			out.Bytes[i], out.Errs[i] = -1, err
			continue
		}
		out.Bytes[i] = n
		if cacheable {
			next.Snapshots[s.Stamp] = freesEntry{Key: key, Frees: n}
		}
	}
	// A run that began meanwhile may have linked into a snapshot while it
	// was walked; a figure taken then is right now but not recorded.
	if out.Computed > 0 && !busy && !r.setBusy(ctx, set) && ctx.Err() == nil {
		out.SaveErr = r.writeFrees(ctx, set, next)
	}
	return out
}

func (r Repo) freesPath(set string) string {
	return filepath.Join(r.StateDir(), freesDir, set+".json")
}

// setBusy reports whether set has a snapshot in progress (or cannot tell).
func (r Repo) setBusy(ctx context.Context, set string) bool {
	stamps, err := r.Partials(ctx, set)
	return err != nil || len(stamps) > 0
}

// readFrees reads set's record; a missing one is empty, a doubtful one is
// empty and the reason returned.
func (r Repo) readFrees(ctx context.Context, set string) (freesRecord, error) {
	empty := freesRecord{Snapshots: map[string]freesEntry{}}
	path := r.freesPath(set)
	ok, err := r.Files().Exists(ctx, path)
	if err != nil {
		return empty, fmt.Errorf("frees record %s: %w", path, err)
	}
	if !ok[0] {
		return empty, nil
	}
	data, err := r.Files().ReadFile(ctx, path)
	if err != nil {
		return empty, fmt.Errorf("frees record %s: %w", path, err)
	}
	if len(data) > freesMaxSize {
		return empty, fmt.Errorf("frees record %s: %d bytes, more than a record holds", path, len(data))
	}
	var rec freesRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return empty, fmt.Errorf("frees record %s: %w", path, err)
	}
	if rec.Format != freesFormat || rec.Set != set {
		return empty, fmt.Errorf("frees record %s: format %d of set %q, not format %d of set %q", path, rec.Format, rec.Set, freesFormat, set)
	}
	for stamp, e := range rec.Snapshots {
		if _, err := ParseStamp(stamp); err != nil || e.Frees < 0 || e.Key == "" {
			return empty, fmt.Errorf("frees record %s: bad entry %q", path, stamp)
		}
	}
	if rec.Snapshots == nil {
		rec.Snapshots = map[string]freesEntry{}
	}
	return rec, nil
}

// writeFrees replaces set's record through a temporary file of its own, so
// two writers never mix their bytes: the last rename wins, and every figure
// in either is checked against its key when read.
func (r Repo) writeFrees(ctx context.Context, set string, rec freesRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("frees record: %w", err)
	}
	path := r.freesPath(set)
	if err := r.Files().MkdirAll(ctx, filepath.Dir(path)); err != nil {
		return fmt.Errorf("frees record %s: %w", path, err)
	}
	tmp := path + "." + strconv.FormatInt(time.Now().UnixNano(), 36) + ".tmp"
	if err := r.Files().WriteFile(ctx, tmp, append(data, '\n')); err != nil {
		_ = r.Files().Remove(ctx, tmp)
		return fmt.Errorf("frees record %s: %w", path, err)
	}
	if err := r.Files().Rename(ctx, tmp, path); err != nil {
		_ = r.Files().Remove(ctx, tmp)
		return fmt.Errorf("frees record %s: %w", path, err)
	}
	return nil
}

// freesKey names everything that what deleting snaps[i] frees depends on:
// the repository, the snapshot's manifest (its items, their status and file
// lists), and, for the snapshot and for each of its good items, the nearest
// older and newer snapshots (nb, from itemNeighbours). An incomplete
// snapshot has no manifest to key on: its figure is never recorded.
func freesKey(root string, snaps []Snapshot, i int, nb map[string][]neighbours) (string, bool) {
	s := snaps[i]
	m := s.Manifest
	if m == nil || !s.Complete {
		return "", false
	}
	h := sha256.New()
	field := func(v string) { fmt.Fprintf(h, "%d:%s;", len(v), v) }
	field(strconv.Itoa(freesFormat))
	field(root)
	field(s.Set)
	field(s.Stamp)
	field(m.Stamp)
	field(m.Started.UTC().Format(time.RFC3339Nano))
	field(m.Finished.UTC().Format(time.RFC3339Nano))
	field(m.Base)
	prev, next := "", ""
	if i > 0 {
		prev = snaps[i-1].Stamp
	}
	if i+1 < len(snaps) {
		next = snaps[i+1].Stamp
	}
	field(prev)
	field(next)
	for _, it := range m.Items {
		field(it.Name)
		field(it.Type)
		field(string(it.Status))
		field(it.FileListSHA256)
		if it.Status == StatusFailed {
			continue
		}
		n := nb[it.Name][i]
		field(n.prev)
		field(n.next)
	}
	return hex.EncodeToString(h.Sum(nil)), true
}

// neighbours are the stamps of the nearest older and newer snapshots
// holding a good copy of an item, "" where there is none.
type neighbours struct{ prev, next string }

// itemNeighbours gives, for every item name in snaps and every snapshot,
// that item's neighbours: two passes over the snapshots per item.
func itemNeighbours(snaps []Snapshot) map[string][]neighbours {
	out := map[string][]neighbours{}
	for _, s := range snaps {
		if s.Manifest == nil {
			continue
		}
		for _, it := range s.Manifest.Items {
			if _, ok := out[it.Name]; ok {
				continue
			}
			nb := make([]neighbours, len(snaps))
			last := ""
			for i := range snaps {
				nb[i].prev = last
				if snaps[i].HasGood(it.Name) {
					last = snaps[i].Stamp
				}
			}
			last = ""
			for i := len(snaps) - 1; i >= 0; i-- {
				nb[i].next = last
				if snaps[i].HasGood(it.Name) {
					last = snaps[i].Stamp
				}
			}
			out[it.Name] = nb
		}
	}
	return out
}
