package backupitems

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/internal/relpath"
)

// findFormat is what find -printf prints of each path: what lstat gives.
const findFormat = `%y %m %s %T@ %C@ %n %U %G %p\0`

// maxFindRecord bounds one record of find's output: a path of relpath.Max
// bytes, its leading slash and the numbers before it.
const maxFindRecord = relpath.Max + 256

// walkRemote walks the configured paths on another host with GNU find, whose
// -printf gives what lstat gives here. A source without GNU find, or a walk
// that fails for any other reason than names vanishing, returns
// errNoQuickWalk: rsync's own walk then copies, and reports real errors.
//
// What find prints is input from another host, read as it comes (memory
// follows the tree, not the bytes sent). Each record must be at most
// maxFindRecord bytes, name a clean path inside the configured paths or a
// directory above one, come inside the directory find is walking, and
// appear once. Any other record fails the item, naming the host and quoting
// the path: a source that prints it is broken or hostile, and no walk of it
// is to be trusted.
func walkRemote(ctx context.Context, h hosts.Host, paths []string, ex *excluder, oneFS bool) ([]sourceEntry, int, error) {
	var out []sourceEntry
	vanished, err := walkRemoteEach(ctx, h, paths, ex, oneFS, func(e sourceEntry) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, vanished, err
	}
	return out, vanished, nil
}

// walkRemoteEach is walkRemote calling fn for each entry in file list
// order. find's order is another: its records are sorted in runs spilled
// to disk and merged (memory stays bounded), and only once find has ended
// well does fn see any. A record that fails a check after the first was
// handed on fails the walk all the same.
func walkRemoteEach(ctx context.Context, h hosts.Host, paths []string, ex *excluder, oneFS bool, fn func(sourceEntry) error) (int, error) {
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
	script := `f='` + findFormat + `'
n=$1; shift
while [ "$n" -gt 0 ]; do find "$1" -maxdepth 0 -printf "$f" || exit 97; shift; n=$((n-1)); done
exec find "$@" -printf "$f"`
	if oneFS {
		script = strings.Replace(script, `exec find "$@" -printf`, `exec find "$@" -xdev -printf`, 1)
	}
	argv := append([]string{"sh", "-c", script, "sh", strconv.Itoa(len(implied))}, implied...)
	argv = append(argv, roots...)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	var errs findErrors
	ran := make(chan error, 1)
	go func() {
		err := h.Run(ctx, hosts.Command{Argv: argv, Stdout: pw, Stderr: &errs})
		pw.Close()
		ran <- err
	}()
	sorted := newWalkSorter()
	defer sorted.close()
	if err := readFindRecords(pr, tree, sorted.add); err != nil {
		cancel()
		pr.CloseWithError(err)
		<-ran
		return 0, fmt.Errorf("find on %s: %w", h.Name(), err)
	}
	if err := <-ran; err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		// Any error but a vanished name (an unreadable directory, say)
		// means the walk may have missed files: rsync's walk copies
		// instead, and reports the error if it is real.
		var exit *hosts.ExitError
		if errors.As(err, &exit) && exit.Code == 97 {
			return 0, fmt.Errorf("%w: find on %s: a directory above a configured path: %w", errNoQuickWalk, h.Name(), err)
		}
		if errs.other != "" {
			return 0, fmt.Errorf("%w: find on %s: %s", errNoQuickWalk, h.Name(), errs.other)
		}
		if errs.vanished == 0 {
			return 0, fmt.Errorf("%w: find on %s: %w", errNoQuickWalk, h.Name(), err)
		}
	}
	// Leave out what the excludes name, with everything under an excluded
	// directory, as rsync never descends there.
	last, excludedDir := "", ""
	err := sorted.each(func(e sourceEntry) error {
		if e.path == last {
			return fmt.Errorf("find on %s: %q printed twice", h.Name(), e.path)
		}
		last = e.path
		if excludedDir != "" && strings.HasPrefix(e.path, excludedDir+"/") {
			return nil
		}
		if ex.matches(e.path, e.isDir()) {
			if !tree.inRoot(e.path) || tree.roots[e.path] {
				return fmt.Errorf("%w: an exclude pattern matches /%s", errNoQuickWalk, e.path)
			}
			if e.isDir() {
				excludedDir = e.path
			}
			return nil
		}
		if !tree.inRoot(e.path) && !e.isDir() {
			return fmt.Errorf("%w: /%s is not a directory", errNoQuickWalk, e.path)
		}
		if tree.roots[e.path] && e.mode&unix.S_IFMT == unix.S_IFLNK {
			return fmt.Errorf("%w: the path /%s is a symlink", errNoQuickWalk, e.path)
		}
		return fn(e)
	})
	return errs.vanished, err
}

