package director

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPruneLeavesTrash: a prune for the daemon (LeaveTrash) takes the
// deleted snapshots out of their section under the lock and leaves their
// unlinking for after it, when the lock is free for the next backup, which
// does not wait for it either; by default a run unlinks them itself once it
// released the lock.
func TestPruneLeavesTrash(t *testing.T) {
	e := newCalendarEnv(t, "")
	e.clock = time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	e.runDaily(t, time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)) // 3 snapshots, max 3
	ctx := context.Background()
	trash := filepath.Join(e.repo.StateDir(), "trash")
	count := func() int {
		entries, _ := os.ReadDir(trash)
		return len(entries)
	}

	e.clock = e.clock.Add(24 * time.Hour)
	if err := e.d.Run(ctx, nil, RunOptions{LeaveTrash: true}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.stamps(t, "holding")); n != 3 || count() != 1 {
		t.Fatalf("after a run leaving the trash: %d in holding, %d in the trash; want 3 and 1", n, count())
	}
	lock, err := e.repo.Lock(ctx, 0)
	if err != nil {
		t.Fatalf("the lock is held while the trash waits: %v", err)
	}
	lock.Unlock()
	// The daemon's next backup does not wait for that unlinking: it
	// leaves the trash as it finds it.
	e.clock = e.clock.Add(24 * time.Hour)
	if err := e.d.Run(ctx, nil, RunOptions{LeaveTrash: true}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.stamps(t, "holding")); n != 3 || count() != 2 {
		t.Fatalf("after a second run leaving the trash: %d in holding, %d in the trash; want 3 and 2", n, count())
	}
	e.d.EmptyTrash(ctx)
	if count() != 0 {
		t.Fatalf("EmptyTrash left %d", count())
	}

	e.clock = e.clock.Add(24 * time.Hour)
	if err := e.d.Run(ctx, nil, RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.stamps(t, "holding")); n != 3 || count() != 0 {
		t.Fatalf("after a run: %d in holding, %d in the trash; want 3 and 0", n, count())
	}
}
