package repository

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestMirrorRepairsDamaged: a mirror snapshot recorded as damaged (a file
// changed in place, same size and time) is copied again comparing content,
// even when the first repair is cut short.
func TestMirrorRepairsDamaged(t *testing.T) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	src, dst := Repo{Root: t.TempDir()}, Repo{Root: t.TempDir()}
	files := []string{"a", "b", "c", "d", "e", "f"}
	s1 := snapshotWith(t, src, "web", t0, nil, files, nil)
	if _, err := Mirror(ctx, src, dst, MirrorOptions{Log: log}); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(dst.Dir(Holding, "web", s1.Stamp), "item", "a")
	fi, err := os.Stat(victim)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(victim)
	data[0] ^= 1
	if err := os.WriteFile(victim, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(victim, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	// Other files differ too, so that the cut comes while rsync sends.
	for _, f := range files[1:] {
		if err := os.Remove(filepath.Join(dst.Dir(Holding, "web", s1.Stamp), "item", f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteDamaged(ctx, dst, []string{"web/" + s1.Stamp}); err != nil {
		t.Fatal(err)
	}

	cut, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, err := Mirror(cut, src, dst, MirrorOptions{BwLimit: "64", Log: log}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cut repair: %v", err)
	}
	st, err := Mirror(ctx, src, dst, MirrorOptions{Log: log})
	if err != nil || st.Copied != 1 {
		t.Fatalf("repair %+v, %v", st, err)
	}
	got, _ := os.ReadFile(victim)
	want, _ := os.ReadFile(filepath.Join(s1.Path, "item", "a"))
	if !bytes.Equal(got, want) {
		t.Error("the damaged file was not copied again")
	}
	if left, err := readDamaged(ctx, dst); err != nil || len(left) != 0 {
		t.Errorf("still recorded as damaged: %v, %v", left, err)
	}
}
