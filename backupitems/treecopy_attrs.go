package backupitems

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// The POSIX ACLs, as Linux keeps them: xattrs of the system namespace.
const (
	aclAccess  = "system.posix_acl_access"
	aclDefault = "system.posix_acl_default"
)

// copyEntry copies a regular file or a symlink.
func (c *treeCopier) copyEntry(e sourceEntry, buf []byte) error {
	switch e.mode & unix.S_IFMT {
	case unix.S_IFREG:
		return c.copyFile(e, buf)
	case unix.S_IFLNK:
		return c.copySymlink(e)
	}
	return fmt.Errorf("%w: /%s is neither a file, a directory nor a symlink", errCopierCannot, e.path)
}

// copyFile copies the regular file e: its data, hashed as it is read, then
// owner, xattrs, mode (after chown, which clears set-user-ID) and times;
// then it records the hash with what the copy's fstat says, for the file
// list to check.
func (c *treeCopier) copyFile(e sourceEntry, buf []byte) error {
	name := "/" + e.path
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) {
		return errVanished // gone, or a symlink now
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: name, Err: err}
	}
	src := os.NewFile(uintptr(fd), name)
	defer src.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "fstat", Path: name, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return errVanished // no longer a file
	}
	ofd, err := unix.Openat(c.dst, e.path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("copy into %s: create %s: %w", c.dstName, e.path, err)
	}
	out := os.NewFile(uintptr(ofd), e.path)
	defer out.Close()
	sum := sha256.New()
	n, err := io.CopyBuffer(struct{ io.Writer }{io.MultiWriter(sum, out)}, struct{ io.Reader }{src}, buf)
	if err != nil {
		return fmt.Errorf("copy %s into %s: %w", name, c.dstName, err)
	}
	if err := unix.Fchown(ofd, int(e.uid), int(e.gid)); err != nil {
		return fmt.Errorf("copy into %s: chown %s: %w", c.dstName, e.path, err)
	}
	if err := c.copyXattrs(e.path, fdXattrs(fd), func(attr string, val []byte) error {
		return unix.Fsetxattr(ofd, attr, val, 0)
	}); err != nil {
		return err
	}
	if err := unix.Fchmod(ofd, e.mode&0o7777); err != nil {
		return fmt.Errorf("copy into %s: chmod %s: %w", c.dstName, e.path, err)
	}
	if err := c.setTimes(e); err != nil {
		return err
	}
	var done unix.Stat_t
	if err := unix.Fstat(ofd, &done); err != nil {
		return fmt.Errorf("copy into %s: fstat %s: %w", c.dstName, e.path, err)
	}
	c.files.Add(1)
	c.bytes.Add(n)
	h := copyHashOf(&done)
	sum.Sum(h.SHA256[:0])
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hashes.add(e.path, c.seq.Add(1), h)
}

// copySymlink copies the symlink e: its target, owner, xattrs and times.
func (c *treeCopier) copySymlink(e sourceEntry) error {
	name := "/" + e.path
	target, err := os.Readlink(name)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.EINVAL) {
		return errVanished // gone, or no longer a symlink
	}
	if err != nil {
		return err
	}
	if err := unix.Symlinkat(target, c.dst, e.path); err != nil {
		return fmt.Errorf("copy into %s: symlink %s: %w", c.dstName, e.path, err)
	}
	return c.setAttrs(e)
}

// setAttrs gives the copy of e, a directory or a symlink, e's owner,
// xattrs, mode (not a symlink's, which has none) and times.
func (c *treeCopier) setAttrs(e sourceEntry) error {
	if err := unix.Fchownat(c.dst, e.path, int(e.uid), int(e.gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("copy into %s: chown %s: %w", c.dstName, e.path, err)
	}
	dst := c.dstName + "/" + e.path
	xerr := c.copyXattrs(e.path, pathXattrs("/"+e.path), func(attr string, val []byte) error {
		return unix.Lsetxattr(dst, attr, val, 0)
	})
	if errors.Is(xerr, errCopierCannot) {
		return xerr
	}
	if e.isDir() {
		if err := unix.Fchmodat(c.dst, e.path, e.mode&0o7777, 0); err != nil {
			return fmt.Errorf("copy into %s: chmod %s: %w", c.dstName, e.path, err)
		}
	}
	if err := c.setTimes(e); err != nil {
		return err
	}
	return xerr
}

// setTimes sets the copy of e's mtime (its atime is left as it is: rsync -a
// does not keep atimes).
func (c *treeCopier) setTimes(e sourceEntry) error {
	ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, unix.NsecToTimespec(e.mtime)}
	if err := unix.UtimesNanoAt(c.dst, e.path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("copy into %s: set times of %s: %w", c.dstName, e.path, err)
	}
	return nil
}

