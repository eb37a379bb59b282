package director

import (
	"encoding/hex"
	"io/fs"
	"sync"
	"syscall"

	"github.com/depot-backup/depot/repository"
)

// hashCache reads each inode once in a verification: a file hard-linked
// into many snapshots (of the repository, or of a mirror) is hashed the
// first time and compared from memory after.
type hashCache struct {
	mu    sync.Mutex
	local *inodeSums     // by a local inode: the SHA-256
	seen  map[any]string // by a host's inode: the hash
	// sample, when set, hashes only the inodes it picks (verify --sample
	// P%, --max-bytes); the others pass on their size and type.
	sample *fileSample
	picked map[fileID]bool // the sample's decision for each inode met
	bad    []badFile       // files that failed, for the search for good copies
	// hashing holds the inodes being hashed, each closed when done: two
	// snapshots verified at once meet a file they share, and the second
	// waits for the first's hash.
	hashing map[any]chan struct{}
}

type fileID struct{ dev, ino uint64 }

// sha256Sum is a SHA-256 in binary.
type sha256Sum [32]byte

func newHashCache() *hashCache {
	return &hashCache{local: newInodeSums(), seen: map[any]string{}, picked: map[fileID]bool{}, hashing: map[any]chan struct{}{}}
}

// load returns the hash recorded for the inode id; the caller holds mu.
func (c *hashCache) load(id any) (string, bool) {
	if l, ok := id.(fileID); ok {
		if h, seen := c.local.get(l); seen {
			return hex.EncodeToString(h[:]), true
		}
	}
	h, seen := c.seen[id]
	return h, seen
}

// store records the hash of the inode id; the caller holds mu.
func (c *hashCache) store(id any, h string) {
	if l, ok := id.(fileID); ok {
		if sum, ok := parseSum(h); ok {
			c.local.put(l, sum)
			return
		}
	}
	c.seen[id] = h
}

// hash returns what a file list records as the hash of the file at p (whose
// Lstat is info).
func (c *hashCache) hash(p string, info fs.FileInfo, e repository.Entry) (string, error) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !e.IsRegular() || !ok {
		return repository.HashEntry(p, e)
	}
	id := fileID{uint64(st.Dev), st.Ino}
	if c.sample != nil {
		// Decided once per inode, under the lock: workers meeting two
		// links of one inode at once must not count it twice.
		c.mu.Lock()
		in, decided := c.picked[id]
		if !decided {
			in = c.sample.pick(id, e.Size)
			c.picked[id] = in
		}
		c.mu.Unlock()
		if !in {
			return e.Hash, nil
		}
	}
	return c.get(id, func() (string, error) { return repository.HashEntry(p, e) })
}

// get returns the hash of the inode id, computing it the first time (once:
// a caller meeting it while another computes it waits for that hash).
func (c *hashCache) get(id any, compute func() (string, error)) (string, error) {
	c.mu.Lock()
	for {
		if h, seen := c.load(id); seen {
			c.mu.Unlock()
			return h, nil
		}
		wait, busy := c.hashing[id]
		if !busy {
			break
		}
		c.mu.Unlock()
		<-wait // then the hash is stored, or its reading failed: try it here
		c.mu.Lock()
	}
	done := make(chan struct{})
	c.hashing[id] = done
	c.mu.Unlock()
	h, err := compute()
	c.mu.Lock()
	if err == nil {
		c.store(id, h)
	}
	delete(c.hashing, id)
	close(done)
	c.mu.Unlock()
	return h, err
}
