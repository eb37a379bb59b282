package director

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/depot-backup/depot/repository"
)

// DiffSummary counts what a diff found.
type DiffSummary struct {
	Old          string `json:"old"` // the older snapshot, or "" when there is none
	New          string `json:"new"` // the newer snapshot, or "source"
	Added        int    `json:"added"`
	Removed      int    `json:"removed"`
	Changed      int    `json:"changed"`
	AddedBytes   int64  `json:"added_bytes"`
	RemovedBytes int64  `json:"removed_bytes"`
}

// DiffLine is one path a diff reports.
type DiffLine struct {
	Kind    string `json:"kind"` // added, removed or changed
	Path    string `json:"path"` // ITEM/REL, a directory with a trailing /
	Type    string `json:"type"`
	OldSize int64  `json:"old_size,omitempty"`
	NewSize int64  `json:"new_size,omitempty"`
}

// DiffOptions say which two snapshots to compare.
type DiffOptions struct {
	Old, New string // SET@STAMP; New empty: Old against the snapshot before it
	Source   bool   // compare the newest snapshot of Old (a SET) with its live source
	JSON     bool   // one JSON object per line, then the summary
}

// Diff prints the paths added, removed and changed between two snapshots, by
// merging their file lists as sorted streams: memory does not grow with the
// number of files. A path counts as changed when its type, permissions or
// content (hash, or size and mtime where there is no hash) differ.
func (d *Director) Diff(ctx context.Context, o DiffOptions) error {
	if o.Source {
		return d.diffSource(ctx, o)
	}
	var older, newer repository.Snapshot
	var err error
	if o.New != "" {
		if older, err = d.findSnapshot(ctx, o.Old); err != nil {
			return err
		}
		if newer, err = d.findSnapshot(ctx, o.New); err != nil {
			return err
		}
	} else {
		if newer, err = d.findSnapshot(ctx, o.Old); err != nil {
			return err
		}
		var ok bool
		if older, ok, err = d.snapshotBefore(ctx, newer); err != nil {
			return err
		} else if !ok {
			return &UsageError{Msg: fmt.Sprintf("snapshot %s is the oldest of set %s: name two snapshots, SET@OLD SET@NEW", newer.Name(), newer.Set)}
		}
	}
	repo := d.repo()
	p := d.newDiffPrinter(o.JSON, older.Name(), newer.Name())
	oldItems := map[string]repository.ItemRecord{}
	for _, it := range goodItems(older.Manifest) {
		oldItems[it.Name] = it
	}
	var names []string
	for _, it := range goodItems(newer.Manifest) {
		names = append(names, it.Name)
	}
	for _, it := range goodItems(older.Manifest) {
		if !newer.HasGood(it.Name) {
			names = append(names, it.Name)
		}
	}
	for _, name := range names {
		oldR, err := itemReader(ctx, repo, older, name)
		if err != nil {
			return err
		}
		newR, err := itemReader(ctx, repo, newer, name)
		if err != nil {
			closeReader(oldR)
			return err
		}
		err = mergeLists(ctx, oldR, newR, func(oe, ne *repository.Entry) error { return p.entry(name, oe, ne, changed) })
		closeReader(oldR)
		closeReader(newR)
		if err != nil {
			return err
		}
	}
	return p.finish()
}

// snapshotBefore returns the complete snapshot of s's set just older than s.
func (d *Director) snapshotBefore(ctx context.Context, s repository.Snapshot) (repository.Snapshot, bool, error) {
	snaps, err := d.repo().Snapshots(ctx, s.Set)
	if err != nil {
		return repository.Snapshot{}, false, err
	}
	var prev repository.Snapshot
	ok := false
	for _, c := range snaps {
		if c.Stamp >= s.Stamp {
			break
		}
		if c.Complete {
			prev, ok = c, true
		}
	}
	return prev, ok, nil
}

// itemReader opens an item's list in a snapshot, or an empty reader when the
// snapshot has no good copy of the item.
func itemReader(ctx context.Context, repo repository.Repo, s repository.Snapshot, item string) (repository.EntryReader, error) {
	for _, it := range goodItems(s.Manifest) {
		if it.Name == item {
			return openItemList(ctx, repo, s, it)
		}
	}
	return repository.EntriesReader(nil), nil
}

