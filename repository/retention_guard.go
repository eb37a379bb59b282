package repository

import "fmt"

// DefaultMaxDelete is max_delete when the config leaves it out: 3, or a
// quarter of the set's complete snapshots, whichever is larger.
func DefaultMaxDelete(complete int) int { return max(3, complete/4) }

// Guard is what the guard against mass deletion makes of one set's
// decisions: deletions beyond the normal roll-over (the one holding snapshot
// a new one pushes out) are counted, and more than Limit of them hold back
// every deletion of the set until confirmed.
type Guard struct {
	Set       string
	Deletions int // deletions decided
	Counted   int // of them, beyond the normal roll-over
	Limit     int // max_delete, or its default
}

// CheckGuard counts the deletions in ds against maxDelete (nil: the
// default for the set's size).
func CheckGuard(ds []Decision, maxDelete *int) Guard {
	var g Guard
	complete := 0
	for _, d := range ds {
		g.Set = d.Snapshot.Set
		if d.Snapshot.Complete {
			complete++
		}
		if d.Action == Delete {
			g.Deletions++
			if !d.RollOver {
				g.Counted++
			}
		}
	}
	g.Limit = DefaultMaxDelete(complete)
	if maxDelete != nil {
		g.Limit = *maxDelete
	}
	return g
}

// Holds reports whether the deletions must wait for a confirmation.
func (g Guard) Holds() bool { return g.Counted > g.Limit }

// String says in one line why nothing is deleted, and how to go ahead.
func (g Guard) String() string {
	return fmt.Sprintf("retention would delete %d snapshots of %s, %d of them beyond the normal roll-over, more than max_delete %d: none deleted; check them with depot plan %s, then run depot prune --confirm %s",
		g.Deletions, g.Set, g.Counted, g.Limit, g.Set, g.Set)
}
