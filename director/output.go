package director

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/depot-backup/depot/backupitems"
	"github.com/depot-backup/depot/repository"
)

// tmpPrefix starts the names of files being written. A run killed mid-write
// leaves them behind in .partial, where the next attempt starts the item's
// directory afresh.
const tmpPrefix = ".depot-tmp-"

// localOutput writes an item's files into a snapshot on this machine.
type localOutput struct {
	dir      string // the item's directory in the build
	baseDir  string // the item's directory in the base snapshot, or ""
	baseList string // the base's file list for the item, or ""
	hashes   map[string]string
}

var _ backupitems.Output = (*localOutput)(nil)

// baseHashes reads the base's file list once: path → SHA-256 of regular files.
func (o *localOutput) baseHashes() (map[string]string, error) {
	if o.hashes != nil || o.baseList == "" {
		return o.hashes, nil
	}
	r, err := repository.OpenFileList(o.baseList)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	o.hashes = map[string]string{}
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return o.hashes, nil
		}
		if err != nil {
			return nil, err
		}
		if e.IsRegular() {
			o.hashes[e.Path] = e.Hash
		}
	}
}

func (o *localOutput) path(name string) (string, error) {
	clean := filepath.Clean(filepath.FromSlash(name))
	if filepath.IsAbs(clean) || clean == "." || strings.HasPrefix(clean, "..") {
		return "", fmt.Errorf("output file %q: not a relative path inside the item", name)
	}
	return filepath.Join(o.dir, clean), nil
}

// Create implements backupitems.Output.
func (o *localOutput) Create(_ context.Context, name string) (backupitems.OutputFile, error) {
	final, err := o.path(name)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Dir(final), tmpPrefix+"*")
	if err != nil {
		return nil, err
	}
	return &localFile{out: o, name: name, final: final, f: f, h: sha256.New()}, nil
}

// LinkBase implements backupitems.Output.
func (o *localOutput) LinkBase(_ context.Context, name string) error {
	final, err := o.path(name)
	if err != nil {
		return err
	}
	if o.baseDir == "" {
		return fmt.Errorf("link %s: no base snapshot", name)
	}
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return err
	}
	return replaceWithLink(filepath.Join(o.baseDir, filepath.FromSlash(name)), final)
}

// BaseFiles implements backupitems.Output.
func (o *localOutput) BaseFiles(context.Context) ([]string, error) {
	hashes, err := o.baseHashes()
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(hashes))
	for n := range hashes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// replaceWithLink makes dst a hard link to src, replacing a file left at dst
// by an interrupted attempt.
func replaceWithLink(src, dst string) error {
	if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Link(src, dst)
}

// localFile is an OutputFile on this machine.
type localFile struct {
	out   *localOutput
	name  string
	final string
	f     *os.File
	h     hash.Hash
	size  int64
	done  bool
}

func (f *localFile) Write(p []byte) (int, error) {
	n, err := f.f.Write(p)
	f.h.Write(p[:n])
	f.size += int64(n)
	return n, err
}

// Commit implements backupitems.OutputFile.
func (f *localFile) Commit() (backupitems.FileInfo, error) {
	if f.done {
		return backupitems.FileInfo{}, errors.New("commit: file already finished")
	}
	f.done = true
	tmp := f.f.Name()
	info := backupitems.FileInfo{Size: f.size, SHA256: hex.EncodeToString(f.h.Sum(nil))}
	if err := f.f.Close(); err != nil {
		os.Remove(tmp)
		return info, fmt.Errorf("write %s: %w", f.name, err)
	}
	hashes, err := f.out.baseHashes()
	if err != nil {
		os.Remove(tmp)
		return info, err
	}
	if hashes[f.name] == info.SHA256 && info.SHA256 != "" {
		os.Remove(tmp)
		info.Linked = true
		return info, replaceWithLink(filepath.Join(f.out.baseDir, filepath.FromSlash(f.name)), f.final)
	}
	if err := os.Rename(tmp, f.final); err != nil {
		os.Remove(tmp)
		return info, fmt.Errorf("write %s: %w", f.name, err)
	}
	return info, nil
}

// Abort implements backupitems.OutputFile.
func (f *localFile) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.f.Close()
	os.Remove(f.f.Name())
}

// localInput reads an item's files from a snapshot on this machine.
type localInput struct {
	dir      string // the item's directory in the snapshot
	fileList string // its file list
}

var _ backupitems.Input = localInput{}

// Files implements backupitems.Input.
func (in localInput) Files(context.Context) ([]string, error) {
	r, err := repository.OpenFileList(in.fileList)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var names []string
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			sort.Strings(names)
			return names, nil
		}
		if err != nil {
			return nil, err
		}
		if e.IsRegular() {
			names = append(names, e.Path)
		}
	}
}

// Open implements backupitems.Input.
func (in localInput) Open(_ context.Context, name string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(in.dir, filepath.FromSlash(name)))
}
