// Package rsync builds rsync command lines, runs them on a host and classifies
// the outcome: exit 0 is success, exit 24 (files vanished during the transfer,
// normal on a live system) is a warning, everything else is an error.
package rsync

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/depot-backup/depot/hosts"
)

// Options describe one rsync transfer.
type Options struct {
	Sources  []string // transferred with --relative when Relative is set
	Dest     string
	LinkDest string // unchanged files become hard links into this directory

	Relative      bool
	HardLinks     bool // -H
	ACLs          bool // -A
	Xattrs        bool // -X
	NumericIDs    bool
	OneFileSystem bool // -x
	Sparse        bool // -S: runs of zeros become holes, so sparse files stay sparse
	Checksum      bool // -c: compare content, not size and mtime
	Delete        bool // remove from Dest what the sources no longer have
	Excludes      []string
	BwLimit       string // --bwlimit, e.g. "10M"; empty for none
	Shell         string // -e: the remote shell command, for a user@host:path end
	// ListAll itemizes every path of the transfer, changed or not, into
	// Result.Paths.
	ListAll bool
	// FilesFrom, when set, is the list of paths to transfer (NUL-separated,
	// relative to the single source directory), read by rsync from its
	// stdin. rsync then neither recurses nor deletes: it copies exactly
	// these names, directories as themselves.
	FilesFrom io.Reader
	// IgnoreMissingArgs skips a FilesFrom name that no longer exists (it
	// vanished after the list was made) instead of failing with exit 23.
	IgnoreMissingArgs bool
	// IgnoreTimes (-I) sends every file, even one whose size and mtime
	// match its --link-dest copy (which rsync would otherwise hard-link
	// unread); the --link-dest copy is still the basis of its delta.
	IgnoreTimes bool
	// Sent, when set, is called with the name of each regular file whose
	// data the transfer sent (relative to Dest, as with Result.Paths) and
	// the bytes that took, as soon as rsync logs it, while the transfer
	// goes on: after the file's data went through, but maybe before the
	// receiver has put the file in place. It must not block for long, or
	// rsync waits for it; it is called from one goroutine at a time. Not
	// with ListAll.
	Sent func(name string, bytes int64)
	// Itemized, when set with ListAll, is called with each path the
	// transfer itemizes, as Result.Paths would hold it (in rsync's order;
	// a path may come more than once), as soon as rsync logs it; Paths
	// then stays nil, so memory stays bounded whatever the number of
	// paths. It is called from one goroutine at a time.
	Itemized func(path string, linked bool)
}

// Between points the transfer's ends at their hosts: Sources are paths on
// src, Dest a path on dst. A remote end gets the user@host: prefix and -e
// its shell. rsync cannot copy between two remote hosts; the config rules
// that out, and if both are remote the destination's shell wins.
func (o *Options) Between(src, dst hosts.Host) {
	if r, ok := src.(hosts.Remote); ok {
		o.Shell = r.RsyncShell()
		sources := make([]string, len(o.Sources))
		for i, p := range o.Sources {
			sources[i] = r.RsyncPath(p)
		}
		o.Sources = sources
	}
	if r, ok := dst.(hosts.Remote); ok {
		o.Shell, o.Dest = r.RsyncShell(), r.RsyncPath(o.Dest)
	}
}

