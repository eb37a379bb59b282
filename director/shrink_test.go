package director

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/depot-backup/depot/backupitems"
	"github.com/depot-backup/depot/repository"
)

// TestShrinkGuard: a tree whose source was emptied (an unmounted disk)
// fails its item instead of making an empty snapshot that would push the
// good ones out of holding; allow_shrink lets it through.
func TestShrinkGuard(t *testing.T) {
	e := newCalendarEnv(t, "")
	e.clock = time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	e.runDaily(t, time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC))
	entries, err := os.ReadDir(e.src)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range entries {
		if err := os.RemoveAll(filepath.Join(e.src, de.Name())); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		e.clock = e.clock.Add(24 * time.Hour)
		if err := e.d.Run(context.Background(), nil, RunOptions{}); err == nil {
			t.Fatal("a run of an emptied source succeeded")
		}
	}
	if want := e.src + " has 0 files, its base had 2: is it mounted?"; !strings.Contains(e.logs.String(), want) {
		t.Errorf("logs lack %q:\n%s", want, e.logs)
	}
	if got := e.stamps(t, repository.Holding); len(got) != 2 {
		t.Fatalf("holding after the failed runs: %v", got)
	}

	e.d.Config.Sets[0].Items[0].Item.(*backupitems.Filesystem).AllowShrink = true
	e.clock = e.clock.Add(24 * time.Hour)
	if err := e.d.Run(context.Background(), nil, RunOptions{}); err != nil {
		t.Fatalf("a run with allow_shrink: %v", err)
	}
}
