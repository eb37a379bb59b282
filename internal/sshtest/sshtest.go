// Package sshtest starts a real OpenSSH sshd on 127.0.0.1 for tests, with
// throwaway host and user keys, for the user running the tests.
//
// With Options.Separate the sshd plays a second machine: it runs in a mount
// namespace of its own (unshare -m --propagation private) where each listed
// path is a bind mount of a private directory. What a remote command writes
// at such a path P lands in s.Remote(P), not at P as the test process sees
// it, so a transfer started on the wrong host, or a test reading the wrong
// end, shows up at once.
package sshtest

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/depot-backup/depot/internal/testenv"
	"golang.org/x/crypto/ssh"
)

// Server is a running sshd.
type Server struct {
	Host         string // 127.0.0.1
	Port         int
	User         string
	Dir          string // holds keys, config and logs
	IdentityFile string // the user's private key, accepted by the server
	KnownHosts   string // a known_hosts file that trusts the server's host key
	HostKey      ssh.PublicKey
	cmd          *exec.Cmd
	remote       map[string]string // separated path -> what the server sees there
}

// Addr is "user@127.0.0.1:port", the form depot's config takes.
func (s *Server) Addr() string { return fmt.Sprintf("%s@%s:%d", s.User, s.Host, s.Port) }

// Options change the server's set-up.
type Options struct {
	// Config lines appended to sshd_config, e.g. "SetEnv PATH=/nowhere".
	Config []string
	// Separate lists absolute paths that the server sees as directories of
	// its own (see the package comment). A missing path is made, empty,
	// on the test's side.
	Separate []string
	// Like, when set, is a server whose host key and user key this one
	// shares, so one config's ssh settings reach both (this server's
	// known_hosts line still has to be added where the config reads it).
	Like *Server
}

// Remote returns where the test process finds what the server sees at p:
// p itself unless p is at or under a separated path.
func (s *Server) Remote(p string) string {
	p = filepath.Clean(p)
	for at, backing := range s.remote {
		if p == at {
			return backing
		}
		if rest, ok := strings.CutPrefix(p, at+"/"); ok {
			return filepath.Join(backing, rest)
		}
	}
	return p
}

