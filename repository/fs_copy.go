package repository

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// copyForLink makes new a copy of old with old's mode, owner, times and
// extended attributes (ACLs included): what a hard link would have shown,
// for a file at the file system's limit of hard links (EMLINK, 65,000 on
// ext4). Snapshots stay complete; only the sharing is lost for that file.
func copyForLink(old, new string) (err error) {
	src, err := os.OpenFile(old, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer src.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(src.Fd()), &st); err != nil {
		return &os.PathError{Op: "stat", Path: old, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("copy %s: not a regular file", old)
	}
	dst, err := os.OpenFile(new, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := dst.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(new)
		}
	}()
	if _, err := io.Copy(dst, src); err != nil {
		return fmt.Errorf("copy %s: %w", old, err)
	}
	fd := int(dst.Fd())
	if err := copyXattrs(int(src.Fd()), fd); err != nil {
		return fmt.Errorf("copy %s: %w", old, err)
	}
	if err := unix.Fchown(fd, int(st.Uid), int(st.Gid)); err != nil && !errors.Is(err, unix.EPERM) {
		return &os.PathError{Op: "chown", Path: new, Err: err}
	}
	// After chown, which clears set-id bits.
	if err := unix.Fchmod(fd, st.Mode&0o7777); err != nil {
		return &os.PathError{Op: "chmod", Path: new, Err: err}
	}
	times := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, new, times, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimes", Path: new, Err: err}
	}
	return nil
}

// copyXattrs copies every extended attribute of the file open as from to
// the file open as to. A file system without xattrs has none to copy.
func copyXattrs(from, to int) error {
	size, err := unix.Flistxattr(from, nil)
	if errors.Is(err, unix.ENOTSUP) || size <= 0 {
		return nil
	}
	if err != nil {
		return err
	}
	names := make([]byte, size)
	if size, err = unix.Flistxattr(from, names); err != nil {
		return err
	}
	for _, name := range splitNul(names[:size]) {
		n, err := unix.Fgetxattr(from, name, nil)
		if err != nil {
			return err
		}
		val := make([]byte, n)
		if n, err = unix.Fgetxattr(from, name, val); err != nil {
			return err
		}
		if err := unix.Fsetxattr(to, name, val[:n], 0); err != nil && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("xattr %s: %w", name, err)
		}
	}
	return nil
}

func splitNul(b []byte) []string {
	var out []string
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != 0 {
			i++
		}
		if i > 0 {
			out = append(out, string(b[:i]))
		}
		if i < len(b) {
			i++
		}
		b = b[i:]
	}
	return out
}
