package repository

import "fmt"

// protectGoodCopies keeps, for every item whose newest copy failed, the
// newest snapshot that holds a good copy of it, whatever the other rules
// decided: a run of failures of one item never deletes its last good data.
// An item whose newest copy is good needs nothing: that snapshot is the
// newest complete one, or newer snapshots no longer have the item.
//
// out is Decide's decisions, newest first.
func protectGoodCopies(out []Decision) {
	settled := map[string]bool{}  // items whose newest copy has been seen
	needGood := map[string]bool{} // items whose newest copy failed, with no good copy seen yet
	for i := range out {
		s := out[i].Snapshot
		if !s.Complete || s.Manifest == nil {
			continue
		}
		for _, it := range s.Manifest.Items {
			failed := it.Status == StatusFailed
			if !settled[it.Name] {
				settled[it.Name], needGood[it.Name] = true, failed
				continue
			}
			if !needGood[it.Name] || failed {
				continue
			}
			needGood[it.Name] = false
			if out[i].Action == Delete {
				out[i].Action = Keep
				out[i].Reason = fmt.Sprintf("newest good copy of item %s (it failed in newer snapshots)", it.Name)
			}
		}
	}
}
