// Package archive writes and reads depot's export format: a tar stream
// (PAX: modes, numeric owners, nanosecond mtimes, symlinks, hard links,
// devices, FIFOs and extended attributes) compressed with zstd and,
// optionally, encrypted with age. GNU tar reads it:
// zstd -dc FILE.tar.zst | tar -xpf - --xattrs --numeric-owner.
package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"golang.org/x/sys/unix"
)

// Writer adds files from disk to an export stream. Memory stays constant in
// the number of files, except for the files with several links, whose first
// name is remembered to write the others as hard links to it.
// Write is not safe for concurrent use; Read is.
type Writer struct {
	tw    *tar.Writer
	zw    *frameWriter
	enc   io.WriteCloser // age, or nil
	links map[fileID]string
	buf   []byte
	hdr   []byte // appendFastHeader's
	slow  bool   // every header through tw (for tests)
	Stats Stats
}

// Stats count what a Writer wrote.
type Stats struct {
	Entries int64 // every header: files, directories, links, ...
	Files   int64 // regular files with content
	Bytes   int64 // their content
}

type fileID struct{ dev, ino uint64 }

// NewWriter starts an export on w, encrypted to recipients when there are
// any. Close finishes it; w stays open.
func NewWriter(w io.Writer, recipients []age.Recipient) (*Writer, error) {
	out := &Writer{links: map[fileID]string{}, buf: make([]byte, 1<<20)}
	if len(recipients) > 0 {
		enc, err := age.Encrypt(w, recipients...)
		if err != nil {
			return nil, fmt.Errorf("encrypt: %w", err)
		}
		out.enc, w = enc, enc
	}
	zw, err := newFrameWriter(w)
	if err != nil {
		return nil, err
	}
	out.zw, out.tw = zw, tar.NewWriter(zw)
	return out, nil
}

// smallFile is the largest regular file Read reads ahead whole; larger
// ones are streamed by Write.
const smallFile = 256 << 10

// File is a path read from disk for Write: its metadata, extended
// attributes and symlink target, and a small regular file's content.
type File struct {
	name, path string
	st         unix.Stat_t
	xattrs     map[string]string
	link       string
	data       []byte // nil for a larger file: Write reads it
}

// Read prepares the file at path, to be written as name ("item/dir/file"; a
// directory gets its trailing slash in Write). It touches only the file, so
// it can run ahead of Write in another goroutine.
func Read(name, path string) (*File, error) {
	f := &File{name: name, path: path}
	if err := unix.Lstat(path, &f.st); err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: path, Err: err}
	}
	var err error
	if f.xattrs, err = readXattrs(path); err != nil {
		return nil, err
	}
	switch f.st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		if f.link, err = os.Readlink(path); err != nil {
			return nil, err
		}
	case unix.S_IFREG:
		if f.st.Size <= smallFile {
			if f.data, err = readSmall(path, f.st.Size); err != nil {
				return nil, err
			}
		}
	}
	return f, nil
}

// smallBufs recycles the buffers of small files: a file read ahead returns
// its buffer once Write has copied it into the stream, so an export
// allocates a few of them, not one per file.
var smallBufs = sync.Pool{New: func() any { b := make([]byte, smallFile); return &b }}

// readSmall reads a file of size bytes whole into a buffer of smallBufs.
// It opens the file without the runtime's poller (a regular file never
// blocks), which saves a system call and an os.File per file.
func readSmall(path string, size int64) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	return readSmallFd(fd, path, size)
}

// readSmallFd reads size bytes of the open file fd into a buffer of
// smallBufs.
func readSmallFd(fd int, path string, size int64) ([]byte, error) {
	buf := smallBufs.Get().(*[]byte)
	data := (*buf)[:size]
	for n := 0; n < len(data); {
		m, err := unix.Read(fd, data[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			smallBufs.Put(buf)
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			smallBufs.Put(buf)
			return nil, fmt.Errorf("read %s: %w (did it shrink while it was read?)", path, io.ErrUnexpectedEOF)
		}
		n += m
	}
	return data, nil
}

// release gives a small file's buffer back to smallBufs.
func (f *File) release() {
	if f.data != nil && cap(f.data) == smallFile {
		b := f.data[:smallFile]
		smallBufs.Put(&b)
	}
	f.data = nil
}

// Add writes the file at path on disk as name: Read, then Write.
func (w *Writer) Add(name, path string) (bool, error) {
	f, err := Read(name, path)
	if err != nil {
		return false, err
	}
	return w.Write(f)
}

// Write adds a file that Read prepared. A regular file whose inode was
// written before becomes a hard link to its first name. A socket, which tar
// cannot hold, is skipped and reported as false.
func (w *Writer) Write(f *File) (bool, error) {
	st := &f.st
	h := &tar.Header{
		Name:    f.name,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Unix()),
		Format:  tar.FormatPAX,
	}
	isFile := false
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		id := fileID{uint64(st.Dev), st.Ino}
		if first, ok := w.links[id]; ok {
			h.Typeflag, h.Linkname = tar.TypeLink, first
			break
		}
		if st.Nlink > 1 {
			w.links[id] = f.name
		}
		h.Typeflag, h.Size, isFile = tar.TypeReg, st.Size, true
	case unix.S_IFDIR:
		h.Typeflag = tar.TypeDir
		if !strings.HasSuffix(h.Name, "/") {
			h.Name += "/"
		}
	case unix.S_IFLNK:
		h.Typeflag, h.Linkname = tar.TypeSymlink, f.link
	case unix.S_IFCHR, unix.S_IFBLK:
		h.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			h.Typeflag = tar.TypeBlock
		}
		h.Devmajor, h.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		h.Typeflag = tar.TypeFifo
	default:
		return false, nil
	}
	if isFile && !w.slow && len(f.xattrs) == 0 {
		if hdr, ok := appendFastHeader(w.hdr[:0], h); ok {
			w.hdr = hdr
			return w.writeFast(f, hdr)
		}
	}
	for k, v := range f.xattrs {
		if h.PAXRecords == nil {
			h.PAXRecords = map[string]string{}
		}
		h.PAXRecords[xattrPrefix+k] = v
	}
	if err := w.tw.WriteHeader(h); err != nil {
		return false, fmt.Errorf("archive %s: %w", f.name, err)
	}
	w.Stats.Entries++
	if !isFile {
		return true, nil
	}
	if err := w.body(f, w.tw); err != nil {
		return false, err
	}
	return true, nil
}

