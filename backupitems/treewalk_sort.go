package backupitems

import (
	"container/heap"
	"slices"
)

// walkSorter puts walk entries that come in another order (find's) into file
// list order with bounded memory: it sorts them in runs of sortRun entries,
// each spilled to disk, and merges the runs.
type walkSorter struct {
	run  []sourceEntry
	runs []*walkSpill
	max  int
}

// sortRun is how many entries a sorter holds in memory: a few MB.
const sortRun = 1 << 16

func newWalkSorter() *walkSorter { return &walkSorter{max: sortRun} }

// add takes the next entry.
func (s *walkSorter) add(e sourceEntry) error {
	s.run = append(s.run, e)
	if len(s.run) < s.max {
		return nil
	}
	return s.spillRun()
}

func (s *walkSorter) spillRun() error {
	slices.SortFunc(s.run, func(a, b sourceEntry) int { return comparePaths(a.path, b.path) })
	sp, err := newWalkSpill()
	if err != nil {
		return err
	}
	s.runs = append(s.runs, sp)
	for _, e := range s.run {
		if err := sp.add(e, 0); err != nil {
			return err
		}
	}
	s.run = s.run[:0]
	return sp.done()
}

// each calls fn for every entry in file list order (equal paths next to
// each other), and stops at fn's first error.
func (s *walkSorter) each(fn func(sourceEntry) error) error {
	if len(s.runs) == 0 {
		slices.SortFunc(s.run, func(a, b sourceEntry) int { return comparePaths(a.path, b.path) })
		for _, e := range s.run {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	}
	if len(s.run) > 0 {
		if err := s.spillRun(); err != nil {
			return err
		}
	}
	h := &runHeap{}
	for _, sp := range s.runs {
		r := sp.reader()
		e, _, ok, err := r.next()
		if err != nil {
			return err
		}
		if ok {
			h.items = append(h.items, runHead{e: e, r: r})
		}
	}
	heap.Init(h)
	for len(h.items) > 0 {
		top := &h.items[0]
		if err := fn(top.e); err != nil {
			return err
		}
		e, _, ok, err := top.r.next()
		if err != nil {
			return err
		}
		if ok {
			top.e = e
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
	}
	return nil
}

// close releases the runs.
func (s *walkSorter) close() {
	for _, sp := range s.runs {
		sp.close()
	}
	s.runs, s.run = nil, nil
}

type runHead struct {
	e sourceEntry
	r *spillReader
}

// runHeap orders the runs by their next entry.
type runHeap struct{ items []runHead }

func (h *runHeap) Len() int           { return len(h.items) }
func (h *runHeap) Less(i, j int) bool { return pathLess(h.items[i].e.path, h.items[j].e.path) }
func (h *runHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *runHeap) Push(x any)         { h.items = append(h.items, x.(runHead)) }
func (h *runHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}
