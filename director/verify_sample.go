package director

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/depot-backup/depot/repository"
)

// VerifyOptions narrow what verify reads.
type VerifyOptions struct {
	// Snapshots, when > 0, verifies that many complete snapshots picked at
	// random (--sample N).
	Snapshots int
	// Percent, when > 0, hashes that share of the files (--sample 5%);
	// MaxBytes, when > 0, stops hashing after that many bytes
	// (--max-bytes 10G). The others are checked by their metadata only.
	Percent  float64
	MaxBytes int64
	// Seed picks the sample: the same seed picks the same files. 0 picks a
	// seed, which verify prints.
	Seed uint64
	// Since, when > 0, verifies only the snapshots made in that time.
	Since time.Duration
	// Log logs each snapshot's result as well as printing it (a scheduled
	// verify, whose output nobody reads).
	Log bool
}

// describe says what a verify with o reads, for plan and the daemon.
func (o VerifyOptions) describe() string {
	var what string
	switch {
	case o.Snapshots > 0:
		return fmt.Sprintf("verify %d snapshots picked at random", o.Snapshots)
	case o.Percent > 0:
		what = fmt.Sprintf("verify every snapshot, hashing %g%% of the files picked at random", o.Percent)
	default:
		what = "verify every snapshot"
	}
	if o.MaxBytes > 0 {
		what += ", at most " + humanBytes(o.MaxBytes)
	}
	if o.Since > 0 {
		what += ", of the last " + formatAge(o.Since)
	}
	return what
}

// Args returns the depot verify flags that read what o reads: a
// scheduled verify run by cron or systemd.
func (o VerifyOptions) Args() []string {
	var out []string
	if o.Snapshots > 0 {
		out = append(out, "--sample", strconv.Itoa(o.Snapshots))
	}
	if o.Percent > 0 {
		out = append(out, "--sample", strconv.FormatFloat(o.Percent, 'g', -1, 64)+"%")
	}
	if o.MaxBytes > 0 {
		out = append(out, "--max-bytes", strconv.FormatInt(o.MaxBytes, 10))
	}
	if o.Since > 0 {
		out = append(out, "--since", formatAge(o.Since))
	}
	return out
}

// formatAge writes an age as depot reads it: whole days as 7d.
func formatAge(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// ParseSample reads --sample: "N" snapshots, or "P%" of the files.
func ParseSample(s string) (snapshots int, percent float64, err error) {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		percent, err = strconv.ParseFloat(p, 64)
		if err != nil || percent <= 0 || percent > 100 || math.IsNaN(percent) {
			return 0, 0, fmt.Errorf("--sample %s: --sample P%% takes a percentage of files above 0 and at most 100, e.g. 5%%", s)
		}
		return 0, percent, nil
	}
	snapshots, err = strconv.Atoi(s)
	if err != nil || snapshots < 1 {
		return 0, 0, fmt.Errorf("--sample %s: --sample N takes a number of snapshots, at least 1, or --sample P%% a percentage of files", s)
	}
	return snapshots, 0, nil
}

// ParseBytes reads a size such as 10G, 500M, 1.5T or 4096 (binary units).
func ParseBytes(s string) (int64, error) {
	units := map[byte]float64{'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30, 'T': 1 << 40}
	t := strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "B")
	mult := 1.0
	if n := len(t); n > 0 {
		if m, ok := units[t[n-1]]; ok {
			mult, t = m, t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("size %q: want a number of bytes, optionally with K, M, G or T, e.g. 10G", s)
	}
	return int64(v * mult), nil
}

// fileSample decides which inodes a sampled verify hashes: each with a
// probability, by a hash of the seed and the inode (so a file linked into
// many snapshots is in or out of the sample once), within a byte budget.
type fileSample struct {
	threshold uint64 // an inode is picked when its hash is below
	maxBytes  int64
	seed      uint64

	mu                    sync.Mutex
	hashed, skipped       int64
	hashedBytes, overflow int64
}

func newFileSample(seed uint64, fraction float64, maxBytes int64) *fileSample {
	s := &fileSample{seed: seed, maxBytes: maxBytes, threshold: math.MaxUint64}
	if fraction < 1 {
		s.threshold = uint64(fraction * float64(math.MaxUint64))
	}
	return s
}

// pick reports whether the inode (of size bytes) is to be hashed, and
// counts it against the budget if so.
func (s *fileSample) pick(id fileID, size int64) bool {
	h := fnv.New64a()
	var b [24]byte
	binary.LittleEndian.PutUint64(b[0:], s.seed)
	binary.LittleEndian.PutUint64(b[8:], id.dev)
	binary.LittleEndian.PutUint64(b[16:], id.ino)
	h.Write(b[:])
	in := h.Sum64() < s.threshold
	s.mu.Lock()
	defer s.mu.Unlock()
	if in && s.maxBytes > 0 && s.hashedBytes+size > s.maxBytes {
		in = false
		s.overflow++
	}
	if in {
		s.hashed++
		s.hashedBytes += size
	} else {
		s.skipped++
	}
	return in
}

func (s *fileSample) summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := fmt.Sprintf("sample (seed %d): hashed %d files (%s), checked %d more by size and type only", s.seed, s.hashed, humanBytes(s.hashedBytes), s.skipped)
	if s.overflow > 0 {
		out += fmt.Sprintf("; %d picked files left out by --max-bytes", s.overflow)
	}
	return out + fmt.Sprintf("; --seed %d picks the same files", s.seed)
}

// sampleFraction is the share of files to pick: the percentage, or from a
// byte budget alone, the budget over an estimate of the distinct bytes in
// snaps (each set's oldest snapshot whole, then what each later one
// copied).
func sampleFraction(o VerifyOptions, snaps []repository.Snapshot) float64 {
	if o.Percent > 0 {
		return o.Percent / 100
	}
	if o.MaxBytes <= 0 {
		return 1
	}
	var total int64
	seen := map[string]bool{}
	for _, s := range snaps {
		if s.Manifest == nil {
			continue
		}
		t := s.Manifest.Totals()
		if seen[s.Set] {
			total += t.BytesTransferred
		} else {
			total += t.Bytes
			seen[s.Set] = true
		}
	}
	if total <= o.MaxBytes {
		return 1
	}
	return float64(o.MaxBytes) / float64(total)
}

// verifySince keeps the snapshots made within since of now (all when since
// is 0).
func (d *Director) verifySince(snaps []repository.Snapshot, since time.Duration) []repository.Snapshot {
	if since <= 0 {
		return snaps
	}
	cutoff := d.Now().Add(-since)
	var out []repository.Snapshot
	for _, s := range snaps {
		if !s.Time().Before(cutoff) {
			out = append(out, s)
		}
	}
	return out
}
