package repository

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/depot-backup/depot/hosts"
)

// HostFS is a repository's file system reached by running POSIX commands on
// its host (in practice over SSH): constant sh scripts with the paths as
// arguments, never as script text. Small operations go through one
// long-lived sh, so each costs a round trip instead of a session; streamed
// reads and writes get sessions of their own.
//
// Commands rather than SFTP: the repository host needs nothing but sshd and
// POSIX tools (an SFTP subsystem is often disabled or chrooted); deleting a
// snapshot of 100,000 files is one `rm -rf` instead of 100,000 round trips; a
// file streams through cat as fast as through SFTP; and the same code runs
// over hosts.Local, so the conformance tests cover it without a network.
// The one tool beyond POSIX is flock(1) (util-linux, on every Linux): the
// shell holds the lock on an open descriptor, and the kernel drops it when
// the shell ends, however depot or its connection dies.
type HostFS struct {
	Host hosts.Host

	mu     sync.Mutex
	shell  *hosts.Shell
	locked bool
}

var _ FS = (*HostFS)(nil)

// NewHostFS returns the file system of h. Close it to end its shell.
func NewHostFS(h hosts.Host) *HostFS { return &HostFS{Host: h} }

// Close ends the shell, releasing a lock it holds.
func (f *HostFS) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.shell == nil {
		return nil
	}
	err := f.shell.Close()
	f.shell = nil
	return err
}

// Script runs a constant sh script with args in the shell and returns its
// stdout.
func (f *HostFS) Script(ctx context.Context, script string, args ...string) ([]byte, error) {
	sh, err := f.sh()
	if err != nil {
		return nil, err
	}
	out, err := sh.Script(ctx, script, args...)
	if err != nil {
		return out, fmt.Errorf("on %s: %w", f.Host.Name(), err)
	}
	return out, nil
}

func (f *HostFS) sh() (*hosts.Shell, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.shell == nil {
		sh, err := hosts.StartShell(f.Host)
		if err != nil {
			return nil, err
		}
		f.shell = sh
	}
	return f.shell, nil
}

const readDirScript = `[ -d "$1" ] || exit 0
cd -- "$1" || exit 1
for f in * .[!.]* ..?*; do
  if [ -d "$f" ] && [ ! -L "$f" ]; then printf 'd %s\000' "$f"
  elif [ -e "$f" ] || [ -L "$f" ]; then printf 'f %s\000' "$f"
  fi
done`

// ReadDir implements FS. Names end in NUL, the one byte no name holds, so a
// name with a newline in it (made by whoever can write on the host) reads
// as itself and cannot pose as another entry (a snapshot's stamp, say).
func (f *HostFS) ReadDir(ctx context.Context, dir string) ([]DirEntry, error) {
	out, err := f.Script(ctx, readDirScript, dir)
	if err != nil {
		return nil, err
	}
	var entries []DirEntry
	for rec := range bytes.SplitSeq(out, []byte{0}) {
		kind, name, ok := strings.Cut(string(rec), " ")
		if !ok || name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
			continue
		}
		entries = append(entries, DirEntry{Name: name, IsDir: kind == "d"})
	}
	sortEntries(entries)
	return entries, nil
}

// Exists implements FS.
func (f *HostFS) Exists(ctx context.Context, paths ...string) ([]bool, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	out, err := f.Script(ctx, `for p; do if [ -e "$p" ] || [ -L "$p" ]; then echo 1; else echo 0; fi; done`, paths...)
	if err != nil {
		return nil, err
	}
	lines := strings.Fields(string(out))
	if len(lines) != len(paths) {
		return nil, fmt.Errorf("exists: %d answers for %d paths", len(lines), len(paths))
	}
	res := make([]bool, len(paths))
	for i, l := range lines {
		res[i] = l == "1"
	}
	return res, nil
}

// MkdirAll implements FS.
func (f *HostFS) MkdirAll(ctx context.Context, dir string) error {
	_, err := f.Script(ctx, `umask 077 && mkdir -p -- "$1"`, dir)
	return err
}

// Chmod implements FS.
func (f *HostFS) Chmod(ctx context.Context, path string, mode fs.FileMode) error {
	_, err := f.Script(ctx, `chmod "$2" -- "$1"`, path, strconv.FormatUint(uint64(mode.Perm()), 8))
	return err
}

