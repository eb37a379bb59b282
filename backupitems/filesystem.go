package backupitems

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/depot-backup/depot/rsync"
)

func init() {
	Register(Type{
		Name:    "filesystem",
		Summary: "directory trees, copied by rsync; unchanged files are hard links to the previous snapshot",
		New:     func() Item { return &Filesystem{} },
		// rsync into the .partial sends only what is missing.
		Resumable: true,
	})
}

// Filesystem backs up directory trees with rsync --link-dest. Each path keeps
// its full name inside the item directory (/var/www lands in <item>/var/www),
// so several paths never collide and a restore puts them back where they were.
type Filesystem struct {
	Common        `yaml:",inline"`
	Paths         []string `yaml:"paths"`
	Exclude       []string `yaml:"exclude"`
	Format        string   `yaml:"format"`
	OneFileSystem bool     `yaml:"one_file_system"`
	ACLs          *bool    `yaml:"acls"`
	Xattrs        *bool    `yaml:"xattrs"`
}

var _ Item = (*Filesystem)(nil)

// Validate implements Item.
func (f *Filesystem) Validate() []FieldError {
	var errs []FieldError
	if len(f.Paths) == 0 {
		errs = append(errs, FieldError{Key: "paths", Index: -1, Message: "at least one path is required"})
	}
	for i, p := range f.Paths {
		if !filepath.IsAbs(p) {
			errs = append(errs, FieldError{Key: "paths", Index: i, Message: fmt.Sprintf("path %q is relative; write it from the root, e.g. /%s", p, p)})
		}
	}
	for i, e := range f.Exclude {
		if e == "" {
			errs = append(errs, FieldError{Key: "exclude", Index: i, Message: "empty pattern"})
		}
	}
	switch f.Format {
	case "", "tree":
	case "archive":
		errs = append(errs, FieldError{Key: "format", Index: -1, Message: "format archive is not available in this version; use tree"})
	default:
		errs = append(errs, FieldError{Key: "format", Index: -1, Message: fmt.Sprintf("unknown format %q; valid: tree", f.Format)})
	}
	return errs
}

// rsyncOptions returns the transfer for env.
func (f *Filesystem) rsyncOptions(env Env) rsync.Options {
	return rsync.Options{
		Sources:       f.Paths,
		Dest:          env.Dir + "/",
		LinkDest:      env.Base,
		Relative:      true,
		HardLinks:     true,
		ACLs:          f.ACLs == nil || *f.ACLs,
		Xattrs:        f.Xattrs == nil || *f.Xattrs,
		NumericIDs:    true,
		OneFileSystem: f.OneFileSystem,
		Delete:        true,
		Excludes:      f.Exclude,
	}
}

// Plan implements Item.
func (f *Filesystem) Plan(env Env) Plan {
	return Plan{Sources: f.Paths, Command: append([]string{"rsync"}, f.rsyncOptions(env).Args()...)}
}

// Backup implements Item.
func (f *Filesystem) Backup(ctx context.Context, env Env) (Result, error) {
	for _, p := range f.Paths {
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			return Result{}, fmt.Errorf("source path %s does not exist", p)
		} else if err != nil {
			return Result{}, fmt.Errorf("source path %s: %w", p, err)
		}
	}
	res, err := rsync.Run(ctx, env.Source, f.rsyncOptions(env))
	if err != nil {
		return Result{}, err
	}
	return Result{
		Warnings:         res.Warnings,
		FilesTransferred: res.Stats.FilesTransferred,
		BytesTransferred: res.Stats.BytesTransferred,
	}, nil
}
