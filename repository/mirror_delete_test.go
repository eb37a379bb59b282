package repository

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMirrorDeletesOnlyWhatRetentionDeleted: a mirror deletes what the
// repository's deletion log names, never a snapshot gone for another reason
// nor anything of a set the repository lists none of; more than the bound
// waits for Confirm; a stale .partial is removed.
func TestMirrorDeletesOnlyWhatRetentionDeleted(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	src, dst := Repo{Root: t.TempDir()}, Repo{Root: t.TempDir()}
	var snaps []Snapshot
	for i := range 8 {
		snaps = append(snaps, snapshotWith(t, src, "web", t0.Add(time.Duration(i)*time.Hour), nil, []string{"a"}, nil))
	}
	snapshotWith(t, src, "mail", t0, nil, []string{"a"}, nil)
	opts := MirrorOptions{Delete: true, Log: log}
	if st, err := Mirror(ctx, src, dst, opts); err != nil || st.Copied != 9 {
		t.Fatalf("first mirror %+v, %v", st, err)
	}

	// Retention deletes 4 of web (more than 3 at once); 1 goes by hand.
	for _, s := range snaps[:4] {
		if err := src.RecordDeletion(ctx, s, "test", t0); err != nil {
			t.Fatal(err)
		}
		if err := src.Delete(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.RemoveAll(snaps[4].Path); err != nil {
		t.Fatal(err)
	}
	// The whole of mail disappears (its disk unmounted, say).
	if err := os.RemoveAll(filepath.Join(src.Root, Holding, "mail")); err != nil {
		t.Fatal(err)
	}
	// A copy cut short of a snapshot the repository no longer has.
	stale := dst.PartialDir("web", Stamp(t0.Add(-time.Hour)))
	if err := os.MkdirAll(filepath.Join(stale, "item"), 0o755); err != nil {
		t.Fatal(err)
	}

	st, err := Mirror(ctx, src, dst, opts)
	if err != nil || st.Deleted != 0 || st.Held != 4 || st.Spared != 2 {
		t.Fatalf("mirror %+v, %v; want 4 held back and 2 spared", st, err)
	}
	for _, want := range []string{"the repository's retention deleted 4 snapshots of web that the mirror has, more than 3 at once: none deleted; run depot mirror --confirm",
		"the repository lists no snapshot of this set", "its retention did not delete it"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}
	if p, _ := dst.Partials(ctx, "web"); len(p) != 0 {
		t.Errorf("stale partials left: %v", p)
	}

	opts.Confirm = true
	st, err = Mirror(ctx, src, dst, opts)
	if err != nil || st.Deleted != 4 || st.Spared != 2 {
		t.Fatalf("mirror --confirm %+v, %v", st, err)
	}
	if got, _ := dst.Snapshots(ctx, "web"); len(got) != 4 || got[0].Stamp != snaps[4].Stamp {
		t.Errorf("web on the mirror: %v", got)
	}
	if got, _ := dst.Snapshots(ctx, "mail"); len(got) != 1 {
		t.Errorf("mail on the mirror: %v", got)
	}
}