// Writable implements FS.
func (f *HostFS) Writable(ctx context.Context, dir string) error {
	_, err := f.Script(ctx, `[ -w "$1" ] && [ -x "$1" ] || { echo "$1: not writable by $(id -un)" >&2; exit 1; }`, dir)
	return err
}

// Mode implements FS with ls -dLn, whose first field POSIX fixes.
func (f *HostFS) Mode(ctx context.Context, path string) (fs.FileMode, error) {
	out, err := f.Script(ctx, `ls -dLn -- "$1"`, path)
	if err != nil {
		return 0, err
	}
	perm := strings.Fields(string(out))
	if len(perm) == 0 || len(perm[0]) < 10 {
		return 0, fmt.Errorf("ls: unexpected output %q", out)
	}
	var mode fs.FileMode
	for i, c := range perm[0][1:10] {
		if c != '-' && c != 'S' && c != 'T' {
			mode |= 1 << (8 - i)
		}
	}
	return mode, nil
}

// Rename implements FS.
func (f *HostFS) Rename(ctx context.Context, old, new string) error {
	_, err := f.Script(ctx, `if [ -d "$2" ] && [ ! -L "$2" ]; then echo "$2 exists" >&2; exit 1; fi
mv -f -- "$1" "$2"`, old, new)
	return err
}

// Remove implements FS.
func (f *HostFS) Remove(ctx context.Context, path string) error {
	_, err := f.Script(ctx, `rm -f -- "$1"`, path)
	return err
}

// RemoveAll implements FS.
func (f *HostFS) RemoveAll(ctx context.Context, path string) error {
	_, err := f.Script(ctx, `rm -rf -- "$1" 2>/dev/null || { chmod -R u+rwx -- "$1" && rm -rf -- "$1"; }`, path)
	return err
}

// ReadFile implements FS through the shell: small files only.
func (f *HostFS) ReadFile(ctx context.Context, path string) ([]byte, error) {
	return f.Script(ctx, `cat -- "$1"`, path)
}

// Size implements FS: a file that is not there prints nothing.
func (f *HostFS) Size(ctx context.Context, path string) (int64, error) {
	out, err := f.Script(ctx, `if [ -e "$1" ] || [ -L "$1" ]; then wc -c < "$1"; fi`, path)
	if err != nil {
		return 0, err
	}
	if len(bytes.TrimSpace(out)) == 0 {
		return 0, &fs.PathError{Op: "size", Path: path, Err: fs.ErrNotExist}
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(out)), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size of %s on %s: unexpected answer %.100q", path, f.Host.Name(), out)
	}
	return n, nil
}

// shellReadMax is the largest file readSmall holds in memory.
var shellReadMax int64 = 8 << 20

// readSmallScript prints x and the file at $1 when it holds at most $2
// bytes, and nothing when it holds more.
const readSmallScript = `n=$(wc -c < "$1") || exit 1
[ "$n" -le "$2" ] || exit 0
printf x
cat -- "$1"`

// readSmall reads the file at path in one round trip in the shell when it
// holds at most max bytes, and returns nil when it holds more (then read
// it with Open, which streams).
func (f *HostFS) readSmall(ctx context.Context, path string, max int64) ([]byte, error) {
	sh, err := f.sh()
	if err != nil {
		return nil, err
	}
	w := &cappedBuffer{max: max + 1}
	err = sh.Stream(ctx, w, nil, readSmallScript, path, strconv.FormatInt(max, 10))
	switch {
	case errors.Is(err, errCapped):
		return nil, nil // it grew since wc: too big all the same
	case err != nil:
		return nil, fmt.Errorf("on %s: %w", f.Host.Name(), err)
	case w.buf.Len() == 0:
		return nil, nil
	}
	return w.buf.Bytes()[1:], nil
}

// cappedBuffer keeps what is written to it until it would pass max bytes,
// then fails.
type cappedBuffer struct {
	max int64
	buf bytes.Buffer
}

var errCapped = errors.New("more than expected")

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if int64(c.buf.Len()+len(p)) > c.max {
		return 0, errCapped
	}
	return c.buf.Write(p)
}

