package backupitems

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/depot-backup/depot/hosts"

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
}

func (e sourceEntry) isDir() bool { return e.mode&unix.S_IFMT == unix.S_IFDIR }

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
	w := &localWalk{ctx: ctx, tree: newRootTree(paths), ex: ex, oneFS: oneFS}
	if err := w.implied(""); err != nil {
		return nil, w.vanished, err
	}
	return w.out, w.vanished, nil
}

type localWalk struct {
	ctx      context.Context
	tree     rootTree
	ex       *excluder
	oneFS    bool
	out      []sourceEntry
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
			w.out = append(w.out, e)
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
		w.out = append(w.out, e)
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
		w.out = append(w.out, e)
		if !e.isDir() || w.oneFS && st.Dev != dev {
			continue
		}
		sub, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				w.vanished++
				w.out = w.out[:len(w.out)-1]
				continue
			}
			return &os.PathError{Op: "open", Path: "/" + child, Err: err}
		}
		if err := w.dir(sub, child, dev); err != nil {
			return err
		}
	}
	return nil
}

func entryOf(rel string, st *unix.Stat_t) sourceEntry {
	return sourceEntry{
		path:  rel,
		mode:  st.Mode,
		size:  st.Size,
		mtime: st.Mtim.Nano(),
		ctime: st.Ctim.Nano(),
		nlink: uint64(st.Nlink),
	}
}

