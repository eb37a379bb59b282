package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/depot-backup/depot/director"
	"github.com/depot-backup/depot/repository"
)

// addFlakyItem adds to the env's set "web" a command item "db" that writes
// out.txt, and fails while the file it returns exists.
func addFlakyItem(t testing.TB, e *testEnv) (failFlag string) {
	t.Helper()
	failFlag = filepath.Join(e.dir, "fail")
	addConfig(t, e, `      - name: db
        type: command
        command: [sh, -c, 'if [ -e `+failFlag+` ]; then echo "db is down" >&2; exit 3; fi; echo data']
        stdout_file: out.txt
`)
	return failFlag
}

func itemRecord(t testing.TB, s repository.Snapshot, name string) repository.ItemRecord {
	t.Helper()
	for _, it := range readManifest(t, s).Items {
		if it.Name == name {
			return it
		}
	}
	t.Fatalf("snapshot %s has no item %s", s.Stamp, name)
	return repository.ItemRecord{}
}

// TestFailingItemCostsOnlyItself: a failing item is recorded failed in a
// published (partial) snapshot, the others are saved, the exit is 1 with
// one error line for the item; retention keeps the item's last good copy,
// which stays its base until it works again.
func TestFailingItemCostsOnlyItself(t *testing.T) {
	e := newEnv(t, 2)
	flag := addFlakyItem(t, e)
	mustDepot(t, "--config", e.config, "run")
	good := e.snapshots(t)[0]
	goodOut, err := os.Stat(filepath.Join(good.Path, "db", "out.txt"))
	if err != nil {
		t.Fatal(err)
	}

	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for run := 2; run <= 4; run++ {
		code, _, errs := depot(t, "--config", e.config, "run")
		if code != 1 {
			t.Fatalf("run %d with a failing item: exit %d, want 1\n%s", run, code, errs)
		}
		var errLines []string
		for _, l := range strings.Split(errs, "\n") {
			if strings.Contains(l, "level=ERROR") {
				errLines = append(errLines, l)
			}
		}
		if len(errLines) != 1 || !strings.Contains(errLines[0], "item=db") || !strings.Contains(errLines[0], "db is down") {
			t.Errorf("run %d: want one error line naming item db and its cause, got %q\n%s", run, errLines, errs)
		}
		snaps := e.snapshots(t)
		last := snaps[len(snaps)-1]
		db := itemRecord(t, last, "db")
		if db.Status != repository.StatusFailed || !strings.Contains(db.Error, "db is down") || db.FileList != "" {
			t.Errorf("run %d: db recorded as %+v", run, db)
		}
		if _, err := os.Stat(filepath.Join(last.Path, "db")); !os.IsNotExist(err) {
			t.Errorf("run %d: a failed item has content: %v", run, err)
		}
		sameTree(t, e.snapshotTree(t, last), e.sourceTree(t))
		// The only good copy of db stays, beyond max_recent_backups 2.
		if snaps[0].Stamp != good.Stamp {
			t.Fatalf("run %d: retention deleted db's last good copy: %v", run, snaps)
		}
	}
	list := decodeJSON[[]director.ListEntry](t, mustDepot(t, "--config", e.config, "list", "--json"))
	if n := len(list); n != 3 || list[0].State != "complete" || list[n-1].State != "partial" || !slices.Equal(list[n-1].Failed, []string{"db"}) {
		t.Errorf("list: %+v", list)
	}
	if out := mustDepot(t, "--config", e.config, "list"); !strings.Contains(out, "partial: db") {
		t.Errorf("list does not show the partial snapshot:\n%s", out)
	}
	if out := mustDepot(t, "--config", e.config, "verify"); !strings.Contains(out, "3 snapshots: 3 verified, 0 failed") {
		t.Errorf("verify of partial snapshots:\n%s", out)
	}
	// A snapshot named by its stamp that lacks the item says so.
	snaps := e.snapshots(t)
	code, _, errs := depot(t, "--config", e.config, "restore", "web@"+snaps[len(snaps)-1].Stamp, "--item", "db", "--to", filepath.Join(e.dir, "r"))
	if code != 1 || !strings.Contains(errs, "item db failed in snapshot holding/web/"+snaps[len(snaps)-1].Stamp+", which holds none of its data") {
		t.Errorf("restore of a failed item: exit %d\n%s", code, errs)
	}
	// Restoring the item takes its newest good copy.
	to := filepath.Join(e.dir, "restored")
	mustDepot(t, "--config", e.config, "restore", "web", "--item", "db", "--to", to)
	if data, err := os.ReadFile(filepath.Join(to, "out.txt")); err != nil || string(data) != "data\n" {
		t.Errorf("restored db: %q %v", data, err)
	}

	// db works again: its base was its last good copy, so the same output
	// is a hard link to it; retention then lets the old snapshot go.
	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	code, _, errs = depot(t, "--config", e.config, "run")
	if code != 0 || !strings.Contains(errs, `msg="item's base is its newest good copy, older than the set's base" set=web`) || !strings.Contains(errs, "base=holding/"+good.Stamp) {
		t.Errorf("run after db works again: exit %d\n%s", code, errs)
	}
	snaps = e.snapshots(t)
	last := snaps[len(snaps)-1]
	out, err := os.Stat(filepath.Join(last.Path, "db", "out.txt"))
	if err != nil || !os.SameFile(out, goodOut) {
		t.Errorf("db's output is not linked to its last good copy: %v", err)
	}
	if len(snaps) != 2 || snaps[0].Stamp == good.Stamp {
		t.Errorf("after db works again: %v", snaps)
	}
}

// TestMissingSourcePathFailsItsItem: a source path that is gone fails its
// item like any failure; the set's other items are saved.
func TestMissingSourcePathFailsItsItem(t *testing.T) {
	e := newEnv(t, 2)
	addFlakyItem(t, e)
	if err := os.RemoveAll(e.src); err != nil {
		t.Fatal(err)
	}
	code, _, errs := depot(t, "--config", e.config, "run")
	if code != 1 || !strings.Contains(errs, "source path "+e.src+" does not exist") {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	snaps := e.snapshots(t)
	if len(snaps) != 1 {
		t.Fatalf("snapshots %v", snaps)
	}
	if site := itemRecord(t, snaps[0], "site"); site.Status != repository.StatusFailed {
		t.Errorf("site: %+v", site)
	}
	if data, err := os.ReadFile(filepath.Join(snaps[0].Path, "db", "out.txt")); err != nil || string(data) != "data\n" {
		t.Errorf("db was not saved: %q %v", data, err)
	}
}
