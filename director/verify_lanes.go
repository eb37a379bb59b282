package director

import (
	"github.com/depot-backup/depot/repository"
)

// verifyLanes is how many snapshots a verification checks at once. After
// the first snapshot of a set, which hashes most of what the others share,
// each snapshot costs a walk of its directories and a read of its file
// list, work of one or two goroutines: two snapshots at a time keep both
// cores of a small machine busy. The hash cache reads an inode once
// whichever snapshot meets it first.
const verifyLanes = 2

// verifyResult is what verifying one snapshot found; done is closed when
// files and problems are set.
type verifyResult struct {
	files    int
	problems []string
	gone     bool // deleted while it was verified
	done     chan struct{}
}

// verifyInLanes runs verify on each snapshot, up to lanes at a time, and
// returns their results in the order of snaps, each closed when ready. The
// snapshot after the first of a set starts once that one is done: it would
// otherwise find none of their shared files hashed yet and look each up
// again.
func verifyInLanes(snaps []repository.Snapshot, lanes int, verify func(repository.Snapshot) (int, []string, bool)) []*verifyResult {
	results := make([]*verifyResult, len(snaps))
	for i := range results {
		results[i] = &verifyResult{done: make(chan struct{})}
	}
	go func() {
		free := make(chan struct{}, max(lanes, 1))
		for i, s := range snaps {
			first := i == 0 || snaps[i-1].Set != s.Set
			if i > 0 && !first && (i == 1 || snaps[i-2].Set != s.Set) {
				<-results[i-1].done // snaps[i-1] is the first of this set
			}
			free <- struct{}{}
			go func(r *verifyResult) {
				defer func() { <-free }()
				r.files, r.problems, r.gone = verify(s)
				close(r.done)
			}(results[i])
		}
	}()
	return results
}
