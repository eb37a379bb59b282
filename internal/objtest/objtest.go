// Package objtest starts, for tests, the real servers a restic mirror
// writes to, on 127.0.0.1: restic's REST server and SeaweedFS's S3 gateway.
// scripts/objectstore.sh builds them into ~/.cache/depot-test/bin.
package objtest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/depot-backup/depot/internal/testenv"
)

// need fails the test under CI=true (a missing install step must not hide
// as a skip) and skips it otherwise: testenv.Need.
func need(t testing.TB, what string, err error) {
	t.Helper()
	testenv.Need(t, what, err)
}

// Bin returns the path of a test binary: on $PATH, or in $DEPOT_TEST_BIN
// (default ~/.cache/depot-test/bin).
func Bin(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	dir := os.Getenv("DEPOT_TEST_BIN")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "depot-test", "bin")
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		need(t, name, err)
	}
	return p
}

// Restic checks that restic is installed.
func Restic(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("restic"); err != nil {
		need(t, "restic", err)
	}
}

// start runs argv with output to log until the test process ends (or kill
// is called) and waits until ready answers.
func start(argv []string, log string, ready func() bool, wait time.Duration) (kill func(), err error) {
	f, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); f.Close(); close(exited) }()
	kill = func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			out, _ := os.ReadFile(log)
			return nil, fmt.Errorf("%s exited: %s", argv[0], out)
		default:
		}
		if ready() {
			return kill, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	kill()
	out, _ := os.ReadFile(log)
	return nil, fmt.Errorf("%s did not answer within %s: %s", argv[0], wait, out)
}

// freePort returns a port free now on 127.0.0.1 whose port+10000 is free
// too (SeaweedFS puts gRPC there).
func freePort() (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if p+10000 > 65535 {
			continue
		}
		if l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000)); err == nil {
			l2.Close()
			return p, nil
		}
	}
	return 0, errors.New("no free port pair")
}

func answers(url string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode < 500
}

// RestServer starts a rest-server of the test's own (no authentication,
// data in a temporary directory) and returns its restic URL prefix,
// "rest:http://127.0.0.1:PORT/", and the data directory.
func RestServer(t testing.TB) (url, dir string) {
	t.Helper()
	bin := Bin(t, "rest-server")
	dir = t.TempDir()
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		kill, err := start([]string{bin, "--path", filepath.Join(dir, "data"), "--listen", addr, "--no-auth"},
			filepath.Join(dir, "rest-server.log"), func() bool { return answers("http://" + addr + "/") }, 20*time.Second)
		if err == nil {
			t.Cleanup(kill)
			return "rest:http://" + addr + "/", filepath.Join(dir, "data")
		}
		lastErr = err
	}
	t.Fatalf("rest-server: %v", lastErr)
	return "", ""
}

var s3 struct {
	once     sync.Once
	endpoint string
	err      error
	dir      string
	kill     func()
}

// Stop stops the shared S3 server, if one was started, and removes its
// data: for TestMain, after m.Run.
func Stop() {
	if s3.kill != nil {
		s3.kill()
	}
	if s3.dir != "" {
		os.RemoveAll(s3.dir)
	}
}

// S3 returns the endpoint (http://127.0.0.1:PORT) of a SeaweedFS S3 gateway
// shared by the tests of this process: it takes seconds to start. It
// accepts any access key; tests use a bucket of their own.
func S3(t testing.TB) string {
	t.Helper()
	bin := Bin(t, "weed")
	s3.once.Do(func() {
		dir, err := os.MkdirTemp("", "depot-s3-")
		if err != nil {
			s3.err = err
			return
		}
		s3.dir = dir
		for range 5 {
			var ports [4]int
			for i := range ports {
				if ports[i], err = freePort(); err != nil {
					s3.err = err
					return
				}
			}
			endpoint := "http://127.0.0.1:" + strconv.Itoa(ports[3])
			argv := []string{bin, "server", "-dir=" + dir, "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
				"-master.port=" + strconv.Itoa(ports[0]), "-volume.port=" + strconv.Itoa(ports[1]),
				"-filer.port=" + strconv.Itoa(ports[2]), "-s3", "-s3.port=" + strconv.Itoa(ports[3]),
				"-master.volumeSizeLimitMB=256", "-volume.max=0"}
			s3.kill, s3.err = start(argv, filepath.Join(dir, "weed.log"), func() bool { return answers(endpoint + "/") }, 60*time.Second)
			if s3.err == nil {
				s3.endpoint = endpoint
				return
			}
		}
	})
	if s3.err != nil {
		t.Fatalf("SeaweedFS S3: %v", s3.err)
	}
	return s3.endpoint
}
