package director

import (
	"context"

	"github.com/depot-backup/depot/repository"
)

// listBatch is how many lines listAhead reads before handing them on.
const listBatch = 512

// listAhead reads a file list's lines on its own goroutine, a few batches
// ahead of the caller, so that decompressing the list overlaps the
// comparison with the walk. next returns the lines in order, raw (for the
// reader's Peek, Accept and Parse; each valid until the next call), then
// the reader's error (io.EOF at the end); stop ends the goroutine and must
// be called before r is closed. The batches go round: the caller hands each
// back when it is done with it, so a list costs a few batches, however
// long it is.
func listAhead(ctx context.Context, r *repository.FileListReader) (next func() ([]byte, error), stop func()) {
	type batch struct {
		buf  []byte
		ends []int
		err  error
	}
	const ahead = 4
	ch := make(chan *batch, ahead)
	free := make(chan *batch, ahead+2)
	lctx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(ch)
		for {
			var b *batch
			select {
			case b = <-free:
			default:
				b = &batch{buf: make([]byte, 0, 128<<10), ends: make([]int, 0, listBatch)}
			}
			b.buf, b.ends, b.err = r.NextLines(b.buf[:0], b.ends[:0], listBatch)
			select {
			case ch <- b:
			case <-lctx.Done():
				return
			}
			if b.err != nil {
				return
			}
		}
	}()
	cur, used, start := &batch{}, 0, 0
	next = func() ([]byte, error) {
		for used == len(cur.ends) {
			if cur.err != nil {
				return nil, cur.err
			}
			if cur.ends != nil {
				select {
				case free <- cur: // its last line is done with
				default:
				}
			}
			b, ok := <-ch
			if !ok {
				return nil, context.Cause(lctx)
			}
			cur, used, start = b, 0, 0
		}
		line := cur.buf[start:cur.ends[used]]
		start = cur.ends[used]
		used++
		return line, nil
	}
	stop = func() {
		cancel()
		for range ch { // the goroutine is done with r
		}
	}
	return next, stop
}
