package backupitems

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/rsync"
)

// The quick path. A no-change rsync --link-dest run costs what rsync spends
// finding out that nothing changed: for every file it resolves the source,
// destination and link-dest paths one directory at a time (rsync 3.4+), and
// reads and compares ACLs and xattrs on both sides. The quick path decides
// from one walk of the source against the base's file list instead, has the
// repository host hard-link what is unchanged, and gives rsync only the
// directories and the changed files (--files-from).
//
// "Unchanged" must be certain, because a hard link shares the inode with the
// base: a path is unchanged only when its type, mode, size, mtime, ctime, uid
// and gid all equal the base's entry, which records them as the base's walk
// saw them on the source. The kernel sets ctime on every change to a file's
// data or metadata (content, mode, owner, ACLs, xattrs, link count, rename)
// and it cannot be set by hand, so such a file is exactly what the base
// copied, whatever any clock said in between: equality, never a comparison
// with a clock. One exception is git's "racy" rule: a base entry whose ctime
// is within racyMargin of the base's walk start (or after it) may have
// changed again within the same clock tick after the walk looked at it, so it
// proves nothing. Everything not proven unchanged goes to rsync.
//
// The item records in its meta when its walk started (on the source host's
// clock) and a key of the settings that decide what a copy contains; a base
// made with other settings, or without the record, gets a plain rsync run.
const (
	metaWalkStarted = "walk_started" // unix seconds, source host's clock
	metaWalkKey     = "walk_key"
	// racyMargin is how close to the base's walk start a ctime must not be:
	// the kernel stamps ctime from a coarse clock (one tick, at most 10 ms,
	// behind), and walk_started is whole seconds of date(1). One second
	// covers both; a source whose timestamps come from another machine's
	// clock (NFS) needs that clock within it too.
	racyMargin = time.Second
)

