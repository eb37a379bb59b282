package repository

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// itemSnapshot publishes a snapshot of set with one item, "item": failed
// when failed is set, else its file f is a hard link to from's copy, or new
// content when from is nil.
func itemSnapshot(t testing.TB, r Repo, set string, at time.Time, from *Snapshot, failed bool) Snapshot {
	t.Helper()
	b, err := r.Begin(ctx, set, at)
	if err != nil {
		t.Fatal(err)
	}
	rec := ItemRecord{Name: "item", Type: "filesystem", Status: StatusOK}
	switch {
	case failed:
		rec.Status, rec.Error = StatusFailed, "source unreachable"
	case from != nil:
		mustMkdir(t, filepath.Join(b.Dir, "item"))
		if err := os.Link(filepath.Join(from.Path, "item", "f"), filepath.Join(b.Dir, "item", "f")); err != nil {
			t.Fatal(err)
		}
	default:
		mustMkdir(t, filepath.Join(b.Dir, "item"))
		if err := os.WriteFile(filepath.Join(b.Dir, "item", "f"), bytes.Repeat([]byte("y"), 256<<10), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.WriteManifest(ctx, &Manifest{Format: ManifestFormat, Set: set, Stamp: b.Stamp, Items: []ItemRecord{rec}}); err != nil {
		t.Fatal(err)
	}
	s, err := b.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustMkdir(t testing.TB, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// checkFrees asks Frees for set's snapshots and checks every figure against
// a fresh walk and the number of snapshots walked against want.
func checkFrees(t testing.TB, r Repo, set string, wantComputed int) Frees {
	t.Helper()
	snaps, err := r.Snapshots(ctx, set)
	if err != nil {
		t.Fatal(err)
	}
	got := r.Frees(ctx, set, snaps)
	for i, s := range snaps {
		want, err := r.Files().ExclusiveSize(ctx, s.Path)
		if err != nil {
			t.Fatal(err)
		}
		if got.Bytes[i] != want {
			t.Errorf("%s frees %d, a walk says %d", s.Stamp, got.Bytes[i], want)
		}
	}
	if got.Computed != wantComputed {
		t.Errorf("walked %d snapshots, want %d", got.Computed, wantComputed)
	}
	if got.SaveErr != nil {
		t.Errorf("record not saved: %v", got.SaveErr)
	}
	return got
}

func TestFreesRecorded(t *testing.T) {
	forEachFS(t, func(t *testing.T, newRepo func(testing.TB) Repo) {
		r := newRepo(t)
		a := snapshotWith(t, r, "web", t0, nil, []string{"one", "two"}, nil)
		b := snapshotWith(t, r, "web", t0.Add(time.Hour), &a, []string{"one", "two"}, map[string]string{"two": "changed"})
		c := snapshotWith(t, r, "web", t0.Add(2*time.Hour), &b, []string{"one", "two"}, nil)
		checkFrees(t, r, "web", 3)
		checkFrees(t, r, "web", 0) // all from the record

		// A new snapshot moves what its neighbour frees: both are walked.
		snapshotWith(t, r, "web", t0.Add(3*time.Hour), &c, []string{"one", "two"}, map[string]string{"one": "new"})
		checkFrees(t, r, "web", 2)

		// Deleting one moves its neighbours' figures.
		if err := r.Delete(ctx, b); err != nil {
			t.Fatal(err)
		}
		checkFrees(t, r, "web", 2)

		// Migrating changes nothing shared.
		if _, err := r.Migrate(ctx, a); err != nil {
			t.Fatal(err)
		}
		checkFrees(t, r, "web", 0)
	})
}

// A partial item links from the nearest good copy, which need not be the
// previous snapshot: that copy's figure moves although its neighbours by
// time stay.
func TestFreesFollowItemNeighbours(t *testing.T) {
	r := Repo{Root: t.TempDir()}
	a := itemSnapshot(t, r, "web", t0, nil, false)
	itemSnapshot(t, r, "web", t0.Add(time.Hour), nil, true)
	checkFrees(t, r, "web", 2)
	itemSnapshot(t, r, "web", t0.Add(2*time.Hour), &a, false)
	got := checkFrees(t, r, "web", 3)
	if got.Bytes[0] >= 256<<10 {
		t.Fatalf("a file shared with a later snapshot counted as freed: %d", got.Bytes[0])
	}
}

// While a snapshot is in progress, its links into the base change what the
// base frees: figures are told but not recorded.
func TestFreesNotRecordedDuringARun(t *testing.T) {
	r := Repo{Root: t.TempDir()}
	snapshotWith(t, r, "web", t0, nil, []string{"one"}, nil)
	if _, err := r.Begin(ctx, "web", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	checkFrees(t, r, "web", 1)
	if _, err := os.Stat(r.freesPath("web")); !os.IsNotExist(err) {
		t.Fatalf("record written while a run was in progress: %v", err)
	}
}

// The record is input: anything doubtful in it is ignored whole, and the
// figures come from walks.
func TestFreesRecordIsChecked(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"garbage", "not json", "invalid character"},
		{"truncated", `{"format":1,"set":"web","snap`, "unexpected end"},
		{"another format", `{"format":99,"set":"web","snapshots":{}}`, "not format 1"},
		{"another set", `{"format":1,"set":"db","snapshots":{}}`, `of set "db"`},
		{"negative", `{"format":1,"set":"web","snapshots":{"2026-11-21T020000Z":{"key":"k","frees":-5}}}`, "bad entry"},
		{"not a stamp", `{"format":1,"set":"web","snapshots":{"../../x":{"key":"k","frees":5}}}`, "bad entry"},
		{"too large", `{"format":1,"set":"web","pad":"` + strings.Repeat("x", freesMaxSize) + `"}`, "more than a record holds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Repo{Root: t.TempDir()}
			a := snapshotWith(t, r, "web", t0, nil, []string{"one"}, nil)
			snapshotWith(t, r, "web", t0.Add(time.Hour), &a, []string{"one"}, nil)
			mustMkdir(t, filepath.Dir(r.freesPath("web")))
			if err := os.WriteFile(r.freesPath("web"), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got := checkFrees(t, r, "web", 2)
			if got.Ignored == nil || !strings.Contains(got.Ignored.Error(), tc.want) {
				t.Fatalf("ignored because %v, want %q", got.Ignored, tc.want)
			}
			checkFrees(t, r, "web", 0) // rewritten whole
		})
	}
	t.Run("stale figure", func(t *testing.T) {
		r := Repo{Root: t.TempDir()}
		snapshotWith(t, r, "web", t0, nil, []string{"one"}, nil)
		mustMkdir(t, filepath.Dir(r.freesPath("web")))
		stale := `{"format":1,"set":"web","snapshots":{"2026-11-21T020000Z":{"key":"from another repository","frees":1}}}`
		if err := os.WriteFile(r.freesPath("web"), []byte(stale), 0o600); err != nil {
			t.Fatal(err)
		}
		checkFrees(t, r, "web", 1)
	})
}
