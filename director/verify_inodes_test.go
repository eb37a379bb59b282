package director

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
)

func TestInodeSums(t *testing.T) {
	m := newInodeSums()
	sum := func(i int) sha256Sum { return sha256.Sum256([]byte(fmt.Sprint(i))) }
	ids := []fileID{{1, 0}, {1, 7}, {1, 8}, {2, 8}, {1, 1 << 40}, {1, 9}, {1, 6}}
	for i, id := range ids {
		m.put(id, sum(i))
	}
	for i, id := range ids {
		if got, ok := m.get(id); !ok || got != sum(i) {
			t.Errorf("get(%v) = %x, %v; want the sum put", id, got, ok)
		}
	}
	for _, id := range []fileID{{1, 1}, {2, 9}, {3, 0}, {1, 1<<40 + 1}} {
		if _, ok := m.get(id); ok {
			t.Errorf("get(%v) found a sum never put", id)
		}
	}
}

func TestParseSum(t *testing.T) {
	good := sha256.Sum256([]byte("x"))
	hexGood := hex.EncodeToString(good[:])
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"lowercase", hexGood, true},
		{"uppercase", "A" + hexGood[1:], false},
		{"not hex", "g" + hexGood[1:], false},
		{"short", hexGood[1:], false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseSum(tc.in)
			if ok != tc.ok || ok && got != good {
				t.Fatalf("parseSum(%q) = %x, %v", tc.in, got, ok)
			}
		})
	}
}
