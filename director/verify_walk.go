package director

import (
	"context"
	"slices"
	"strings"

	"github.com/depot-backup/depot/internal/fsat"
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
	end int   // readDirents' own: where rel ends in its directory's names
}

// walkSorted sends every path below root, depth first with names in byte
// order: the order of a file list, in batches of up to walkBatch. It closes
// out when done or when ctx is cancelled. A directory it cannot read is not
// descended into (the list's paths below it are then checked one by one,
// and found missing). Each directory is opened relative to its parent's
// descriptor (one name to resolve, not the whole path), never following a
// symlink, and the paths of its names share one allocation.
// The receiver may hand spent batches back on free (nil: none come back),
// to be filled again.
func walkSorted(ctx context.Context, root string, out chan<- []dirent, free <-chan []dirent) {
	defer close(out)
	w := walker{ctx: ctx, out: out, free: free, buf: make([]byte, 64<<10), batch: make([]dirent, 0, walkBatch)}
	if w.walk(unix.AT_FDCWD, root, "", 0) && len(w.batch) > 0 {
		w.send()
	}
}

// walker is the state of one walkSorted.
type walker struct {
	ctx   context.Context
	out   chan<- []dirent
	free  <-chan []dirent
	buf   []byte // for getdents
	batch []dirent
	names []byte // the current directory's names, for readDirents
	// read and sorted hold a directory's entries at each depth of the
	// walk, reused from one directory to the next; keys is sortNames'.
	read, sorted [][]dirent
	keys         []nameKey
}

func (w *walker) send() bool {
	select {
	case w.out <- w.batch:
		select {
		case b := <-w.free:
			w.batch = b[:0]
		default:
			w.batch = make([]dirent, 0, walkBatch)
		}
		return true
	case <-w.ctx.Done():
		return false
	}
}

// walk sends the tree of the directory name (relative to the descriptor
// at, and at rel in the walk, depth levels below its root); false means
// the walk was cancelled.
func (w *walker) walk(at int, name, rel string, depth int) bool {
	fd, err := unix.Openat(at, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return true
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	prefix := ""
	if rel != "" {
		prefix = rel + "/"
	}
	if depth == len(w.read) {
		w.read, w.sorted = append(w.read, nil), append(w.sorted, nil)
	}
	ents, err := readDirents(fd, w.buf, prefix, &w.names, w.read[depth][:0])
	if err == nil {
		err = unix.Fstat(fd, &st)
	}
	if err != nil {
		return true
	}
	w.read[depth] = ents
	ents, w.keys = sortNames(ents, len(prefix), w.sorted[depth][:0], w.keys[:0])
	w.sorted[depth] = ents
	for _, e := range ents {
		e.dev = uint64(st.Dev)
		if e.typ == unix.DT_UNKNOWN {
			var lst unix.Stat_t
			if unix.Fstatat(fd, e.rel[len(prefix):], &lst, unix.AT_SYMLINK_NOFOLLOW) == nil && lst.Mode&unix.S_IFMT == unix.S_IFDIR {
				e.typ = unix.DT_DIR
			}
		}
		w.batch = append(w.batch, e)
		if len(w.batch) == walkBatch && !w.send() {
			return false
		}
		if e.typ == unix.DT_DIR && !w.walk(fd, e.rel[len(prefix):], e.rel, depth+1) {
			return false
		}
	}
	return true
}

// sortNames sorts a directory's entries by name (rel past its first skip
// bytes) in byte order. It sorts small keys: each name's 8 bytes past the
// prefix all names share, big-endian (a shorter name pads with zeros, and
// sorts first, as no name holds a NUL), with the names themselves compared
// only where keys tie. The sorted entries are appended to out, and keys is
// the space for the keys (both reused by the caller, who gets them back).
func sortNames(ents []dirent, skip int, out []dirent, keys []nameKey) ([]dirent, []nameKey) {
	if len(ents) < 2 {
		return append(out, ents...), keys
	}
	common := len(ents[0].rel) - skip
	for _, e := range ents[1:] {
		a, b := ents[0].rel[skip:skip+common], e.rel[skip:]
		n := 0
		for n < len(a) && n < len(b) && a[n] == b[n] {
			n++
		}
		common = n
	}
	at := skip + common
	keys = slices.Grow(keys[:0], len(ents))[:len(ents)]
	for i, e := range ents {
		var k uint64
		for j := 0; j < 8; j++ {
			k <<= 8
			if at+j < len(e.rel) {
				k |= uint64(e.rel[at+j])
			}
		}
		keys[i] = nameKey{k, int32(i)}
	}
	slices.SortFunc(keys, func(a, b nameKey) int {
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return strings.Compare(ents[a.i].rel[at:], ents[b.i].rel[at:])
	})
	for _, k := range keys {
		out = append(out, ents[k.i])
	}
	return out, keys
}

// nameKey is a name's sort key and its index, for sortNames.
type nameKey struct {
	key uint64
	i   int32
}

// walkBatch is how many names walkSorted sends at once: one channel
// operation per batch, not per name.
const walkBatch = 512

// readDirents reads a directory's entries (but . and ..) with getdents64,
// each name with prefix before it. The paths are cut from one string for
// the whole directory, built in *names (reused from call to call). The
// entries are appended to out.
func readDirents(fd int, buf []byte, prefix string, names *[]byte, out []dirent) ([]dirent, error) {
	all := (*names)[:0]
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			break
		}
		for off := 0; off < n; {
			ino, typ, name, reclen := fsat.ParseDirent(buf[off:n])
			if reclen == 0 {
				break
			}
			off += reclen
			if string(name) == "." || string(name) == ".." {
				continue
			}
			all = append(all, prefix...)
			all = append(all, name...)
			// rel holds the end offset in all until the string exists.
			out = append(out, dirent{ino: ino, typ: typ, end: len(all)})
		}
	}
	*names = all
	s := string(all)
	start := 0
	for i := range out {
		out[i].rel, start = s[start:out[i].end], out[i].end
	}
	return out, nil
}

// confirmed reports whether the inode id has been hashed in c's
// verification (or left out by its sample) with the hash a list expects.
func confirmed[H string | []byte](c *hashCache, id fileID, hash H) bool {
	sum, valid := parseSum(hash)
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.local.get(id); ok && valid && h == sum {
		return true
	}
	in, decided := c.picked[id]
	return decided && !in
}
