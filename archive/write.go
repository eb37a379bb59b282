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
	"runtime"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// Writer adds files from disk to an export stream. Memory stays constant in
// the number of files, except for the files with several links, whose first
// name is remembered to write the others as hard links to it.
type Writer struct {
	tw    *tar.Writer
	zw    *zstd.Encoder
	enc   io.WriteCloser // age, or nil
	links map[fileID]string
	buf   []byte
	xbuf  []byte
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
	out := &Writer{links: map[fileID]string{}, buf: make([]byte, 1<<20), xbuf: make([]byte, 64<<10)}
	if len(recipients) > 0 {
		enc, err := age.Encrypt(w, recipients...)
		if err != nil {
			return nil, fmt.Errorf("encrypt: %w", err)
		}
		out.enc, w = enc, enc
	}
	zw, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)), zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		return nil, err
	}
	out.zw, out.tw = zw, tar.NewWriter(zw)
	return out, nil
}

// Add writes the file at path on disk as name ("item/dir/file"; a directory
// gets its trailing slash here). A socket, which tar cannot hold, is
// skipped and reported as false.
func (w *Writer) Add(name, path string) (bool, error) {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return false, &fs.PathError{Op: "lstat", Path: path, Err: err}
	}
	h := &tar.Header{
		Name:    name,
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
			w.links[id] = name
		}
		h.Typeflag, h.Size, isFile = tar.TypeReg, st.Size, true
	case unix.S_IFDIR:
		h.Typeflag = tar.TypeDir
		if !strings.HasSuffix(h.Name, "/") {
			h.Name += "/"
		}
	case unix.S_IFLNK:
		target, err := os.Readlink(path)
		if err != nil {
			return false, err
		}
		h.Typeflag, h.Linkname = tar.TypeSymlink, target
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
	if err := w.xattrs(path, h); err != nil {
		return false, err
	}
	if err := w.tw.WriteHeader(h); err != nil {
		return false, fmt.Errorf("archive %s: %w", name, err)
	}
	w.Stats.Entries++
	if !isFile {
		return true, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	n, err := io.CopyBuffer(struct{ io.Writer }{w.tw}, io.LimitReader(f, st.Size), w.buf)
	if err != nil {
		return false, fmt.Errorf("archive %s: %w", name, err)
	}
	if n != st.Size {
		return false, fmt.Errorf("archive %s: %s shrank while it was read", name, path)
	}
	w.Stats.Files++
	w.Stats.Bytes += n
	return true, nil
}

// xattrs records path's extended attributes (ACLs among them, as
// system.posix_acl_*) the way GNU tar and star do: SCHILY.xattr.NAME.
func (w *Writer) xattrs(path string, h *tar.Header) error {
	n, err := unix.Llistxattr(path, w.xbuf)
	if errors.Is(err, unix.ENOTSUP) || n == 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list xattrs of %s: %w", path, err)
	}
	names := strings.Split(strings.TrimRight(string(w.xbuf[:n]), "\x00"), "\x00")
	for _, name := range names {
		size, err := unix.Lgetxattr(path, name, nil)
		if err != nil {
			return fmt.Errorf("xattr %s of %s: %w", name, path, err)
		}
		val := make([]byte, size)
		if size, err = unix.Lgetxattr(path, name, val); err != nil {
			return fmt.Errorf("xattr %s of %s: %w", name, path, err)
		}
		if h.PAXRecords == nil {
			h.PAXRecords = map[string]string{}
		}
		h.PAXRecords["SCHILY.xattr."+name] = string(val[:size])
	}
	return nil
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
