// Command gentree writes a deterministic test tree for benchmarks: N files with
// lognormal sizes totalling about TOTAL bytes, about 100 files per directory,
// 2-3 levels deep; every third file is random bytes (incompressible), the rest
// repetitive text (compressible). The same flags and seed give the same tree.
//
//	go run ./scripts/gentree -files 100000 -bytes 1.5G -seed 1 DIR
//	go run ./scripts/gentree -touch 1 -seed 2 DIR   # rewrite 1% of DIR's files
//
// With -touch, an existing tree is not regenerated: PERCENT% of its regular
// files (chosen by seed) get new content of the same size and a newer mtime,
// so that rsync's quick check (size+mtime) sees them as changed.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	filesPerDir = 100
	sigma       = 1.5 // lognormal shape: most files small, a few of a few MB
	bufSize     = 256 << 10
)

// file is one file to write: its path relative to the tree root and its size.
type file struct {
	index int
	rel   string
	size  int64
}

func main() {
	files := flag.Int("files", 100000, "number of files to generate")
	total := flag.String("bytes", "1.5G", "total size, bytes or with a K/M/G/T suffix (powers of 1000)")
	seed := flag.Uint64("seed", 1, "seed: the same seed and flags give the same tree")
	touch := flag.Float64("touch", 0, "instead of generating: rewrite this percentage of DIR's files with new content and mtime")
	jobs := flag.Int("j", runtime.NumCPU(), "parallel writers")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: gentree [flags] DIR\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	dir := flag.Arg(0)
	start := time.Now()

	var err error
	if *touch > 0 {
		var n int
		var b int64
		n, b, err = touchTree(dir, *touch, *seed, *jobs)
		if err == nil {
			fmt.Printf("gentree: touched %d files (%.1f MB) in %s in %.1fs\n", n, float64(b)/1e6, dir, time.Since(start).Seconds())
		}
	} else {
		var bytes int64
		bytes, err = parseBytes(*total)
		if err == nil {
			var b int64
			var dirs int
			b, dirs, err = generate(dir, *files, bytes, *seed, *jobs)
			if err == nil {
				fmt.Printf("gentree: %d files, %d directories, %.1f MB in %s in %.1fs\n", *files, dirs, float64(b)/1e6, dir, time.Since(start).Seconds())
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gentree:", err)
		os.Exit(1)
	}
}

// parseBytes reads "1500000000", "1.5G", "300M" (decimal units).
func parseBytes(s string) (int64, error) {
	mult := 1.0
	if n := len(s); n > 0 {
		switch strings.ToUpper(s[n-1:]) {
		case "K":
			mult = 1e3
		case "M":
			mult = 1e6
		case "G":
			mult = 1e9
		case "T":
			mult = 1e12
		}
		if mult != 1 {
			s = s[:n-1]
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("bad -bytes %q: want a number with an optional K/M/G/T suffix", s)
	}
	return int64(f * mult), nil
}

// layout gives each file a path and a size. Files fill leaf directories of
// filesPerDir; leaves are spread under top-level directories (2 levels), and
// every third leaf sits one level deeper (3 levels).
func layout(n int, total int64, seed uint64) ([]file, int) {
	leaves := (n + filesPerDir - 1) / filesPerDir
	fan := int(math.Ceil(math.Sqrt(float64(leaves))))
	if fan < 1 {
		fan = 1
	}

	// Lognormal sizes with mean total/n, then scaled so they sum to total.
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	mean := float64(total) / float64(max(n, 1))
	mu := math.Log(max(mean, 1)) - sigma*sigma/2
	raw := make([]float64, n)
	sum := 0.0
	for i := range raw {
		raw[i] = math.Exp(mu + sigma*rng.NormFloat64())
		sum += raw[i]
	}
	scale := 0.0
	if sum > 0 {
		scale = float64(total) / sum
	}

	dirs := map[string]bool{}
	out := make([]file, n)
	for i := range out {
		leaf := i / filesPerDir
		d := fmt.Sprintf("d%03d/d%03d", leaf/fan, leaf%fan)
		if leaf%3 == 2 {
			d += "/deep"
		}
		dirs[d] = true
		out[i] = file{
			index: i,
			rel:   fmt.Sprintf("%s/f%06d.%s", d, i, ext(i)),
			size:  int64(raw[i] * scale),
		}
	}
	return out, len(dirs)
}

func ext(i int) string {
	if incompressible(i) {
		return "bin"
	}
	return "txt"
}

func incompressible(i int) bool { return i%3 == 0 }

func generate(dir string, n int, total int64, seed uint64, jobs int) (int64, int, error) {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return 0, 0, fmt.Errorf("%s exists and is not empty: remove it first", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, 0, err
	}
	files, ndirs := layout(n, total, seed)
	for _, f := range files {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(f.rel)), 0o755); err != nil {
			return 0, 0, err
		}
	}
	written, err := parallel(files, jobs, func(f file) error {
		return writeFile(filepath.Join(dir, f.rel), f.index, f.size, seed, 0)
	})
	return written, ndirs, err
}

// parallel runs fn over files with jobs workers and returns the bytes covered.
func parallel(files []file, jobs int, fn func(file) error) (int64, error) {
	ch := make(chan file, 256)
	var written atomic.Int64
	var once sync.Once
	var firstErr error
	var wg sync.WaitGroup
	for range max(jobs, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range ch {
				if err := fn(f); err != nil {
					once.Do(func() { firstErr = err })
					continue
				}
				written.Add(f.size)
			}
		}()
	}
	for _, f := range files {
		ch <- f
	}
	close(ch)
	wg.Wait()
	return written.Load(), firstErr
}

