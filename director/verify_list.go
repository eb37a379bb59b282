package director

import (
	"context"

	"github.com/depot-backup/depot/repository"
)

// listBatch is how many entries listAhead decodes before handing them on.
const listBatch = 512

// listAhead decodes a file list on its own goroutine, a few batches ahead
// of the caller, so that decompressing and parsing the list overlaps the
// comparison with the walk. next returns the entries in order, then the
// reader's error (io.EOF at the end); stop ends the goroutine and must be
// called before r is closed. The batches go round: the caller hands each
// back when it is done with it, so a list costs a few batches, not one per
// 512 entries.
func listAhead(ctx context.Context, r *repository.FileListReader) (next func() (repository.Entry, error), stop func()) {
	type batch struct {
		entries []repository.Entry
		err     error
	}
	const ahead = 4
	ch := make(chan batch, ahead)
	free := make(chan []repository.Entry, ahead+2)
	lctx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(ch)
		for {
			var b batch
			select {
			case b.entries = <-free:
			default:
				b.entries = make([]repository.Entry, 0, listBatch)
			}
			b.entries, b.err = r.NextBatch(b.entries[:0], listBatch)
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
	var cur batch
	used := 0
	next = func() (repository.Entry, error) {
		for used == len(cur.entries) {
			if cur.err != nil {
				return repository.Entry{}, cur.err
			}
			if cur.entries != nil {
				select {
				case free <- cur.entries:
				default:
				}
			}
			b, ok := <-ch
			if !ok {
				return repository.Entry{}, context.Cause(lctx)
			}
			cur, used = b, 0
		}
		used++
		return cur.entries[used-1], nil
	}
	stop = func() {
		cancel()
		for range ch { // the goroutine is done with r
		}
	}
	return next, stop
}