// readFilesScript prints each readable regular file among its paths (after
// $1, a nonce) followed by a line with the nonce and ok, or just that line
// with no.
const readFilesScript = `n=$1
shift
for p; do
  if [ -f "$p" ] && cat -- "$p" 2>/dev/null; then s=ok; else s=no; fi
  printf '\n%s %s\n' "$n" "$s"
done`

// catFilesScript prints a line with 1 for each of its paths that is a
// readable regular file and 0 for each other, then wc -c's lines for the
// former, then them all from one cat: two processes, however many files.
const catFilesScript = `for p; do
  shift
  if [ -f "$p" ] && [ -r "$p" ]; then set -- "$@" "$p"; printf 1; else printf 0; fi
done
printf '\n'
[ $# -gt 0 ] || exit 0
wc -c -- "$@" && cat -- "$@"`

// ReadFiles implements FS in one round trip in the shell: one cat of all
// the files, split by their sizes. When that cannot be (a name with a
// newline, which splits wc's lines, or a file that changed between wc and
// cat), each file gets a cat of its own, and its end is a line with a
// random nonce, which no file written before can hold.
func (f *HostFS) ReadFiles(ctx context.Context, paths ...string) ([][]byte, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	if !slices.ContainsFunc(paths, func(p string) bool { return strings.Contains(p, "\n") }) {
		out, err := f.Script(ctx, catFilesScript, paths...)
		var exit *hosts.ExitError
		if err != nil && !errors.As(err, &exit) {
			return nil, err
		}
		if res, ok := splitCatFiles(out, len(paths)); err == nil && ok {
			return res, nil
		}
	}
	buf := make([]byte, 16)
	if _, err := rand.Read(buf); err != nil {
		return nil, err
	}
	nonce := "depot-" + hex.EncodeToString(buf)
	out, err := f.Script(ctx, readFilesScript, append([]string{nonce}, paths...)...)
	if err != nil {
		return nil, err
	}
	end := []byte("\n" + nonce + " ")
	res := make([][]byte, len(paths))
	for i := range paths {
		j := bytes.Index(out, end)
		if j < 0 {
			return nil, fmt.Errorf("read files: %d answers for %d paths", i, len(paths))
		}
		data, rest := out[:j:j], out[j+len(end):]
		status, rest, ok := bytes.Cut(rest, []byte("\n"))
		if !ok {
			return nil, fmt.Errorf("read files: %d answers for %d paths", i, len(paths))
		}
		if string(status) == "ok" {
			res[i] = append([]byte{}, data...)
		}
		out = rest
	}
	return res, nil
}

// splitCatFiles splits catFilesScript's output for n paths, and says
// whether it adds up.
func splitCatFiles(out []byte, n int) ([][]byte, bool) {
	flags, out, ok := bytes.Cut(out, []byte("\n"))
	if !ok || len(flags) != n {
		return nil, false
	}
	var sizes []int
	for _, c := range flags {
		if c == '1' {
			sizes = append(sizes, 0)
		}
	}
	lines := len(sizes)
	if lines > 1 {
		lines++ // wc's total
	}
	var total int
	for k := range lines {
		var line []byte
		if line, out, ok = bytes.Cut(out, []byte("\n")); !ok {
			return nil, false
		}
		fields := bytes.Fields(line)
		if len(fields) == 0 {
			return nil, false
		}
		size, err := strconv.Atoi(string(fields[0]))
		if err != nil || size < 0 {
			return nil, false
		}
		if k < len(sizes) {
			sizes[k] = size
			total += size
		}
	}
	if len(out) != total {
		return nil, false
	}
	res := make([][]byte, n)
	k := 0
	for i, c := range flags {
		if c != '1' {
			continue
		}
		res[i] = append([]byte{}, out[:sizes[k]]...)
		out = out[sizes[k]:]
		k++
	}
	return res, true
}

// WriteFile implements FS through the shell: the data travels as an argument
// of printf, a shell builtin, so no command line limit applies.
func (f *HostFS) WriteFile(ctx context.Context, path string, data []byte) error {
	_, err := f.Script(ctx, `umask 077 && printf '%s' "$2" > "$1"`, path, string(data))
	return err
}

// Append implements FS.
func (f *HostFS) Append(ctx context.Context, path string, data []byte) error {
	_, err := f.Script(ctx, `umask 077 && printf '%s' "$2" >> "$1"`, path, string(data))
	return err
}

