package hosts_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/internal/sshtest"
)

func newHost(t testing.TB, s *sshtest.Server, opts hosts.SSHOptions) *hosts.SSH {
	t.Helper()
	if opts.IdentityFile == "" {
		opts.IdentityFile = s.IdentityFile
	}
	if opts.KnownHosts == "" {
		opts.KnownHosts = s.KnownHosts
	}
	h, err := hosts.NewSSH(s.Addr(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// conformance runs the same checks against every Host implementation.
func conformance(t *testing.T, h hosts.Host) {
	ctx := context.Background()
	t.Run("argv is not interpreted", func(t *testing.T) {
		var out bytes.Buffer
		weird := []string{"a b", "it's", `"q"`, "$HOME", "`id`", "*", "a;b", "-n", ""}
		if err := h.Run(ctx, hosts.Command{Argv: append([]string{"printf", "[%s]"}, weird...), Stdout: &out}); err != nil {
			t.Fatal(err)
		}
		want := ""
		for _, w := range weird {
			want += "[" + w + "]"
		}
		if out.String() != want {
			t.Fatalf("got %q, want %q", out.String(), want)
		}
	})
	t.Run("streams stdin to stdout", func(t *testing.T) {
		data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
		var out bytes.Buffer
		if err := h.Run(ctx, hosts.Command{Argv: []string{"cat"}, Stdin: bytes.NewReader(data), Stdout: &out}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("got %d bytes back, sent %d", out.Len(), len(data))
		}
	})
	t.Run("exit status and stderr", func(t *testing.T) {
		err := h.Run(ctx, hosts.Command{Argv: []string{"sh", "-c", "echo oops >&2; exit 7"}})
		var exit *hosts.ExitError
		if !errors.As(err, &exit) || exit.Code != 7 || !strings.Contains(err.Error(), "oops") {
			t.Fatalf("err = %v, want exit 7 with stderr", err)
		}
	})
	t.Run("cancel kills the command", func(t *testing.T) {
		marker := fmt.Sprintf("depot-cancel-%d", time.Now().UnixNano())
		ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := h.Run(ctx, hosts.Command{Argv: []string{"sh", "-c", "sleep 30; : " + marker}})
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
			t.Fatalf("err = %v after %v", err, time.Since(start))
		}
		for range 100 {
			if !running(marker) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatal("the command survived the cancel")
	})
	// A shell that ends by itself runs its exit trap; a killed one does
	// not, and killing costs a remote host a session of its own.
	t.Run("a closed shell ends at the end of its input", func(t *testing.T) {
		// The trap's file is made, and read back, on the shell's host.
		var dir bytes.Buffer
		if err := h.Run(ctx, hosts.Command{Argv: []string{"mktemp", "-d"}, Stdout: &dir}); err != nil {
			t.Fatal(err)
		}
		bye := strings.TrimSpace(dir.String()) + "/bye"
		t.Cleanup(func() { h.Run(ctx, hosts.Command{Argv: []string{"rm", "-rf", "--", path.Dir(bye)}}) })
		sh, err := hosts.StartShell(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sh.Eval(ctx, "trap 'echo bye > "+hosts.ShellQuote(bye)+"' EXIT"); err != nil {
			t.Fatal(err)
		}
		if err := sh.Close(); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := h.Run(ctx, hosts.Command{Argv: []string{"cat", "--", bye}, Stdout: &got}); err != nil || got.String() != "bye\n" {
			t.Fatalf("the shell did not end by itself: %q, %v", got.String(), err)
		}
		if _, err := sh.Eval(ctx, "true"); err == nil {
			t.Fatal("a closed shell still takes commands")
		}
	})
	t.Run("dial", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			c, err := l.Accept()
			if err == nil {
				c.Write([]byte("hello"))
				c.Close()
			}
		}()
		conn, err := h.Dial(ctx, "tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		got, _ := io.ReadAll(conn)
		if string(got) != "hello" {
			t.Fatalf("read %q through the host", got)
		}
	})
	// Database drivers (lib/pq) set deadlines on their connections.
	t.Run("dial deadlines", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		release := make(chan struct{})
		go func() {
			c, err := l.Accept()
			if err == nil {
				<-release
				c.Write([]byte("late"))
				c.Close()
			}
		}()
		defer close(release)
		conn, err := h.Dial(ctx, "tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.SetDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
			t.Fatalf("set a deadline: %v", err)
		}
		if _, err := conn.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read past the deadline: %v, want a timeout", err)
		}
		if err := conn.SetDeadline(time.Time{}); err != nil {
			t.Fatal(err)
		}
		release <- struct{}{}
		got, _ := io.ReadAll(conn)
		if string(got) != "late" {
			t.Fatalf("read %q after clearing the deadline", got)
		}
	})
}

// running reports whether a process's command line contains s.
func running(s string) bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmdline), s) && !strings.Contains(string(cmdline), "go test") {
			return true
		}
	}
	return false
}

