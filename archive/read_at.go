package archive

import (
	"fmt"
	"io/fs"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/depot-backup/depot/internal/fsat"
)

// DirReader reads files for Write as Read does, but each through a
// descriptor of its directory, kept open from one file to the next. An
// export meets a directory's files one after the other (file list order),
// so each directory of a long path is resolved once for all its files,
// not three times per file (lstat, listxattr, open). A small regular file
// is opened once, and its extended attributes are read through that
// descriptor. Not safe for concurrent use; Close releases the descriptor.
type DirReader struct {
	dir string // the directory fd holds, or ""
	fd  int
}

// NewDirReader returns a DirReader with no directory open yet.
func NewDirReader() *DirReader { return &DirReader{fd: -1} }

// Read is Read(name, path), through r's directory descriptor.
func (r *DirReader) Read(name, path string) (*File, error) {
	dir, base := filepath.Split(path)
	if base == "" || dir == "" {
		return Read(name, path) // a root, or a relative name: nothing to share
	}
	if dir != r.dir {
		r.Close()
		// The directory is resolved as the whole path would be (a
		// symlink above the file is followed, as by lstat(path)).
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return Read(name, path) // the path's own error, as Read gives it
		}
		r.dir, r.fd = dir, fd
	}
	f := &File{name: name, path: path}
	if err := unix.Fstatat(r.fd, base, &f.st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: path, Err: err}
	}
	if f.st.Mode&unix.S_IFMT != unix.S_IFREG || f.st.Size > smallFile {
		// Others need their path anyway (llistxattr, readlink, and the
		// streaming of a large file in Write).
		var err error
		if f.xattrs, err = readXattrs(path); err != nil {
			return nil, err
		}
		if f.st.Mode&unix.S_IFMT == unix.S_IFLNK {
			if f.link, err = fsat.Readlink(r.fd, base); err != nil {
				return nil, &fs.PathError{Op: "readlink", Path: path, Err: err}
			}
		}
		return f, nil
	}
	fd, err := unix.Openat(r.fd, base, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	// The file opened must be the one stat'd: a file replaced in between
	// would be read with another's metadata.
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Ino != f.st.Ino || st.Dev != f.st.Dev {
		return nil, fmt.Errorf("read %s: replaced while it was read", path)
	}
	if f.xattrs, err = readXattrsFd(fd, path); err != nil {
		return nil, err
	}
	if f.data, err = readSmallFd(fd, path, f.st.Size); err != nil {
		return nil, err
	}
	return f, nil
}

// Close closes the directory descriptor r holds, if any. r stays usable.
func (r *DirReader) Close() {
	if r.fd >= 0 {
		unix.Close(r.fd)
	}
	r.dir, r.fd = "", -1
}

// readXattrsFd is readXattrs through an open descriptor.
func readXattrsFd(fd int, path string) (map[string]string, error) {
	return xattrsOf(path,
		func(dest []byte) (int, error) { return unix.Flistxattr(fd, dest) },
		func(name string, dest []byte) (int, error) { return unix.Fgetxattr(fd, name, dest) })
}
