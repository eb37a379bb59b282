package director

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/depot-backup/depot/archive"
	"github.com/depot-backup/depot/repository"
)

// ExportOptions say what to export where.
type ExportOptions struct {
	Target string   // SET or SET@STAMP
	Item   string   // one item; all when empty
	Paths  []string // only these paths (ITEM/PATH or the source's path)
	Output string   // a file, or "-" for stdout
	// Recipients (age or SSH public keys, or files of them) and
	// PassphraseFile encrypt the archive with age.
	Recipients     []string
	PassphraseFile string
}

// Export writes a snapshot (or some of its items or paths) as one tar.zst
// archive, in file list order, with constant memory. A file is written
// through a temporary name and renamed when complete: a failed export leaves
// nothing behind.
func (d *Director) Export(ctx context.Context, o ExportOptions) error {
	if o.Output == "" {
		return &UsageError{Msg: "export needs -o FILE.tar.zst (or -o - for stdout)"}
	}
	recipients, err := exportRecipients(o)
	if err != nil {
		return err
	}
	snap, err := d.findSnapshot(ctx, o.Target)
	if err != nil {
		return err
	}
	var items []repository.ItemRecord
	for _, it := range snap.Manifest.Items {
		if o.Item != "" && it.Name != o.Item {
			continue
		}
		if it.Status == repository.StatusFailed {
			d.Log.Warn("item failed in this snapshot: nothing to export", "snapshot", snap.Name(), "item", it.Name)
			continue
		}
		items = append(items, it)
	}
	if len(items) == 0 {
		return &UsageError{Msg: fmt.Sprintf("snapshot %s has no item %q with data", snap.Name(), o.Item)}
	}
	picked, err := d.exportPaths(ctx, snap, items, o.Paths)
	if err != nil {
		return err
	}

	var out io.Writer = d.Out
	var tmp *os.File
	if o.Output != "-" {
		if _, err := os.Lstat(o.Output); err == nil {
			return &UsageError{Msg: fmt.Sprintf("export: %s exists; choose a new file name", o.Output)}
		}
		if err := d.outsideRepository("export -o", filepath.Dir(o.Output)); err != nil {
			return err
		}
		if tmp, err = os.OpenFile(o.Output+".partial", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		defer func() {
			if tmp != nil {
				tmp.Close()
				os.Remove(tmp.Name())
			}
		}()
		out = tmp
	}
	start := time.Now()
	w, err := archive.NewWriter(out, recipients)
	if err != nil {
		return err
	}
	for _, it := range items {
		rels, chosen := picked[it.Name]
		if len(o.Paths) > 0 && !chosen {
			continue
		}
		export := d.exportItem
		if fsys, ok := d.repo().FS.(*repository.HostFS); ok {
			export = func(ctx context.Context, w *archive.Writer, snap repository.Snapshot, it repository.ItemRecord, rels []string) error {
				return d.exportItemOnHost(ctx, w, fsys, snap, it, rels)
			}
		}
		if err := export(ctx, w, snap, it, rels); err != nil {
			w.Close()
			return err
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if tmp != nil {
		if err := tmp.Sync(); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if err := tmp.Close(); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if err := os.Rename(tmp.Name(), o.Output); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		tmp = nil
	}
	d.Log.Info("exported", "snapshot", snap.Name(), "to", o.Output, "entries", w.Stats.Entries, "files", w.Stats.Files,
		"bytes", w.Stats.Bytes, "encrypted", len(recipients) > 0, "seconds", seconds(time.Since(start)))
	return nil
}

func exportRecipients(o ExportOptions) ([]age.Recipient, error) {
	var out []age.Recipient
	for _, r := range o.Recipients {
		rs, err := archive.ParseRecipient(r)
		if err != nil {
			return nil, &UsageError{Msg: "--encrypt-to " + err.Error()}
		}
		out = append(out, rs...)
	}
	if o.PassphraseFile != "" {
		if len(out) > 0 {
			return nil, &UsageError{Msg: "--passphrase-file and --encrypt-to exclude each other (age encrypts to a passphrase alone)"}
		}
		r, err := archive.PassphraseRecipient(o.PassphraseFile)
		if err != nil {
			return nil, &UsageError{Msg: err.Error()}
		}
		out = append(out, r)
	}
	return out, nil
}

// exportPaths resolves --path arguments per item; every one must be found.
func (d *Director) exportPaths(ctx context.Context, snap repository.Snapshot, items []repository.ItemRecord, paths []string) (map[string][]string, error) {
	out := map[string][]string{}
	chosen := map[string]bool{}
	for _, it := range items {
		chosen[it.Name] = true
	}
	for _, p := range paths {
		q := resolvePath(snap.Manifest, p)
		found := false
		for _, it := range q.items {
			if !chosen[it.Name] {
				continue
			}
			if q.rel == "" {
				return nil, &UsageError{Msg: fmt.Sprintf("--path %s names a whole item: use --item %s", p, it.Name)}
			}
			if _, ok, err := findEntry(ctx, d.repo(), snap, it, q.rel); err != nil {
				return nil, err
			} else if ok {
				out[it.Name] = append(out[it.Name], q.rel)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("snapshot %s has no path %s (depot ls %s@%s lists its paths)", snap.Name(), p, snap.Set, snap.Stamp)
		}
	}
	return out, nil
}

// exportItem writes an item's entries (under rels, with their parent
// directories, when given) in file list order.
func (d *Director) exportItem(ctx context.Context, w *archive.Writer, snap repository.Snapshot, it repository.ItemRecord, rels []string) error {
	r, err := openItemList(ctx, d.repo(), snap, it)
	if err != nil {
		return err
	}
	defer r.Close()
	dir := filepath.Join(snap.Path, it.Name)
	if _, err := w.Add(it.Name+"/", dir); err != nil {
		return fmt.Errorf("export item %s: %w", it.Name, err)
	}
	wanted := exportWanted(rels)
	// One goroutine reads the files ahead (metadata, and small files
	// whole: at most readAhead of them wait), each through its
	// directory's descriptor, while this one writes the stream, so
	// reading overlaps compression.
	type read struct {
		f    *archive.File
		path string
		err  error
	}
	const readAhead = 32
	files := make(chan read, readAhead)
	rctx, stop := context.WithCancel(ctx)
	defer func() {
		stop()
		for range files { // the reader is done with r before r.Close
		}
	}()
	go func() {
		defer close(files)
		rd := archive.NewDirReader()
		defer rd.Close()
		for rctx.Err() == nil {
			e, err := r.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err == nil && !wanted(e.Path) {
				continue
			}
			var f *archive.File
			if err == nil {
				f, err = rd.Read(it.Name+"/"+e.Path, filepath.Join(dir, filepath.FromSlash(e.Path)))
			}
			select {
			case files <- read{f, e.Path, err}:
			case <-rctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for rd := range files {
		if rd.err != nil {
			return fmt.Errorf("export item %s: %w", it.Name, rd.err)
		}
		ok, err := w.Write(rd.f)
		if err != nil {
			return fmt.Errorf("export item %s: %w", it.Name, err)
		}
		if !ok {
			d.Log.Warn("not exported: tar cannot hold a socket", "item", it.Name, "path", rd.path)
		}
	}
	return ctx.Err()
}

// exportWanted says which paths of an item an export holds: all, or those
// under rels and their parent directories.
func exportWanted(rels []string) func(string) bool {
	return func(p string) bool {
		if len(rels) == 0 {
			return true
		}
		for _, rel := range rels {
			if under(p, rel) || strings.HasPrefix(rel, p+"/") {
				return true
			}
		}
		return false
	}
}

// ListArchive reads a whole export and prints its entries like tar tv,
// then a summary; any damage or a wrong key is an error.
func (d *Director) ListArchive(file, identityFile, passphraseFile string) error {
	var ids []age.Identity
	if identityFile != "" {
		more, err := archive.ParseIdentityFile(identityFile)
		if err != nil {
			return &UsageError{Msg: err.Error()}
		}
		ids = append(ids, more...)
	}
	if passphraseFile != "" {
		id, err := archive.PassphraseIdentity(passphraseFile)
		if err != nil {
			return &UsageError{Msg: err.Error()}
		}
		ids = append(ids, id)
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("export --list: %w", err)
	}
	defer f.Close()
	st, err := archive.List(f, ids, func(h *tar.Header) error {
		name := h.Name
		switch h.Typeflag {
		case tar.TypeSymlink:
			name += " -> " + h.Linkname
		case tar.TypeLink:
			name += " link to " + h.Linkname
		}
		_, err := fmt.Fprintf(d.Out, "%s %-11s %10d  %s  %s\n", modeString(tarMode(h)), fmt.Sprintf("%d:%d", h.Uid, h.Gid), h.Size, h.ModTime.UTC().Format("2006-01-02 15:04:05"), name)
		return err
	})
	if err != nil {
		return fmt.Errorf("archive %s: %w", file, err)
	}
	_, err = fmt.Fprintf(d.Out, "%s: ok, %d entries, %d files, %s\n", file, st.Entries, st.Files, humanBytes(st.Bytes))
	return err
}

// tarTypes are the st_mode file types of tar's entry types.
var tarTypes = map[byte]uint32{tar.TypeDir: 0o040000, tar.TypeSymlink: 0o120000, tar.TypeChar: 0o020000, tar.TypeBlock: 0o060000, tar.TypeFifo: 0o010000}

// tarMode turns a tar header into st_mode.
func tarMode(h *tar.Header) uint32 {
	t, ok := tarTypes[h.Typeflag]
	if !ok {
		t = 0o100000
	}
	return t | uint32(h.Mode&0o7777)
}