// link makes fl's name a hard link to the copy of its first name; if that
// was not copied (it vanished), fl's own source is copied, and the names
// after it link to this copy.
func (c *treeCopier) link(fl follower, buf []byte) error {
	leader := fl.leader
	if moved, ok := c.relinked[leader]; ok {
		leader = moved
	}
	err := unix.Linkat(c.dst, leader, c.dst, fl.e.path, 0)
	if !errors.Is(err, unix.ENOENT) {
		if err != nil {
			return fmt.Errorf("copy into %s: link %s to %s: %w", c.dstName, fl.e.path, leader, err)
		}
		return nil
	}
	if err := c.copyEntry(fl.e, buf); err != nil {
		return err
	}
	if c.relinked == nil {
		c.relinked = map[string]string{}
	}
	c.relinked[fl.leader] = fl.e.path
	return nil
}

// xattrSource reads the xattrs of one source path.
type xattrSource struct {
	list func(dest []byte) (int, error)
	get  func(attr string, dest []byte) (int, error)
}

func fdXattrs(fd int) xattrSource {
	return xattrSource{
		list: func(dest []byte) (int, error) { return unix.Flistxattr(fd, dest) },
		get:  func(attr string, dest []byte) (int, error) { return unix.Fgetxattr(fd, attr, dest) },
	}
}

func pathXattrs(p string) xattrSource {
	return xattrSource{
		list: func(dest []byte) (int, error) { return unix.Llistxattr(p, dest) },
		get:  func(attr string, dest []byte) (int, error) { return unix.Lgetxattr(p, attr, dest) },
	}
}

// copyXattrs copies onto a copy (with set) those of src's xattrs that rsync
// copies with the item's settings: see copiesXattr.
func (c *treeCopier) copyXattrs(rel string, src xattrSource, set func(attr string, val []byte) error) error {
	if !c.acls && !c.xattrs {
		return nil
	}
	list, err := readXattr(src.list)
	if errors.Is(err, unix.ENOENT) {
		return errVanished
	}
	if err != nil {
		return fmt.Errorf("list xattrs of /%s: %w", rel, err)
	}
	for _, attr := range strings.Split(strings.TrimSuffix(string(list), "\x00"), "\x00") {
		if attr == "" {
			continue
		}
		copies, err := c.copiesXattr(attr)
		if err != nil {
			return fmt.Errorf("%w (/%s)", err, rel)
		}
		if !copies {
			continue
		}
		val, err := readXattr(func(dest []byte) (int, error) { return src.get(attr, dest) })
		if errors.Is(err, unix.ENODATA) {
			continue // removed since the list
		}
		if err != nil {
			return fmt.Errorf("read xattr %s of /%s: %w", attr, rel, err)
		}
		if err := set(attr, val); err != nil {
			return fmt.Errorf("copy into %s: set xattr %s of %s: %w", c.dstName, attr, rel, err)
		}
	}
	return nil
}

// copiesXattr says whether the copy gets the xattr attr, as rsync -X (as
// root: every name but system.*, and not rsync's own user.rsync.%*) and -A
// (the POSIX ACLs) would give it, or returns an error wrapping
// errCopierCannot for a name whose copy by rsync depends on more than that:
// another kind of ACL, the security namespace (SELinux labels, file
// capabilities, which chown clears).
func (c *treeCopier) copiesXattr(attr string) (bool, error) {
	switch {
	case attr == aclAccess || attr == aclDefault:
		return c.acls, nil
	case strings.HasPrefix(attr, "system."):
		return false, fmt.Errorf("%w: xattr %s", errCopierCannot, attr)
	case !c.xattrs:
		return false, nil
	case strings.HasPrefix(attr, "user.rsync.%"), strings.HasPrefix(attr, "security."):
		return false, fmt.Errorf("%w: xattr %s", errCopierCannot, attr)
	case strings.HasPrefix(attr, "user."), strings.HasPrefix(attr, "trusted."):
		return true, nil
	}
	return false, fmt.Errorf("%w: xattr %s", errCopierCannot, attr)
}

// readXattr calls get with a buffer large enough for what it returns.
func readXattr(get func(dest []byte) (int, error)) ([]byte, error) {
	for {
		n, err := get(nil)
		if err != nil || n == 0 {
			return nil, err
		}
		buf := make([]byte, n)
		n, err = get(buf)
		if errors.Is(err, unix.ERANGE) {
			continue // grew meanwhile
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}
