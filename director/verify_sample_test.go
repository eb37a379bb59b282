package director

import (
	"math"
	"testing"
)

func TestParseSampleAndBytes(t *testing.T) {
	for _, c := range []struct {
		in        string
		snapshots int
		percent   float64
		bad       bool
	}{
		{in: "3", snapshots: 3},
		{in: "5%", percent: 5},
		{in: "0.5%", percent: 0.5},
		{in: "100%", percent: 100},
		{in: "0", bad: true},
		{in: "0%", bad: true},
		{in: "101%", bad: true},
		{in: "NaN%", bad: true},
		{in: "x", bad: true},
	} {
		n, p, err := ParseSample(c.in)
		if (err != nil) != c.bad || n != c.snapshots || p != c.percent {
			t.Errorf("ParseSample(%q) = %d, %v, %v", c.in, n, p, err)
		}
	}
	for _, c := range []struct {
		in   string
		want int64
	}{
		{"4096", 4096}, {"10G", 10 << 30}, {"1.5M", 3 << 19}, {"2t", 2 << 40}, {"500MB", 500 << 20}, {"0", -1}, {"-1G", -1}, {"lots", -1}, {"Inf", -1},
	} {
		got, err := ParseBytes(c.in)
		if c.want < 0 && err == nil || c.want >= 0 && (err != nil || got != c.want) {
			t.Errorf("ParseBytes(%q) = %d, %v", c.in, got, err)
		}
	}
}

// TestFileSample: the same seed picks the same inodes, the share is about
// what was asked, and the budget stops the picking.
func TestFileSample(t *testing.T) {
	a, b := newFileSample(7, 0.1, 0), newFileSample(7, 0.1, 0)
	picked := 0
	for ino := range uint64(10000) {
		pa, pb := a.pick(fileID{1, ino}, 10), b.pick(fileID{1, ino}, 10)
		if pa != pb {
			t.Fatalf("inode %d: picked %v and %v with the same seed", ino, pa, pb)
		}
		if pa {
			picked++
		}
	}
	if math.Abs(float64(picked)-1000) > 150 {
		t.Errorf("picked %d of 10000 at 10%%", picked)
	}
	budget := newFileSample(7, 1, 100)
	for ino := range uint64(50) {
		budget.pick(fileID{1, ino}, 10)
	}
	if budget.hashed != 10 || budget.hashedBytes != 100 || budget.overflow != 40 {
		t.Errorf("a 100-byte budget of 10-byte files: %d hashed (%d bytes), %d over", budget.hashed, budget.hashedBytes, budget.overflow)
	}
}
