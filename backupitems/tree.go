package backupitems

import (
	"context"
	"errors"
)

// TreeItem is an item that copies a directory tree and can build it from the
// base snapshot's copy itself (the quick path, see treequick.go). depot calls
// PlanTree and BackupTree instead of Plan and Backup; the generic Env and
// Result carry nothing of this.
type TreeItem interface {
	Item
	// PlanTree is Plan, knowing what BackupTree will get.
	PlanTree(ctx context.Context, env Env, tree TreeEnv) Plan
	// BackupTree is Backup. Besides the Result it tells what it put in
	// Dir, for the item's file list.
	BackupTree(ctx context.Context, env Env, tree TreeEnv) (Result, TreeListing, error)
}

// TreeEnv is what a tree item gets beyond Env.
type TreeEnv struct {
	// Remote says Dir is on another host, where depot cannot walk it to
	// list the snapshot's files: the listing must name every path (on
	// this machine a walk after the copy costs less than listing every
	// path during it).
	Remote bool
	// Prev is the base snapshot's copy of the tree, or nil when there is
	// no base or it has no file list.
	Prev PrevTree
	// Resumes, for plan, is the item's directory in an interrupted run's
	// .partial that the run will continue in Dir ("" for none): what the
	// run finds in Dir.
	Resumes string
}

// PrevTree is the base snapshot's copy of a tree item, on the repository
// host: its file list and its files.
type PrevTree interface {
	// List opens the base's file list, to be read in file list order
	// (component by component, bytewise).
	List(ctx context.Context) (PrevList, error)
	// Link fills the empty Dir from the base: dirs are created, files are
	// hard links to the base's copies, and none of the base's other paths
	// are there; drop names them (outermost only), for a repository host
	// that clones the base whole and then removes. files calls its
	// function for each file in turn and stops at its first error. All
	// paths are relative to the item directory and in file list order (in
	// files, the directories come after the rest). A file whose base copy
	// is missing or no longer what its entry says is not linked but
	// returned, for the item to copy from the source. A directory among
	// files (also among dirs) keeps its base copy's attributes, checked
	// against its entry like a file's, or is returned for copying when
	// they are not what the entry says. An error that wraps
	// ErrNoTreeLink leaves Dir empty and means: copy with rsync instead.
	Link(ctx context.Context, dirs []string, files func(func(PrevEntry) error) error, drop []string) (copy []string, err error)
}

// PrevList reads the base's file list.
type PrevList interface {
	// Next returns the next entry, or io.EOF after the last.
	Next() (PrevEntry, error)
	Close() error
}

// ErrNoTreeLink means a repository host cannot build a tree from hard links
// by itself (no GNU cp there, say).
var ErrNoTreeLink = errors.New("the repository host cannot hard-link trees")

// PrevEntry is one path of the base snapshot's file list of a tree item.
type PrevEntry struct {
	Path  string
	Mode  uint32 // st_mode
	Size  int64
	Mtime int64 // ns since the epoch
	// What the base's walk saw of the path on the source; Ctime is 0 when
	// the list does not say (then the entry proves nothing unchanged).
	Ctime    int64 // ns, the source host's st_ctime
	Uid, Gid uint32
}

// TreeListing is what a tree item tells of the paths it put in Dir, for the
// item's file list. Both of its functions go in file list order, so the
// list is written as one stream.
type TreeListing struct {
	// Root, when Dir is on another host (TreeEnv.Remote), is a local
	// directory holding the same files: the source's root "/" (a push
	// copies from this machine). On this machine the list is made from
	// Dir itself.
	Root string
	// Paths calls fn for every path put in Dir (relative, slash-separated,
	// directories included), in file list order, and stops at fn's first
	// error, returning it. nil means: walk the tree for the paths.
	Paths func(fn func(TreePath) error) error
	// Source gives what the walk of the source saw of a path before the
	// copy; it is asked about paths in file list order, each at most
	// once. nil knows no path.
	Source func(path string) (SourceStat, bool)
	// Hashed gives what the item read of a path's copy in Dir while
	// copying it; it is asked about regular files in file list order, each
	// at most once. Its answer is a hint, taken only for a copy that is
	// still the file that was read (see CopyHash). nil knows no path.
	Hashed func(path string) (CopyHash, bool)
	// Close, if set, releases what Paths and Source read from, once the
	// list is written.
	Close func()
}

// TreePath is one path a tree item put in Dir.
type TreePath struct {
	Path string
	// Linked: a hard link to the base's copy, known to be unchanged; its
	// entry in the base's list holds for it.
	Linked bool
}

// SourceStat is what a walk of the source saw of a path: what the file list
// records so the next run can tell the path is unchanged.
type SourceStat struct {
	Uid, Gid uint32
	Ctime    int64 // ns, on the source host's clock
}