// Link implements FS.
func (f *HostFS) Link(ctx context.Context, old, new string) error {
	// cp -p stands in for ln when the file has reached the file system's
	// limit of hard links (EMLINK); a missing old fails both.
	_, err := f.Script(ctx, `rm -f -- "$2" && { ln -- "$1" "$2" 2>/dev/null || cp -p -- "$1" "$2"; }`, old, new)
	return err
}

// SetMtime implements FS with touch -t, POSIX's only way to set a time.
func (f *HostFS) SetMtime(ctx context.Context, path string, t time.Time) error {
	_, err := f.Script(ctx, `TZ=UTC0 touch -m -c -t "$2" -- "$1"`, path, t.UTC().Format("200601021504.05"))
	return err
}

// Sync implements FS: GNU sync -f flushes the one file system that holds
// dir (syncfs, as LocalFS does); elsewhere POSIX sync(1) flushes them all,
// which is more than needed but all a POSIX host offers.
func (f *HostFS) Sync(ctx context.Context, dir string) error {
	_, err := f.Script(ctx, `sync -f -- "$1" 2>/dev/null || sync`, dir)
	return err
}

// Open implements FS: the file streams from cat.
func (f *HostFS) Open(ctx context.Context, path string) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := f.Host.Run(ctx, hosts.Command{Argv: []string{"cat", "--", path}, Stdout: pw})
		if err != nil {
			err = fmt.Errorf("read %s on %s: %w", path, f.Host.Name(), err)
		}
		pw.CloseWithError(err)
	}()
	return &pipeReader{PipeReader: pr, cancel: cancel, done: done}, nil
}

type pipeReader struct {
	*io.PipeReader
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *pipeReader) Close() error {
	r.cancel()
	r.PipeReader.Close()
	<-r.done
	return nil
}

// Create implements FS. A file of up to shellWriteMax bytes (a manifest,
// the file list of about 10,000 files) is written by the shell
// when it is closed, which costs a round trip instead of a session; a
// longer one streams into cat in a session of its own from the moment it
// outgrows that. CloseWithError drops what was written.
func (f *HostFS) Create(ctx context.Context, path string) (io.WriteCloser, error) {
	return &hostFile{f: f, ctx: ctx, path: path}, nil
}

// shellWriteMax is the most Create buffers for the shell: the copies of it
// that quoting makes stay small beside a run's memory.
const shellWriteMax = 1 << 20

type hostFile struct {
	f      *HostFS
	ctx    context.Context
	path   string
	buf    []byte
	stream *pipeWriter // once the data outgrew buf
	done   bool
	err    error
}

func (w *hostFile) Write(p []byte) (int, error) {
	if w.done {
		return 0, errors.New("write to a closed file")
	}
	if w.stream == nil && len(w.buf)+len(p) <= shellWriteMax {
		w.buf = append(w.buf, p...)
		return len(p), nil
	}
	if w.stream == nil {
		w.stream = w.f.catTo(w.ctx, w.path)
		buf := w.buf
		w.buf = nil
		if _, err := w.stream.Write(buf); err != nil {
			return 0, err
		}
	}
	return w.stream.Write(p)
}