// readFindRecords reads find's NUL-terminated records from r as they come,
// in find's order, checks where each one lies (see walkRemote) and hands
// it to add.
func readFindRecords(r io.Reader, tree rootTree, add func(sourceEntry) error) error {
	br := bufio.NewReaderSize(r, maxFindRecord)
	var open []string // the directories find is inside, outermost first
	for n := 1; ; n++ {
		rec, err := br.ReadSlice(0)
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			return fmt.Errorf("record %d is longer than %d bytes", n, maxFindRecord)
		case errors.Is(err, io.EOF) && len(rec) > 0:
			return fmt.Errorf("the output ends inside record %d", n)
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return err
		}
		e, err := parseFindRecord(string(rec[:len(rec)-1]))
		if err != nil {
			return fmt.Errorf("record %d: %w", n, err)
		}
		_, above := tree.children[e.path]
		switch {
		case tree.roots[e.path]:
			open = open[:0] // find starts here
		case above:
			open = open[:0]
			if err := add(e); err != nil {
				return err
			}
			continue // printed alone (-maxdepth 0): nothing comes inside
		case !tree.inRoot(e.path):
			return fmt.Errorf("record %d: %q is outside the configured paths", n, e.path)
		default:
			parent := path.Dir(e.path)
			for len(open) > 0 && open[len(open)-1] != parent {
				open = open[:len(open)-1]
			}
			if len(open) == 0 {
				return fmt.Errorf("record %d: %q is not inside a directory find walked", n, e.path)
			}
		}
		if e.isDir() {
			open = append(open, e.path)
		}
		if err := add(e); err != nil {
			return err
		}
	}
}

// findTypes maps find's %y letters to st_mode type bits.
var findTypes = map[string]uint32{"f": unix.S_IFREG, "d": unix.S_IFDIR, "l": unix.S_IFLNK, "b": unix.S_IFBLK, "c": unix.S_IFCHR, "p": unix.S_IFIFO, "s": unix.S_IFSOCK}

// parseFindRecord reads one findFormat record (without its NUL).
func parseFindRecord(rec string) (sourceEntry, error) {
	f := strings.SplitN(rec, " ", 9)
	if len(f) != 9 || !strings.HasPrefix(f[8], "/") {
		return sourceEntry{}, fmt.Errorf("unexpected output %.300q", rec)
	}
	typ, ok := findTypes[f[0]]
	perm, err1 := strconv.ParseUint(f[1], 8, 12)
	size, err2 := strconv.ParseInt(f[2], 10, 64)
	mtime, err3 := parseFindTime(f[3])
	ctime, err4 := parseFindTime(f[4])
	nlink, err5 := strconv.ParseUint(f[5], 10, 64)
	uid, err6 := strconv.ParseUint(f[6], 10, 32)
	gid, err7 := strconv.ParseUint(f[7], 10, 32)
	if !ok || size < 0 || errors.Join(err1, err2, err3, err4, err5, err6, err7) != nil {
		return sourceEntry{}, fmt.Errorf("unexpected output %.300q", rec)
	}
	rel := f[8][1:]
	if err := relpath.Check(rel); err != nil {
		return sourceEntry{}, err
	}
	return sourceEntry{path: rel, mode: typ | uint32(perm), size: size, mtime: mtime, ctime: ctime, nlink: nlink, uid: uint32(uid), gid: uint32(gid)}, nil
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
	ns, err := strconv.ParseUint(frac, 10, 64)
	if err != nil {
		return 0, err
	}
	if strings.HasPrefix(secs, "-") {
		return sec*1e9 - int64(ns), nil
	}
	return sec*1e9 + int64(ns), nil
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
			if len(f.partial) > 64<<10 {
				f.partial = f.partial[:0] // an endless line: keep memory bounded
			}
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
