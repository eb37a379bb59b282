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
// open descriptor).
func (s *Shell) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kill(errors.New("shell closed"))
	return nil
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
	words := []string{"(", "set", "--"}
	for _, a := range args {
		words = append(words, ShellQuote(a))
	}
	words = append(words, ";", script, "\n)")
	return s.run(ctx, strings.Join(words, " "), append([]string{"sh", "-c", script}, args...))
}

// Eval runs a line in the shell itself (not a subshell), so what it changes,
// such as an open descriptor, stays for later lines.
func (s *Shell) Eval(ctx context.Context, line string) ([]byte, error) {
	return s.run(ctx, line, []string{"sh", line})
}

func (s *Shell) run(ctx context.Context, line string, argv []string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dead != nil {
		return nil, fmt.Errorf("shell on %s: %w", s.host.Name(), s.dead)
	}
	request := fmt.Sprintf("%s </dev/null\nprintf '\\n%s %%s\\n' \"$?\"; printf '\\n%s\\n' >&2\n", line, s.nonce, s.nonce)
	type reply struct {
		out, errOut []byte
		status      int
		err         error
	}
	replies := make(chan reply, 1)
	go func() {
		var r reply
		if _, err := io.WriteString(s.stdin, request); err != nil {
			r.err = err
			replies <- r
			return
		}
		r.out, r.status, r.err = readFramed(s.stdout, s.nonce, true)
		if r.err == nil {
			r.errOut, _, r.err = readFramed(s.stderr, s.nonce, false)
		}
		replies <- r
	}()
	select {
	case r := <-replies:
		if r.err != nil {
			s.kill(r.err)
			return nil, fmt.Errorf("shell on %s: %w", s.host.Name(), r.err)
		}
		if r.status != 0 {
			return r.out, &ExitError{Argv: argv, Code: r.status, Stderr: string(r.errOut)}
		}
		return r.out, nil
	case <-ctx.Done():
		s.kill(ctx.Err())
		<-replies
		return nil, ctx.Err()
	}
}

// readFramed reads up to the marker line "\n<nonce>[ status]\n" and returns
// what came before it.
func readFramed(r *bufio.Reader, nonce string, withStatus bool) ([]byte, int, error) {
	var data bytes.Buffer
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return nil, 0, err
		}
		text := strings.TrimSuffix(string(line), "\n")
		if rest, ok := strings.CutPrefix(text, nonce); ok && (rest == "" || rest[0] == ' ') {
			out := bytes.TrimSuffix(data.Bytes(), []byte("\n")) // the newline printed before the marker
			if !withStatus {
				return out, 0, nil
			}
			status, err := strconv.Atoi(strings.TrimSpace(rest))
			return out, status, err
		}
		data.Write(line)
	}
}
