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

// walkSource walks the item's paths on its source, or returns an error
// wrapping errNoQuickWalk when no walk can see the tree as rsync copies it.
// Any other error (a hostile record from a remote find) fails the item.
func (f *Filesystem) walkSource(ctx context.Context, env Env) ([]sourceEntry, int, error) {
	var walked []sourceEntry
	vanished, err := f.walkSourceEach(ctx, env, func(e sourceEntry) error {
		walked = append(walked, e)
		return nil
	})
	if err != nil {
		return nil, vanished, err
	}
	return walked, vanished, nil
}

// walkSourceEach is walkSource calling fn for each entry in file list
// order, as the walk comes to it (another host's once its find is sorted).
func (f *Filesystem) walkSourceEach(ctx context.Context, env Env, fn func(sourceEntry) error) (int, error) {
	ex, err := f.walkable()
	if err != nil {
		return 0, err
	}
	if _, remote := env.Source.(hosts.Remote); !remote {
		return walkLocalEach(ctx, f.Paths, ex, f.OneFileSystem, fn)
	}
	return walkRemoteEach(ctx, env.Source, f.Paths, ex, f.OneFileSystem, fn)
}

// sourceStats looks paths up in a walk (sorted in file list order).
func sourceStats(walked []sourceEntry) func(string) (SourceStat, bool) {
	return func(p string) (SourceStat, bool) {
		i, ok := slices.BinarySearchFunc(walked, p, func(e sourceEntry, p string) int { return comparePaths(e.path, p) })
		if !ok {
			return SourceStat{}, false
		}
		e := walked[i]
		return SourceStat{Uid: e.uid, Gid: e.gid, Ctime: e.ctime}, true
	}
}

// quickWalk is the walk the quick path starts from: every path in the
// spill, and the plan when the walk was compared with the base.
type quickWalk struct {
	spill    *walkSpill
	plan     *quickPlan // nil: the quick path cannot copy (why: err)
	err      error
	vanished int
	took     time.Duration // walking and comparing
	compared time.Duration // of which comparing
}

// walk walks the item's source into a spill, comparing it with the base's
// list as it goes when the quick path can copy the item. An error wrapping
// errNoQuickWalk from walk itself means no walk could be made; in the
// returned quickWalk it says why the quick path cannot copy, with the spill
// complete.
func (f *Filesystem) walk(ctx context.Context, env Env, tree TreeEnv) (*quickWalk, error) {
	began := time.Now()
	spill, err := newWalkSpill()
	if err != nil {
		return nil, err
	}
	q := &quickWalk{spill: spill}
	add := func(e sourceEntry) error { return spill.add(e, 0) }
	var c *comparer
	baseWalk, _, err := f.quickReady(env, tree)
	if err == nil {
		var list PrevList
		if list, err = tree.Prev.List(ctx); err == nil {
			defer list.Close()
			c = newComparer(list, time.Unix(baseWalk, 0).Add(-racyMargin).UnixNano(), spill)
			add = c.add
		} else if ctx.Err() == nil {
			// A damaged base list costs only the speed.
			err = fmt.Errorf("%w: the base's file list: %w", errNoQuickWalk, err)
		}
	}
	q.err = err
	q.vanished, err = f.walkSourceEach(ctx, env, add)
	if err == nil {
		err = spill.done()
	}
	if err != nil {
		spill.close()
		return nil, err
	}
	if c != nil {
		if q.plan, err = c.finish(); err != nil {
			// Nothing is done yet: a damaged base list costs only the speed.
			q.err = fmt.Errorf("%w: the base's file list: %w", errNoQuickWalk, err)
		}
	}
	if q.err != nil && ctx.Err() != nil {
		spill.close()
		return nil, ctx.Err()
	}
	q.took = time.Since(began)
	if c != nil {
		q.compared = c.took
	}
	return q, nil
}

