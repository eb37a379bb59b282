// Package fsat holds file system calls relative to a directory descriptor
// that more than one package needs.
package fsat

import "golang.org/x/sys/unix"

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