// Args returns rsync's argv (without the program name) for o.
func (o Options) Args() []string {
	flags := "-a"
	if o.HardLinks {
		flags += "H"
	}
	if o.ACLs {
		flags += "A"
	}
	if o.Xattrs {
		flags += "X"
	}
	if o.OneFileSystem {
		flags += "x"
	}
	if o.Sparse {
		flags += "S"
	}
	if o.Relative {
		flags += "R"
	}
	args := []string{flags}
	if o.NumericIDs {
		args = append(args, "--numeric-ids")
	}
	if o.Checksum {
		args = append(args, "--checksum")
	}
	if o.IgnoreTimes {
		args = append(args, "--ignore-times")
	}
	if o.Delete {
		args = append(args, "--delete", "--delete-excluded")
	}
	for _, e := range o.Excludes {
		args = append(args, "--exclude="+e)
	}
	if o.Shell != "" {
		args = append(args, "-e", o.Shell)
	}
	switch {
	case o.ListAll:
		args = append(args, "-ii", "--out-format=%i %n")
	case o.Sent != nil:
		args = append(args, sentFormat)
	}
	if o.BwLimit != "" {
		args = append(args, "--bwlimit="+o.BwLimit)
	}
	if o.LinkDest != "" {
		args = append(args, "--link-dest="+o.LinkDest)
	}
	if o.FilesFrom != nil {
		args = append(args, "--files-from=-", "--from0")
	}
	if o.IgnoreMissingArgs {
		args = append(args, "--ignore-missing-args")
	}
	args = append(args, "--stats", "--")
	args = append(args, o.Sources...)
	return append(args, o.Dest)
}

// Stats are the figures rsync prints with --stats.
type Stats struct {
	Files            int64 // regular files in the source
	FilesTransferred int64 // regular files whose data was sent
	Bytes            int64 // total size of the source files
	BytesTransferred int64 // total size of the files sent
	// WireBytes is what rsync sent and received over its connection
	// (protocol, checksums and deltas), which for a changed file sent as a
	// delta is far less than its size.
	WireBytes int64
}

// Result is a finished transfer.
type Result struct {
	Stats    Stats
	Warnings []string // e.g. vanished files (exit 24)
	// Paths holds, with Options.ListAll, every path the destination got,
	// relative to it (with --relative: the source paths without their
	// leading slash), directories without a trailing slash. A path is true
	// when it is a hard link to its --link-dest copy with nothing changed.
	Paths map[string]bool
}

// ExitVanished is rsync's exit status when source files vanished mid-transfer.
const ExitVanished = 24

// RunBetween copies o.Sources on src to o.Dest on dst. rsync runs on the end
// that is this machine: in pull mode (src remote) the destination fetches, in
// push mode (dst remote) the source sends, so no transfer is started on a
// remote host, which would write to that host's own paths or have to reach a
// third one. rsync cannot copy between two remote hosts.
func RunBetween(ctx context.Context, src, dst hosts.Host, o Options) (Result, error) {
	_, srcRemote := src.(hosts.Remote)
	_, dstRemote := dst.(hosts.Remote)
	if srcRemote && dstRemote {
		return Result{}, fmt.Errorf("rsync to %s: cannot copy between two remote hosts (%s to %s)", o.Dest, src.Name(), dst.Name())
	}
	o.Between(src, dst)
	if !srcRemote {
		return Run(ctx, src, o)
	}
	res, err := Run(ctx, dst, o)
	if err != nil {
		err = fmt.Errorf("rsync from %s: %w", src.Name(), err)
	}
	return res, err
}

// Run runs rsync with o on host. A failure's error carries the tail of rsync's
// stderr, on one line.
func Run(ctx context.Context, host hosts.Host, o Options) (Result, error) {
	var out bytes.Buffer
	var stdout io.Writer = &out
	var sent *sentLines
	if o.Sent != nil && !o.ListAll {
		sent = &sentLines{sent: o.Sent}
		stdout = sent
	}
	if o.Itemized != nil && o.ListAll {
		sent = &sentLines{itemized: o.Itemized}
		stdout = sent
	}
	var errLines lineCollector
	err := host.Run(ctx, hosts.Command{Argv: append([]string{"rsync"}, o.Args()...), Stdin: o.FilesFrom, Stdout: stdout, Stderr: &errLines})
	if sent != nil {
		out.Write(sent.flush())
	}
	res := Result{Stats: parseStats(out.Bytes())}
	if o.ListAll && o.Itemized == nil {
		res.Paths = parseItemized(out.Bytes())
	}
	var exit *hosts.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.Code == ExitVanished:
		res.Warnings = append(res.Warnings, "rsync exit 24: some source files vanished during the transfer")
		res.Warnings = append(res.Warnings, errLines.matching("vanished", 20)...)
	case errors.As(err, &exit):
		if cause := errLines.cause(); cause != "" && !strings.Contains(exit.Stderr, cause) {
			// rsync's own error line, whole, which a tail of stderr
			// loses behind a long path or many later lines.
			e := *exit
			e.Stderr, err = cause+"\n"+exit.Stderr, &e
		}
		return res, fmt.Errorf("rsync to %s: %s (exit %d): %w", o.Dest, Meaning(exit.Code), exit.Code, err)
	default:
		return res, fmt.Errorf("rsync to %s: %w", o.Dest, err)
	}
	return res, nil
}

