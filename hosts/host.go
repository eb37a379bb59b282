// Package hosts runs commands on the machines depot works with. A Host runs an
// argv (never a shell string) with streams attached; cancelling the context kills
// the whole process group, so a stopped depot leaves no rsync or ssh behind.
package hosts

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
)

// Command is one process to run.
type Command struct {
	Argv   []string
	Env    []string // added to the inherited environment, as KEY=value
	Dir    string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer // receives stderr as it comes; its tail is kept for errors anyway
}

// Host is a machine depot can run commands on.
type Host interface {
	// Name identifies the host in messages: "local" or "user@host:port".
	Name() string
	// Run starts cmd, waits for it and returns nil on exit 0, an *ExitError on
	// any other exit, or the context's error when ctx was cancelled (the
	// process group is killed before Run returns).
	Run(ctx context.Context, cmd Command) error
	// Dial connects to addr as seen from the host ("tcp" to
	// "127.0.0.1:3306", or "unix" to a socket path), so a database that only
	// listens locally on a remote source can still be reached.
	Dial(ctx context.Context, network, addr string) (net.Conn, error)
}

// Remote is a host on another machine, which rsync reaches through a remote
// shell.
type Remote interface {
	Host
	// RsyncShell is rsync's -e command for the host.
	RsyncShell() string
	// RsyncPath is path on the host in rsync's user@host:path notation.
	RsyncPath(path string) string
}

// ExitError is a command that ran and exited non-zero.
type ExitError struct {
	Argv   []string
	Code   int    // exit status, or -1 when killed by a signal
	Stderr string // the last lines of its stderr
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("%s exited %d", e.Argv[0], e.Code)
	if e.Code < 0 {
		msg = fmt.Sprintf("%s was killed", e.Argv[0])
	}
	if tail := strings.TrimSpace(e.Stderr); tail != "" {
		msg += ": " + oneLine(tail)
	}
	return msg
}

// oneLine joins the lines of s with " | " so an error stays on one line.
func oneLine(s string) string {
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, " | ")
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

// String returns the tail, starting at a line boundary when one is in it.
func (t *tailBuffer) String() string {
	s := string(t.buf)
	if len(t.buf) == t.max {
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	return s
}
