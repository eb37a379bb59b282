package director

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/depot-backup/depot/backupitems"
	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/repository"
	"github.com/depot-backup/depot/rsync"
)

// ErrDrillFailed means a restore drill failed; each failure has been printed.
var ErrDrillFailed = errors.New("restore drill failed")

// DrillFile is the drill history in the repository's .depot/, one JSON line
// per item drilled; past MaxHistoryBytes it is rotated like the run history.
const DrillFile = "drills.jsonl"

// drillTreeFiles is how many files a tree drill restores and compares.
const drillTreeFiles = 50

// DrillRecord is the outcome of one item's drill.
type DrillRecord struct {
	Set             string                    `json:"set"`
	Item            string                    `json:"item"`
	Type            string                    `json:"type"`
	Snapshot        string                    `json:"snapshot,omitempty"`
	Started         time.Time                 `json:"started"`
	DurationSeconds float64                   `json:"duration_seconds"`
	Status          string                    `json:"status"` // ok or failed
	Error           string                    `json:"error,omitempty"`
	Results         []backupitems.DrillResult `json:"results,omitempty"`
	Files           int                       `json:"files,omitempty"` // a tree drill's restored and compared files
}

// Drill proves that the newest good copy of every item of the sets (all
// when none is named) restores: dumps load into scratch databases (with
// the items' restore_ settings), are counted and queried, then dropped; svn
// chains load into a scratch repository that svnadmin verify checks; a
// sample of a tree's files is restored into a temporary directory and
// compared with the file list's hashes. Each result is printed and recorded
// in the drill history; any failure makes the error ErrDrillFailed.
//
// A drill holds the repository's lock as a run does, and each set's lock
// while it drills that set: no prune, forget or run of the set deletes the
// snapshot it reads. An item type with nothing to drill (a command item
// without drill_command) is printed as skipped, and not recorded.
func (d *Director) Drill(ctx context.Context, names []string, o DrillOptions) error {
	sets, err := d.selectSets(names)
	if err != nil {
		return err
	}
	repo, lock, err := d.lockRuns(ctx, o.Wait, true)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	var recs []DrillRecord
	skipped := 0
	for _, set := range sets {
		setLock, err := repo.LockSet(ctx, set.Name, o.Wait)
		if err != nil {
			return err
		}
		for _, it := range set.Items {
			rec := d.drillItem(ctx, repo, set, it)
			if ctx.Err() != nil {
				setLock.Unlock()
				return ctx.Err()
			}
			d.printDrill(rec)
			if rec.Status == drillSkipped {
				skipped++
				continue
			}
			d.appendDrill(ctx, repo, rec)
			recs = append(recs, rec)
		}
		setLock.Unlock()
	}
	failed := 0
	for _, r := range recs {
		if r.Status != "ok" {
			failed++
		}
	}
	summary := fmt.Sprintf("%d items drilled: %d ok, %d failed", len(recs), len(recs)-failed, failed)
	if skipped > 0 {
		summary += fmt.Sprintf(", %d skipped", skipped)
	}
	fmt.Fprintln(d.Out, summary)
	d.writeMetrics(ctx, repo)
	if failed > 0 {
		return fmt.Errorf("%w: %d of %d items", ErrDrillFailed, failed, len(recs))
	}
	return nil
}

// DrillOptions say how a drill waits for the locks it takes.
type DrillOptions struct {
	Wait time.Duration // how long to wait for another run's lock
}

// drillSkipped is the status of an item whose type has nothing to drill.
const drillSkipped = "skipped"

