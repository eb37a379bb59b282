package backupitems

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// sourceEntry is one path of a source tree as a walk saw it. Paths are
// relative to the source host's root, as rsync --relative names them:
// /var/www/index.html is "var/www/index.html".
type sourceEntry struct {
	path  string
	mode  uint32 // st_mode
	size  int64
	mtime int64 // ns since the epoch
	ctime int64 // ns since the epoch, on the source host's clock
	nlink uint64
	uid   uint32
	gid   uint32
	// blocks is st_blocks (512-byte units), where the walk saw it; 0 from
	// another host's find, which makes every non-empty file look sparse.
	blocks int64
}

// mayBeSparse says whether e is a regular file that may have holes: it takes
// fewer blocks than its size needs, or its blocks were not seen. A file
// system that compresses or keeps data inline looks sparse too: -S then
// stays, which costs only CPU.
func (e sourceEntry) mayBeSparse() bool {
	return e.mode&unix.S_IFMT == unix.S_IFREG && e.blocks*512 < e.size
}

func (e sourceEntry) isDir() bool { return e.mode&unix.S_IFMT == unix.S_IFDIR }

// isSpecial says whether e is a device, a fifo or a socket.
func (e sourceEntry) isSpecial() bool {
	switch e.mode & unix.S_IFMT {
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO, unix.S_IFSOCK:
		return true
	}
	return false
}

// errNoQuickWalk means a tree cannot be walked the way rsync would copy it:
// an exclude pattern or a path this walk does not interpret exactly as rsync
// does. The caller copies with plain rsync instead.
var errNoQuickWalk = errors.New("tree needs rsync's own walk")

// rootTree is the part of the source's file system above and at the
// configured paths: the directories rsync --relative creates on the way to
// each path ("var", "var/www" for /var/www), and the paths themselves.
type rootTree struct {
	children map[string][]string // "" is the file system root
	roots    map[string]bool     // configured paths, relative, nested ones dropped
}

func newRootTree(paths []string) rootTree {
	t := rootTree{children: map[string][]string{}, roots: map[string]bool{}}
	rels := make([]string, 0, len(paths))
	for _, p := range paths {
		rels = append(rels, strings.TrimPrefix(path.Clean(p), "/"))
	}
	slices.Sort(rels)
	for _, rel := range rels {
		if t.inRoot(rel) {
			continue // inside a path already copied whole
		}
		t.roots[rel] = true
		parent := ""
		for _, name := range strings.Split(rel, "/") {
			child := name
			if parent != "" {
				child = parent + "/" + name
			}
			if !slices.Contains(t.children[parent], name) {
				t.children[parent] = append(t.children[parent], name)
			}
			parent = child
		}
	}
	for k := range t.children {
		slices.Sort(t.children[k])
	}
	return t
}

// inRoot reports whether rel is a configured path or lies inside one.
func (t rootTree) inRoot(rel string) bool {
	for p := rel; ; p = path.Dir(p) {
		if t.roots[p] {
			return true
		}
		if !strings.Contains(p, "/") {
			return false
		}
	}
}

// walkLocal walks the configured paths on this machine, in file list order
// (component by component, bytewise), leaving out what ex excludes and, with
// oneFS, the contents of other file systems' mount points, as rsync -x does.
// Names that vanish during the walk are left out and counted.
func walkLocal(ctx context.Context, paths []string, ex *excluder, oneFS bool) ([]sourceEntry, int, error) {
	var out []sourceEntry
	vanished, err := walkLocalEach(ctx, paths, ex, oneFS, func(e sourceEntry) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, vanished, err
	}
	return out, vanished, nil
}

// walkLocalEach is walkLocal calling fn for each entry as the walk comes to
// it: only the directories on the way to the current one are held open.
func walkLocalEach(ctx context.Context, paths []string, ex *excluder, oneFS bool, fn func(sourceEntry) error) (int, error) {
	w := &localWalk{ctx: ctx, tree: newRootTree(paths), ex: ex, oneFS: oneFS, emit: fn}
	err := w.implied("")
	return w.vanished, err
}

type localWalk struct {
	ctx      context.Context
	tree     rootTree
	ex       *excluder
	oneFS    bool
	emit     func(sourceEntry) error
	vanished int
}