// walkKey digests the settings that decide what a snapshot of the item holds
// for the same source files.
func (f *Filesystem) walkKey(env Env) string {
	o := f.transfer(env, TreeEnv{})
	h := sha256.New()
	fmt.Fprintf(h, "depot-walk 1\x00%s\x00%v%v%v%v%v\x00", env.Source.Name(), o.HardLinks, o.ACLs, o.Xattrs, o.NumericIDs, o.OneFileSystem)
	for _, e := range f.Exclude {
		fmt.Fprintf(h, "x%s\x00", e)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// quickPlan is the outcome of comparing a walk with the base.
type quickPlan struct {
	dirs, drop []string
	links      []PrevEntry
	paths      map[string]bool // every path, true for the linked ones
	kept       map[string]bool // the directories among links
	// The changed paths go to rsync in two lists. careful: those that look
	// unchanged to rsync's quick check (same size and mtime as the base's
	// copy) and members of hard-link groups; rsync compares their content
	// (--checksum) and links them to the base when it is the same. plain:
	// the directories and the rest, which the base cannot supply whole;
	// its copy of a changed file is still the basis of the file's delta.
	careful, plain   bytes.Buffer
	nCareful, nPlain int
}

// walkSource walks the item's paths on its source, or returns an error
// wrapping errNoQuickWalk when no walk can see the tree as rsync copies it.
// Any other error (a hostile record from a remote find) fails the item.
func (f *Filesystem) walkSource(ctx context.Context, env Env) ([]sourceEntry, int, error) {
	ex, err := f.walkable()
	if err != nil {
		return nil, 0, err
	}
	if _, remote := env.Source.(hosts.Remote); remote {
		return walkRemote(ctx, env.Source, f.Paths, ex, f.OneFileSystem)
	}
	return walkLocal(ctx, f.Paths, ex, f.OneFileSystem)
}

// sourceStats looks paths up in a walk (sorted in file list order).
func sourceStats(walked []sourceEntry) func(string) (SourceStat, bool) {
	return func(p string) (SourceStat, bool) {
		i, ok := slices.BinarySearchFunc(walked, p, func(e sourceEntry, p string) int {
			switch {
			case e.path == p:
				return 0
			case pathLess(e.path, p):
				return -1
			}
			return 1
		})
		if !ok {
			return SourceStat{}, false
		}
		e := walked[i]
		return SourceStat{Uid: e.uid, Gid: e.gid, Ctime: e.ctime}, true
	}
}

// quickRun is what the quick path starts from: the item's environment and
// the walk of its source.
type quickRun struct {
	env      Env
	tree     TreeEnv
	walked   []sourceEntry
	vanished int
	walkTook time.Duration
}

// quick backs the item up by the quick path from the walk, or returns an
// error wrapping errNoQuickWalk (nothing done yet) when it cannot.
func (f *Filesystem) quick(ctx context.Context, q quickRun) (Result, TreeListing, error) {
	env, tree := q.env, q.tree
	baseWalk, _, err := f.quickReady(env, tree)
	if err != nil {
		return Result{}, TreeListing{}, err
	}
	began := time.Now()
	cutoff := time.Unix(baseWalk, 0).Add(-racyMargin).UnixNano()
	p, err := compare(ctx, q.walked, tree.Prev, cutoff)
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, TreeListing{}, ctx.Err()
		}
		// Nothing is done yet: a damaged base list costs only the speed.
		return Result{}, TreeListing{}, fmt.Errorf("%w: the base's file list: %w", errNoQuickWalk, err)
	}
	compareTook := time.Since(began)
	copies, err := tree.Prev.Link(ctx, p.dirs, p.links, p.drop)
	if err != nil {
		return Result{}, TreeListing{}, err
	}
	// A base copy that is gone or changed since its snapshot: copied
	// afresh from the source, with no base to link to.
	linked, kept := len(p.links)-len(p.kept), len(p.kept)
	for _, c := range copies {
		if _, dir := p.kept[c]; dir {
			if p.kept[c] { // else on the list already
				p.plain.WriteString(c + "\x00")
				p.kept[c] = false
				kept--
			}
			continue
		}
		p.plain.WriteString(c + "\x00")
		p.paths[c] = false
		p.nPlain++
		linked--
		// rsync writes into its directory: that goes to rsync too.
		if dir, _ := splitPath(c); p.kept[dir] {
			p.plain.WriteString(dir + "\x00")
			p.kept[dir] = false
			kept--
		}
	}
	env.Log.Info("quick path", "paths", len(q.walked), "linked", linked, "to_rsync", p.nCareful+p.nPlain, "dirs", len(p.dirs), "dirs_kept", kept,
		"walk_ms", q.walkTook.Milliseconds(), "compare_ms", compareTook.Milliseconds(), "link_ms", (time.Since(began) - compareTook).Milliseconds())
	var out Result
	if q.vanished > 0 {
		out.Warnings = append(out.Warnings, fmt.Sprintf("%d source files vanished during the walk", q.vanished))
	}
	if len(copies) > 0 {
		out.Warnings = append(out.Warnings, fmt.Sprintf("%d files of the base snapshot are missing or changed since it was made (first: %q); copied afresh from the source", len(copies), copies[0]))
	}
	// The careful list first: the plain one holds the directories, whose
	// times rsync sets after writing into them.
	for _, list := range []*bytes.Buffer{&p.careful, &p.plain} {
		if list.Len() == 0 {
			continue
		}
		o := f.quickTransfer(env, tree, list == &p.careful)
		o.FilesFrom = list
		res, err := rsync.RunBetween(ctx, env.Source, env.Repo, o)
		if err != nil {
			return Result{}, TreeListing{}, err
		}
		for path, linked := range res.Paths {
			// What the sender sent is another host's choice: only a
			// path depot asked for is taken.
			if _, asked := p.paths[path]; !asked {
				return Result{}, TreeListing{}, fmt.Errorf("rsync from %s: itemized a path it was not given: %q", env.Source.Name(), path)
			}
			if linked && list == &p.careful {
				p.paths[path] = true
			}
		}
		env.Log.Info("rsync", "list", listName(list == &p.plain), "files_sent", res.Stats.FilesTransferred, "wire_bytes", res.Stats.WireBytes)
		out.Warnings = append(out.Warnings, res.Warnings...)
		out.FilesTransferred += res.Stats.FilesTransferred
		out.BytesTransferred += res.Stats.BytesTransferred
	}
	return out, TreeListing{Root: "/", Paths: pathsOf(p.paths), Source: sourceStats(q.walked)}, nil
}

