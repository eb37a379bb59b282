package director

// inodeSums maps local inodes to their SHA-256. Files copied one after the
// other get consecutive inode numbers, and a walk meets them in that order
// again in every later snapshot: so the sums live in blocks of sumBlockLen
// consecutive inodes, and the block of the last lookup is kept at hand. A
// verification of many snapshots then finds most inodes without a trip
// through a large map (whose misses of the cache cost more than the rest of
// a snapshot's comparison).
type inodeSums struct {
	blocks    map[fileID]*sumBlock // by device and inode / sumBlockLen
	lastKey   fileID
	lastBlock *sumBlock
}

const sumBlockLen = 8

type sumBlock struct {
	set  uint8 // bit i: sums[i] holds a sum
	sums [sumBlockLen]sha256Sum
}

func newInodeSums() *inodeSums { return &inodeSums{blocks: map[fileID]*sumBlock{}} }

// block returns the block of id, creating it when create is set (or nil).
func (m *inodeSums) block(id fileID, create bool) *sumBlock {
	key := fileID{id.dev, id.ino / sumBlockLen}
	if m.lastBlock != nil && m.lastKey == key {
		return m.lastBlock
	}
	b := m.blocks[key]
	if b == nil {
		if !create {
			return nil
		}
		b = &sumBlock{}
		m.blocks[key] = b
	}
	m.lastKey, m.lastBlock = key, b
	return b
}

func (m *inodeSums) get(id fileID) (sha256Sum, bool) {
	b := m.block(id, false)
	if b == nil || b.set&(1<<(id.ino%sumBlockLen)) == 0 {
		return sha256Sum{}, false
	}
	return b.sums[id.ino%sumBlockLen], true
}

func (m *inodeSums) put(id fileID, sum sha256Sum) {
	b := m.block(id, true)
	b.set |= 1 << (id.ino % sumBlockLen)
	b.sums[id.ino%sumBlockLen] = sum
}

// hexValue holds each byte's value as a lowercase hex digit, or 0xff.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range "0123456789abcdef" {
		t[c] = byte(i)
	}
	return t
}()

// parseSum decodes a hash as file lists write it: 64 lowercase hex digits
// (anything else is false, and kept as a string).
func parseSum[H string | []byte](h H) (sha256Sum, bool) {
	var sum sha256Sum
	if len(h) != 2*len(sum) {
		return sum, false
	}
	bad := byte(0)
	for i := range sum {
		hi, lo := hexValue[h[2*i]], hexValue[h[2*i+1]]
		bad |= hi | lo
		sum[i] = hi<<4 | lo&0xf
	}
	return sum, bad&0xf0 == 0
}
