package director

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/depot-backup/depot/repository"
)

// writeSnapshot writes a snapshot of set "web" holding only a manifest and
// the file lists of its items (name → entries in file list order).
func writeSnapshot(t testing.TB, repo repository.Repo, stamp, base string, items map[string][]repository.Entry) string {
	t.Helper()
	dir := repo.Dir(repository.Holding, "web", stamp)
	m := repository.Manifest{Format: repository.ManifestFormat, Set: "web", Stamp: stamp, Base: base}
	for name, entries := range items {
		rel := filepath.Join(repository.FileListDir, name+".tsv.zst")
		if err := os.MkdirAll(filepath.Join(dir, repository.FileListDir), 0o700); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		w, err := repository.NewFileListWriter(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if err := w.Write(e); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		m.Items = append(m.Items, repository.ItemRecord{Name: name, Type: "filesystem", Status: "ok", FileList: rel})
	}
	data, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(dir, repository.ManifestName), data, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func file(p, hash string) repository.Entry {
	return repository.Entry{Path: p, Mode: 0o100644, Size: int64(len(hash)), Mtime: 1, Hash: hash}
}

func dir(p string, mtime int64) repository.Entry {
	return repository.Entry{Path: p, Mode: 0o40755, Size: 4096, Mtime: mtime}
}

func TestChangeReport(t *testing.T) {
	link := repository.Entry{Path: "a/f2", Mode: 0o120777, Size: 3, Mtime: 1, Hash: "l1"}
	var many []repository.Entry
	for i := range 30 {
		many = append(many, file(fmt.Sprintf("n%02d", i), "x"))
	}
	tests := []struct {
		name                    string
		old, new                map[string][]repository.Entry
		added, changed, removed string // the paths, joined by spaces
		counts                  [3]int64
	}{
		{"nothing changed, a directory's mtime aside",
			map[string][]repository.Entry{"site": {dir("a", 1), file("a/f", "h1")}},
			map[string][]repository.Entry{"site": {dir("a", 2), file("a/f", "h1")}}, "", "", "", [3]int64{}},
		{"added, changed, removed",
			map[string][]repository.Entry{"site": {dir("a", 1), file("a/f", "h1"), file("a/g", "h2"), dir("b", 1), file("b/x", "h3")}},
			map[string][]repository.Entry{"site": {dir("a", 1), file("a/f", "h9"), file("a/g", "h2"), file("a/h", "h4"), file("c", "h5")}},
			"site/a/h site/c", "site/a/f", "site/b/ site/b/x", [3]int64{2, 1, 2}},
		{"a mode or type change is a change",
			map[string][]repository.Entry{"site": {file("a/f1", "h"), file("a/f2", "l1")}},
			map[string][]repository.Entry{"site": {{Path: "a/f1", Mode: 0o100600, Size: 1, Mtime: 1, Hash: "h"}, link}},
			"", "site/a/f1 site/a/f2", "", [3]int64{0, 2, 0}},
		{"an item added and one removed",
			map[string][]repository.Entry{"old": {file("x", "h")}},
			map[string][]repository.Entry{"new": {file("y", "h")}},
			"new/y", "", "old/x", [3]int64{1, 0, 1}},
		{"the first 20 paths, all counted",
			map[string][]repository.Entry{"site": nil},
			map[string][]repository.Entry{"site": many},
			"", "", "", [3]int64{30, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := repository.Repo{Root: t.TempDir()}
			writeSnapshot(t, repo, "2026-12-01T020000Z", "", tt.old)
			newDir := writeSnapshot(t, repo, "2026-12-02T020000Z", "holding/2026-12-01T020000Z", tt.new)
			m, err := repo.ReadManifest(context.Background(), newDir)
			if err != nil {
				t.Fatal(err)
			}
			c, err := changeReport(context.Background(), repo, newDir, m)
			if err != nil {
				t.Fatal(err)
			}
			if got := [3]int64{c.Added.Count, c.Changed.Count, c.Removed.Count}; got != tt.counts {
				t.Errorf("counts %v, want %v", got, tt.counts)
			}
			if tt.counts[0] > 20 {
				if len(c.Added.Paths) != MaxChangePaths || c.Added.Paths[19] != "site/n19" {
					t.Errorf("added paths %v", c.Added.Paths)
				}
				return
			}
			for _, l := range []struct {
				name, want string
				got        []string
			}{{"added", tt.added, c.Added.Paths}, {"changed", tt.changed, c.Changed.Paths}, {"removed", tt.removed, c.Removed.Paths}} {
				if strings.Join(l.got, " ") != l.want {
					t.Errorf("%s %q, want %q", l.name, l.got, l.want)
				}
			}
		})
	}
}

func TestChangeReportWithoutBase(t *testing.T) {
	c, err := changeReport(context.Background(), repository.Repo{Root: t.TempDir()}, "/nonexistent", &repository.Manifest{Set: "web"})
	if c != nil || err != nil {
		t.Errorf("no base: %v, %v", c, err)
	}
}

// TestChangeReportStreams compares two lists of 20,000 and of 100,000
// entries: the report's memory must not grow with the lists.
func TestChangeReportStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("a large comparison")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(10)) // little garbage in the figures
	peak := map[int]int64{}
	for _, n := range []int{20_000, 100_000} {
		var old, cur []repository.Entry
		for i := range n {
			p := fmt.Sprintf("d%03d/f%06d", i/1000, i)
			old = append(old, file(p, fmt.Sprintf("%064d", i)))
			if i%10 == 0 {
				p += "-renamed"
			}
			cur = append(cur, file(p, fmt.Sprintf("%064d", i)))
		}
		repo := repository.Repo{Root: t.TempDir()}
		writeSnapshot(t, repo, "2026-12-01T020000Z", "", map[string][]repository.Entry{"site": old})
		newDir := writeSnapshot(t, repo, "2026-12-02T020000Z", "holding/2026-12-01T020000Z", map[string][]repository.Entry{"site": cur})
		old, cur = nil, nil
		m, err := repo.ReadManifest(context.Background(), newDir)
		if err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		stop, sampled := make(chan struct{}), make(chan int64)
		go func() { // the highest heap seen while comparing
			var high int64
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				high = max(high, int64(ms.HeapInuse)-int64(base.HeapInuse))
				select {
				case <-stop:
					sampled <- high
					return
				case <-time.After(time.Millisecond):
				}
			}
		}()
		start := time.Now()
		c, err := changeReport(context.Background(), repo, newDir, m)
		took := time.Since(start)
		close(stop)
		peak[n] = <-sampled
		if err != nil {
			t.Fatal(err)
		}
		if c.Added.Count != int64(n/10) || c.Removed.Count != int64(n/10) || c.Changed.Count != 0 {
			t.Errorf("%d entries: counts %d %d %d", n, c.Added.Count, c.Changed.Count, c.Removed.Count)
		}
		t.Logf("%d entries compared in %s; heap peak %+d bytes", n, took, peak[n])
	}
	// Holding two lists of 100,000 entries would take over 20 MB more.
	if grew := peak[100_000] - peak[20_000]; grew > 6<<20 {
		t.Errorf("comparing 100,000 entries takes %d bytes more than 20,000", grew)
	}
}
