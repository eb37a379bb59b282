package hosts

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Local runs commands on this machine.
type Local struct{}

var _ Host = Local{}

// Name implements Host.
func (Local) Name() string { return "local" }

// Dial implements Host.
func (Local) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// Run implements Host. The child runs in its own process group, which is killed
// with SIGKILL when ctx is cancelled; Pdeathsig kills the child if depot itself
// dies without a chance to clean up (kill -9).
func (Local) Run(ctx context.Context, c Command) error {
	if len(c.Argv) == 0 {
		return errors.New("run: empty command")
	}
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Dir = c.Dir
	if len(c.Env) > 0 {
		cmd.Env = append(os.Environ(), c.Env...)
	}
	cmd.Stdin = c.Stdin
	cmd.Stdout = c.Stdout
	tail := &tailBuffer{max: 2048}
	cmd.Stderr = tail
	if c.Stderr != nil {
		cmd.Stderr = io.MultiWriter(tail, c.Stderr)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		// The group may hold children that outlived the leader; make sure.
		if cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		return ctx.Err()
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return &ExitError{Argv: c.Argv, Code: exit.ExitCode(), Stderr: tail.String()}
	}
	if err != nil {
		return err
	}
	return nil
}
