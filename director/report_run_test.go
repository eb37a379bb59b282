package director

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/depot-backup/depot/notify"
	"github.com/depot-backup/depot/repository"
)

// TestEndEvent checks how a run's outcome becomes an event: from the
// snapshot's manifest when there is one (a partial snapshot names its
// failed item there), else from the error.
func TestEndEvent(t *testing.T) {
	tests := []struct {
		name     string
		items    []repository.ItemRecord // in the manifest; nil: no snapshot
		runErr   error
		warnings []string
		kind     notify.Kind
		failed   string // the item reported failed, with its error
	}{
		{"ok", []repository.ItemRecord{{Name: "etc", Type: "filesystem", Status: "ok"}}, nil, nil, notify.Success, ""},
		{"vanished files", []repository.ItemRecord{{Name: "etc", Type: "filesystem", Status: "warning", Warnings: []string{"files vanished"}}}, nil, nil, notify.Warning, ""},
		{"after hook failed", []repository.ItemRecord{{Name: "etc", Type: "filesystem", Status: "ok"}}, nil, []string{"hook after"}, notify.Warning, ""},
		{"partial snapshot", []repository.ItemRecord{{Name: "etc", Type: "filesystem", Status: "ok"}, {Name: "etc2", Type: "filesystem", Status: "failed", Error: "rsync exited 23"}},
			nil, nil, notify.Failure, "etc2: rsync exited 23"},
		{"set failed at an item", nil, errors.New("item etc: rsync exited 12: protocol error"), nil, notify.Failure, "etc: rsync exited 12: protocol error"},
		{"set failed elsewhere", nil, errors.New("hook before [x] on local: x exited 1"), nil, notify.Failure, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newStatusEnv(t, "")
			set, _ := e.d.Config.Set("web")
			var snap repository.Snapshot
			if tt.items != nil {
				snap = repository.Snapshot{Section: repository.Holding, Set: "web", Stamp: "2026-12-02T020000Z", Path: e.repo.Dir(repository.Holding, "web", "2026-12-02T020000Z")}
				if err := os.MkdirAll(snap.Path, 0o700); err != nil {
					t.Fatal(err)
				}
				data, _ := json.Marshal(repository.Manifest{Format: 1, Set: "web", Stamp: snap.Stamp, Items: tt.items})
				if err := os.WriteFile(filepath.Join(snap.Path, repository.ManifestName), data, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			start := notify.Event{Kind: notify.Start, Set: "web", Started: statusNow.Add(-time.Minute)}
			ev := e.d.endEvent(context.Background(), e.repo, set, start, snap, tt.runErr, tt.warnings)
			if ev.Kind != tt.kind || ev.DurationSeconds != 60 {
				t.Errorf("kind %s after %vs, want %s", ev.Kind, ev.DurationSeconds, tt.kind)
			}
			failed := ""
			for _, it := range ev.Items {
				if it.Status == "failed" {
					failed = it.Name + ": " + it.Error
				}
			}
			if failed != tt.failed {
				t.Errorf("failed item %q, want %q", failed, tt.failed)
			}
			if h := historyOf(ev); h.Status != ev.Status || (tt.failed != "") != (len(h.FailedItems) == 1) {
				t.Errorf("history record %+v", h)
			}
		})
	}
}
