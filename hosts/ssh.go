package hosts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// SSHOptions are the config's ssh settings, shared by every remote host.
type SSHOptions struct {
	IdentityFile      string // private key; "" tries ~/.ssh/id_ed25519, id_ecdsa, id_rsa
	KnownHosts        string // "" means ~/.ssh/known_hosts
	AcceptNewHostKeys bool   // trust on first use: append an unknown host's key
	ConnectTimeout    time.Duration
	KeepAlive         time.Duration // interval of keepalive requests
}

// SSH is a remote host reached with golang.org/x/crypto/ssh. The connection
// is made on first use and shared by every command.
type SSH struct {
	User string
	Host string
	Port int
	opts SSHOptions

	mu     sync.Mutex
	client *ssh.Client

	relayMu  sync.Mutex
	relay    *relay // rsync's way onto client, made on first use
	relayExe string

	shellBusy sync.Mutex // held while a command runs in shell
	shellMu   sync.Mutex
	shell     *Shell // for commands without stdin, made on first use
}

var _ Remote = (*SSH)(nil)

// ParseAddress splits "user@host[:port]" (port 22 by default; an IPv6 host in
// brackets).
func ParseAddress(addr string) (user, host string, port int, err error) {
	user, hostport, ok := strings.Cut(addr, "@")
	if !ok || user == "" || hostport == "" {
		return "", "", 0, fmt.Errorf("%q: want user@host or user@host:port", addr)
	}
	host, port = hostport, 22
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", "", 0, fmt.Errorf("%q: port %q is not a number from 1 to 65535", addr, p)
		}
		host, port = h, n
	} else if strings.Contains(hostport, ":") && !strings.HasPrefix(hostport, "[") {
		return "", "", 0, fmt.Errorf("%q: %v", addr, err)
	}
	host = strings.Trim(host, "[]")
	if host == "" || strings.ContainsAny(host, " /") {
		return "", "", 0, fmt.Errorf("%q: bad host name", addr)
	}
	return user, host, port, nil
}

// NewSSH returns the host at "user@host[:port]".
func NewSSH(addr string, opts SSHOptions) (*SSH, error) {
	user, host, port, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.KeepAlive == 0 {
		opts.KeepAlive = 15 * time.Second
	}
	home, _ := os.UserHomeDir()
	if opts.KnownHosts == "" {
		opts.KnownHosts = filepath.Join(home, ".ssh", "known_hosts")
	}
	if opts.IdentityFile == "" {
		for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
			if p := filepath.Join(home, ".ssh", name); fileExists(p) {
				opts.IdentityFile = p
				break
			}
		}
	}
	return &SSH{User: user, Host: host, Port: port, opts: opts}, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Name implements Host.
func (h *SSH) Name() string { return fmt.Sprintf("%s@%s", h.User, h.hostPort()) }

func (h *SSH) hostPort() string { return net.JoinHostPort(h.Host, strconv.Itoa(h.Port)) }

// Connect opens the connection now (it is otherwise opened on first use), so
// a run can test it before doing anything.
func (h *SSH) Connect(ctx context.Context) error {
	_, err := h.conn(ctx)
	return err
}

// Close closes the connection and rsync's relay to it.
func (h *SSH) Close() error {
	h.closeRelay()
	h.shellMu.Lock()
	if h.shell != nil {
		h.shell.Close()
		h.shell = nil
	}
	h.shellMu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.client == nil {
		return nil
	}
	err := h.client.Close()
	h.client = nil
	return err
}

func (h *SSH) conn(ctx context.Context) (*ssh.Client, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.client != nil {
		return h.client, nil
	}
	c, err := h.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("ssh %s: %w", h.Name(), err)
	}
	h.client = c
	go h.keepAlive(c)
	return c, nil
}

