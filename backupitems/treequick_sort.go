package backupitems

// EntrySorter puts entries that come in another order (a remote find's
// records of a clone) into file list order with bounded memory: the walk's
// own sorter, runs of a few MB sorted and spilled to disk, then merged. The
// repository's clone check merges such a stream with what it asked for
// instead of holding a map of every path.
type EntrySorter struct{ s *walkSorter }

// NewEntrySorter returns an empty sorter; Close releases its runs.
func NewEntrySorter() *EntrySorter { return &EntrySorter{s: newWalkSorter()} }

// Add takes the next entry, in any order.
func (s *EntrySorter) Add(e PrevEntry) error {
	return s.s.add(sourceEntry{path: e.Path, mode: e.Mode, size: e.Size, mtime: e.Mtime, ctime: e.Ctime, uid: e.Uid, gid: e.Gid})
}

// Each calls fn for every entry added, in file list order (equal paths
// next to each other), and stops at fn's first error. It is called once,
// after the last Add.
func (s *EntrySorter) Each(fn func(PrevEntry) error) error {
	return s.s.each(func(e sourceEntry) error {
		return fn(PrevEntry{Path: e.path, Mode: e.mode, Size: e.size, Mtime: e.mtime, Ctime: e.ctime, Uid: e.uid, Gid: e.gid})
	})
}

// Close releases the sorter's runs on disk.
func (s *EntrySorter) Close() { s.s.close() }
