package repository

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"
)

// deletedLog is the file in .depot/ where retention (and depot forget)
// record each snapshot they delete, before deleting it. A mirror deletes
// only what this log names: a snapshot missing from the repository for any
// other reason (an unmounted disk, a hand's rm) stays on the mirror.
const deletedLog = "deleted.jsonl"

// Deletion is one line of the deletion log.
type Deletion struct {
	Set     string    `json:"set"`
	Stamp   string    `json:"stamp"`
	Section string    `json:"section"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

// RecordDeletion appends to the deletion log that s is about to be deleted.
// It is written first: a deletion cut short leaves the snapshot in the
// repository, where a mirror keeps it too.
func (r Repo) RecordDeletion(ctx context.Context, s Snapshot, reason string, at time.Time) error {
	line, err := json.Marshal(Deletion{Set: s.Set, Stamp: s.Stamp, Section: s.Section, Reason: reason, At: at.UTC()})
	if err != nil {
		return fmt.Errorf("record deletion: %w", err)
	}
	if err := r.Files().MkdirAll(ctx, r.StateDir()); err != nil {
		return fmt.Errorf("record deletion: %w", err)
	}
	if err := r.Files().Append(ctx, filepath.Join(r.StateDir(), deletedLog), append(line, '\n')); err != nil {
		return fmt.Errorf("record deletion of %s: %w", s.Name(), err)
	}
	return nil
}

// Deleted returns the set/stamp of every snapshot the deletion log names.
// A repository without a log has deleted nothing; a damaged line is skipped.
func (r Repo) Deleted(ctx context.Context) (map[string]bool, error) {
	path := filepath.Join(r.StateDir(), deletedLog)
	ok, err := r.Files().Exists(ctx, path)
	if err != nil || !ok[0] {
		return map[string]bool{}, err
	}
	data, err := r.Files().ReadFile(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("read deletion log: %w", err)
	}
	out := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var d Deletion
		if json.Unmarshal(sc.Bytes(), &d) == nil && d.Set != "" && d.Stamp != "" {
			out[d.Set+"/"+d.Stamp] = true
		}
	}
	return out, sc.Err()
}
