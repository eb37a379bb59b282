package hosts

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Shell is one long-lived POSIX sh on a host that runs commands one at a
// time. Over SSH every session pays for sshd's fork and the login shell's
// start-up files (tens of milliseconds each); a shell pays once. Nothing is
// installed on the host: it is the sh that is there.
//
// Each command's stdout and stderr come back framed by a marker line with a
// random nonce; its stdin is /dev/null.
type Shell struct {
	host  Host
	nonce string

	mu     sync.Mutex
	stdin  *io.PipeWriter
	stdout *bufio.Reader
	stderr *bufio.Reader
	cancel context.CancelFunc
	done   chan error
	dead   error
}

// StartShell starts sh on h. Close ends it.
func StartShell(h Host) (*Shell, error) {
	buf := make([]byte, 16)
	if _, err := rand.Read(buf); err != nil {
		return nil, err
	}
	s := &Shell{host: h, nonce: "depot-" + hex.EncodeToString(buf), done: make(chan error, 1)}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	s.stdin, s.cancel = inW, cancel
	s.stdout, s.stderr = bufio.NewReader(outR), bufio.NewReader(errR)
	go func() {
		err := h.Run(ctx, Command{Argv: []string{"sh"}, Stdin: inR, Stdout: outW, Stderr: errW})
		if err == nil {
			err = errors.New("shell exited")
		}
		inR.CloseWithError(err) // a request written after the end fails, not blocks
		outW.CloseWithError(err)
		errW.CloseWithError(err)
		s.done <- err
	}()
	return s, nil
}

// Close ends the shell, and with it anything it holds (such as a lock on an
// open descriptor). The shell ends at the end of its input, which costs a
// round trip; only one that does not within closeWait is killed, since
// killing a remote command costs a session of its own (see SSH.Run).
func (s *Shell) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead != nil {
		return nil
	}
	s.dead = errors.New("shell closed")
	s.stdin.Close()
	select {
	case <-s.done:
		s.cancel()
	case <-time.After(closeWait):
		s.cancel()
		<-s.done
	}
	return nil
}

// closeWait is how long Close waits for the shell to end by itself.
const closeWait = 5 * time.Second

// alive reports whether the shell still takes commands.
func (s *Shell) alive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dead == nil
}

func (s *Shell) kill(reason error) {
	if s.dead != nil {
		return
	}
	s.dead = reason
	s.stdin.Close()
	s.cancel()
	<-s.done
}

// Script runs a constant sh script with args as its positional parameters
// and returns its stdout. A non-zero exit is an *ExitError with its stderr.
// If ctx ends first, the shell is killed and every later call fails.
func (s *Shell) Script(ctx context.Context, script string, args ...string) ([]byte, error) {
	var out bytes.Buffer
	err := s.Stream(ctx, &out, nil, script, args...)
	return out.Bytes(), err
}

// Stream is Script with the script's stdout streaming into stdout as it
// comes, in constant memory, and its stderr into stderr (nil: kept, its
// tail, for the error only). If stdout fails, the rest of the output is
// read and dropped, so the shell lives on, and Stream returns stdout's
// error.
func (s *Shell) Stream(ctx context.Context, stdout, stderr io.Writer, script string, args ...string) error {
	words := []string{"(", "set", "--"}
	for _, a := range args {
		words = append(words, ShellQuote(a))
	}
	words = append(words, ";", script, "\n)")
	return s.run(ctx, strings.Join(words, " "), append([]string{"sh", "-c", script}, args...), stdout, stderr)
}

// Command runs c (whose Stdin must be nil: the command's stdin is
// /dev/null) in a subshell, as Host.Run would.
func (s *Shell) Command(ctx context.Context, c Command) error {
	if c.Stdin != nil {
		return errors.New("shell: a command with stdin needs a session of its own")
	}
	return s.run(ctx, "( "+commandLine(c)+" )", c.Argv, c.Stdout, c.Stderr)
}

// Eval runs a line in the shell itself (not a subshell), so what it changes,
// such as an open descriptor, stays for later lines.
func (s *Shell) Eval(ctx context.Context, line string) ([]byte, error) {
	var out bytes.Buffer
	err := s.run(ctx, line, []string{"sh", line}, &out, nil)
	return out.Bytes(), err
}

func (s *Shell) run(ctx context.Context, line string, argv []string, stdout, stderr io.Writer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead != nil {
		return fmt.Errorf("shell on %s: %w", s.host.Name(), s.dead)
	}
	if stdout == nil {
		stdout = io.Discard
	}
	tail := &tailBuffer{max: 64 << 10}
	var errOut io.Writer = tail
	if stderr != nil {
		errOut = io.MultiWriter(tail, stderr)
	}
	request := fmt.Sprintf("%s </dev/null\nprintf '\\n%s %%s\\n' \"$?\"; printf '\\n%s\\n' >&2\n", line, s.nonce, s.nonce)
	type reply struct {
		status int
		err    error // the shell's: it is unusable
		outErr error // stdout's
	}
	replies := make(chan reply, 1)
	go func() {
		var r reply
		if _, err := io.WriteString(s.stdin, request); err != nil {
			r.err = err
			replies <- r
			return
		}
		// Both at once: a command that fills one stream while the other
		// is not read would stall.
		errDone := make(chan error, 1)
		go func() {
			_, _, err := readFramed(s.stderr, "\n"+s.nonce, errOut)
			errDone <- err
		}()
		var status string
		status, r.outErr, r.err = readFramed(s.stdout, "\n"+s.nonce+" ", stdout)
		if err := <-errDone; r.err == nil {
			r.err = err
		}
		if r.err == nil {
			r.status, r.err = strconv.Atoi(status)
		}
		replies <- r
	}()
	select {
	case r := <-replies:
		if r.err != nil {
			s.kill(r.err)
			return fmt.Errorf("shell on %s: %w", s.host.Name(), r.err)
		}
		if r.status != 0 {
			return &ExitError{Argv: argv, Code: r.status, Stderr: tail.String()}
		}
		return r.outErr
	case <-ctx.Done():
		s.kill(ctx.Err())
		<-replies
		return ctx.Err()
	}
}

// readFramed copies r into w up to the marker (a newline and the nonce,
// which the shell prints after each command) and returns the rest of the
// marker's line. It holds back only what may be the marker's start, so
// memory stays constant however long the output. Once w fails, it drops
// the rest and returns w's error as wErr.
func readFramed(r *bufio.Reader, marker string, w io.Writer) (rest string, wErr, err error) {
	m := []byte(marker)
	var pending []byte
	buf := make([]byte, 32<<10)
	emit := func(p []byte) {
		if wErr == nil && len(p) > 0 {
			_, wErr = w.Write(p)
		}
	}
	for {
		n, rerr := r.Read(buf)
		pending = append(pending, buf[:n]...)
		if i := bytes.Index(pending, m); i >= 0 {
			if j := bytes.IndexByte(pending[i+len(m):], '\n'); j >= 0 {
				emit(pending[:i])
				return string(pending[i+len(m) : i+len(m)+j]), wErr, nil
			}
		} else if keep := len(m) - 1; len(pending) > keep {
			emit(pending[:len(pending)-keep])
			pending = append(pending[:0], pending[len(pending)-keep:]...)
		}
		if rerr != nil {
			return "", wErr, rerr
		}
	}
}
