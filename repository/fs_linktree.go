package repository

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/depot-backup/depot/hosts"
	"golang.org/x/sys/unix"
)

// LinkTree implements FS: one linkat(2) per file, relative to open
// directories, so no path is resolved twice, in as many goroutines as there
// are CPUs, each over a run of the files. A file at the file system's limit
// of hard links (EMLINK) gives up: the caller copies instead.
func (l LocalFS) LinkTree(ctx context.Context, src, dst string, dirs, files, _ []string) error {
	for _, d := range dirs {
		if err := os.Mkdir(filepath.Join(dst, d), 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	workers := min(runtime.GOMAXPROCS(0), 1+len(files)/1024)
	errs := make([]error, workers)
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = linkFiles(ctx, src, dst, files[w*len(files)/workers:(w+1)*len(files)/workers], &stop)
			if errs[w] != nil {
				stop.Store(true)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if errors.Is(err, unix.EMLINK) {
			if rerr := l.emptyDir(dst); rerr != nil {
				return rerr
			}
			return fmt.Errorf("%w: %w", ErrNoLinkTree, err)
		}
	}
	return errors.Join(errs...)
}

// linkFiles hard-links files from src into dst until one fails or stop is
// set.
func linkFiles(ctx context.Context, src, dst string, files []string, stop *atomic.Bool) error {
	var (
		parent     = "\x00" // the directory the open descriptors are for
		from, into = -1, -1
	)
	closeDirs := func() {
		if from >= 0 {
			unix.Close(from)
		}
		if into >= 0 {
			unix.Close(into)
		}
		from, into = -1, -1
	}
	defer closeDirs()
	for i, f := range files {
		if i%1024 == 0 && (ctx.Err() != nil || stop.Load()) {
			return ctx.Err()
		}
		dir, name := path.Split(f)
		if dir != parent {
			closeDirs()
			var err error
			if from, err = unix.Open(filepath.Join(src, dir), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
				return &os.PathError{Op: "open", Path: filepath.Join(src, dir), Err: err}
			}
			if into, err = unix.Open(filepath.Join(dst, dir), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
				return &os.PathError{Op: "open", Path: filepath.Join(dst, dir), Err: err}
			}
			parent = dir
		}
		if err := unix.Linkat(from, name, into, name, 0); err != nil {
			return &os.LinkError{Op: "link", Old: filepath.Join(src, f), New: filepath.Join(dst, f), Err: err}
		}
	}
	return nil
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
// sets their attributes afterwards. A host whose cp cannot do it (no GNU
// coreutils) leaves dst empty and returns ErrNoLinkTree.
func (f *HostFS) LinkTree(ctx context.Context, src, dst string, _, _, drop []string) error {
	const cpFailed = 97
	script := `rmdir -- "$2" || exit 1
cp -al -- "$1" "$2" 2>&1 || { rm -rf -- "$2"; mkdir -- "$2"; exit ` + fmt.Sprint(cpFailed) + `; }
cd -- "$2" && xargs -0 rm -rf --`
	var list bytes.Buffer
	for _, p := range drop {
		list.WriteString(p + "\x00")
	}
	var out bytes.Buffer
	err := f.Host.Run(ctx, hosts.Command{Argv: []string{"sh", "-c", script, "sh", src, dst}, Stdin: &list, Stdout: &out})
	var exit *hosts.ExitError
	if errors.As(err, &exit) && exit.Code == cpFailed {
		return fmt.Errorf("%w: cp -al on %s: %s", ErrNoLinkTree, f.Host.Name(), bytes.TrimSpace(out.Bytes()))
	}
	if err != nil {
		return fmt.Errorf("link %s from %s: %w", dst, src, err)
	}
	return nil
}
