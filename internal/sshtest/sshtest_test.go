package sshtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// sshRun runs a shell command on s with the system ssh client.
func sshRun(t *testing.T, s *Server, command string) string {
	t.Helper()
	out, err := exec.Command("ssh", "-p", strconv.Itoa(s.Port), "-i", s.IdentityFile,
		"-o", "UserKnownHostsFile="+s.KnownHosts, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
		s.User+"@"+s.Host, command).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh %q: %v\n%s", command, err, out)
	}
	return string(out)
}

// TestSeparate proves the second machine: at a separated path, the server
// and the test process see different directories, both ways, and Remote
// says where the server's are.
func TestSeparate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "srv")
	s := Start(t, Options{Separate: []string{p}})
	if err := os.WriteFile(filepath.Join(p, "local"), []byte("local\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := sshRun(t, s, "echo remote > "+p+"/remote && ls -A "+p)
	if strings.TrimSpace(out) != "remote" {
		t.Errorf("the server sees %q at %s; want only its own file", out, p)
	}
	if _, err := os.Stat(filepath.Join(p, "remote")); !os.IsNotExist(err) {
		t.Errorf("what the server wrote at %s is visible locally (%v)", p, err)
	}
	got, err := os.ReadFile(filepath.Join(s.Remote(p), "remote"))
	if err != nil || string(got) != "remote\n" {
		t.Errorf("Remote(%s): %q, %v", p, got, err)
	}
	if r := s.Remote(p + "/a/b"); r != filepath.Join(s.Remote(p), "a/b") {
		t.Errorf("Remote of a path below: %s", r)
	}
	// Paths outside the separated ones are shared.
	shared := t.TempDir()
	sshRun(t, s, "echo hi > "+shared+"/f")
	if got, err := os.ReadFile(filepath.Join(shared, "f")); err != nil || string(got) != "hi\n" || s.Remote(shared) != shared {
		t.Errorf("a shared path: %q, %v", got, err)
	}
}