func (h *SSH) dial(ctx context.Context) (*ssh.Client, error) {
	auth, err := h.authMethods()
	if err != nil {
		return nil, err
	}
	hostKeys, algorithms, err := h.hostKeyCallback()
	if err != nil {
		return nil, err
	}
	cfg := &ssh.ClientConfig{
		User:              h.User,
		Auth:              auth,
		HostKeyCallback:   hostKeys,
		HostKeyAlgorithms: algorithms,
		Timeout:           h.opts.ConnectTimeout,
	}
	dctx, cancel := context.WithTimeout(ctx, h.opts.ConnectTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", h.hostPort())
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	// The handshake must finish within the timeout too.
	conn.SetDeadline(time.Now().Add(h.opts.ConnectTimeout))
	c, chans, reqs, err := ssh.NewClientConn(conn, h.hostPort(), cfg)
	if err != nil {
		conn.Close()
		var keyErr *hostKeyError
		if errors.As(err, &keyErr) {
			return nil, keyErr
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, fmt.Errorf("authentication denied for user %s (identity %s): %w", h.User, orNone(h.opts.IdentityFile), ErrAuth)
		}
		return nil, fmt.Errorf("handshake: %w", err)
	}
	conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

// ErrAuth means the host refused every key depot offered.
var ErrAuth = errors.New("permission denied")

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// authMethods offers the identity file, then ssh-agent's keys.
func (h *SSH) authMethods() ([]ssh.AuthMethod, error) {
	var signers []ssh.Signer
	if h.opts.IdentityFile != "" {
		pem, err := os.ReadFile(h.opts.IdentityFile)
		if err != nil {
			return nil, fmt.Errorf("identity file: %w", err)
		}
		signer, err := ssh.ParsePrivateKey(pem)
		var missing *ssh.PassphraseMissingError
		switch {
		case errors.As(err, &missing):
			if os.Getenv("SSH_AUTH_SOCK") == "" {
				return nil, fmt.Errorf("identity file %s is passphrase-protected: load it into ssh-agent", h.opts.IdentityFile)
			}
		case err != nil:
			return nil, fmt.Errorf("identity file %s: %w", h.opts.IdentityFile, err)
		default:
			signers = append(signers, signer)
		}
	}
	if sock := os.Getenv("SSH_AUTH_SOCK"); sock != "" {
		if conn, err := net.Dial("unix", sock); err == nil {
			if more, err := agent.NewClient(conn).Signers(); err == nil {
				signers = append(signers, more...)
			}
		}
	}
	if len(signers) == 0 {
		return nil, errors.New("no identity: set ssh.identity_file or run ssh-agent")
	}
	return []ssh.AuthMethod{ssh.PublicKeys(signers...)}, nil
}

// keepAlive sends keepalive requests; after three unanswered ones it closes
// the connection, which fails whatever runs on it instead of hanging.
func (h *SSH) keepAlive(c *ssh.Client) {
	missed := 0
	for {
		time.Sleep(h.opts.KeepAlive)
		done := make(chan error, 1)
		go func() {
			_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				return // closed
			}
			missed = 0
		case <-time.After(h.opts.KeepAlive):
			if missed++; missed >= 3 {
				c.Close()
				return
			}
		}
	}
}

// Run implements Host. The argv is quoted for the remote shell word by word;
// nothing from the config is ever interpreted by it. Environment variables
// are set with env(1) and so are visible in the remote process list: never
// pass a secret that way.
//
// sshd runs each command as the leader of a new session but ignores signal
// requests, so the command first reports its pid (which is its process
// group) on stderr, and a cancelled Run kills that group from a second
// session: a stopped depot leaves nothing running on the remote host.
func (h *SSH) Run(ctx context.Context, c Command) error {
	if len(c.Argv) == 0 {
		return errors.New("run: empty command")
	}
	if c.Stdin == nil {
		sh, release, err := h.idleShell(ctx)
		if err != nil {
			return err
		}
		if sh != nil {
			defer release()
			return sh.Command(ctx, c)
		}
	}
	s, client, err := h.session(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	tail := &tailBuffer{max: 2048}
	var stderr io.Writer = tail
	if c.Stderr != nil {
		stderr = io.MultiWriter(tail, c.Stderr)
	}
	pid := &pidSniffer{next: stderr, found: make(chan struct{})}
	s.Stdin, s.Stdout, s.Stderr = c.Stdin, c.Stdout, pid
	if err := s.Start(RemoteCommand(c)); err != nil {
		return fmt.Errorf("ssh %s: start %s: %w", h.Name(), c.Argv[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		h.killGroup(client, pid)
		s.Close()
		return ctx.Err()
	}
	var exit *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &exit):
		return &ExitError{Argv: c.Argv, Code: exit.ExitStatus(), Stderr: tail.String()}
	case errors.As(err, &missing):
		return fmt.Errorf("ssh %s: %s: connection lost", h.Name(), c.Argv[0])
	}
	return fmt.Errorf("ssh %s: %s: %w", h.Name(), c.Argv[0], err)
}

// idleShell returns the host's shell for commands without stdin, started
// on first use (and again after a cancelled command killed it), with the
// function that frees it; nil when a command runs in it already, as a
// streaming one may for long. Every session pays for sshd's fork and the
// login shell's start-up files (tens to hundreds of milliseconds); the
// shell pays once.
func (h *SSH) idleShell(ctx context.Context) (*Shell, func(), error) {
	if _, err := h.conn(ctx); err != nil {
		return nil, nil, err
	}
	if !h.shellBusy.TryLock() {
		return nil, nil, nil
	}
	h.shellMu.Lock()
	defer h.shellMu.Unlock()
	if h.shell == nil || !h.shell.alive() {
		sh, err := StartShell(h)
		if err != nil {
			h.shellBusy.Unlock()
			return nil, nil, err
		}
		h.shell = sh
	}
	return h.shell, h.shellBusy.Unlock, nil
}

// session opens a session on the shared connection or, when the server
// refuses one more there (sshd's MaxSessions, 10 by default, which many
// sets at once can reach), on a connection of its own that closes with the
// session. It returns the client the session is on.
func (h *SSH) session(ctx context.Context) (*session, *ssh.Client, error) {
	client, err := h.conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	s, err := client.NewSession()
	var refused *ssh.OpenChannelError
	if errors.As(err, &refused) && refused.Reason == ssh.Prohibited {
		own, derr := h.dial(ctx)
		if derr != nil {
			return nil, nil, fmt.Errorf("ssh %s: %w", h.Name(), derr)
		}
		s, err = own.NewSession()
		if err != nil {
			own.Close()
		} else {
			return &session{Session: s, own: own}, own, nil
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("ssh %s: new session: %w", h.Name(), err)
	}
	return &session{Session: s}, client, nil
}

// session is an SSH session, perhaps on a connection of its own.
type session struct {
	*ssh.Session
	own *ssh.Client
}

func (s *session) Close() error {
	err := s.Session.Close()
	if s.own != nil {
		s.own.Close()
	}
	return err
}

// killGroup kills the process group of a remote command whose pid was seen.
func (h *SSH) killGroup(client *ssh.Client, pid *pidSniffer) {
	select {
	case <-pid.found:
	case <-time.After(2 * time.Second):
		return // it never started
	}
	s, err := client.NewSession()
	if err != nil {
		return
	}
	defer s.Close()
	done := make(chan struct{})
	go func() { s.Run("kill -KILL -- -" + strconv.Itoa(pid.pid)); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

// pidMarker starts the line on which a remote command reports its pid.
const pidMarker = "depot-pid="

// pidSniffer takes the pid line off the front of a remote command's stderr
// and passes the rest on.
type pidSniffer struct {
	next  io.Writer
	buf   []byte
	pid   int
	found chan struct{}
	done  bool
}

func (p *pidSniffer) Write(b []byte) (int, error) {
	if p.done {
		return p.next.Write(b)
	}
	p.buf = append(p.buf, b...)
	i := bytes.IndexByte(p.buf, '\n')
	if i < 0 && len(p.buf) < 64 {
		return len(b), nil
	}
	p.done = true
	line, rest := string(p.buf), []byte(nil)
	if i >= 0 {
		line, rest = string(p.buf[:i]), p.buf[i+1:]
	}
	if n, err := strconv.Atoi(strings.TrimPrefix(line, pidMarker)); err == nil && strings.HasPrefix(line, pidMarker) && n > 1 {
		p.pid = n
		close(p.found)
	} else {
		rest = p.buf // not our line: pass everything on
	}
	if len(rest) > 0 {
		if _, err := p.next.Write(rest); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

// RemoteCommand is the command line sent to the remote shell for c: report
// the pid, then exec the argv (so the pid stays the command's).
func RemoteCommand(c Command) string {
	return "printf '" + pidMarker + "%s\\n' \"$$\" >&2 && " + commandLine(c)
}

// commandLine is c as a shell command line: cd to its Dir, then exec its
// argv with its Env.
func commandLine(c Command) string {
	var words []string
	if c.Dir != "" {
		words = append(words, "cd", ShellQuote(c.Dir), "&&")
	}
	words = append(words, "exec")
	if len(c.Env) > 0 {
		words = append(words, "env")
		for _, e := range c.Env {
			words = append(words, ShellQuote(e))
		}
	}
	for _, a := range c.Argv {
		words = append(words, ShellQuote(a))
	}
	return strings.Join(words, " ")
}

// ShellQuote quotes s as one word for a POSIX shell.
func ShellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Dial implements Host: a connection made by the remote sshd (a direct-tcpip
// or streamlocal channel), with working deadlines (see deadlineConn).
func (h *SSH) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	client, err := h.conn(ctx)
	if err != nil {
		return nil, err
	}
	ch, err := client.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return withDeadlines(ch), nil
}