// pathsOf lists paths, true for the linked ones, in file list order.
func pathsOf(paths map[string]bool) func(func(TreePath) error) error {
	return func(fn func(TreePath) error) error {
		sorted := make([]string, 0, len(paths))
		for p := range paths {
			sorted = append(sorted, p)
		}
		slices.SortFunc(sorted, comparePaths)
		for _, p := range sorted {
			if err := fn(TreePath{Path: p, Linked: paths[p]}); err != nil {
				return err
			}
		}
		return nil
	}
}

// comparePaths orders paths as pathLess does, for slices.SortFunc.
func comparePaths(a, b string) int {
	switch {
	case a == b:
		return 0
	case pathLess(a, b):
		return -1
	}
	return 1
}

// quickTransfer is one of the quick path's rsync runs, but for its list of
// paths and for where it runs (see rsync.RunBetween): the careful one, for
// the paths the walk could not prove unchanged, or the plain one, for
// changed and new paths (and the directories).
func (f *Filesystem) quickTransfer(env Env, tree TreeEnv, careful bool) rsync.Options {
	o := f.transfer(env, tree)
	// Itemized, so that a path the sender adds (a compromised source's
	// rsync) is refused, and to tell which careful ones rsync linked to
	// the base's copy.
	o.Sources, o.Relative, o.Delete, o.ListAll = []string{"/"}, false, false, true
	o.FilesFrom = emptyList // set by the caller
	// A name that vanished since the walk is what rsync's exit 24 reports
	// in a whole-tree run: no failure.
	o.IgnoreMissingArgs = true
	if careful {
		// Those rsync links to the base's copy keep the base's hashes,
		// unread.
		o.Checksum = true
	} else {
		// The base's copy of a changed file is the basis of its delta (a
		// small change to a big file sends what plain rsync sends), but is
		// never linked: these files differ from the base's list, or their
		// base copy does.
		o.IgnoreTimes = true
	}
	return o
}

// emptyList stands for a list of paths not made yet.
var emptyList = strings.NewReader("")

// listName names a list of the quick path in logs.
func listName(plain bool) string {
	if plain {
		return "changed"
	}
	return "careful"
}

// quickReady returns when the base's walk started (unix seconds), or says
// why the quick path cannot copy the item in env, as an error wrapping
// errNoQuickWalk. A remote host's tools are found out only by trying.
func (f *Filesystem) quickReady(env Env, tree TreeEnv) (int64, *excluder, error) {
	if env.Base == "" || tree.Prev == nil {
		return 0, nil, fmt.Errorf("%w: no base snapshot", errNoQuickWalk)
	}
	if env.PrevMeta[metaWalkKey] != f.walkKey(env) {
		return 0, nil, fmt.Errorf("%w: the base snapshot was made by rsync's walk or with other settings", errNoQuickWalk)
	}
	baseWalk, err := strconv.ParseInt(env.PrevMeta[metaWalkStarted], 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: the base snapshot does not say when its walk started", errNoQuickWalk)
	}
	ex, err := f.walkable()
	return baseWalk, ex, err
}

// walkable returns the compiled excludes, or says why no walk of depot's can
// see the tree as rsync copies it, as an error wrapping errNoQuickWalk.
func (f *Filesystem) walkable() (*excluder, error) {
	for _, p := range f.Paths {
		if path.Clean(p) == "/" {
			// rsync then gives the item directory the root's attributes
			// too; the quick walk leaves the root out.
			return nil, fmt.Errorf("%w: the path / is copied whole", errNoQuickWalk)
		}
	}
	return compileExcludes(f.Exclude)
}