func TestLocalConformance(t *testing.T) { conformance(t, hosts.Local{}) }

func TestSSHConformance(t *testing.T) {
	s := sshtest.Start(t, sshtest.Options{})
	conformance(t, newHost(t, s, hosts.SSHOptions{}))
}

func TestSSHConnectFailures(t *testing.T) {
	s := sshtest.Start(t, sshtest.Options{})
	ctx := context.Background()
	otherKey := filepath.Join(t.TempDir(), "other")
	sshtest.NewKey(t, otherKey)
	changed := filepath.Join(t.TempDir(), "known_hosts")
	wrongHostKey := sshtest.NewKey(t, filepath.Join(t.TempDir(), "host"))
	if err := os.WriteFile(changed, []byte(sshtest.KnownHostsLine(s.Host, s.Port, wrongHostKey)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	closed := func() string {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		return l.Addr().String()
	}()

	tests := []struct {
		name string
		addr string
		opts hosts.SSHOptions
		is   error
		want []string
	}{
		{"host down", "root@" + closed, hosts.SSHOptions{IdentityFile: s.IdentityFile, KnownHosts: s.KnownHosts}, nil, []string{"connect", "refused"}},
		{"auth denied", s.Addr(), hosts.SSHOptions{IdentityFile: otherKey, KnownHosts: s.KnownHosts}, hosts.ErrAuth, []string{"authentication denied", otherKey}},
		{"unknown host key", s.Addr(), hosts.SSHOptions{IdentityFile: s.IdentityFile, KnownHosts: empty}, hosts.ErrHostKey, []string{"is unknown", "SHA256:", "[127.0.0.1]:", "accept_new_host_keys"}},
		{"changed host key", s.Addr(), hosts.SSHOptions{IdentityFile: s.IdentityFile, KnownHosts: changed}, hosts.ErrHostKey, []string{"CHANGED", changed + ":1"}},
		{"missing known_hosts", s.Addr(), hosts.SSHOptions{IdentityFile: s.IdentityFile, KnownHosts: filepath.Join(t.TempDir(), "none")}, nil, []string{"does not exist", "ssh-keyscan"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.ConnectTimeout = 3 * time.Second
			h, err := hosts.NewSSH(tt.addr, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			err = h.Run(ctx, hosts.Command{Argv: []string{"true"}})
			if err == nil {
				t.Fatal("connected")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err %v is not %v", err, tt.is)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			// A shell on the host fails the same way, at once, rather
			// than waiting for a reply that cannot come.
			sh, err := hosts.StartShell(h)
			if err != nil {
				t.Fatal(err)
			}
			defer sh.Close()
			sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			_, err = sh.Eval(sctx, "true")
			if err == nil || sctx.Err() != nil || !strings.Contains(err.Error(), tt.want[0]) {
				t.Errorf("shell: %v, want an error with %q at once", err, tt.want[0])
			}
		})
	}
}

func TestSSHAcceptNewHostKey(t *testing.T) {
	s := sshtest.Start(t, sshtest.Options{})
	known := filepath.Join(t.TempDir(), "sub", "known_hosts")
	h := newHost(t, s, hosts.SSHOptions{KnownHosts: known, AcceptNewHostKeys: true})
	if err := h.Run(context.Background(), hosts.Command{Argv: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(known)
	if err != nil || !strings.Contains(string(data), sshtest.KnownHostsLine(s.Host, s.Port, s.HostKey)) {
		t.Fatalf("known_hosts after trust on first use: %q, %v", data, err)
	}
	// The system ssh that rsync runs where the relay cannot start trusts
	// the added line too.
	var out bytes.Buffer
	err = hosts.Local{}.Run(context.Background(), hosts.Command{Argv: append(strings.Fields(hosts.SSHCommand(h)), h.User+"@"+h.Host, "echo", "ok"), Stdout: &out})
	if err != nil || strings.TrimSpace(out.String()) != "ok" {
		t.Fatalf("system ssh with the added key: %v %q", err, out.String())
	}
}

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in         string
		user, host string
		port       int
		bad        bool
	}{
		{"backup@repo.example.com", "backup", "repo.example.com", 22, false},
		{"backup@repo:2222", "backup", "repo", 2222, false},
		{"root@[::1]:22", "root", "::1", 22, false},
		{"repo.example.com", "", "", 0, true},
		{"backup@repo:http", "", "", 0, true},
		{"backup@repo:70000", "", "", 0, true},
		{"@repo", "", "", 0, true},
	}
	for _, tt := range tests {
		user, host, port, err := hosts.ParseAddress(tt.in)
		if (err != nil) != tt.bad || user != tt.user || host != tt.host || port != tt.port {
			t.Errorf("ParseAddress(%q) = %q %q %d %v", tt.in, user, host, port, err)
		}
	}
}
