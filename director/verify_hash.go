package director

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"sync"
	"syscall"

	"github.com/depot-backup/depot/repository"
)

// hashCache reads each inode once in a verification: a file hard-linked
// into many snapshots (of the repository, or of a mirror) is hashed the
// first time and compared from memory after. With a sample below 100%, each
// inode is picked or left out at random when first seen.
type hashCache struct {
	sample int // percent of inodes hashed
	mu     sync.Mutex
	seen   map[any]string // by fileID or remote inode: hash, or "" when left out of the sample
	hashed int64
}

type fileID struct{ dev, ino uint64 }

func newHashCache(sample int) (*hashCache, error) {
	switch {
	case sample == 0:
		sample = 100
	case sample < 1 || sample > 100:
		return nil, &UsageError{Msg: fmt.Sprintf("--sample %d: want a percentage from 1 to 100", sample)}
	}
	return &hashCache{sample: sample, seen: map[any]string{}}, nil
}

// hash returns what a file list records as the hash of the file at p (whose
// Lstat is info), or "" when its inode is left out of the sample.
func (c *hashCache) hash(p string, info fs.FileInfo, e repository.Entry) (string, error) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !e.IsRegular() || !ok {
		return repository.HashEntry(p, e)
	}
	return c.get(fileID{uint64(st.Dev), st.Ino}, func() (string, error) { return repository.HashEntry(p, e) })
}

// get returns the hash of the inode id, computing it the first time, or ""
// when the inode is left out of the sample.
func (c *hashCache) get(id any, compute func() (string, error)) (string, error) {
	c.mu.Lock()
	h, seen := c.seen[id]
	if !seen && c.sample < 100 && rand.IntN(100) >= c.sample {
		c.seen[id], seen = "", true
	}
	c.mu.Unlock()
	if seen {
		return h, nil
	}
	h, err := compute()
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.seen[id] = h
	c.hashed++
	c.mu.Unlock()
	return h, nil
}
