package repository

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/internal/relpath"
)

// LinkFile is a file for LinkTree to link from the base, with what the base's
// file list says its copy there is: the link is made only if the copy still
// is (type and permissions, size, mtime), so a base file changed in place or
// deleted since its snapshot was made is never carried forward.
//
// A directory (Mode says so) is one whose attributes the snapshot keeps
// from the base instead of having rsync set them: type and permissions,
// owner and mtime must be what the list says (its size is the file
// system's business), and a directory that fails the check, or whose
// attributes cannot be made so, is returned for copying like a file.
type LinkFile struct {
	Path     string
	Mode     uint32 // st_mode
	Size     int64
	Mtime    int64 // ns
	Uid, Gid uint32
}

// isDir reports whether f is a directory whose attributes are kept.
func (f LinkFile) isDir() bool { return f.Mode&unix.S_IFMT == unix.S_IFDIR }

// matches reports whether st describes the copy f expects.
func (f LinkFile) matches(st *unix.Stat_t) bool {
	if f.isDir() {
		return st.Mode == f.Mode && st.Mtim.Nano() == f.Mtime && st.Uid == f.Uid && st.Gid == f.Gid
	}
	return st.Mode == f.Mode && st.Size == f.Size && st.Mtim.Nano() == f.Mtime
}

// checkLinkPaths refuses a path that is not clean and relative: LinkTree
// creates and links only inside dst.
func checkLinkPaths(dirs []string, files []LinkFile, drop []string) error {
	for _, d := range dirs {
		if err := relpath.Check(d); err != nil {
			return fmt.Errorf("link tree: %w", err)
		}
	}
	for _, f := range files {
		if err := relpath.Check(f.Path); err != nil {
			return fmt.Errorf("link tree: %w", err)
		}
	}
	for _, d := range drop {
		if err := relpath.Check(d); err != nil {
			return fmt.Errorf("link tree: %w", err)
		}
	}
	return nil
}

