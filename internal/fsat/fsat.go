// Package fsat holds file system calls relative to a directory descriptor
// that more than one package needs.
package fsat

import (
	"bytes"
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// Readlink reads the target of the symlink name in the directory dirfd,
// however long it is.
func Readlink(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// ParseDirent reads the linux_dirent64 (what getdents64 fills a buffer
// with) at the start of b: its inode number, type and name (a view of b),
// and the length of the record, 0 when b does not hold a whole one.
func ParseDirent(b []byte) (ino uint64, typ byte, name []byte, reclen int) {
	const nameOff = 19 // d_ino 8, d_off 8, d_reclen 2, d_type 1
	if len(b) < nameOff {
		return 0, 0, nil, 0
	}
	reclen = int(binary.NativeEndian.Uint16(b[16:]))
	if reclen <= nameOff || reclen > len(b) {
		return 0, 0, nil, 0
	}
	name = b[nameOff:reclen]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	return binary.NativeEndian.Uint64(b), b[18], name, reclen
}
