package backupitems

import (
	"context"
	"errors"
	"fmt"
)

// SourceFile is one path of a tree item's live source, as the quick path's
// walk sees it. Paths are relative to the item directory of a snapshot
// ("var/www/index.html" for /var/www/index.html), in file list order.
type SourceFile struct {
	Path        string
	Mode        uint32 // st_mode
	Size, Mtime int64  // mtime in ns
	Ctime       int64  // ns, on the source host's clock
	Uid, Gid    uint32
}

// SourceWalker is an item that can list its live source the way a snapshot
// of it would hold it: depot diff --source compares that with a snapshot.
type SourceWalker interface {
	WalkSource(ctx context.Context, env Env) ([]SourceFile, error)
}

var _ SourceWalker = (*Filesystem)(nil)

// WalkSource walks the item's paths on env.Source with the quick path's walk.
// An item whose excludes or paths that walk cannot interpret exactly as rsync
// does is an error: a comparison through another walk would not be the same.
func (f *Filesystem) WalkSource(ctx context.Context, env Env) ([]SourceFile, error) {
	walked, _, err := f.walkSource(ctx, env)
	if errors.Is(err, errNoQuickWalk) {
		return nil, fmt.Errorf("the source cannot be compared without rsync's own walk: %w", err)
	}
	if err != nil {
		return nil, err
	}
	out := make([]SourceFile, len(walked))
	for i, w := range walked {
		out[i] = SourceFile{Path: w.path, Mode: w.mode, Size: w.size, Mtime: w.mtime, Ctime: w.ctime, Uid: w.uid, Gid: w.gid}
	}
	return out, nil
}
