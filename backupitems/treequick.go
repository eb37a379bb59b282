package backupitems

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
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
// base: a path is unchanged when its type, mode, size and mtime equal the
// base's entry and its ctime is older than the base's walk. The kernel sets
// ctime on every change to a file's data or metadata (content, mode, owner,
// ACLs, xattrs, link count, rename) and it cannot be set by hand, so such a
// file is exactly what the base copied. Everything else goes to rsync.
//
// The item records in its meta when its walk started (on the source host's
// clock) and a key of the settings that decide what a copy contains; a base
// made with other settings, or without the record, gets a plain rsync run.
const (
	metaWalkStarted = "walk_started" // unix seconds, source host's clock
	metaWalkKey     = "walk_key"
	// ctimeSlack covers the clock's coarseness (ctime is a coarse clock,
	// walk_started whole seconds): newer files count as changed.
	ctimeSlack = time.Second
)

// walkKey digests the settings that decide what a snapshot of the item holds
// for the same source files.
func (f *Filesystem) walkKey(env Env) string {
	o := f.transfer(env)
	h := sha256.New()
	fmt.Fprintf(h, "depot-walk 1\x00%s\x00%v%v%v%v%v\x00", env.Source.Name(), o.HardLinks, o.ACLs, o.Xattrs, o.NumericIDs, o.OneFileSystem)
	for _, e := range f.Exclude {
		fmt.Fprintf(h, "x%s\x00", e)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// quickPlan is the outcome of comparing a walk with the base.
type quickPlan struct {
	dirs, links, drop []string
	paths             map[string]bool // every path, true for the linked ones
	// The changed paths go to rsync in two lists. careful: those that look
	// unchanged to rsync's quick check (same size and mtime as the base's
	// copy) and members of hard-link groups; rsync compares their content
	// (--checksum) and links them to the base when it is the same. plain:
	// the directories and the rest, which the base cannot supply.
	careful, plain   bytes.Buffer
	nCareful, nPlain int
}

// quick backs the item up by the quick path, or returns an error wrapping
// errNoQuickWalk (nothing done yet) when it cannot.
func (f *Filesystem) quick(ctx context.Context, env Env) (Result, error) {
	if env.Tree == nil {
		return Result{}, fmt.Errorf("%w: no base snapshot", errNoQuickWalk)
	}
	baseWalk, ex, err := f.quickReady(env)
	if err != nil {
		return Result{}, err
	}
	var walked []sourceEntry
	var vanished int
	began := time.Now()
	if _, remote := env.Source.(hosts.Remote); remote {
		walked, vanished, err = walkRemote(ctx, env.Source, f.Paths, ex, f.OneFileSystem)
	} else {
		walked, vanished, err = walkLocal(ctx, f.Paths, ex, f.OneFileSystem)
	}
	if err != nil {
		return Result{}, err
	}
	walkTook := time.Since(began)
	cutoff := time.Unix(baseWalk, 0).Add(-ctimeSlack).UnixNano()
	p, err := compare(ctx, walked, env.Tree, cutoff)
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		// Nothing is done yet: a damaged base list costs only the speed.
		return Result{}, fmt.Errorf("%w: the base's file list: %w", errNoQuickWalk, err)
	}
	compareTook := time.Since(began) - walkTook
	if err := env.Tree.Link(ctx, p.dirs, p.links, p.drop); err != nil {
		return Result{}, err
	}
	env.Log.Info("quick path", "paths", len(walked), "linked", len(p.links), "to_rsync", p.nCareful+p.nPlain, "dirs", len(p.dirs),
		"walk_ms", walkTook.Milliseconds(), "compare_ms", compareTook.Milliseconds(), "link_ms", (time.Since(began) - walkTook - compareTook).Milliseconds())
	out := Result{Listing: &Listing{Root: "/", Paths: p.paths}}
	if vanished > 0 {
		out.Warnings = append(out.Warnings, fmt.Sprintf("%d source files vanished during the walk", vanished))
	}
	// The careful list first: the plain one holds the directories, whose
	// times rsync sets after writing into them.
	for _, list := range []*bytes.Buffer{&p.careful, &p.plain} {
		if list.Len() == 0 {
			continue
		}
		o := f.transfer(env)
		o.Sources, o.Relative, o.Delete, o.ListAll = []string{"/"}, false, false, false
		o.FilesFrom = list
		if list == &p.plain {
			o.LinkDest = ""
		} else {
			// Itemized, to tell which of them rsync linked to the base's
			// copy: their hashes are the base's, unread.
			o.Checksum, o.ListAll = true, true
		}
		o.Between(env.Source, env.Repo)
		res, err := rsync.Run(ctx, env.Source, o)
		if err != nil {
			return Result{}, err
		}
		for path, linked := range res.Paths {
			if linked {
				p.paths[path] = true
			}
		}
		out.Warnings = append(out.Warnings, res.Warnings...)
		out.FilesTransferred += res.Stats.FilesTransferred
		out.BytesTransferred += res.Stats.BytesTransferred
	}
	return out, nil
}

// quickReady returns when the base's walk started (unix seconds) and the
// compiled excludes, or says why the quick path cannot copy the item in env,
// as an error wrapping errNoQuickWalk. A remote host's tools are found out
// only by trying.
func (f *Filesystem) quickReady(env Env) (int64, *excluder, error) {
	if env.Base == "" {
		return 0, nil, fmt.Errorf("%w: no base snapshot", errNoQuickWalk)
	}
	if env.BaseMeta[metaWalkKey] != f.walkKey(env) {
		return 0, nil, fmt.Errorf("%w: the base snapshot was made by rsync's walk or with other settings", errNoQuickWalk)
	}
	baseWalk, err := strconv.ParseInt(env.BaseMeta[metaWalkStarted], 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: the base snapshot does not say when its walk started", errNoQuickWalk)
	}
	for _, p := range f.Paths {
		if path.Clean(p) == "/" {
			// rsync then gives the item directory the root's attributes
			// too; the quick walk leaves the root out.
			return 0, nil, fmt.Errorf("%w: the path / is copied whole", errNoQuickWalk)
		}
	}
	ex, err := compileExcludes(f.Exclude)
	return baseWalk, ex, err
}

// compare merges the walk with the base's file list, both in file list order.
func compare(ctx context.Context, walked []sourceEntry, base TreeBase, cutoff int64) (*quickPlan, error) {
	p := &quickPlan{paths: make(map[string]bool, len(walked))}
	i := 0
	dropUnder := "" // a dropped base directory: its contents go with it
	drop := func(b BaseEntry) {
		if dropUnder != "" && strings.HasPrefix(b.Path, dropUnder+"/") {
			return
		}
		p.drop = append(p.drop, b.Path)
		if b.Mode&unix.S_IFMT == unix.S_IFDIR {
			dropUnder = b.Path
		}
	}
	// take handles walk entry w, whose base entry is b when found.
	take := func(w sourceEntry, b BaseEntry, found bool) {
		switch {
		case w.isDir():
			p.dirs = append(p.dirs, w.path)
			p.plain.WriteString(w.path + "\x00")
			p.paths[w.path] = false
			if found && b.Mode&unix.S_IFMT != unix.S_IFDIR {
				drop(b)
			}
		case found && b.Mode == w.mode && b.Size == w.size && b.Mtime == w.mtime && w.ctime < cutoff:
			p.links = append(p.links, w.path)
			p.paths[w.path] = true
		case found && b.Mode&unix.S_IFMT == w.mode&unix.S_IFMT && b.Size == w.size && b.Mtime == w.mtime || w.nlink > 1:
			p.careful.WriteString(w.path + "\x00")
			p.paths[w.path] = false
			p.nCareful++
			if found {
				drop(b)
			}
		default:
			p.plain.WriteString(w.path + "\x00")
			p.paths[w.path] = false
			p.nPlain++
			if found {
				drop(b)
			}
		}
	}
	err := base.Entries(ctx, func(b BaseEntry) error {
		for i < len(walked) && pathLess(walked[i].path, b.Path) {
			take(walked[i], BaseEntry{}, false)
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
		take(walked[i], BaseEntry{}, false)
	}
	return p, nil
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
