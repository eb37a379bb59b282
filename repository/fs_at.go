package repository

import (
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// dirChain opens directories below a root one name at a time, each relative
// to the one above it (openat), without following a symlink: a path that
// came from elsewhere stays inside the root whatever the tree holds, and a
// path longer than PATH_MAX in all still works, as every call names one
// component. It keeps the chain last opened, so paths in file list order
// open each directory once. Not safe for concurrent use.
type dirChain struct {
	root   string
	follow bool     // follow symlinks to directories (a source's own tree, not a snapshot)
	names  []string // the open chain below root
	fds    []int    // fds[0] is root, fds[i+1] is names[i]
}

// openDirChain opens root, which is depot's own path (it may pass through
// symlinks: only what lies below it is checked). follow lets the chain
// pass through symlinks to directories, for a local source tree that
// rsync copied with its configured path's target.
func openDirChain(root string, follow bool) (*dirChain, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	return &dirChain{root: root, follow: follow, fds: []int{fd}}, nil
}

// open returns an O_PATH descriptor of dir (relative, slash-separated, ""
// for the root), which stays valid until the next call or Close.
func (c *dirChain) open(dir string) (int, error) {
	var want []string
	if dir != "" {
		want = strings.Split(dir, "/")
	}
	keep := 0
	for keep < len(c.names) && keep < len(want) && c.names[keep] == want[keep] {
		keep++
	}
	for len(c.names) > keep {
		unix.Close(c.fds[len(c.fds)-1])
		c.fds, c.names = c.fds[:len(c.fds)-1], c.names[:len(c.names)-1]
	}
	flags := unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC
	if !c.follow {
		flags |= unix.O_NOFOLLOW
	}
	for _, name := range want[keep:] {
		fd, err := unix.Openat(c.fds[len(c.fds)-1], name, flags, 0)
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: filepath.Join(c.root, dir), Err: err}
		}
		c.fds, c.names = append(c.fds, fd), append(c.names, name)
	}
	return c.fds[len(c.fds)-1], nil
}

// Close closes every descriptor of the chain.
func (c *dirChain) Close() {
	for _, fd := range c.fds {
		unix.Close(fd)
	}
	c.fds, c.names = nil, nil
}

// splitRel splits a relative path into its directory ("" at the top) and
// its last name.
func splitRel(rel string) (dir, name string) {
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return "", rel
	}
	return rel[:i], rel[i+1:]
}
