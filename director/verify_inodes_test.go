package director

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
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

// TestHashCacheOnce: callers that meet one inode at once hash it once, the
// others waiting for that hash; when hashing fails, a waiter tries itself.
func TestHashCacheOnce(t *testing.T) {
	c := newHashCache()
	sum := sha256.Sum256([]byte("x"))
	want := hex.EncodeToString(sum[:])
	var computed atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := c.get(fileID{1, 2}, func() (string, error) {
				computed.Add(1)
				<-release
				return want, nil
			})
			if err != nil || got != want {
				t.Errorf("get = %q, %v", got, err)
			}
		}()
	}
	close(release)
	wg.Wait()
	if n := computed.Load(); n != 1 {
		t.Errorf("hashed %d times, want once", n)
	}

	failed := make(chan struct{})
	first := make(chan struct{})
	go func() {
		c.get(fileID{1, 3}, func() (string, error) { close(first); <-failed; return "", errors.New("read error") })
	}()
	<-first
	done := make(chan string)
	go func() {
		h, _ := c.get(fileID{1, 3}, func() (string, error) { return want, nil })
		done <- h
	}()
	close(failed)
	if h := <-done; h != want {
		t.Errorf("after a failed hash, the waiter got %q, want its own hash", h)
	}
}
