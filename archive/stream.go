package archive

import (
	"archive/tar"
	"fmt"
	"io"
	"strings"
)

// xattrPrefix is the PAX record under which GNU tar, star and Write keep an
// extended attribute.
const xattrPrefix = "SCHILY.xattr."

// WriteStream adds an entry read from another tar stream (one a repository
// host made of its files) as Write would have written it from disk: the
// name, type, permission bits, numeric owner, mtime, link target, device
// numbers and extended attributes of h, and for a regular file exactly
// h.Size bytes of body. Everything else h holds (owner names, atime, ctime,
// other PAX records) is left out, so an export reads the same whichever
// host its files came from. The caller checks h against what it expects.
func (w *Writer) WriteStream(h *tar.Header, body io.Reader) error {
	out := &tar.Header{
		Typeflag: h.Typeflag,
		Name:     h.Name,
		Linkname: h.Linkname,
		Mode:     h.Mode & 0o7777,
		Uid:      h.Uid,
		Gid:      h.Gid,
		ModTime:  h.ModTime,
		Devmajor: h.Devmajor,
		Devminor: h.Devminor,
		Format:   tar.FormatPAX,
	}
	switch h.Typeflag {
	case tar.TypeReg:
		out.Size = h.Size
	case tar.TypeDir:
		if !strings.HasSuffix(out.Name, "/") {
			out.Name += "/"
		}
	case tar.TypeLink, tar.TypeSymlink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return fmt.Errorf("archive %s: entry type %q is not one an export holds", h.Name, h.Typeflag)
	}
	for k, v := range h.PAXRecords {
		if strings.HasPrefix(k, xattrPrefix) {
			if out.PAXRecords == nil {
				out.PAXRecords = map[string]string{}
			}
			out.PAXRecords[k] = v
		}
	}
	if err := w.tw.WriteHeader(out); err != nil {
		return fmt.Errorf("archive %s: %w", h.Name, err)
	}
	w.Stats.Entries++
	if out.Typeflag != tar.TypeReg {
		return nil
	}
	n, err := io.CopyBuffer(struct{ io.Writer }{w.tw}, io.LimitReader(body, out.Size), w.buf)
	if err != nil {
		return fmt.Errorf("archive %s: %w", h.Name, err)
	}
	if n != out.Size {
		return fmt.Errorf("archive %s: %d of %d bytes came", h.Name, n, out.Size)
	}
	w.Stats.Files++
	w.Stats.Bytes += n
	return nil
}