func closeReader(r repository.EntryReader) {
	if c, ok := r.(io.Closer); ok {
		c.Close()
	}
}

// mergeLists walks two lists in file list order and calls fn with the old
// and new entry of each path (nil where a side lacks it).
func mergeLists(ctx context.Context, oldR, newR repository.EntryReader, fn func(o, n *repository.Entry) error) error {
	next := func(r repository.EntryReader) (*repository.Entry, error) {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return &e, err
	}
	o, err := next(oldR)
	if err != nil {
		return err
	}
	n, err := next(newR)
	if err != nil {
		return err
	}
	for o != nil || n != nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		switch {
		case o == nil || n != nil && repository.PathLess(n.Path, o.Path):
			err = fn(nil, n)
			if err == nil {
				n, err = next(newR)
			}
		case n == nil || repository.PathLess(o.Path, n.Path):
			err = fn(o, nil)
			if err == nil {
				o, err = next(oldR)
			}
		default:
			err = fn(o, n)
			if err == nil {
				o, err = next(oldR)
			}
			if err == nil {
				n, err = next(newR)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// diffPrinter writes a diff as it is found.
type diffPrinter struct {
	w    *bufio.Writer
	enc  *json.Encoder
	sum  DiffSummary
	json bool
}

func (d *Director) newDiffPrinter(asJSON bool, older, newer string) *diffPrinter {
	w := bufio.NewWriterSize(d.Out, 64<<10)
	return &diffPrinter{w: w, enc: json.NewEncoder(w), json: asJSON, sum: DiffSummary{Old: older, New: newer}}
}

// entry reports one path of item; differ decides whether an entry on both
// sides changed.
func (p *diffPrinter) entry(item string, o, n *repository.Entry, differ func(o, n repository.Entry) bool) error {
	var l DiffLine
	switch {
	case o == nil:
		l = DiffLine{Kind: "added", Path: item + "/" + displayPath(n.Path, *n), Type: entryType(*n), NewSize: n.Size}
		p.sum.Added++
		p.sum.AddedBytes += n.Size
	case n == nil:
		l = DiffLine{Kind: "removed", Path: item + "/" + displayPath(o.Path, *o), Type: entryType(*o), OldSize: o.Size}
		p.sum.Removed++
		p.sum.RemovedBytes += o.Size
	case differ(*o, *n):
		l = DiffLine{Kind: "changed", Path: item + "/" + displayPath(n.Path, *n), Type: entryType(*n), OldSize: o.Size, NewSize: n.Size}
		p.sum.Changed++
	default:
		return nil
	}
	if p.json {
		return p.enc.Encode(l)
	}
	var err error
	switch l.Kind {
	case "added":
		_, err = fmt.Fprintf(p.w, "+ %s  (%d bytes)\n", l.Path, l.NewSize)
	case "removed":
		_, err = fmt.Fprintf(p.w, "- %s  (%d bytes)\n", l.Path, l.OldSize)
	default:
		_, err = fmt.Fprintf(p.w, "M %s  (%d -> %d bytes)\n", l.Path, l.OldSize, l.NewSize)
	}
	return err
}

func (p *diffPrinter) finish() error {
	if p.json {
		if err := p.enc.Encode(struct {
			Summary DiffSummary `json:"summary"`
		}{p.sum}); err != nil {
			return err
		}
		return p.w.Flush()
	}
	old := p.sum.Old
	if old == "" {
		old = "nothing"
	}
	fmt.Fprintf(p.w, "%s -> %s: %d added (%s), %d removed (%s), %d changed\n", old, p.sum.New,
		p.sum.Added, humanBytes(p.sum.AddedBytes), p.sum.Removed, humanBytes(p.sum.RemovedBytes), p.sum.Changed)
	return p.w.Flush()
}

// splitTarget returns the set of SET or SET@STAMP.
func splitTarget(t string) string {
	set, _, _ := strings.Cut(t, "@")
	return set
}
