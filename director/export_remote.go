package director

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/depot-backup/depot/archive"
	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/repository"
)

// An item of a snapshot on another host (a pushed-to repository) is
// exported through one tar there: depot writes the item's paths, in file
// list order, to tar's standard input, and reads the stream tar writes back
// over the same connection. The stream is input from another host like any
// other: each entry must be the next path the list names, of the type and
// size the list records (a symlink with the target it hashes, a hard link
// to a file the stream already held), or the export fails and writes
// nothing. The repository host needs GNU tar, as it needs GNU find for
// verify.

// remoteTarArgv creates a PAX stream of the NUL-separated paths on its
// standard input, relative to the item directory, without descending.
func remoteTarArgv(dir string) []string {
	return []string{"tar", "--create", "--file=-", "--directory=" + dir, "--format=pax", "--numeric-owner",
		"--xattrs", "--xattrs-include=*", "--no-recursion", "--null", "--verbatim-files-from", "--files-from=-"}
}

// exportItemOnHost writes an item (under rels, with their parent
// directories, when given) of a snapshot that fsys holds.
func (d *Director) exportItemOnHost(ctx context.Context, w *archive.Writer, fsys *repository.HostFS, snap repository.Snapshot, it repository.ItemRecord, rels []string) error {
	data, err := readItemList(ctx, d.repo(), snap, it)
	if err != nil {
		return err
	}
	wanted := exportWanted(rels)
	// The paths go to tar from one reading of the list, and the stream is
	// checked against another: no path is held in memory.
	names, err := repository.NewFileListReader(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("export item %s: %w", it.Name, err)
	}
	defer names.Close()
	expect, err := repository.NewFileListReader(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("export item %s: %w", it.Name, err)
	}
	defer expect.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ran := make(chan error, 1)
	dir := path.Join(snap.Path, it.Name)
	go func() {
		err := fsys.Host.Run(ctx, hosts.Command{Argv: remoteTarArgv(dir), Stdin: inR, Stdout: outW})
		if err != nil {
			err = fmt.Errorf("tar on %s: %w", fsys.Host.Name(), err)
		}
		inR.CloseWithError(err)
		outW.CloseWithError(err)
		ran <- err
	}()
	fed := make(chan struct{})
	go func() {
		defer close(fed) // before names is closed
		inW.CloseWithError(feedPaths(ctx, inW, names, wanted))
	}()
	checked := d.copyRemoteItem(ctx, w, tar.NewReader(outR), expect, it.Name, wanted)
	ended := errors.Is(checked, errStreamEnded) // tar is done: it says why
	if checked != nil && !ended {
		cancel()
	} else {
		io.Copy(io.Discard, outR) // the padding tar writes past the end of the archive
	}
	outR.Close()
	runErr := <-ran
	<-fed
	switch {
	case ended && runErr != nil:
		return fmt.Errorf("export item %s: %w", it.Name, runErr)
	case checked != nil:
		return fmt.Errorf("export item %s from %s: %w", it.Name, fsys.Host.Name(), checked)
	case runErr != nil:
		return fmt.Errorf("export item %s: %w", it.Name, runErr)
	}
	return nil
}

// feedPaths writes ".", then each wanted path of the list that tar can
// hold (not a socket), NUL-terminated.
func feedPaths(ctx context.Context, out io.Writer, r repository.EntryReader, wanted func(string) bool) error {
	if _, err := io.WriteString(out, ".\x00"); err != nil {
		return err
	}
	for ctx.Err() == nil {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if !wanted(e.Path) || isSocket(e) {
			continue
		}
		if _, err := io.WriteString(out, e.Path+"\x00"); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// errStreamEnded means tar's stream ended before the paths the list names.
var errStreamEnded = errors.New("not in the stream: the stream ended (missing on the host?)")

// isSocket reports whether e is a socket, which tar cannot hold.
func isSocket(e repository.Entry) bool { return e.Mode&0o170000 == 0o140000 }

// copyRemoteItem copies tar's stream into the export, checking each entry
// against the next wanted path of the list.
func (d *Director) copyRemoteItem(ctx context.Context, w *archive.Writer, tr *tar.Reader, list repository.EntryReader, item string, wanted func(string) bool) error {
	next := func() (*tar.Header, error) {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, errStreamEnded
		}
		return h, err
	}
	h, err := next()
	if err != nil {
		return fmt.Errorf("the item directory: %w", err)
	}
	if h.Name != "./" || h.Typeflag != tar.TypeDir {
		return fmt.Errorf("the stream starts with %q, not the item directory", h.Name)
	}
	h.Name = item + "/"
	if err := w.WriteStream(h, tr); err != nil {
		return err
	}
	files := map[string]int64{} // the regular files the stream held, by path: hard link targets
	for ctx.Err() == nil {
		e, err := list.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if !wanted(e.Path) {
			continue
		}
		if isSocket(e) {
			d.Log.Warn("not exported: tar cannot hold a socket", "item", item, "path", e.Path)
			continue
		}
		h, err := next()
		if err != nil {
			return fmt.Errorf("%s: %w", e.Path, err)
		}
		if err := checkRemoteEntry(h, e, files); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			files[e.Path] = e.Size
		}
		h.Name = item + "/" + strings.TrimSuffix(h.Name, "/")
		if h.Typeflag == tar.TypeLink {
			h.Linkname = item + "/" + h.Linkname
		}
		if err := w.WriteStream(h, tr); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if h, err := tr.Next(); err == nil {
		return fmt.Errorf("%s: in the stream but not in the file list", h.Name)
	} else if !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// tarTypeOf is the tar entry type of a file list entry's st_mode type.
var tarTypeOf = map[uint32]byte{0o100000: tar.TypeReg, 0o040000: tar.TypeDir, 0o120000: tar.TypeSymlink,
	0o020000: tar.TypeChar, 0o060000: tar.TypeBlock, 0o010000: tar.TypeFifo}

// checkRemoteEntry checks a header of the stream against the list entry e
// it must stand for; files holds the regular files already in the stream.
func checkRemoteEntry(h *tar.Header, e repository.Entry, files map[string]int64) error {
	name := strings.TrimSuffix(h.Name, "/")
	if name != e.Path {
		return fmt.Errorf("the stream holds %q where the file list has %q (missing on the host?)", h.Name, e.Path)
	}
	want := tarTypeOf[e.Mode&0o170000]
	switch {
	case h.Typeflag == tar.TypeLink && want == tar.TypeReg:
		size, ok := files[h.Linkname]
		if !ok || size != e.Size {
			return fmt.Errorf("%s: a hard link to %q, which the stream did not hold as a file of its size", e.Path, h.Linkname)
		}
	case h.Typeflag != want:
		return fmt.Errorf("%s: an entry of type %q, the file list says mode %o", e.Path, h.Typeflag, e.Mode)
	case want == tar.TypeReg && h.Size != e.Size:
		return fmt.Errorf("%s: size %d, the list says %d", e.Path, h.Size, e.Size)
	case want == tar.TypeSymlink:
		if sum := sha256.Sum256([]byte(h.Linkname)); hex.EncodeToString(sum[:]) != e.Hash {
			return fmt.Errorf("%s: symlink target differs from the file list", e.Path)
		}
	}
	return nil
}
