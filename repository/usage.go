package repository

import (
	"io/fs"
	"path/filepath"
	"syscall"
)

// ExclusiveSize returns the disk space that deleting the snapshot in dir would
// free: the blocks of its directories and of the files whose every hard link
// lies inside it. Files shared with other snapshots cost nothing to delete.
func ExclusiveSize(dir string) (int64, error) {
	type shared struct {
		links  uint64 // links seen inside dir
		nlink  uint64
		blocks int64
	}
	seen := map[uint64]*shared{}
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(path, &st); err != nil {
			return err
		}
		size := st.Blocks * 512
		if d.IsDir() || st.Nlink <= 1 {
			total += size
			return nil
		}
		s := seen[st.Ino]
		if s == nil {
			s = &shared{nlink: uint64(st.Nlink), blocks: size}
			seen[st.Ino] = s
		}
		s.links++
		return nil
	})
	for _, s := range seen {
		if s.links >= s.nlink {
			total += s.blocks
		}
	}
	return total, err
}
