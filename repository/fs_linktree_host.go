package repository

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"

	"github.com/depot-backup/depot/hosts"
)

// LinkFiles is a stream of LinkFile: it calls fn for each file in turn and
// stops at fn's first error, which it returns. The files that are not
// directories come in file list order; the directories among them (see
// LinkFile), each also among LinkTreeFrom's dirs, may come anywhere (the
// quick path's come last).
type LinkFiles func(fn func(LinkFile) error) error

// linkFilesOf streams files, sorted into file list order (a copy).
func linkFilesOf(files []LinkFile) LinkFiles {
	sorted := slices.Clone(files)
	slices.SortStableFunc(sorted, func(a, b LinkFile) int { return comparePaths(a.Path, b.Path) })
	return func(fn func(LinkFile) error) error {
		for _, f := range sorted {
			if err := fn(f); err != nil {
				return err
			}
		}
		return nil
	}
}

// comparePaths orders paths as PathLess does, for slices.SortFunc and
// slices.BinarySearchFunc.
func comparePaths(a, b string) int {
	switch {
	case a == b:
		return 0
	case PathLess(a, b):
		return -1
	}
	return 1
}

// LinkTree implements FS: LinkTreeFrom over files, once every path is
// checked.
func (f *HostFS) LinkTree(ctx context.Context, src, dst string, dirs []string, files []LinkFile, drop []string) ([]string, error) {
	if err := checkLinkPaths(dirs, files, drop); err != nil {
		return nil, err
	}
	return f.LinkTreeFrom(ctx, src, dst, dirs, linkFilesOf(files), drop)
}

// LinkTreeFrom is LinkTree with the files as a stream, read once: memory
// follows the directories, not the files. It clones src whole with GNU
// cp -al in one process, and then removes drop. Directories come from
// src's; the caller sets their attributes afterwards. Then one find over
// the clone checks it against what was asked, as a sorted merge (see
// checkClone): a file missing or not what the base's list says is removed
// and returned for copying, and anything neither asked for nor dropped (a
// base holding more than its list) is removed. find's records are the
// repository host's word: when they do not add up (a path twice, a path
// that is not clean, a record that is not find's), dst is emptied and the
// error wraps ErrNoLinkTree, so that the caller copies with rsync. A host
// without GNU cp or GNU find leaves dst empty and returns ErrNoLinkTree
// too. A path asked for that is not clean fails, with dst emptied.
func (f *HostFS) LinkTreeFrom(ctx context.Context, src, dst string, dirs []string, files LinkFiles, drop []string) ([]string, error) {
	if err := checkLinkPaths(dirs, nil, drop); err != nil {
		return nil, err
	}
	next, stop := pullFiles(files)
	defer stop()
	// The first parallelCloneMin files decide how to clone: as many are
	// held at most.
	var head []LinkFile
	for len(head) < parallelCloneMin {
		lf, ok := next()
		if !ok {
			break
		}
		head = append(head, lf)
	}
	parallel := ""
	if len(head) >= parallelCloneMin {
		parallel = "1"
	}
	asked := func() (LinkFile, bool) {
		if len(head) > 0 {
			lf := head[0]
			head = head[1:]
			return lf, true
		}
		return next()
	}
	const findFailed = 98
	// In the file system's shell: no session of its own to pay for. drop
	// comes as arguments, which the shell reads from its script, not from
	// a command line, so no length limit applies.
	script := "parallel=" + parallel + "\n" + cloneScript + `
dst=$2
cd -- "$dst" || exit 1
shift 2
if [ $# -gt 0 ]; then printf '%s\0' "$@" | xargs -0 rm -rf -- || exit 1; fi
find . -mindepth 1 -printf '%y %m %s %T@ %U %G %P\0' 2>/dev/null || { cd / && rm -rf -- "$dst" && mkdir -- "$dst"; exit ` + fmt.Sprint(findFailed) + `; }`
	sh, err := f.sh()
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	ran := make(chan error, 1)
	go func() {
		err := sh.Stream(ctx, pw, &stderr, script, append([]string{src, dst}, drop...)...)
		pw.Close()
		ran <- err
	}()
	// find's records are sorted as they come, in runs spilled to disk:
	// no map of them all.
	records := newCloneRecords()
	defer records.close()
	readErr := records.read(pr)
	// On a bad record the rest is read and dropped: the shell, which may
	// hold the repository's lock, lives on.
	pr.CloseWithError(readErr)
	err = <-ran
	var exit *hosts.ExitError
	if errors.As(err, &exit) && exit.Code == cloneFailed {
		return nil, fmt.Errorf("%w: cp -al on %s: %s", ErrNoLinkTree, f.Host.Name(), bytes.TrimSpace(stderr.Bytes()))
	}
	if errors.As(err, &exit) && exit.Code == findFailed {
		return nil, fmt.Errorf("%w: find -printf on %s, to check the clone", ErrNoLinkTree, f.Host.Name())
	}
	if err != nil && readErr == nil {
		return nil, fmt.Errorf("link %s from %s: %w", dst, src, err)
	}
	var copies, dirCopies, extra []string
	if readErr == nil {
		copies, dirCopies, extra, readErr = records.check(dirs, asked)
	}
	if err := stop(); err != nil && readErr == nil {
		readErr = &askedError{err}
	}
	var unsafe *askedError
	switch {
	case errors.As(readErr, &unsafe):
		// What was asked is depot's own: a bug, not the host's word.
		return nil, errors.Join(fmt.Errorf("link %s from %s: %w", dst, src, readErr), f.emptyDir(ctx, dst))
	case readErr != nil:
		if rerr := f.emptyDir(ctx, dst); rerr != nil {
			return nil, fmt.Errorf("link %s from %s: %w (and emptying it: %w)", dst, src, readErr, rerr)
		}
		return nil, fmt.Errorf("%w: the clone's find records from %s do not add up: %w", ErrNoLinkTree, f.Host.Name(), readErr)
	}
	if rm := append(extra, copies...); len(rm) > 0 {
		if _, err := f.Script(ctx, `cd -- "$1" && shift && printf '%s\0' "$@" | xargs -0 rm -rf --`, append([]string{dst}, rm...)...); err != nil {
			return nil, fmt.Errorf("link %s from %s: %w", dst, src, err)
		}
	}
	// A directory whose attributes are not the base's stays, with what is
	// linked into it, for rsync to set them.
	return append(copies, dirCopies...), nil
}