// compare merges the walk with the base's file list, both in file list order.
func compare(ctx context.Context, walked []sourceEntry, prev PrevTree, cutoff int64) (*quickPlan, error) {
	p := &quickPlan{paths: make(map[string]bool, len(walked)), kept: map[string]bool{}}
	i := 0
	dropUnder := "" // a dropped base directory: its contents go with it
	dropBase := func(b PrevEntry) {
		if dropUnder != "" && strings.HasPrefix(b.Path, dropUnder+"/") {
			return
		}
		p.drop = append(p.drop, b.Path)
		if b.Mode&unix.S_IFMT == unix.S_IFDIR {
			dropUnder = b.Path
		}
	}
	// A directory proven unchanged keeps the base's attributes and stays
	// off rsync's lists, unless anything in it goes to rsync or is
	// dropped: that changes it, and rsync sets its times again after.
	// The plain list is written once all is known.
	var plain []string
	keep := map[string]PrevEntry{}
	touched := func(p string) {
		dir, _ := splitPath(p)
		delete(keep, dir)
	}
	drop := func(b PrevEntry) {
		touched(b.Path)
		dropBase(b)
	}
	// take handles walk entry w, whose base entry is b when found.
	take := func(w sourceEntry, b PrevEntry, found bool) {
		switch {
		case w.isDir():
			p.dirs = append(p.dirs, w.path)
			plain = append(plain, w.path)
			p.paths[w.path] = false
			switch {
			case found && b.Mode&unix.S_IFMT != unix.S_IFDIR:
				drop(b)
			case found && unchanged(w, b, cutoff):
				keep[w.path] = b
			}
		case found && unchanged(w, b, cutoff):
			p.links = append(p.links, b)
			p.paths[w.path] = true
		case found && b.Mode&unix.S_IFMT == w.mode&unix.S_IFMT && b.Size == w.size && b.Mtime == w.mtime || w.nlink > 1:
			p.careful.WriteString(w.path + "\x00")
			p.paths[w.path] = false
			p.nCareful++
			touched(w.path)
			if found {
				drop(b)
			}
		default:
			plain = append(plain, w.path)
			p.paths[w.path] = false
			p.nPlain++
			touched(w.path)
			if found {
				drop(b)
			}
		}
	}
	err := prev.Entries(ctx, func(b PrevEntry) error {
		for i < len(walked) && pathLess(walked[i].path, b.Path) {
			take(walked[i], PrevEntry{}, false)
			i++
		}
		if i < len(walked) && walked[i].path == b.Path {
			take(walked[i], b, true)
			i++
			return nil
		}
		drop(b)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for ; i < len(walked); i++ {
		take(walked[i], PrevEntry{}, false)
	}
	for _, path := range plain {
		if b, kept := keep[path]; kept {
			p.links = append(p.links, b)
			p.kept[path] = true
			continue
		}
		p.plain.WriteString(path + "\x00")
	}
	return p, nil
}

// splitPath splits a relative path into its directory ("" at the top) and
// its last name.
func splitPath(p string) (dir, name string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// unchanged reports whether walk entry w is proven the same as base entry b:
// every attribute equal, and b's ctime older than the base's walk less the
// racy margin (cutoff).
func unchanged(w sourceEntry, b PrevEntry, cutoff int64) bool {
	return b.Ctime != 0 && b.Ctime < cutoff &&
		w.mode == b.Mode && w.size == b.Size && w.mtime == b.Mtime &&
		w.ctime == b.Ctime && w.uid == b.Uid && w.gid == b.Gid
}

// pathLess orders paths as file lists do: component by component, which is
// bytewise order with '/' below every other byte. It is repository.PathLess,
// which this package may not import (DESIGN §5: items and the repository do
// not depend on each other).
func pathLess(a, b string) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] == b[i] {
			continue
		}
		if a[i] == '/' {
			return true
		}
		if b[i] == '/' {
			return false
		}
		return a[i] < b[i]
	}
	return len(a) < len(b)
}
