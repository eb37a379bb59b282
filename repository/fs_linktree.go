package repository

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
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
type LinkFile struct {
	Path  string
	Mode  uint32 // st_mode
	Size  int64
	Mtime int64 // ns
}

// matches reports whether st describes the copy f expects.
func (f LinkFile) matches(st *unix.Stat_t) bool {
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
	return out, nil
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
	const cpFailed, findFailed = 97, 98
	script := `rmdir -- "$2" || exit 1
cp -al -- "$1" "$2" 2>&1 || { rm -rf -- "$2"; mkdir -- "$2"; exit ` + fmt.Sprint(cpFailed) + `; }
cd -- "$2" && xargs -0 rm -rf -- || exit 1
find . -mindepth 1 -printf '%y %m %s %T@ %P\0' 2>/dev/null || { cd / && rm -rf -- "$2" && mkdir -- "$2"; exit ` + fmt.Sprint(findFailed) + `; }`
	var list bytes.Buffer
	for _, p := range drop {
		list.WriteString(p + "\x00")
	}
	var out bytes.Buffer
	err := f.Host.Run(ctx, hosts.Command{Argv: []string{"sh", "-c", script, "sh", src, dst}, Stdin: &list, Stdout: &out})
	var exit *hosts.ExitError
	if errors.As(err, &exit) && exit.Code == cpFailed {
		return nil, fmt.Errorf("%w: cp -al on %s: %s", ErrNoLinkTree, f.Host.Name(), bytes.TrimSpace(out.Bytes()))
	}
	if errors.As(err, &exit) && exit.Code == findFailed {
		return nil, fmt.Errorf("%w: find -printf on %s, to check the clone", ErrNoLinkTree, f.Host.Name())
	}
	if err != nil {
		return nil, fmt.Errorf("link %s from %s: %w", dst, src, err)
	}
	copies, extra, err := checkClone(out.Bytes(), dirs, files)
	if err != nil {
		return nil, fmt.Errorf("link %s from %s on %s: %w", dst, src, f.Host.Name(), err)
	}
	if len(extra)+len(copies) > 0 {
		var rm bytes.Buffer
		for _, p := range append(extra, copies...) {
			rm.WriteString(p + "\x00")
		}
		err := f.Host.Run(ctx, hosts.Command{Argv: []string{"sh", "-c", `cd -- "$1" && xargs -0 rm -rf --`, "sh", dst}, Stdin: &rm})
		if err != nil {
			return nil, fmt.Errorf("link %s from %s: %w", dst, src, err)
		}
	}
	return copies, nil
}

// checkClone compares find's records of a clone (see HostFS.LinkTree) with
// the dirs and files asked for. It returns the files to copy and the paths
// to remove (outermost only).
func checkClone(records []byte, dirs []string, files []LinkFile) (copies, extra []string, err error) {
	want := make(map[string]int, len(files)) // index into files, -1 for a directory
	for _, d := range dirs {
		want[d] = -1
	}
	for i, f := range files {
		want[f.Path] = i
	}
	ok := make([]bool, len(files))
	removed := ""
	sc := bufio.NewScanner(bytes.NewReader(records))
	sc.Buffer(make([]byte, 64<<10), relpath.Max+256)
	sc.Split(splitNUL)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 5)
		if len(f) != 5 {
			return nil, nil, fmt.Errorf("unexpected find output %.300q", sc.Text())
		}
		p := f[4]
		if removed != "" && strings.HasPrefix(p, removed+"/") {
			continue
		}
		i, asked := want[p]
		switch {
		case !asked:
			extra, removed = append(extra, p), p
		case i >= 0:
			perm, err1 := strconv.ParseUint(f[1], 8, 32)
			size, err2 := strconv.ParseInt(f[2], 10, 64)
			mtime, err3 := parseFindNanos(f[3])
			typ, known := findTypeBits[f[0]]
			ok[i] = known && errors.Join(err1, err2, err3) == nil &&
				files[i].Mode == typ|uint32(perm) && files[i].Size == size && files[i].Mtime == mtime
		}
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	for i, f := range files {
		if !ok[i] {
			copies = append(copies, f.Path)
		}
	}
	return copies, extra, nil
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
