package repository

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"
)

// RecordName is the file in a permanent snapshot that says why it migrated:
// its calendar day and the rules that matched it, as they stood then.
//
// It is a file of its own rather than a field of the manifest: the manifest
// is what makes a snapshot complete, is compared byte for byte with a
// mirror's, and is never rewritten after publication; the record is written
// (through a temporary file and a rename) just before the migrating rename,
// and a damaged or missing record costs only the right to delete the
// snapshot, never the snapshot.
const RecordName = "permanent.json"

// RecordFormat is the version of the record's format.
const RecordFormat = 1

// Record is why a snapshot is in permanent.
type Record struct {
	Format int `json:"format"`
	// Day is the calendar day the rules matched, YYYY-MM-DD in Zone.
	Day  string `json:"day"`
	Zone string `json:"timezone"`
	// Rules are the names of the rules whose calendar matched Day.
	Rules    []string  `json:"rules"`
	Migrated time.Time `json:"migrated,omitzero"`
}

// date returns the recorded day, and false for a record that names none.
func (r *Record) date() (date, bool) {
	t, err := time.Parse(time.DateOnly, r.Day)
	if err != nil {
		return date{}, false
	}
	y, m, d := t.Date()
	return date{y, m, d}, true
}

// WriteRecord writes rec into the snapshot at dir, atomically.
func (r Repo) WriteRecord(ctx context.Context, dir string, rec *Record) error {
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", RecordName, err)
	}
	return r.writeFileAtomic(ctx, filepath.Join(dir, RecordName), append(data, '\n'))
}

// ReadRecords sets the Record of each complete permanent snapshot in snaps
// that has a readable one. A snapshot whose record is missing or damaged
// keeps a nil Record: retention keeps it, as it cannot tell why it is there.
func (r Repo) ReadRecords(ctx context.Context, snaps []Snapshot) {
	for i := range snaps {
		s := &snaps[i]
		if s.Section != Permanent || !s.Complete || s.Path == "" {
			continue
		}
		data, err := r.Files().ReadFile(ctx, filepath.Join(s.Path, RecordName))
		if err != nil {
			continue
		}
		var rec Record
		if json.Unmarshal(data, &rec) != nil || rec.Format < 1 || rec.Format > RecordFormat {
			continue
		}
		if _, ok := rec.date(); ok {
			s.Record = &rec
		}
	}
}