// LinkTree implements FS: one linkat(2) per file, relative to open
// directories (no symlink followed, no path resolved twice, no path too
// long), in as many goroutines as there are CPUs, each over a run of the
// files. Each base copy is stat'ed before it is linked. A file at the file
// system's limit of hard links (EMLINK) gives up: the caller copies instead.
func (l LocalFS) LinkTree(ctx context.Context, src, dst string, dirs []string, files []LinkFile, drop []string) ([]string, error) {
	if err := checkLinkPaths(dirs, files, drop); err != nil {
		return nil, err
	}
	if err := mkdirs(dst, dirs); err != nil {
		return nil, err
	}
	var kept []LinkFile // the directories, which linkFiles passes over
	for _, f := range files {
		if f.isDir() {
			kept = append(kept, f)
		}
	}
	workers := min(runtime.GOMAXPROCS(0), 1+len(files)/1024)
	errs := make([]error, workers)
	copies := make([][]string, workers)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			copies[w], errs[w] = linkFiles(ctx, src, dst, files[w*len(files)/workers:(w+1)*len(files)/workers], &stop)
			if errs[w] != nil {
				stop.Store(true)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if errors.Is(err, unix.EMLINK) {
			if rerr := l.emptyDir(dst); rerr != nil {
				return nil, rerr
			}
			return nil, fmt.Errorf("%w: %w", ErrNoLinkTree, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var out []string
	for _, c := range copies {
		out = append(out, c...)
	}
	// Last, when nothing more is linked into them: their mtimes stay.
	rest, err := keepDirs(src, dst, kept)
	if err != nil {
		return nil, err
	}
	return append(out, rest...), nil
}

// keepDirs gives each directory in dirs under dst the attributes of its
// base copy under src: permissions, owner and mtime, once the base copy is
// checked against the list. A directory whose base copy fails the check,
// or that has extended attributes (ACLs included) on either side, which
// this does not copy, is returned for rsync to set.
func keepDirs(src, dst string, dirs []LinkFile) ([]string, error) {
	if len(dirs) == 0 {
		return nil, nil
	}
	from, err := openDirChain(src, false)
	if err != nil {
		return nil, err
	}
	defer from.Close()
	into, err := openDirChain(dst, false)
	if err != nil {
		return nil, err
	}
	defer into.Close()
	var copies []string
	for _, d := range dirs {
		ok, err := keepDir(from, into, d)
		if err != nil {
			return nil, fmt.Errorf("keep %s: %w", filepath.Join(dst, d.Path), err)
		}
		if !ok {
			copies = append(copies, d.Path)
		}
	}
	return copies, nil
}

// keepDir is keepDirs for one directory; false leaves it to rsync.
func keepDir(from, into *dirChain, d LinkFile) (bool, error) {
	sfd, err := from.open(d.Path)
	if err != nil {
		return false, nil // the base lost it, or it is not a directory there
	}
	var st unix.Stat_t
	if err := unix.Fstat(sfd, &st); err != nil || !d.matches(&st) || hasXattrs(sfd) {
		return false, nil
	}
	pfd, err := into.open(d.Path)
	if err != nil {
		return false, err
	}
	fd, err := unix.Openat(pfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	if hasXattrs(fd) { // a default ACL inherited from above, say
		return false, nil
	}
	if unix.Fchown(fd, int(d.Uid), int(d.Gid)) != nil || unix.Fchmod(fd, d.Mode&0o7777) != nil {
		return false, nil // rsync says why, or does what it can
	}
	times := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, unix.NsecToTimespec(d.Mtime)}
	if err := unix.UtimesNanoAt(fd, ".", times, 0); err != nil {
		return false, err
	}
	return true, nil
}

// hasXattrs reports whether the file open at fd (O_PATH or not) has
// extended attributes, or may have: a file system without them says none.
func hasXattrs(fd int) bool {
	n, err := unix.Listxattr(fmt.Sprintf("/proc/self/fd/%d", fd), nil)
	if errors.Is(err, unix.ENOTSUP) {
		return false
	}
	return err != nil || n > 0
}

// mkdirs creates dirs (in file list order, parents first) under dst.
func mkdirs(dst string, dirs []string) error {
	chain, err := openDirChain(dst, false)
	if err != nil {
		return err
	}
	defer chain.Close()
	for _, d := range dirs {
		parent, name := splitRel(d)
		fd, err := chain.open(parent)
		if err != nil {
			return err
		}
		if err := unix.Mkdirat(fd, name, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return &os.PathError{Op: "mkdir", Path: filepath.Join(dst, d), Err: err}
		}
	}
	return nil
}

// linkFiles hard-links files from src into dst until one fails or stop is
// set, and returns those whose base copy is missing or not what the base's
// list says.
func linkFiles(ctx context.Context, src, dst string, files []LinkFile, stop *atomic.Bool) ([]string, error) {
	from, err := openDirChain(src, false)
	if err != nil {
		return nil, err
	}
	defer from.Close()
	into, err := openDirChain(dst, false)
	if err != nil {
		return nil, err
	}
	defer into.Close()
	var copies []string
	for i, f := range files {
		if i%1024 == 0 && (ctx.Err() != nil || stop.Load()) {
			return nil, ctx.Err()
		}
		if f.isDir() {
			continue // see keepDirs
		}
		dir, name := splitRel(f.Path)
		sfd, err := from.open(dir)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
			copies = append(copies, f.Path) // the base lost the directory
			continue
		}
		if err != nil {
			return nil, err
		}
		dfd, err := into.open(dir)
		if err != nil {
			return nil, err
		}
		var st unix.Stat_t
		if err := unix.Fstatat(sfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || !f.matches(&st) {
			copies = append(copies, f.Path)
			continue
		}
		if err := unix.Linkat(sfd, name, dfd, name, 0); err != nil {
			return nil, &os.LinkError{Op: "link", Old: filepath.Join(src, f.Path), New: filepath.Join(dst, f.Path), Err: err}
		}
	}
	return copies, nil
}

// emptyDir removes everything in dir.
func (l LocalFS) emptyDir(dir string) error {
	if err := l.RemoveAll(context.Background(), dir); err != nil {
		return err
	}
	return os.Mkdir(dir, 0o755)
}

// LinkTree implements FS with GNU cp -al, which clones src whole in one
// process, and then removes drop. Directories come from src's; the caller
// sets their attributes afterwards. Then one find over the clone checks it
// against what was asked: a file missing or not what the base's list says
// is removed and returned for copying, and anything neither asked for nor
// dropped (a base holding more than its list) is removed. A host without
// GNU cp or GNU find leaves dst empty and returns ErrNoLinkTree.
func (f *HostFS) LinkTree(ctx context.Context, src, dst string, dirs []string, files []LinkFile, drop []string) ([]string, error) {
	if err := checkLinkPaths(dirs, files, drop); err != nil {
		return nil, err
	}
	const findFailed = 98
	// In the file system's shell: no session of its own to pay for. drop
	// comes as arguments, which the shell reads from its script, not from
	// a command line, so no length limit applies.
	parallel := ""
	if len(files) >= parallelCloneMin {
		parallel = "1"
	}
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
	// find's records are checked as they come: no copy of them all.
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	ran := make(chan error, 1)
	go func() {
		err := sh.Stream(ctx, pw, &stderr, script, append([]string{src, dst}, drop...)...)
		pw.Close()
		ran <- err
	}()
	copies, dirCopies, extra, checkErr := checkClone(pr, dirs, files)
	// On a bad record the rest is read and dropped: the shell, which may
	// hold the repository's lock, lives on.
	pr.CloseWithError(checkErr)
	err = <-ran
	var exit *hosts.ExitError
	if errors.As(err, &exit) && exit.Code == cloneFailed {
		return nil, fmt.Errorf("%w: cp -al on %s: %s", ErrNoLinkTree, f.Host.Name(), bytes.TrimSpace(stderr.Bytes()))
	}
	if errors.As(err, &exit) && exit.Code == findFailed {
		return nil, fmt.Errorf("%w: find -printf on %s, to check the clone", ErrNoLinkTree, f.Host.Name())
	}
	if checkErr != nil {
		return nil, fmt.Errorf("link %s from %s on %s: %w", dst, src, f.Host.Name(), checkErr)
	}
	if err != nil {
		return nil, fmt.Errorf("link %s from %s: %w", dst, src, err)
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

// checkClone compares find's records of a clone (see HostFS.LinkTree) with
// the dirs and files asked for. It returns the files to copy, the kept
// directories whose attributes are not the list's, and the paths to remove
// (outermost only).
func checkClone(records io.Reader, dirs []string, files []LinkFile) (copies, dirCopies, extra []string, err error) {
	want := make(map[string]int, len(dirs)+len(files)) // index into files, -1 for a directory
	for _, d := range dirs {
		want[d] = -1
	}
	for i, f := range files {
		want[f.Path] = i
	}
	ok := make([]bool, len(files))
	removed := ""
	sc := bufio.NewScanner(records)
	sc.Buffer(make([]byte, 64<<10), relpath.Max+256)
	sc.Split(splitNUL)
	var f [7][]byte
	for sc.Scan() {
		rec := sc.Bytes()
		for k := range 6 {
			var found bool
			f[k], rec, found = bytes.Cut(rec, []byte{' '})
			if !found {
				return nil, nil, nil, fmt.Errorf("unexpected find output %.300q", sc.Bytes())
			}
		}
		f[6] = rec
		if removed != "" && len(f[6]) > len(removed) && f[6][len(removed)] == '/' && string(f[6][:len(removed)]) == removed {
			continue
		}
		i, asked := want[string(f[6])]
		switch {
		case !asked:
			p := string(f[6])
			extra, removed = append(extra, p), p
		case i >= 0:
			perm, err1 := strconv.ParseUint(string(f[1]), 8, 32)
			size, err2 := strconv.ParseInt(string(f[2]), 10, 64)
			mtime, err3 := parseFindNanos(string(f[3]))
			uid, err4 := strconv.ParseUint(string(f[4]), 10, 32)
			gid, err5 := strconv.ParseUint(string(f[5]), 10, 32)
			typ, known := findTypeBits[string(f[0])]
			st := unix.Stat_t{Mode: typ | uint32(perm), Size: size, Uid: uint32(uid), Gid: uint32(gid), Mtim: unix.NsecToTimespec(mtime)}
			ok[i] = known && errors.Join(err1, err2, err3, err4, err5) == nil && files[i].matches(&st)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, nil, err
	}
	for i, f := range files {
		switch {
		case ok[i]:
		case f.isDir():
			dirCopies = append(dirCopies, f.Path)
		default:
			copies = append(copies, f.Path)
		}
	}
	return copies, dirCopies, extra, nil
}

// findTypeBits maps find's %y letters to st_mode type bits.
var findTypeBits = map[string]uint32{"f": unix.S_IFREG, "d": unix.S_IFDIR, "l": unix.S_IFLNK, "b": unix.S_IFBLK, "c": unix.S_IFCHR, "p": unix.S_IFIFO, "s": unix.S_IFSOCK}

// splitNUL is a bufio.SplitFunc for NUL-terminated records.
func splitNUL(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// parseFindNanos reads find's %T@ (seconds, a dot, up to 10 digits) as ns.
func parseFindNanos(s string) (int64, error) {
	secs, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return 0, err
	}
	ns, err := strconv.ParseUint((frac + "000000000")[:9], 10, 64)
	if err != nil {
		return 0, err
	}
	if strings.HasPrefix(secs, "-") {
		return sec*1e9 - int64(ns), nil
	}
	return sec*1e9 + int64(ns), nil
}