func (w *hostFile) Close() error {
	if w.done {
		return w.err
	}
	w.done = true
	if w.stream != nil {
		w.err = w.stream.Close()
		return w.err
	}
	// printf's %b turns \\ and \0ooo back into the bytes, so any data
	// (NULs included) travels as one quoted word.
	data := strings.ReplaceAll(string(w.buf), `\`, `\\`)
	data = strings.ReplaceAll(data, "\x00", `\0000`)
	w.buf = nil
	if _, err := w.f.Script(w.ctx, `umask 077 && printf '%b' "$2" > "$1"`, w.path, data); err != nil {
		w.err = fmt.Errorf("write %s: %w", w.path, err)
	}
	return w.err
}

// CloseWithError ends the file without writing what is buffered; a stream
// already started is cut with err.
func (w *hostFile) CloseWithError(err error) error {
	if w.done {
		return w.err
	}
	w.done, w.err, w.buf = true, err, nil
	if w.stream != nil {
		w.stream.CloseWithError(err)
		w.stream.Close()
	}
	return nil
}

// catTo starts cat writing its stdin to path in a session of its own.
func (f *HostFS) catTo(ctx context.Context, path string) *pipeWriter {
	pr, pw := io.Pipe()
	w := &pipeWriter{PipeWriter: pw, done: make(chan error, 1)}
	go func() {
		err := f.Host.Run(ctx, hosts.Command{Argv: []string{"sh", "-c", `umask 077 && cat > "$1"`, "sh", path}, Stdin: pr})
		if err != nil {
			err = fmt.Errorf("write %s on %s: %w", path, f.Host.Name(), err)
		}
		pr.CloseWithError(err)
		w.done <- err
	}()
	return w
}

type pipeWriter struct {
	*io.PipeWriter
	done chan error
	once sync.Once
	err  error
}

func (w *pipeWriter) Close() error {
	w.once.Do(func() {
		w.PipeWriter.Close()
		w.err = <-w.done
	})
	return w.err
}

// Lock implements FS: the shell opens the lock file on descriptor 9 and
// holds flock on it until Unlock closes it or the shell ends.
func (f *HostFS) Lock(ctx context.Context, path string, wait time.Duration, holder string) (Unlocker, error) {
	deadline := time.Now().Add(wait)
	for {
		l, err := f.tryLock(ctx, path, holder)
		if err == nil || !errors.Is(err, ErrLocked) || time.Now().After(deadline) {
			return l, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func (f *HostFS) tryLock(ctx context.Context, path, holder string) (Unlocker, error) {
	sh, err := f.sh()
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.locked {
		return nil, errors.New("lock: this file system holds a lock already")
	}
	p, h := hosts.ShellQuote(path), hosts.ShellQuote(holder)
	// One line in the shell itself, not a subshell, so descriptor 9 stays
	// open after it. Its status: 0 locked, 2 no flock, 3 held by another.
	line := `exec 9>>` + p + ` && if ! command -v flock >/dev/null; then echo "flock(1) is not installed" >&2; exec 9>&-; (exit 2)
elif flock -n 9; then printf '%s\n' ` + h + ` > ` + p + `
else cat -- ` + p + `; exec 9>&-; (exit 3); fi`
	out, err := sh.Eval(ctx, line)
	var exit *hosts.ExitError
	switch {
	case err == nil:
		f.locked = true
		return shellLock{f, sh}, nil
	case errors.As(err, &exit) && exit.Code == 3:
		return nil, parseHolder(string(out))
	}
	return nil, fmt.Errorf("lock %s on %s: %w", path, f.Host.Name(), err)
}

type shellLock struct {
	f  *HostFS
	sh *hosts.Shell
}

func (l shellLock) Unlock() error {
	// Not a bare exec: Eval appends "</dev/null", which would become the
	// shell's own stdin and end it.
	_, err := l.sh.Eval(context.Background(), "exec 9>&-; :")
	l.f.mu.Lock()
	l.f.locked = false
	l.f.mu.Unlock()
	return err
}

// ExclusiveSize implements FS with find -printf, which GNU and busybox find
// have; elsewhere it reports the size as unknown.
func (f *HostFS) ExclusiveSize(ctx context.Context, dir string) (int64, error) {
	out, err := f.Script(ctx, `find "$1" -printf '%i %n %b %y\n'`, dir)
	if err != nil {
		return -1, err
	}
	u := newUsage()
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 4 {
			continue
		}
		ino, _ := strconv.ParseUint(fields[0], 10, 64)
		nlink, _ := strconv.ParseUint(fields[1], 10, 64)
		blocks, _ := strconv.ParseInt(fields[2], 10, 64)
		u.add(ino, nlink, blocks*512, fields[3] == "d")
	}
	return u.total(), nil
}

// Free implements FS with df -P, whose output POSIX fixes.
func (f *HostFS) Free(ctx context.Context, dir string) (int64, error) {
	out, err := f.Script(ctx, `df -Pk -- "$1"`, dir)
	if err != nil {
		return 0, err
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	fields := strings.Fields(lines[len(lines)-1])
	if len(fields) < 4 {
		return 0, fmt.Errorf("df: unexpected output %q", out)
	}
	kb, err := strconv.ParseInt(fields[3], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("df: unexpected output %q", out)
	}
	return kb * 1024, nil
}