// Meaning explains an rsync exit status in a few words (from rsync(1)).
func Meaning(code int) string {
	switch code {
	case 1:
		return "syntax or usage error"
	case 2:
		return "protocol incompatibility"
	case 3:
		return "errors selecting input/output files or dirs"
	case 4:
		return "requested action not supported"
	case 5:
		return "error starting client-server protocol"
	case 10:
		return "error in socket I/O"
	case 11:
		return "error in file I/O"
	case 12:
		return "error in rsync protocol data stream"
	case 13:
		return "errors with program diagnostics"
	case 14:
		return "error in IPC code"
	case 20:
		return "received SIGUSR1 or SIGINT"
	case 21:
		return "some error returned by waitpid()"
	case 22:
		return "error allocating core memory buffers"
	case 23:
		return "partial transfer due to error"
	case 24:
		return "partial transfer due to vanished source files"
	case 25:
		return "the --max-delete limit stopped deletions"
	case 30:
		return "timeout in data send/receive"
	case 35:
		return "timeout waiting for daemon connection"
	case 127:
		return "rsync not found"
	case 255:
		return "ssh connection failed"
	}
	return "unknown error"
}

// parseStats reads the --stats block. Lines look like
// "Number of regular files transferred: 1,234" and "Total file size: 5,678 bytes".
func parseStats(out []byte) Stats {
	var s Stats
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		n := leadingNumber(val)
		switch key {
		case "Number of regular files transferred":
			s.FilesTransferred = n
		case "Total file size":
			s.Bytes = n
		case "Total transferred file size":
			s.BytesTransferred = n
		case "Total bytes sent", "Total bytes received":
			s.WireBytes += n
		case "Number of files":
			// "Number of files: 12 (reg: 10, dir: 2)"
			if _, reg, ok := strings.Cut(val, "reg: "); ok {
				s.Files = leadingNumber(reg)
			}
		}
	}
	return s
}

// unescapeName undoes rsync's \#ooo escapes of unprintable bytes.
func unescapeName(s string) string {
	if !strings.Contains(s, `\#`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+5 <= len(s) && s[i+1] == '#' {
			if n, err := strconv.ParseUint(s[i+2:i+5], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 4
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// leadingNumber parses "1,234 bytes" as 1234.
func leadingNumber(s string) int64 {
	s = strings.TrimSpace(s)
	end := 0
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || s[end] == ',') {
		end++
	}
	n, _ := strconv.ParseInt(strings.ReplaceAll(s[:end], ",", ""), 10, 64)
	return n
}

// lineCollector keeps the lines written to it, up to a limit.
type lineCollector struct {
	partial []byte
	lines   []string
}

func (l *lineCollector) Write(p []byte) (int, error) {
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		if len(l.lines) < 1000 {
			l.lines = append(l.lines, string(l.partial[:i]))
		}
		l.partial = l.partial[i+1:]
	}
	if len(l.partial) > maxLine {
		l.partial = l.partial[:maxLine] // the rest of an endless line
	}
	return len(p), nil
}

func (l *lineCollector) matching(substr string, max int) []string {
	var out []string
	for _, line := range l.lines {
		if strings.Contains(line, substr) && len(out) < max {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}