// text is a pool of repetitive lines that compressible files are cut from.
var text = func() []byte {
	words := strings.Fields("backup snapshot rsync link dest holding permanent manifest " +
		"repository mirror retention prune migrate restore verify item set host " +
		"database dump tree archive stamp partial commit lock schedule daemon")
	rng := rand.New(rand.NewPCG(42, 42))
	var b strings.Builder
	for line := 0; b.Len() < 1<<20; line++ {
		fmt.Fprintf(&b, "%06d", line%1000)
		for range 8 + rng.IntN(6) {
			b.WriteByte(' ')
			b.WriteString(words[rng.IntN(len(words))])
		}
		b.WriteByte('\n')
	}
	return []byte(b.String())
}()

// writeFile writes size bytes determined by (seed, index, round): random bytes
// for incompressible files, slices of the text pool for the others.
func writeFile(path string, index int, size int64, seed, round uint64) error {
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(fh, bufSize)
	var seedBytes [32]byte
	pcg := rand.New(rand.NewPCG(seed^round*0x9e3779b97f4a7c15, uint64(index)))
	for i := range seedBytes {
		seedBytes[i] = byte(pcg.Uint32())
	}
	if incompressible(index) {
		_, err = io.CopyN(w, rand.NewChaCha8(seedBytes), size)
	} else {
		// A header unique to the file and round, then text from random offsets.
		header := fmt.Sprintf("file %d round %d seed %d\n", index, round, seed)
		left := size
		chunk := []byte(header)
		for left > 0 && err == nil {
			if int64(len(chunk)) > left {
				chunk = chunk[:left]
			}
			_, err = w.Write(chunk)
			left -= int64(len(chunk))
			off := pcg.IntN(len(text) - 4096)
			chunk = text[off : off+4096+pcg.IntN(len(text)-off-4096+1)]
		}
	}
	if err == nil {
		err = w.Flush()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// touchTree rewrites pct% of the regular files under dir, chosen by seed, with
// new content of the same size and an mtime newer than both the old one and now.
func touchTree(dir string, pct float64, seed uint64, jobs int) (int, int64, error) {
	var all []file
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		all = append(all, file{rel: rel, size: info.Size()})
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	sort.Slice(all, func(i, j int) bool { return all[i].rel < all[j].rel })
	rng := rand.New(rand.NewPCG(seed, 0x70c4))
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	n := int(math.Round(float64(len(all)) * min(pct, 100) / 100))
	chosen := all[:n]

	// The round makes the new content differ from the generated one and from
	// earlier touches; the index keeps each file's kind (text or binary).
	round := uint64(time.Now().UnixNano())
	written, err := parallel(chosen, jobs, func(f file) error {
		p := filepath.Join(dir, f.rel)
		old, err := os.Stat(p)
		if err != nil {
			return err
		}
		// An index of the same kind (multiple of 3 = binary) unique to the path.
		h := fnv.New32a()
		h.Write([]byte(f.rel))
		idx := int(h.Sum32()) * 3
		if !strings.HasSuffix(f.rel, ".bin") {
			idx++
		}
		if err := writeFile(p, idx, f.size, seed, round); err != nil {
			return err
		}
		mtime := time.Now()
		if !mtime.After(old.ModTime().Add(time.Second)) {
			mtime = old.ModTime().Add(2 * time.Second)
		}
		return os.Chtimes(p, mtime, mtime)
	})
	return n, written, err
}