// Start runs sshd until the test ends. Without sshd it fails the test under
// CI=true (a missing install step must not hide as a skip) and skips it
// otherwise.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	sshd, err := exec.LookPath("/usr/sbin/sshd")
	testenv.Need(t, "sshd (openssh-server)", err)
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &Server{Host: "127.0.0.1", User: u.Username, Dir: dir}
	if opts.Like != nil {
		// The same keys: copy the other server's host key and accepted
		// user keys.
		for _, name := range []string{"host_ed25519", "authorized_keys"} {
			data, err := os.ReadFile(filepath.Join(opts.Like.Dir, name))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, name), string(data))
		}
		s.IdentityFile, s.HostKey = opts.Like.IdentityFile, opts.Like.HostKey
	} else {
		s.HostKey = writeKey(t, filepath.Join(dir, "host_ed25519"))
		userKey := writeKey(t, filepath.Join(dir, "id_ed25519"))
		s.IdentityFile = filepath.Join(dir, "id_ed25519")
		writeFile(t, filepath.Join(dir, "authorized_keys"), string(ssh.MarshalAuthorizedKey(userKey)))
	}
	hostKey := s.HostKey
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatalf("sshd needs /run/sshd: %v", err)
	}

	argv := []string{sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config")}
	if len(opts.Separate) > 0 {
		argv = s.separate(t, argv, opts.Separate)
	}

	var lastErr error
	for range 5 { // a free port can be taken between finding and binding it
		s.Port = freePort(t)
		config := []string{
			"Port " + strconv.Itoa(s.Port),
			"ListenAddress 127.0.0.1",
			"HostKey " + filepath.Join(dir, "host_ed25519"),
			"AuthorizedKeysFile " + filepath.Join(dir, "authorized_keys"),
			"PidFile " + filepath.Join(dir, "sshd.pid"),
			"StrictModes no",
			"UsePAM no",
			"PasswordAuthentication no",
			"KbdInteractiveAuthentication no",
			"PermitRootLogin prohibit-password",
			"LogLevel INFO", // one "Accepted publickey" line a login: see Logins
			"Subsystem sftp internal-sftp",
		}
		config = append(config, opts.Config...)
		writeFile(t, filepath.Join(dir, "sshd_config"), strings.Join(config, "\n")+"\n")
		log, err := os.Create(filepath.Join(dir, "sshd.log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start sshd: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); log.Close(); close(exited) }()
		if lastErr = waitReady(s, exited); lastErr == nil {
			s.cmd = cmd
			t.Cleanup(func() {
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
			})
			break
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	if s.cmd == nil {
		out, _ := os.ReadFile(filepath.Join(dir, "sshd.log"))
		t.Fatalf("sshd did not start: %v\n%s", lastErr, out)
	}
	s.KnownHosts = filepath.Join(dir, "known_hosts")
	writeFile(t, s.KnownHosts, KnownHostsLine(s.Host, s.Port, hostKey)+"\n")
	return s
}

// separate makes a private directory for each path and returns argv wrapped
// so that sshd runs where they are mounted at those paths. Without unshare
// (or the right to use it) the test fails under CI=true and skips otherwise.
func (s *Server) separate(t testing.TB, argv, paths []string) []string {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err == nil {
		err = exec.Command(unshare, "-m", "--propagation", "private", "true").Run()
	}
	testenv.Need(t, "unshare -m (util-linux, as root), which a second machine needs", err)
	s.remote = map[string]string{}
	script := ""
	for i, p := range paths {
		if !filepath.IsAbs(p) {
			t.Fatalf("sshtest: separated path %q is not absolute", p)
		}
		p = filepath.Clean(p)
		backing := filepath.Join(s.Dir, "remote", strconv.Itoa(i))
		for _, d := range []string{p, backing} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		s.remote[p] = backing
		script += fmt.Sprintf("mount --bind %s %s && ", shellQuote(backing), shellQuote(p))
	}
	words := make([]string, len(argv))
	for i, a := range argv {
		words[i] = shellQuote(a)
	}
	return []string{unshare, "-m", "--propagation", "private", "sh", "-c", script + "exec " + strings.Join(words, " ")}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// KnownHostsLine is the known_hosts line for a key of host:port.
func KnownHostsLine(host string, port int, key ssh.PublicKey) string {
	return fmt.Sprintf("[%s]:%d %s", host, port, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))))
}

// Logins counts the logins the server has accepted so far: one a
// connection.
func (s *Server) Logins(t testing.TB) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(s.Dir, "sshd.log"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), "Accepted publickey for ")
}

// NewKey writes a fresh ed25519 private key to path and returns its public key.
func NewKey(t testing.TB, path string) ssh.PublicKey {
	t.Helper()
	return writeKey(t, path)
}

// KillConnections kills the per-connection sshd processes and everything
// they run, as a cut network would, and leaves the listener running.
func (s *Server) KillConnections(t testing.TB) int {
	t.Helper()
	killed := 0
	for _, pid := range children(s.cmd.Process.Pid) {
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed++
		}
	}
	return killed
}

// children returns the pids whose parent is ppid.
func children(ppid int) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces, so cut at ")".
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(ppid) {
			out = append(out, pid)
		}
	}
	return out
}

func waitReady(s *Server, exited <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("sshd exited")
		default:
		}
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), time.Second)
		if err == nil {
			conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			banner, err := bufio.NewReader(conn).ReadString('\n')
			conn.Close()
			if err == nil && strings.HasPrefix(banner, "SSH-") {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("sshd not answering on port %d", s.Port)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeKey(t testing.TB, path string) ssh.PublicKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "depot test key")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
