package hosts_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/depot-backup/depot/hosts"
	"github.com/depot-backup/depot/internal/sshtest"
)

// relayArgv is the argv rsync runs for the remote shell of h: its -e words,
// the host and the command.
func relayArgv(h *hosts.SSH, host string, command ...string) []string {
	return append(append(strings.Fields(h.RsyncShell()), host), command...)
}

// TestRelayRsync: rsync pushes to and pulls from the second machine over
// depot's own connection: one login for depot's command and both
// transfers.
func TestRelayRsync(t *testing.T) {
	remote := filepath.Join(t.TempDir(), "remote")
	s := sshtest.Start(t, sshtest.Options{Separate: []string{remote}})
	h := newHost(t, s, hosts.SSHOptions{})
	ctx := context.Background()
	if strings.HasPrefix(h.RsyncShell(), "ssh ") {
		t.Fatalf("rsync's shell is the system ssh: %s", h.RsyncShell())
	}
	if err := h.Run(ctx, hosts.Command{Argv: []string{"mkdir", "-p", remote + "/in"}}); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	files := map[string]string{"a": "alpha", "it's a b": "quoted name", "sub/$HOME": "dollar"}
	for name, data := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB through the relay
	if err := os.WriteFile(filepath.Join(src, "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	files["big"] = string(big)
	rsync := func(from, to string) {
		t.Helper()
		var stderr bytes.Buffer
		err := hosts.Local{}.Run(ctx, hosts.Command{Argv: []string{"rsync", "-a", "-e", h.RsyncShell(), from, to}, Stderr: &stderr})
		if err != nil {
			t.Fatalf("rsync %s %s: %v\n%s", from, to, err, stderr.String())
		}
	}
	rsync(src+"/", h.RsyncPath(remote+"/in/"))
	back := t.TempDir()
	rsync(h.RsyncPath(remote+"/in/"), back+"/")
	for name, data := range files {
		for _, dir := range []string{s.Remote(remote + "/in"), back} {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil || string(got) != data {
				t.Errorf("%s in %s: %d bytes, %v; want %d bytes", name, dir, len(got), err, len(data))
			}
		}
	}
	if _, err := os.Stat(filepath.Join(remote, "in", "a")); !os.IsNotExist(err) {
		t.Errorf("the push landed on this machine: %v", err)
	}
	if n := s.Logins(t); n != 1 {
		t.Errorf("%d logins, want 1: rsync must use depot's connection", n)
	}
}

// TestRelayExit: the remote command's exit status, stdout and stderr come
// back as ssh would give them; a command for another host is refused.
func TestRelayExit(t *testing.T) {
	s := sshtest.Start(t, sshtest.Options{})
	h := newHost(t, s, hosts.SSHOptions{})
	ctx := context.Background()
	var out, stderr bytes.Buffer
	err := hosts.Local{}.Run(ctx, hosts.Command{Argv: relayArgv(h, h.User+"@"+h.Host, "echo out; echo oops >&2; exit 7"), Stdout: &out, Stderr: &stderr})
	var exit *hosts.ExitError
	if !errors.As(err, &exit) || exit.Code != 7 || out.String() != "out\n" || stderr.String() != "oops\n" {
		t.Errorf("err %v, stdout %q, stderr %q; want exit 7, out, oops", err, out.String(), stderr.String())
	}
	err = hosts.Local{}.Run(ctx, hosts.Command{Argv: relayArgv(h, "elsewhere.example", "true")})
	if !errors.As(err, &exit) || exit.Code != 255 || !strings.Contains(exit.Stderr, "asked for") || strings.Contains(strings.TrimSpace(exit.Stderr), "\n") {
		t.Errorf("another host: %v; want exit 255 and one line saying why", err)
	}
}

// TestRelayConnectFailure: a host that cannot be reached fails rsync with
// exit 255 and depot's one-line reason.
func TestRelayConnectFailure(t *testing.T) {
	s := sshtest.Start(t, sshtest.Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	h, err := hosts.NewSSH(s.User+"@"+closed, hosts.SSHOptions{IdentityFile: s.IdentityFile, KnownHosts: s.KnownHosts, ConnectTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	err = hosts.Local{}.Run(context.Background(), hosts.Command{Argv: []string{"rsync", "-a", "-e", h.RsyncShell(), t.TempDir() + "/", h.RsyncPath("/tmp/x/")}})
	var exit *hosts.ExitError
	if !errors.As(err, &exit) || exit.Code != 255 || !strings.Contains(err.Error(), "depot ssh relay: ssh "+h.Name()+": connect:") || !strings.Contains(err.Error(), "refused") || strings.Contains(err.Error(), "\n") {
		t.Errorf("rsync to a closed port: %v; want exit 255 (as with ssh) and one line saying the connection was refused", err)
	}
}

// TestRelayCancel: killing rsync's relay (as a cancelled run kills rsync's
// process group) kills the remote command.
func TestRelayCancel(t *testing.T) {
	s := sshtest.Start(t, sshtest.Options{})
	h := newHost(t, s, hosts.SSHOptions{})
	marker := fmt.Sprintf("depot-relay-cancel-%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := hosts.Local{}.Run(ctx, hosts.Command{Argv: relayArgv(h, h.Host, "sleep 30; : "+marker)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	for range 100 {
		if !running(marker) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the remote command outlived the relay")
}
