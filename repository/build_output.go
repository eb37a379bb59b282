package repository

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/depot-backup/depot/backupitems"
)

// tmpPrefix starts the names of files being written. A run killed mid-write
// leaves them behind in .partial, where the next attempt starts the item's
// directory afresh.
const tmpPrefix = ".depot-tmp-"

// itemOutput writes an item's files into the snapshot being built, on the
// repository's file system, wherever that is. It remembers what it wrote, so
// a snapshot on another host gets its file list without being walked.
type itemOutput struct {
	repo    Repo
	dir     string           // the item's directory in the build
	base    ItemBase         // the base's copy of the item
	mtime   time.Time        // every new file gets this time: the run's start
	prev    map[string]Entry // the base's list, read when first needed
	written map[string]Entry
}

var _ backupitems.Output = (*itemOutput)(nil)

// prevEntries reads the base's file list once: the regular files by name.
func (o *itemOutput) prevEntries(ctx context.Context) (map[string]Entry, error) {
	if o.prev != nil {
		return o.prev, nil
	}
	o.prev = map[string]Entry{}
	if o.base.FileList == "" {
		return o.prev, nil
	}
	r, err := o.repo.OpenFileList(ctx, o.base.FileList)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return o.prev, nil
		}
		if err != nil {
			return nil, err
		}
		if e.IsRegular() {
			o.prev[e.Path] = e
		}
	}
}

// CheckItemFileName refuses a name that is not a plain file name: an item's
// output is one flat directory.
func CheckItemFileName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") || strings.HasPrefix(name, tmpPrefix) {
		return fmt.Errorf("output file %q: want a plain file name", name)
	}
	return nil
}

// Create implements backupitems.Output.
func (o *itemOutput) Create(ctx context.Context, name string) (backupitems.OutputFile, error) {
	if err := CheckItemFileName(name); err != nil {
		return nil, err
	}
	tmp := path.Join(o.dir, tmpPrefix+name)
	w, err := o.repo.Files().Create(ctx, tmp)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	return &outputFile{ctx: ctx, out: o, name: name, tmp: tmp, w: w, h: sha256.New()}, nil
}

// LinkBase implements backupitems.Output.
func (o *itemOutput) LinkBase(ctx context.Context, name string) error {
	if err := CheckItemFileName(name); err != nil {
		return err
	}
	prev, err := o.prevEntries(ctx)
	if err != nil {
		return err
	}
	e, ok := prev[name]
	if !ok {
		return fmt.Errorf("link %s: the base snapshot has no such file", name)
	}
	if err := o.repo.Files().Link(ctx, path.Join(o.base.Dir, name), path.Join(o.dir, name)); err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	o.record(e)
	return nil
}

// BaseFiles implements backupitems.Output.
func (o *itemOutput) BaseFiles(ctx context.Context) ([]string, error) {
	prev, err := o.prevEntries(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(prev))
	for n := range prev {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

func (o *itemOutput) record(e Entry) {
	if o.written == nil {
		o.written = map[string]Entry{}
	}
	o.written[e.Path] = e
}

// entries returns what was written, in file list order.
func (o *itemOutput) entries() []Entry {
	out := make([]Entry, 0, len(o.written))
	for _, e := range o.written {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return PathLess(out[i].Path, out[j].Path) })
	return out
}

// outputFile is a file being written through an itemOutput.
type outputFile struct {
	ctx  context.Context
	out  *itemOutput
	name string
	tmp  string
	w    io.WriteCloser
	h    hash.Hash
	size int64
	done bool
}

func (f *outputFile) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	f.h.Write(p[:n])
	f.size += int64(n)
	return n, err
}

// Commit implements backupitems.OutputFile.
func (f *outputFile) Commit() (backupitems.FileInfo, error) {
	if f.done {
		return backupitems.FileInfo{}, errors.New("commit: file already finished")
	}
	f.done = true
	fsys := f.out.repo.Files()
	info := backupitems.FileInfo{Size: f.size, SHA256: hex.EncodeToString(f.h.Sum(nil))}
	if err := f.w.Close(); err != nil {
		fsys.Remove(context.WithoutCancel(f.ctx), f.tmp)
		return info, fmt.Errorf("write %s: %w", f.name, err)
	}
	prev, err := f.out.prevEntries(f.ctx)
	if err != nil {
		return info, err
	}
	final := path.Join(f.out.dir, f.name)
	if e, ok := prev[f.name]; ok && e.Hash == info.SHA256 {
		info.Linked = true
		if err := fsys.Link(f.ctx, path.Join(f.out.base.Dir, f.name), final); err != nil {
			return info, fmt.Errorf("link %s: %w", f.name, err)
		}
		f.out.record(e)
		return info, fsys.Remove(f.ctx, f.tmp)
	}
	if err := fsys.SetMtime(f.ctx, f.tmp, f.out.mtime); err != nil {
		return info, fmt.Errorf("write %s: %w", f.name, err)
	}
	if err := fsys.Rename(f.ctx, f.tmp, final); err != nil {
		return info, fmt.Errorf("write %s: %w", f.name, err)
	}
	f.out.record(Entry{Path: f.name, Mode: 0o100644, Size: f.size, Mtime: f.out.mtime.Truncate(time.Second).UnixNano(), Hash: info.SHA256})
	return info, nil
}

// Abort implements backupitems.OutputFile.
func (f *outputFile) Abort() {
	if f.done {
		return
	}
	f.done = true
	if pw, ok := f.w.(interface{ CloseWithError(error) error }); ok {
		pw.CloseWithError(errors.New("aborted"))
	}
	f.w.Close()
	f.out.repo.Files().Remove(context.WithoutCancel(f.ctx), f.tmp)
}
