package backupitems

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/depot-backup/depot/internal/relpath"
)

// A first copy of a tree is read twice: rsync copies every file, then the
// file list needs every file's hash. copyHasher does the second read while
// rsync still copies: it hashes each file as rsync reports it sent, while
// its data is in the page cache and on a CPU rsync leaves idle, and keeps
// what it read in a CopyHashes sorted into file list order on disk. Its
// records are hints, never trusted as such: the file list takes a hash only
// when the copy it lists is still the very file that was read (see
// CopyHash).
//
// rsync logs a file after its data went through (the %b of its
// --out-format) but before the receiver renames the finished temporary file
// into place (receiver.c: log_item, then finish_transfer), and the sender,
// which logs in a local copy, runs ahead of the receiver by what the pipe
// between them holds. So a file is read only once rsync has reported
// hashLagFiles more files or hashLagBytes more bytes after it (or has
// ended): by then the receiver has put it in place. A file that is still
// not there is left for the file list to read; one that is there is the
// finished file, whose attributes rsync set before the rename. A name
// rsync reports more than once keeps its last read.
type copyHasher struct {
	dir     *os.File      // the item directory, which names are resolved beneath
	names   chan []string // batches of hashBatch names
	batch   []string
	lag     []lagged // reported, not yet handed to the workers, oldest first
	lagged  int64    // bytes in lag
	wg      sync.WaitGroup
	mu      sync.Mutex
	hashes  *CopyHashes
	err     error
	seq     atomic.Uint64
	hashed  atomic.Int64 // files read
	dropped atomic.Int64 // names not read: the queue was full or the file was not there
}

type lagged struct {
	name  string
	bytes int64
}

// How far behind rsync's reports the reading stays (see above): more than
// the pipe between rsync's sender and receiver holds.
const (
	hashLagFiles = 256
	hashLagBytes = 16 << 20
)

// hashWorkers read files beside rsync. One: at its low priority the kernel
// may leave its thread waiting long, and the Go processor it holds with it,
// so the others stay free for the rest of depot (reading rsync's output).
const hashWorkers = 1

// hashQueue bounds the batches waiting to be read; beyond it names are
// dropped rather than slow rsync down (their files are read afterwards).
// Names go in batches, to wake a worker once for many.
const (
	hashQueue = 128
	hashBatch = 64
)

// newCopyHasher starts hashing files under dir, a local directory rsync is
// copying into.
func newCopyHasher(dir string) (*copyHasher, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("hash while copying: %w", err)
	}
	h := &copyHasher{dir: d, names: make(chan []string, hashQueue), hashes: newCopyHashes()}
	for range hashWorkers {
		h.wg.Add(1)
		go h.work()
	}
	return h, nil
}

// sent takes a name rsync reported and the bytes it took
// (rsync.Options.Sent). It never blocks.
func (h *copyHasher) sent(name string, bytes int64) {
	h.lag = append(h.lag, lagged{name, bytes})
	h.lagged += bytes
	for len(h.lag) > hashLagFiles || h.lagged-h.lag[0].bytes > hashLagBytes {
		h.hand(h.lag[0].name)
		h.lagged -= h.lag[0].bytes
		h.lag = h.lag[1:]
	}
}

// hand gives a name to the workers, a batch at a time, or drops the batch
// when they are too far behind.
func (h *copyHasher) hand(name string) {
	h.batch = append(h.batch, name)
	if len(h.batch) < hashBatch {
		return
	}
	select {
	case h.names <- h.batch:
	default:
		h.dropped.Add(int64(len(h.batch)))
	}
	h.batch = make([]string, 0, hashBatch)
}

// finish reads the files still lagging, once rsync has ended, waits for
// the workers, and returns the hashes, or an error after which none are
// usable.
func (h *copyHasher) finish() (*CopyHashes, error) {
	// rsync is done: every name left is read, waiting for the workers.
	for _, l := range h.lag {
		h.batch = append(h.batch, l.name)
	}
	if len(h.batch) > 0 {
		h.names <- h.batch
	}
	h.lag, h.batch = nil, nil
	close(h.names)
	h.wg.Wait()
	h.dir.Close()
	if h.err == nil {
		h.err = h.hashes.done()
	}
	if h.err != nil {
		h.hashes.close()
		return nil, h.err
	}
	return h.hashes, nil
}

func (h *copyHasher) work() {
	defer h.wg.Done()
	// Only CPU time rsync leaves idle: this goroutine's thread runs at the
	// lowest priority (and ends with it, as it stays locked to it). On a
	// busy machine names then pile up and are dropped, and the file list
	// reads those files after rsync, as without this.
	runtime.LockOSThread()
	_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), 19)
	buf := make([]byte, 256<<10)
	for batch := range h.names {
		for _, name := range batch {
			seq := h.seq.Add(1)
			c, ok := h.read(name, buf)
			if !ok {
				h.dropped.Add(1)
				continue
			}
			h.hashed.Add(1)
			h.mu.Lock()
			if h.err == nil {
				h.err = h.hashes.add(name, seq, c)
			}
			h.mu.Unlock()
		}
	}
}

// read hashes the file name. ok is false when there is nothing to record:
// the name is unsafe, the file is not there (yet), is not a regular file, or
// changed while it was read.
func (h *copyHasher) read(name string, buf []byte) (CopyHash, bool) {
	if relpath.Check(name) != nil {
		return CopyHash{}, false
	}
	how := &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC, Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS}
	fd, err := unix.Openat2(int(h.dir.Fd()), name, how)
	if err != nil {
		return CopyHash{}, false
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	var before, after unix.Stat_t
	if unix.Fstat(fd, &before) != nil || before.Mode&unix.S_IFMT != unix.S_IFREG {
		return CopyHash{}, false
	}
	sum := sha256.New()
	if _, err := io.CopyBuffer(sum, struct{ io.Reader }{f}, buf); err != nil {
		return CopyHash{}, false
	}
	if unix.Fstat(fd, &after) != nil {
		return CopyHash{}, false
	}
	c := copyHashOf(&before)
	if c != copyHashOf(&after) {
		return CopyHash{}, false // written to while read
	}
	sum.Sum(c.SHA256[:0])
	return c, true
}

// copyHashOf is what st says of a file, for a CopyHash.
func copyHashOf(st *unix.Stat_t) CopyHash {
	return CopyHash{Dev: st.Dev, Ino: st.Ino, Size: st.Size, Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano()}
}
