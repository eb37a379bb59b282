package hosts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
)

// relay carries rsync's remote shell over a host's one SSH connection.
// rsync's -e is depot's own binary (relayMain), which passes its stdin,
// stdout and stderr and the remote command to this process over a Unix
// socket in a private directory; depot runs the command in a new session
// of the connection it already has. So a transfer costs a session, not a
// second connection with its handshake and login, and rsync trusts
// exactly the host key that depot checked.
type relay struct {
	dir string
	ln  *net.UnixListener
}

// relayShell returns rsync's -e command for the relay, starting the
// relay's listener on first use.
func (h *SSH) relayShell() (string, error) {
	h.relayMu.Lock()
	defer h.relayMu.Unlock()
	if h.relay == nil {
		// The running binary, even if replaced on disk since it started.
		exe := fmt.Sprintf("/proc/%d/exe", os.Getpid())
		if err := unix.Access(exe, unix.X_OK); err != nil {
			return "", fmt.Errorf("%s: %w", exe, err)
		}
		dir, err := os.MkdirTemp("", "depot-ssh-") // 0700: only this user connects
		if err != nil {
			return "", err
		}
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "relay"), Net: "unix"})
		if err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		h.relay = &relay{dir: dir, ln: ln}
		h.relayExe = exe
		go h.acceptRelays(ln)
	}
	return rshWords([]string{h.relayExe, relayArg, h.relay.ln.Addr().String()}), nil
}

// closeRelay stops the listener and removes its directory.
func (h *SSH) closeRelay() {
	h.relayMu.Lock()
	defer h.relayMu.Unlock()
	if h.relay != nil {
		h.relay.ln.Close()
		os.RemoveAll(h.relay.dir)
		h.relay = nil
	}
}

func (h *SSH) acceptRelays(ln *net.UnixListener) {
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			return // closed
		}
		go h.serveRelay(c)
	}
}

// serveRelay runs one relay process's command and replies with its exit
// status. The relay process ending first (rsync killed) kills the command.
func (h *SSH) serveRelay(c *net.UnixConn) {
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var files []*os.File
	gone := make(chan struct{})
	exited := -1 // a pidfd of the relay process
	defer func() {
		// As with ssh, the relay has exited before rsync sees the end of
		// its output, so rsync, which then looks for its remote shell's
		// status without waiting, finds it.
		select {
		case <-gone:
			if exited >= 0 {
				_, _ = unix.Poll([]unix.PollFd{{Fd: int32(exited), Events: unix.POLLIN}}, 1000)
			}
		case <-time.After(5 * time.Second):
		}
		if exited >= 0 {
			unix.Close(exited)
		}
		for _, f := range files {
			f.Close()
		}
	}()
	reply := func(format string, a ...any) { fmt.Fprintf(c, format+"\n", a...) }
	pid, err := sameUser(c)
	if err != nil {
		close(gone)
		reply("fail %v", err)
		return
	}
	if fd, err := unix.PidfdOpen(pid, 0); err == nil {
		exited = fd
	}
	req, files, err := readRelayRequest(c)
	go func() {
		var b [1]byte
		c.Read(b[:]) // the relay sends nothing more: this returns when it ends
		cancel()
		close(gone)
	}()
	if err != nil {
		reply("fail request: %v", err)
		return
	}
	if req.host != h.Host && req.host != "["+h.Host+"]" || req.user != "" && req.user != h.User {
		reply("fail asked for %s@%s on the connection to %s", req.user, req.host, h.Name())
		return
	}
	code, err := h.relayed(ctx, req.command, files[0], files[1], files[2])
	if err != nil {
		reply("fail %s", oneLine(err.Error()))
		return
	}
	reply("exit %d", code)
}

// sameUser refuses a peer that runs as another user (only root could reach
// the socket in its 0700 directory at all), and returns the peer's pid.
func sameUser(c *net.UnixConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if credErr != nil {
		return 0, credErr
	}
	if int(cred.Uid) != os.Getuid() {
		return 0, fmt.Errorf("peer uid %d is not %d", cred.Uid, os.Getuid())
	}
	return int(cred.Pid), nil
}

// relayed runs the remote shell command line (rsync's, already quoted for
// the remote shell) in a new session with the relay's descriptors attached
// and returns its exit status. Unlike Run it does not wait for stdin to
// end: rsync closes its end only after the remote shell has exited.
func (h *SSH) relayed(ctx context.Context, line string, stdin, stdout, stderr *os.File) (int, error) {
	s, client, err := h.session(ctx)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	pid := &pidSniffer{next: stderr, found: make(chan struct{})}
	s.Stdout, s.Stderr = stdout, pid
	in, err := s.StdinPipe()
	if err != nil {
		return 0, err
	}
	words := []string{"printf", "'" + pidMarker + "%s\\n'", `"$$"`, ">&2", "&&", "exec", "sh", "-c", ShellQuote(line)}
	if err := s.Start(strings.Join(words, " ")); err != nil {
		return 0, fmt.Errorf("ssh %s: start %s: %w", h.Name(), line, err)
	}
	go func() {
		_, _ = io.Copy(in, stdin)
		in.Close()
	}()
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		h.killGroup(client, pid)
		s.Close()
		return 0, ctx.Err()
	}
	var exit *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exit):
		return exit.ExitStatus(), nil
	case errors.As(err, &missing):
		return 0, fmt.Errorf("ssh %s: connection lost", h.Name())
	}
	return 0, fmt.Errorf("ssh %s: %w", h.Name(), err)
}

// rshWords joins words into a command line for rsync's -e, which splits
// on spaces and honours quotes.
func rshWords(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = w
		if strings.ContainsAny(w, " '\"\\") {
			out[i] = "'" + strings.ReplaceAll(w, "'", `'"'"'`) + "'"
		}
	}
	return strings.Join(out, " ")
}