// emptyDir removes everything in dir, on the host.
func (f *HostFS) emptyDir(ctx context.Context, dir string) error {
	_, err := f.Script(ctx, `rm -rf -- "$1" && mkdir -- "$1"`, dir)
	return err
}

// errStopped ends a LinkFiles stream that pullFiles's caller stopped.
var errStopped = errors.New("stopped")

// pullFiles reads files one at a time: next returns the next file; stop
// ends the stream early or after its last file, and returns its error.
func pullFiles(files LinkFiles) (next func() (LinkFile, bool), stop func() error) {
	var err error
	seq := func(yield func(LinkFile) bool) {
		err = files(func(lf LinkFile) error {
			if !yield(lf) {
				return errStopped
			}
			return nil
		})
	}
	next, end := iter.Pull(seq)
	return next, func() error {
		end()
		if errors.Is(err, errStopped) {
			return nil
		}
		return err
	}
}

// parallelCloneMin is the size of a base from which it is cloned in
// parallel: below, the processes that takes cost more than they save.
var parallelCloneMin = 10000 // a variable for tests

// cloneFailed is cloneScript's exit status when GNU cp -al failed.
const cloneFailed = 97

// cloneScript clones "$1" into "$2" (an empty directory) with hard links.
// An item's tree starts with a chain of lone directories (its source's
// absolute path): when $parallel is set, it is made alone, and what is
// under the chain's end is cloned by as many cp -al at once as the host
// has CPUs; otherwise one cp -al clones it all. cp -al gives a
// directory its source's attributes once it has filled it; the chain's
// get theirs last, when nothing more is linked into them, from rsync -d
// (which copies a directory without its contents), level by level. A name
// with a newline in it ends the chain early, which only costs parallelism.
// Where rsync lacks ACLs or xattrs, the chain keeps what else it can.
const cloneScript = `rmdir -- "$2" || exit 1
src=$1 dst=$2 rel=
case $src in /*) ;; *) src=$PWD/$src ;; esac
case $dst in /*) ;; *) dst=$PWD/$dst ;; esac
while [ -n "$parallel" ] && one=$(cd -- "$src$rel" && find . -mindepth 1 -maxdepth 1 | head -n 2) &&
	[ "$(printf '%s\n' "$one" | wc -l)" -eq 1 ] && [ -n "$one" ] &&
	[ -d "$src$rel/$one" ] && [ ! -L "$src$rel/$one" ]; do
	rel=$rel/${one#./}
done
if [ -z "$rel" ]; then
	cp -al -- "$src" "$dst" || { rm -rf -- "$dst"; mkdir -- "$dst"; exit 97; }
else
	ok=1 n=$(nproc 2>/dev/null || echo 2)
	mkdir -p -- "$dst$rel" && (cd -- "$src$rel" &&
		find . -mindepth 1 -maxdepth 1 ! -type d -print0 | xargs -0 -r -P "$n" cp -al -t "$dst$rel" -- &&
		find . -mindepth 1 -maxdepth 1 -type d -print0 | xargs -0 -r -P "$n" -n 2 cp -al -t "$dst$rel" --) || ok=
	level=$rel
	while [ -n "$ok" ]; do
		rsync -dlptgoAX --numeric-ids -- "$src$level/" "$dst$level/" 2>/dev/null ||
			rsync -dlptgo --numeric-ids -- "$src$level/" "$dst$level/" || ok=
		[ -n "$level" ] || break
		level=${level%/*}
	done
	[ -n "$ok" ] || { rm -rf -- "$dst"; mkdir -- "$dst"; exit 97; }
fi`