// implied visits the children of the implied directory dir.
func (w *localWalk) implied(dir string) error {
	for _, name := range w.tree.children[dir] {
		rel := name
		if dir != "" {
			rel = dir + "/" + name
		}
		var st unix.Stat_t
		if err := unix.Lstat("/"+rel, &st); err != nil {
			return &os.PathError{Op: "lstat", Path: "/" + rel, Err: err}
		}
		e := entryOf(rel, &st)
		if ex := w.ex.matches(rel, e.isDir()); ex {
			return fmt.Errorf("%w: an exclude pattern matches /%s", errNoQuickWalk, rel)
		}
		if !w.tree.roots[rel] {
			if !e.isDir() {
				// A symlink on the way to a path: rsync's rules for it
				// (--keep-dirlinks and friends) are its own.
				return fmt.Errorf("%w: /%s is not a directory", errNoQuickWalk, rel)
			}
			if err := w.emit(e); err != nil {
				return err
			}
			if err := w.implied(rel); err != nil {
				return err
			}
			continue
		}
		if e.mode&unix.S_IFMT == unix.S_IFLNK {
			// rsync copies the link, or with a trailing slash in the
			// config what it points to: its rules, not the walk's.
			return fmt.Errorf("%w: the path /%s is a symlink", errNoQuickWalk, rel)
		}
		if err := w.emit(e); err != nil {
			return err
		}
		if e.isDir() {
			fd, err := unix.Open("/"+rel, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return &os.PathError{Op: "open", Path: "/" + rel, Err: err}
			}
			if err := w.dir(fd, rel, st.Dev); err != nil {
				return err
			}
		}
	}
	return nil
}

// dir walks the directory open at fd, named rel, on device dev; it closes fd.
func (w *localWalk) dir(fd int, rel string, dev uint64) error {
	f := os.NewFile(uintptr(fd), "/"+rel)
	names, err := f.Readdirnames(-1)
	if err != nil {
		f.Close()
		return fmt.Errorf("read directory /%s: %w", rel, err)
	}
	defer f.Close()
	if err := w.ctx.Err(); err != nil {
		return err
	}
	slices.Sort(names)
	for _, name := range names {
		child := rel + "/" + name
		var st unix.Stat_t
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if errors.Is(err, unix.ENOENT) {
				w.vanished++
				continue
			}
			return &os.PathError{Op: "lstat", Path: "/" + child, Err: err}
		}
		e := entryOf(child, &st)
		if w.ex.matches(child, e.isDir()) {
			continue
		}
		if !e.isDir() || w.oneFS && st.Dev != dev {
			if err := w.emit(e); err != nil {
				return err
			}
			continue
		}
		sub, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				w.vanished++
				continue
			}
			return &os.PathError{Op: "open", Path: "/" + child, Err: err}
		}
		if err := w.emit(e); err != nil {
			unix.Close(sub)
			return err
		}
		if err := w.dir(sub, child, dev); err != nil {
			return err
		}
	}
	return nil
}

func entryOf(rel string, st *unix.Stat_t) sourceEntry {
	return sourceEntry{
		path:   rel,
		mode:   st.Mode,
		size:   st.Size,
		mtime:  st.Mtim.Nano(),
		ctime:  st.Ctim.Nano(),
		nlink:  uint64(st.Nlink),
		uid:    st.Uid,
		gid:    st.Gid,
		blocks: st.Blocks,
	}
}

// excluder applies rsync --exclude patterns the way rsync matches them, for
// the patterns it understands: wildcards * and ? within a name, a leading /
// anchoring a pattern at the root, a trailing / matching directories only,
// and inner slashes matching that many trailing names. Anything else (**,
// character classes, escapes, a leading +, - or ! that rsync may read as a
// rule prefix) makes compileExcludes refuse, and the item lets rsync walk.
type excluder struct {
	rules []excludeRule
}

type excludeRule struct {
	parts    []string // the pattern split at its slashes
	anchored bool     // matches the whole path, not its last len(parts) names
	dirOnly  bool
}

func compileExcludes(patterns []string) (*excluder, error) {
	ex := &excluder{}
	for _, p := range patterns {
		// rsync reads a leading "- " or "+ " (and "!", and modifiers
		// before the space) as a rule prefix, not as part of the name.
		if strings.ContainsAny(p[:1], "+-!") || strings.Contains(p, "**") || strings.ContainsAny(p, `[]\`) {
			return nil, fmt.Errorf("%w: exclude pattern %q", errNoQuickWalk, p)
		}
		r := excludeRule{}
		if strings.HasSuffix(p, "/") {
			r.dirOnly = true
			p = strings.TrimRight(p, "/")
		}
		if strings.HasPrefix(p, "/") {
			r.anchored = true
			p = strings.TrimLeft(p, "/")
		}
		if p == "" || strings.Contains(p, "//") {
			return nil, fmt.Errorf("%w: exclude pattern %q", errNoQuickWalk, p)
		}
		r.parts = strings.Split(p, "/")
		ex.rules = append(ex.rules, r)
	}
	return ex, nil
}

// matches reports whether rel (relative to the root, as rsync --relative
// names it) is excluded.
func (x *excluder) matches(rel string, isDir bool) bool {
	if x == nil || len(x.rules) == 0 {
		return false
	}
	names := strings.Split(rel, "/")
	for _, r := range x.rules {
		if r.dirOnly && !isDir {
			continue
		}
		if r.anchored && len(names) != len(r.parts) || len(names) < len(r.parts) {
			continue
		}
		tail := names[len(names)-len(r.parts):]
		ok := true
		for i, part := range r.parts {
			if m, err := path.Match(part, tail[i]); err != nil || !m {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