// excluder applies rsync --exclude patterns the way rsync matches them, for
// the patterns it understands: wildcards * and ? within a name, a leading /
// anchoring a pattern at the root, a trailing / matching directories only,
// and inner slashes matching that many trailing names. Anything else (**,
// character classes, escapes) makes compileExcludes refuse, and the item
// lets rsync walk.
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
		if strings.Contains(p, "**") || strings.ContainsAny(p, `[]\`) {
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

// walkRemote walks the configured paths on another host with GNU find, whose
// -printf gives what lstat gives here. A source without GNU find, or a walk
// that fails for any other reason than names vanishing, returns
// errNoQuickWalk: rsync's own walk then copies, and reports real errors.
func walkRemote(ctx context.Context, h hosts.Host, paths []string, ex *excluder, oneFS bool) ([]sourceEntry, int, error) {
	tree := newRootTree(paths)
	var implied, roots []string
	for dir := range tree.children {
		if dir != "" {
			implied = append(implied, "/"+dir)
		}
	}
	for root := range tree.roots {
		roots = append(roots, "/"+root)
	}
	slices.Sort(implied)
	slices.Sort(roots)
	script := `f='%y %m %s %T@ %C@ %n %p\0'
n=$1; shift
while [ "$n" -gt 0 ]; do find "$1" -maxdepth 0 -printf "$f" || exit 97; shift; n=$((n-1)); done
exec find "$@" -printf "$f"`
	if oneFS {
		script = strings.Replace(script, `exec find "$@" -printf`, `exec find "$@" -xdev -printf`, 1)
	}
	argv := append([]string{"sh", "-c", script, "sh", strconv.Itoa(len(implied))}, implied...)
	argv = append(argv, roots...)
	var out bytes.Buffer
	var errs findErrors
	err := h.Run(ctx, hosts.Command{Argv: argv, Stdout: &out, Stderr: &errs})
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		// Any error but a vanished name (an unreadable directory, say)
		// means the walk may have missed files: rsync's walk copies
		// instead, and reports the error if it is real.
		var exit *hosts.ExitError
		if errors.As(err, &exit) && exit.Code == 97 {
			return nil, 0, fmt.Errorf("%w: find on %s: a directory above a configured path: %w", errNoQuickWalk, h.Name(), err)
		}
		if errs.other != "" {
			return nil, 0, fmt.Errorf("%w: find on %s: %s", errNoQuickWalk, h.Name(), errs.other)
		}
		if errs.vanished == 0 {
			return nil, 0, fmt.Errorf("%w: find on %s: %w", errNoQuickWalk, h.Name(), err)
		}
	}
	var all []sourceEntry
	for rec := range bytes.SplitSeq(out.Bytes(), []byte{0}) {
		if len(rec) == 0 {
			continue
		}
		e, err := parseFindRecord(string(rec))
		if err != nil {
			return nil, 0, fmt.Errorf("%w: find on %s: %w", errNoQuickWalk, h.Name(), err)
		}
		all = append(all, e)
	}
	slices.SortFunc(all, func(a, b sourceEntry) int {
		switch {
		case a.path == b.path:
			return 0
		case pathLess(a.path, b.path):
			return -1
		}
		return 1
	})
	all = slices.CompactFunc(all, func(a, b sourceEntry) bool { return a.path == b.path })
	// Leave out what the excludes name, with everything under an excluded
	// directory, as rsync never descends there.
	kept := all[:0]
	excludedDir := ""
	for _, e := range all {
		if excludedDir != "" && strings.HasPrefix(e.path, excludedDir+"/") {
			continue
		}
		if !ex.matches(e.path, e.isDir()) {
			kept = append(kept, e)
			continue
		}
		if !tree.inRoot(e.path) || tree.roots[e.path] {
			return nil, 0, fmt.Errorf("%w: an exclude pattern matches /%s", errNoQuickWalk, e.path)
		}
		if e.isDir() {
			excludedDir = e.path
		}
	}
	for _, e := range kept {
		if !tree.inRoot(e.path) && !e.isDir() {
			return nil, 0, fmt.Errorf("%w: /%s is not a directory", errNoQuickWalk, e.path)
		}
		if tree.roots[e.path] && e.mode&unix.S_IFMT == unix.S_IFLNK {
			return nil, 0, fmt.Errorf("%w: the path /%s is a symlink", errNoQuickWalk, e.path)
		}
	}
	return kept, errs.vanished, nil
}

// findTypes maps find's %y letters to st_mode type bits.
var findTypes = map[string]uint32{"f": unix.S_IFREG, "d": unix.S_IFDIR, "l": unix.S_IFLNK, "b": unix.S_IFBLK, "c": unix.S_IFCHR, "p": unix.S_IFIFO, "s": unix.S_IFSOCK}

// parseFindRecord reads one "%y %m %s %T@ %C@ %n %p" record of find -printf.
func parseFindRecord(rec string) (sourceEntry, error) {
	f := strings.SplitN(rec, " ", 7)
	if len(f) != 7 || !strings.HasPrefix(f[6], "/") {
		return sourceEntry{}, fmt.Errorf("unexpected output %q", rec)
	}
	typ, ok := findTypes[f[0]]
	perm, err1 := strconv.ParseUint(f[1], 8, 32)
	size, err2 := strconv.ParseInt(f[2], 10, 64)
	mtime, err3 := parseFindTime(f[3])
	ctime, err4 := parseFindTime(f[4])
	nlink, err5 := strconv.ParseUint(f[5], 10, 64)
	if !ok || errors.Join(err1, err2, err3, err4, err5) != nil {
		return sourceEntry{}, fmt.Errorf("unexpected output %q", rec)
	}
	return sourceEntry{path: strings.TrimPrefix(f[6], "/"), mode: typ | uint32(perm), size: size, mtime: mtime, ctime: ctime, nlink: nlink}, nil
}

// parseFindTime reads find's %T@: seconds, a dot, and up to 10 digits of
// fraction.
func parseFindTime(s string) (int64, error) {
	secs, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return 0, err
	}
	frac = (frac + "000000000")[:9]
	ns, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, err
	}
	if strings.HasPrefix(secs, "-") {
		ns = -ns
	}
	return sec*1e9 + ns, nil
}

// findErrors sorts find's error lines: names that vanished during the walk,
// and the first line of any other kind.
type findErrors struct {
	partial  []byte
	vanished int
	other    string
}

func (f *findErrors) Write(p []byte) (int, error) {
	f.partial = append(f.partial, p...)
	for {
		i := bytes.IndexByte(f.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(f.partial[:i])
		f.partial = f.partial[i+1:]
		switch {
		case strings.HasSuffix(line, ": No such file or directory"):
			f.vanished++
		case f.other == "":
			f.other = line
		}
	}
}
