package director

import (
	"context"
	"encoding/binary"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// A verification walks each item directory once, in file list order, with
// getdents: every name comes with its inode number and type, so a file whose
// inode this verification has hashed already (the same file linked into an
// earlier snapshot) is confirmed without a path lookup or an lstat. Merged
// with the list, the walk also finds what is on disk but not listed.

// dirent is one name of a walk.
type dirent struct {
	rel string // relative to the walk's root, slash-separated
	dev uint64 // of the directory holding it
	ino uint64
	typ uint8 // unix.DT_*
}

// walkSorted sends every path below root, depth first with names in byte
// order: the order of a file list, in batches of up to walkBatch. It closes
// out when done or when ctx is cancelled. A directory it cannot read is not
// descended into (the list's paths below it are then checked one by one,
// and found missing).
func walkSorted(ctx context.Context, root string, out chan<- []dirent) {
	defer close(out)
	buf := make([]byte, 64<<10)
	batch := make([]dirent, 0, walkBatch)
	send := func() bool {
		select {
		case out <- batch:
			batch = make([]dirent, 0, walkBatch)
			return true
		case <-ctx.Done():
			return false
		}
	}
	var walk func(rel string) bool
	walk = func(rel string) bool {
		p := root
		if rel != "" {
			p = root + "/" + rel
		}
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return true
		}
		var st unix.Stat_t
		prefix := ""
		if rel != "" {
			prefix = rel + "/"
		}
		ents, err := readDirents(fd, buf, prefix)
		if err == nil {
			err = unix.Fstat(fd, &st)
		}
		unix.Close(fd)
		if err != nil {
			return true
		}
		slices.SortFunc(ents, func(a, b dirent) int { return strings.Compare(a.rel, b.rel) })
		for _, e := range ents {
			e.dev = uint64(st.Dev)
			if e.typ == unix.DT_UNKNOWN {
				var lst unix.Stat_t
				if unix.Lstat(root+"/"+e.rel, &lst) == nil && lst.Mode&unix.S_IFMT == unix.S_IFDIR {
					e.typ = unix.DT_DIR
				}
			}
			batch = append(batch, e)
			if len(batch) == walkBatch && !send() {
				return false
			}
			if e.typ == unix.DT_DIR && !walk(e.rel) {
				return false
			}
		}
		return true
	}
	if walk("") && len(batch) > 0 {
		send()
	}
}

// walkBatch is how many names walkSorted sends at once: one channel
// operation per batch, not per name.
const walkBatch = 512

// readDirents reads a directory's entries (but . and ..) with getdents64,
// each name with prefix before it (one string per name).
func readDirents(fd int, buf []byte, prefix string) ([]dirent, error) {
	var out []dirent
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return out, nil
		}
		for off := 0; off+19 <= n; {
			ino := binary.NativeEndian.Uint64(buf[off:])
			reclen := int(binary.NativeEndian.Uint16(buf[off+16:]))
			if reclen == 0 || off+reclen > n {
				break
			}
			typ := buf[off+18]
			name := buf[off+19 : off+reclen]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			off += reclen
			if string(name) != "." && string(name) != ".." {
				out = append(out, dirent{rel: prefix + string(name), ino: ino, typ: typ})
			}
		}
	}
}

// confirmed reports whether the inode id has been hashed in this
// verification (or left out by its sample) with the hash a list expects.
func (c *hashCache) confirmed(id fileID, hash string) bool {
	sum, valid := parseSum(hash)
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.local.get(id); ok && valid && h == sum {
		return true
	}
	in, decided := c.picked[id]
	return decided && !in
}
