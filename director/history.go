package director

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/depot-backup/depot/repository"
)

// HistoryFile is the run history in the repository's .depot/; when it
// passes MaxHistoryBytes it becomes HistoryFile+".1", replacing the one
// before, so the history stays bounded.
const (
	HistoryFile     = "history.jsonl"
	MaxHistoryBytes = 1 << 20
)

// HistoryRecord is one line of the run history: one set's run.
type HistoryRecord struct {
	Set             string    `json:"set"`
	Started         time.Time `json:"started"`
	Finished        time.Time `json:"finished"`
	DurationSeconds float64   `json:"duration_seconds"`
	Stamp           string    `json:"stamp,omitempty"`
	Snapshot        string    `json:"snapshot,omitempty"` // section/set/stamp
	Status          string    `json:"status"`             // "ok", "warning", "partial", "failed" or "stopped"
	Error           string    `json:"error,omitempty"`
	FailedItems     []string  `json:"failed_items,omitempty"`
	Warnings        int       `json:"warnings,omitempty"`
	// The snapshot's totals, and what this run copied.
	Files            int64 `json:"files,omitempty"`
	Bytes            int64 `json:"bytes,omitempty"`
	FilesTransferred int64 `json:"files_transferred,omitempty"`
	BytesTransferred int64 `json:"bytes_transferred,omitempty"`
}

// Succeeded reports whether the run made a snapshot with every item in it.
func (r HistoryRecord) Succeeded() bool { return r.Status == "ok" || r.Status == "warning" }

// appendHistory adds rec to the run history, rotating a full file first. A
// history that cannot be written costs a warning, never the run.
func (d *Director) appendHistory(ctx context.Context, repo repository.Repo, rec HistoryRecord) {
	ctx = context.WithoutCancel(ctx)
	line, _ := json.Marshal(rec)
	file := filepath.Join(repo.StateDir(), HistoryFile)
	// Its size, not its data: near the bound that is a megabyte a run
	// over SSH.
	if size, err := repo.Files().Size(ctx, file); err == nil && size+int64(len(line)) >= MaxHistoryBytes {
		if err := repo.Files().Rename(ctx, file, file+".1"); err != nil {
			d.Log.Warn("could not rotate the run history", "err", err)
		}
	}
	if err := repo.AppendHistory(ctx, append(line, '\n')); err != nil {
		d.Log.Warn("could not record run history", "err", err)
	}
}

// readHistory returns the run history, oldest first, of set (all sets for
// ""). Lines that do not parse are skipped with a warning.
func (d *Director) readHistory(ctx context.Context, repo repository.Repo, set string) ([]HistoryRecord, error) {
	file := filepath.Join(repo.StateDir(), HistoryFile)
	ex, err := repo.Files().Exists(ctx, file+".1", file)
	if err != nil {
		return nil, fmt.Errorf("read run history: %w", err)
	}
	var out []HistoryRecord
	bad := 0
	for i, f := range []string{file + ".1", file} {
		if !ex[i] {
			continue
		}
		data, err := repo.Files().ReadFile(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("read run history: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 64<<10), MaxHistoryBytes)
		for sc.Scan() {
			var r HistoryRecord
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.Set == "" || r.Started.IsZero() {
				bad++
				continue
			}
			if r.DurationSeconds == 0 && !r.Finished.IsZero() {
				r.DurationSeconds = r.Finished.Sub(r.Started).Seconds() // written before durations were
			}
			if set == "" || r.Set == set {
				out = append(out, r)
			}
		}
	}
	if bad > 0 {
		d.Log.Warn("run history: skipped lines that do not parse", "lines", bad, "file", file)
	}
	return out, nil
}

// History returns the runs of set (all sets for ""), oldest first; with
// last > 0, only the last ones.
func (d *Director) History(ctx context.Context, set string, last int) ([]HistoryRecord, error) {
	if set != "" {
		if _, err := d.selectSets([]string{set}); err != nil {
			return nil, err
		}
	}
	recs, err := d.readHistory(ctx, d.repo(), set)
	if err != nil {
		return nil, err
	}
	if last > 0 && len(recs) > last {
		recs = recs[len(recs)-last:]
	}
	return recs, nil
}

// PrintHistory writes runs as a table or as JSON.
func (d *Director) PrintHistory(recs []HistoryRecord, asJSON bool) error {
	if asJSON {
		if recs == nil {
			recs = []HistoryRecord{}
		}
		enc := json.NewEncoder(d.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(recs)
	}
	if len(recs) == 0 {
		fmt.Fprintln(d.Out, "no runs recorded")
		return nil
	}
	tw := tabwriter.NewWriter(d.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STARTED\tSET\tSTATUS\tDURATION\tSNAPSHOT\tERROR")
	for _, r := range recs {
		snap := r.Snapshot
		if snap == "" {
			snap = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Started.Local().Format("2006-01-02 15:04:05"), r.Set, r.Status,
			(time.Duration(r.DurationSeconds * float64(time.Second))).Round(10*time.Millisecond), snap, r.Error)
	}
	return tw.Flush()
}
