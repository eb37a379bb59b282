package director

import (
	"io/fs"
	"sync"
	"syscall"

	"github.com/depot-backup/depot/repository"
)

// hashCache reads each inode once in a verification: a file hard-linked
// into many snapshots (of the repository, or of a mirror) is hashed the
// first time and compared from memory after.
type hashCache struct {
	mu   sync.Mutex
	seen map[any]string // by fileID or a host's inode: the hash
}

type fileID struct{ dev, ino uint64 }

func newHashCache() *hashCache { return &hashCache{seen: map[any]string{}} }

// hash returns what a file list records as the hash of the file at p (whose
// Lstat is info).
func (c *hashCache) hash(p string, info fs.FileInfo, e repository.Entry) (string, error) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !e.IsRegular() || !ok {
		return repository.HashEntry(p, e)
	}
	return c.get(fileID{uint64(st.Dev), st.Ino}, func() (string, error) { return repository.HashEntry(p, e) })
}

// get returns the hash of the inode id, computing it the first time.
func (c *hashCache) get(id any, compute func() (string, error)) (string, error) {
	c.mu.Lock()
	h, seen := c.seen[id]
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
	c.mu.Unlock()
	return h, nil
}
