package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
)

// List reads a whole export, decrypting and decompressing it (zstd checks
// each frame's checksum), and calls fn with each header once its content
// has been read. Any damage (a truncated stream, a wrong key, a corrupt
// frame) is an error.
func List(r io.Reader, identities []age.Identity, fn func(*tar.Header) error) (Stats, error) {
	var st Stats
	rc, err := Open(r, identities)
	if err != nil {
		return st, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if st.Entries == 0 {
				return st, errors.New("not an export: no tar entries")
			}
			return st, nil
		}
		if err != nil && st.Entries == 0 {
			return st, fmt.Errorf("not a depot export (a tar stream compressed with zstd): %w", err)
		}
		if err != nil {
			return st, fmt.Errorf("read archive after %d entries: %w", st.Entries, err)
		}
		n, err := io.Copy(io.Discard, tr)
		if err != nil {
			return st, fmt.Errorf("read %s: %w", h.Name, err)
		}
		st.Entries++
		if h.Typeflag == tar.TypeReg {
			st.Files++
			st.Bytes += n
		}
		if err := fn(h); err != nil {
			return st, err
		}
	}
}
