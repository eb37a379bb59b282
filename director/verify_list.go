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
// called before r is closed.
func listAhead(ctx context.Context, r repository.EntryReader) (next func() (repository.Entry, error), stop func()) {
	type batch struct {
		entries []repository.Entry
		err     error
	}
	ch := make(chan batch, 4)
	lctx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(ch)
		for {
			b := batch{entries: make([]repository.Entry, 0, listBatch)}
			for len(b.entries) < listBatch {
				e, err := r.Next()
				if err != nil {
					b.err = err
					break
				}
				b.entries = append(b.entries, e)
			}
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
	next = func() (repository.Entry, error) {
		for len(cur.entries) == 0 {
			if cur.err != nil {
				return repository.Entry{}, cur.err
			}
			b, ok := <-ch
			if !ok {
				return repository.Entry{}, context.Cause(lctx)
			}
			cur = b
		}
		e := cur.entries[0]
		cur.entries = cur.entries[1:]
		return e, nil
	}
	stop = func() {
		cancel()
		for range ch { // the goroutine is done with r
		}
	}
	return next, stop
}
