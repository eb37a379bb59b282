package repository

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCheckGuard(t *testing.T) {
	zero, ten := 0, 10
	tests := []struct {
		name      string
		specs     []string
		max       int
		maxDelete *int
		counted   int
		holds     bool
	}{
		{"daily roll-over", []string{"h", "h", "h", "h"}, 3, nil, 0, false},
		{"roll-over with max_delete 0", []string{"h", "h", "h", "h"}, 3, &zero, 0, false},
		{"max lowered by 3", []string{"h", "h", "h", "h", "h", "h"}, 2, nil, 3, false},
		{"max lowered by 4", []string{"h", "h", "h", "h", "h", "h", "h"}, 2, nil, 4, true},
		{"a quarter of a large set", []string{"h", "h", "h", "h", "h", "h", "h", "h", "h", "h", "h", "h", "h", "h", "h", "h", "h", "h", "h", "h"}, 14, nil, 5, false},
		{"max_delete of its own", []string{"h", "h", "h", "h", "h", "h", "h"}, 2, &ten, 4, false},
		{"incomplete ones neither counted nor deleted", []string{"i", "i", "i", "h", "h"}, 1, &zero, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := CheckGuard(Decide(snaps(tt.specs...), Policy{MaxRecent: tt.max}), tt.maxDelete)
			if g.Counted != tt.counted || g.Holds() != tt.holds {
				t.Fatalf("guard %+v (holds %v), want %d counted, holds %v", g, g.Holds(), tt.counted, tt.holds)
			}
		})
	}
}

// TestDeletionLog: what RecordDeletion writes, Deleted reads; a damaged line
// is skipped, and a repository without a log has deleted nothing.
func TestDeletionLog(t *testing.T) {
	r := Repo{Root: t.TempDir()}
	if got, err := r.Deleted(ctx); err != nil || len(got) != 0 {
		t.Fatalf("no log: %v, %v", got, err)
	}
	s := Snapshot{Section: Holding, Set: "web", Stamp: Stamp(t0)}
	if err := r.RecordDeletion(ctx, s, "test", t0); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(r.StateDir(), deletedLog), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("{\"set\": \"web\", \"sta\n")
	f.Close()
	if err := r.RecordDeletion(ctx, Snapshot{Section: Permanent, Set: "mail", Stamp: Stamp(t0)}, "test", t0); err != nil {
		t.Fatal(err)
	}
	got, err := r.Deleted(ctx)
	if err != nil || len(got) != 2 || !got["web/"+Stamp(t0)] || !got["mail/"+Stamp(t0)] {
		t.Fatalf("deleted %v, %v", got, err)
	}
}