// quick backs the item up by the quick path from the walk, or returns an
// error wrapping errNoQuickWalk or ErrNoTreeLink (nothing done yet) when it
// cannot.
func (f *Filesystem) quick(ctx context.Context, env Env, tree TreeEnv, q *quickWalk) (Result, TreeListing, error) {
	p := q.plan
	if p == nil {
		return Result{}, TreeListing{}, q.err
	}
	began := time.Now()
	copies, err := tree.Prev.Link(ctx, p.dirs, p.linkFiles, p.drop)
	if err != nil {
		return Result{}, TreeListing{}, err
	}
	// A base copy that is gone or changed since its snapshot: copied
	// afresh from the source, with no base to link to.
	linked, kept := p.nLinked, len(p.keptDirs)
	copied := map[string]bool{}
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
		copied[c] = true
		p.nPlain++
		linked--
		// rsync writes into its directory: that goes to rsync too.
		if dir, _ := splitPath(c); p.kept[dir] {
			p.plain.WriteString(dir + "\x00")
			p.kept[dir] = false
			kept--
		}
	}
	env.Log.Info("quick path", "paths", p.spill.n, "linked", linked, "to_rsync", p.nCareful+p.nPlain, "dirs", len(p.dirs), "dirs_kept", kept,
		"walk_ms", (q.took - q.compared).Milliseconds(), "compare_ms", q.compared.Milliseconds(), "link_ms", time.Since(began).Milliseconds())
	var out Result
	if q.vanished > 0 {
		out.Warnings = append(out.Warnings, fmt.Sprintf("%d source files vanished during the walk", q.vanished))
	}
	if len(copies) > 0 {
		out.Warnings = append(out.Warnings, fmt.Sprintf("%d files of the base snapshot are missing or changed since it was made (first: %q); copied afresh from the source", len(copies), copies[0]))
	}
	// What rsync reports, sorted on disk: linked for a careful one it
	// linked to the base's copy.
	itemized := newItemizedPaths()
	// The careful list first: the plain one holds the directories, whose
	// times rsync sets after writing into them.
	for _, list := range []*bytes.Buffer{&p.careful, &p.plain} {
		if list.Len() == 0 {
			continue
		}
		careful := list == &p.careful
		o := f.quickTransfer(env, tree, careful)
		o.FilesFrom = list
		o.Itemized = func(path string, linked bool) { itemized.add(path, linked && careful) }
		res, err := rsync.RunBetween(ctx, env.Source, env.Repo, o)
		if err != nil {
			itemized.close()
			return Result{}, TreeListing{}, err
		}
		env.Log.Info("rsync", "list", listName(list == &p.plain), "files_sent", res.Stats.FilesTransferred, "wire_bytes", res.Stats.WireBytes)
		out.Warnings = append(out.Warnings, res.Warnings...)
		out.FilesTransferred += res.Stats.FilesTransferred
		out.BytesTransferred += res.Stats.BytesTransferred
	}
	return out, quickListing(env, p.spill, copied, itemized), nil
}

// quickListing lists what the quick path put in Dir, from the spill: a
// linked path stays linked unless the base's copy had to be copied afresh;
// a careful path rsync linked is linked too. It merges the spill with
// rsync's itemized paths, both in file list order. Each path rsync itemized
// must be one of the walk's: what the sender sent is another host's
// choice, and only a path depot asked for is taken.
func quickListing(env Env, spill *walkSpill, copied map[string]bool, itemized *itemizedPaths) TreeListing {
	paths := func(fn func(TreePath) error) error {
		next, stop := itemized.pull()
		defer stop()
		x, xLinked, more := next()
		err := spill.each(func(e sourceEntry, flags byte) error {
			linked := flags&spillLinked != 0 && !copied[e.path]
			if more && pathLess(x, e.path) {
				return fmt.Errorf("rsync from %s: itemized a path it was not given: %q", env.Source.Name(), x)
			}
			if more && x == e.path {
				linked = linked || xLinked
				x, xLinked, more = next()
			}
			return fn(TreePath{Path: e.path, Linked: linked})
		})
		if err == nil && more {
			err = fmt.Errorf("rsync from %s: itemized a path it was not given: %q", env.Source.Name(), x)
		}
		if serr := stop(); err == nil {
			err = serr
		}
		return err
	}
	return TreeListing{Root: "/", Paths: paths, Source: spill.source(), Close: func() { spill.close(); itemized.close() }}
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

// splitPath splits a relative path into its directory ("" at the top) and
// its last name.
func splitPath(p string) (dir, name string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// pathLess orders paths as file lists do: component by component, which is
// bytewise order with '/' below every other byte. It is repository.PathLess,
// which this package cannot import: the repository writes items into
// snapshots, so it imports this package.
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