// drillItem drills one item.
func (d *Director) drillItem(ctx context.Context, repo repository.Repo, set *SetConfig, it ItemConfig) DrillRecord {
	h := it.Header()
	rec := DrillRecord{Set: set.Name, Item: h.Name, Type: h.Type, Started: d.Now()}
	driller, isDriller := it.Item.(backupitems.Driller)
	_, isTree := it.Item.(backupitems.SourceWalker)
	if !isDriller && !isTree {
		rec.Status, rec.Error = drillSkipped, h.Type+" items have no drill"
		return rec
	}
	fail := func(err error) DrillRecord {
		rec.Status, rec.Error = "failed", err.Error()
		rec.DurationSeconds = d.Now().Sub(rec.Started).Seconds()
		return rec
	}
	snap, ok := d.newestGood(ctx, set.Name, h.Name)
	if !ok {
		return fail(fmt.Errorf("no snapshot holds a good copy of the item"))
	}
	rec.Snapshot = snap.Name()
	var irec repository.ItemRecord
	for _, r := range snap.Manifest.Items {
		if r.Name == h.Name {
			irec = r
		}
	}
	if irec.Type != h.Type {
		return fail(fmt.Errorf("the snapshot's item is a %s item, the config's a %s item", irec.Type, h.Type))
	}
	log := d.Log.With("set", set.Name, "stamp", snap.Stamp, "item", h.Name)
	if isDriller {
		env := backupitems.RestoreEnv{
			Source: d.source(set),
			In:     fsInput{repo: repo, dir: filepath.Join(snap.Path, irec.Name), fileList: filepath.Join(snap.Path, irec.FileList)},
			Meta:   irec.Meta,
			Log:    log,
		}
		stamp := strings.NewReplacer("-", "", ":", "").Replace(snap.Stamp)
		scratch := func(db string) string {
			name := "depot_drill_" + h.Name + "_" + stamp
			if db != "" {
				name += "_" + db
			}
			return truncate(name, 63)
		}
		res, err := driller.Drill(ctx, env, scratch)
		rec.Results = res
		var none *backupitems.NoDrillError
		if errors.As(err, &none) {
			rec.Status, rec.Error = drillSkipped, none.Error()
			return rec
		}
		if err != nil {
			return fail(err)
		}
	} else {
		n, err := d.drillTree(ctx, repo, snap, irec)
		rec.Files = n
		if err != nil {
			return fail(err)
		}
	}
	rec.Status = "ok"
	rec.DurationSeconds = d.Now().Sub(rec.Started).Seconds()
	return rec
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// drillTree restores a sample of a tree item's regular files (evenly
// spread over its file list) into a temporary directory here and compares
// each with its entry: type, size and SHA-256.
func (d *Director) drillTree(ctx context.Context, repo repository.Repo, snap repository.Snapshot, it repository.ItemRecord) (int, error) {
	total := it.Stats.Files
	step := max(total/drillTreeFiles, 1)
	var picked []repository.Entry
	var i int64
	err := eachEntry(ctx, repo, snap, it, "", func(e repository.Entry) error {
		if e.IsRegular() {
			if i%step == 0 && len(picked) < drillTreeFiles {
				picked = append(picked, e)
			}
			i++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if len(picked) == 0 {
		return 0, nil
	}
	tmp, err := os.MkdirTemp("", "depot-drill-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	var list strings.Builder
	for _, e := range picked {
		list.WriteString(e.Path)
		list.WriteByte(0)
	}
	opts := rsync.Options{
		Sources:    []string{filepath.Join(snap.Path, it.Name) + "/"},
		Dest:       tmp + "/",
		NumericIDs: true,
		Sparse:     true,
		FilesFrom:  strings.NewReader(list.String()),
	}
	if _, err := rsync.RunBetween(ctx, d.repoHost(), hosts.Local{}, opts); err != nil {
		return 0, fmt.Errorf("restore %d files: %w", len(picked), err)
	}
	for _, e := range picked {
		p := filepath.Join(tmp, filepath.FromSlash(e.Path))
		info, err := os.Lstat(p)
		if err != nil {
			return 0, fmt.Errorf("%s: not restored: %w", e.Path, err)
		}
		if !info.Mode().IsRegular() || info.Size() != e.Size {
			return 0, fmt.Errorf("%s: restored as %v of %d bytes, the list says a file of %d", e.Path, info.Mode().Type(), info.Size(), e.Size)
		}
		h, err := repository.HashEntry(p, e)
		if err != nil {
			return 0, err
		}
		if h != e.Hash {
			return 0, fmt.Errorf("%s: restored content differs from the hash in the file list", e.Path)
		}
	}
	return len(picked), nil
}

// printDrill writes one line per drilled item.
func (d *Director) printDrill(r DrillRecord) {
	head := fmt.Sprintf("%s/%s (%s) %s", r.Set, r.Item, r.Type, r.Snapshot)
	if r.Status == drillSkipped {
		fmt.Fprintf(d.Out, "skip  %s/%s (%s): skipped: %s\n", r.Set, r.Item, r.Type, r.Error)
		return
	}
	if r.Status != "ok" {
		fmt.Fprintf(d.Out, "FAIL  %s: %s\n", head, r.Error)
		return
	}
	var parts []string
	for _, x := range r.Results {
		switch {
		case x.Command != "":
			parts = append(parts, "drill_command "+x.Command+" passed")
		case r.Type == "svn":
			parts = append(parts, fmt.Sprintf("loaded and verified revisions 0-%d", x.Revision))
		default:
			s := fmt.Sprintf("%s: %d tables, about %d rows", x.Database, x.Tables, x.Rows)
			if x.Query != "" {
				s += ", drill_query " + x.Query
			}
			parts = append(parts, s)
		}
	}
	if r.Files > 0 || len(r.Results) == 0 {
		parts = append(parts, fmt.Sprintf("%d files restored and compared", r.Files))
	}
	fmt.Fprintf(d.Out, "ok    %s: %s (%.1fs)\n", head, strings.Join(parts, "; "), r.DurationSeconds)
}

// appendDrill adds a drill's record to the drill history; a failure to
// write it is a warning.
func (d *Director) appendDrill(ctx context.Context, repo repository.Repo, r DrillRecord) {
	ctx = context.WithoutCancel(ctx)
	line, _ := json.Marshal(r)
	file := filepath.Join(repo.StateDir(), DrillFile)
	if size, err := repo.Files().Size(ctx, file); err == nil && size+int64(len(line)) >= MaxHistoryBytes {
		if err := repo.Files().Rename(ctx, file, file+".1"); err != nil {
			d.Log.Warn("could not rotate the drill history", "err", err)
		}
	}
	if err := repo.Files().Append(ctx, file, append(line, '\n')); err != nil {
		d.Log.Warn("could not record the drill", "err", err)
	}
}

// readDrills returns the drill history, oldest first.
func (d *Director) readDrills(ctx context.Context, repo repository.Repo) ([]DrillRecord, error) {
	var out []DrillRecord
	file := filepath.Join(repo.StateDir(), DrillFile)
	files := []string{file + ".1", file}
	ex, err := repo.Files().Exists(ctx, files...)
	if err != nil {
		return nil, fmt.Errorf("read drill history: %w", err)
	}
	for i, f := range files {
		if !ex[i] {
			continue
		}
		data, err := repo.Files().ReadFile(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("read drill history: %w", err)
		}
		dec := json.NewDecoder(strings.NewReader(string(data)))
		for {
			var r DrillRecord
			if err := dec.Decode(&r); err == io.EOF {
				break
			} else if err != nil {
				d.Log.Warn("drill history: a line does not parse", "file", f, "err", err)
				break
			}
			out = append(out, r)
		}
	}
	return out, nil
}
