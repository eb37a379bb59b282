package director

import (
	"context"
	"errors"
	"io"
	"path"
	"sort"

	"github.com/depot-backup/depot/backupitems"
	"github.com/depot-backup/depot/repository"
)

// fsInput reads an item's files from a snapshot on the repository's file
// system.
type fsInput struct {
	repo     repository.Repo
	dir      string // the item's directory in the snapshot
	fileList string // its file list
}

var _ backupitems.Input = fsInput{}

// Files implements backupitems.Input.
func (in fsInput) Files(ctx context.Context) ([]string, error) {
	r, err := in.repo.OpenFileList(ctx, in.fileList)
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
func (in fsInput) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := repository.CheckItemFileName(name); err != nil {
		return nil, err
	}
	return in.repo.Files().Open(ctx, path.Join(in.dir, name))
}
