package backupitems

import (
	"io"
	"sync"
)

// Sizes of the buffer between a dump tool and the compressor.
const (
	aheadChunk  = 1 << 20
	aheadChunks = 8
)

// aheadWriter lets a dump tool run up to aheadChunks*aheadChunk bytes ahead
// of the compressor, which works in a goroutine of its own. Without it the
// tool waits, its pipe full, each time the compressor works on a block, and
// dumping and compressing take turns instead of running side by side on two
// cores: a third slower on a 1 GB dump. Memory stays bounded.
type aheadWriter struct {
	w    io.Writer
	full chan []byte
	free chan []byte
	done chan struct{}
	cur  []byte

	mu  sync.Mutex
	err error // the first error of w
}

func newAheadWriter(w io.Writer) *aheadWriter {
	a := &aheadWriter{w: w, full: make(chan []byte, aheadChunks), free: make(chan []byte, aheadChunks), done: make(chan struct{})}
	for range aheadChunks {
		a.free <- nil // allocated when first needed: small dumps stay small
	}
	go a.drain()
	return a
}

func (a *aheadWriter) drain() {
	defer close(a.done)
	for b := range a.full {
		if a.failed() == nil {
			if _, err := a.w.Write(b); err != nil {
				a.mu.Lock()
				a.err = err
				a.mu.Unlock()
			}
		}
		a.free <- b[:0]
	}
}

func (a *aheadWriter) failed() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// Write copies p into the buffer; it fails once w has failed, so that the
// dump tool stops early.
func (a *aheadWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if err := a.failed(); err != nil {
			return n, err
		}
		if a.cur == nil {
			a.cur = <-a.free
			if a.cur == nil {
				a.cur = make([]byte, 0, aheadChunk)
			}
		}
		k := copy(a.cur[len(a.cur):cap(a.cur)], p)
		a.cur = a.cur[:len(a.cur)+k]
		p, n = p[k:], n+k
		if len(a.cur) == cap(a.cur) {
			a.full <- a.cur
			a.cur = nil
		}
	}
	return n, nil
}

// Close hands over what is buffered, waits until w has it and returns the
// first error of w.
func (a *aheadWriter) Close() error {
	if len(a.cur) > 0 {
		a.full <- a.cur
		a.cur = nil
	}
	close(a.full)
	<-a.done
	return a.failed()
}