// writeFast writes a regular file whose header appendFastHeader made,
// past tw (which pads the entry before, and knows nothing of this one).
func (w *Writer) writeFast(f *File, hdr []byte) (bool, error) {
	if err := w.tw.Flush(); err != nil {
		return false, fmt.Errorf("archive %s: %w", f.name, err)
	}
	if _, err := w.zw.Write(hdr); err != nil {
		return false, fmt.Errorf("archive %s: %w", f.name, err)
	}
	w.Stats.Entries++
	if err := w.body(f, w.zw); err != nil {
		return false, err
	}
	if _, err := w.zw.Write(zeros[:padding(f.st.Size)]); err != nil {
		return false, fmt.Errorf("archive %s: %w", f.name, err)
	}
	return true, nil
}

// body writes a regular file's content to out (tw, or the stream past it):
// exactly the size its header says, or an error.
func (w *Writer) body(f *File, out io.Writer) error {
	st := &f.st
	var n int64
	if f.data != nil || st.Size == 0 {
		m, err := out.Write(f.data)
		f.release()
		if err != nil {
			return fmt.Errorf("archive %s: %w", f.name, err)
		}
		n = int64(m)
	} else {
		fh, err := os.Open(f.path)
		if err != nil {
			return err
		}
		defer fh.Close()
		if n, err = io.CopyBuffer(struct{ io.Writer }{out}, io.LimitReader(fh, st.Size), w.buf); err != nil {
			return fmt.Errorf("archive %s: %w", f.name, err)
		}
	}
	if n != st.Size {
		return fmt.Errorf("archive %s: %s shrank while it was read", f.name, f.path)
	}
	w.Stats.Files++
	w.Stats.Bytes += n
	return nil
}

// readXattrs reads path's extended attributes (ACLs among them, as
// system.posix_acl_*), which Write records the way GNU tar and star do:
// SCHILY.xattr.NAME.
func readXattrs(path string) (map[string]string, error) {
	return xattrsOf(path,
		func(dest []byte) (int, error) { return unix.Llistxattr(path, dest) },
		func(name string, dest []byte) (int, error) { return unix.Lgetxattr(path, name, dest) })
}

// xattrsOf reads a file's extended attributes with list and get (by path or
// by descriptor); path names the file in errors.
func xattrsOf(path string, list func(dest []byte) (int, error), get func(name string, dest []byte) (int, error)) (map[string]string, error) {
	n, err := list(nil)
	if errors.Is(err, unix.ENOTSUP) || err == nil && n == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list xattrs of %s: %w", path, err)
	}
	names := make([]byte, n)
	if n, err = list(names); err != nil {
		return nil, fmt.Errorf("list xattrs of %s: %w", path, err)
	}
	out := map[string]string{}
	for _, name := range strings.Split(strings.TrimRight(string(names[:n]), "\x00"), "\x00") {
		size, err := get(name, nil)
		if err != nil {
			return nil, fmt.Errorf("xattr %s of %s: %w", name, path, err)
		}
		val := make([]byte, size)
		if size, err = get(name, val); err != nil {
			return nil, fmt.Errorf("xattr %s of %s: %w", name, path, err)
		}
		out[name] = string(val[:size])
	}
	return out, nil
}

// Close ends the tar stream, the compression and the encryption.
func (w *Writer) Close() error {
	err := w.tw.Close()
	if zerr := w.zw.Close(); err == nil {
		err = zerr
	}
	if w.enc != nil {
		if eerr := w.enc.Close(); err == nil {
			err = eerr
		}
	}
	return err
}
