package hosts

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// relayArg is the first argument of the relay process: depot's own binary,
// which rsync starts as its remote shell (see SSH.RsyncShell).
const relayArg = "__depot_ssh_relay"

// The relay process does its work in init, before anything else of depot
// (or of a test binary) starts, and exits: rsync runs it as
// `EXE __depot_ssh_relay SOCKET [-l USER] HOST COMMAND...`.
func init() {
	if len(os.Args) > 2 && os.Args[1] == relayArg {
		os.Exit(relayMain(os.Args[2], os.Args[3:]))
	}
}

// relayMain hands its stdin, stdout and stderr and the remote command to
// the depot process listening on socket, which runs the command on its
// SSH connection with those descriptors attached, and exits with the
// command's status: to rsync it looks like ssh. It copies no data itself.
// Any failure of its own is one line on stderr and exit 255, ssh's status
// for a failed connection.
func relayMain(socket string, args []string) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "depot ssh relay: "+format+"\n", a...)
		return 255
	}
	user := ""
	if len(args) >= 2 && args[0] == "-l" {
		user, args = args[1], args[2:]
	}
	if len(args) < 2 {
		return fail("want [-l USER] HOST COMMAND, got %q", args)
	}
	host, command := args[0], strings.Join(args[1:], " ") // as ssh joins them
	if u, hh, ok := strings.Cut(host, "@"); ok && user == "" {
		user, host = u, hh
	}
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		return fail("%v", err)
	}
	// conn stays open until the process exits: depot waits for its end
	// before it lets go of stdout, so that rsync, seeing its stream end,
	// finds the relay's exit status already there, as with ssh.
	msg, err := encodeRelayRequest(relayRequest{user: user, host: host, command: command})
	if err != nil {
		return fail("%v", err)
	}
	n, _, err := conn.WriteMsgUnix(msg, unix.UnixRights(0, 1, 2), nil)
	if err == nil && n < len(msg) {
		_, err = conn.Write(msg[n:])
	}
	if err != nil {
		return fail("send request to depot: %v", err)
	}
	// depot holds them now: the command's end of stdout is depot's alone,
	// so rsync sees it end when the command's output does.
	os.Stdin.Close()
	os.Stdout.Close()
	reply, err := bufio.NewReader(io.LimitReader(conn, 4096)).ReadString('\n')
	if err != nil {
		return fail("depot went away before the remote command ended")
	}
	return relayStatus(reply)
}

// relayStatus turns depot's reply ("exit N" or "fail MESSAGE") into the
// relay's exit status, printing a failure's message.
func relayStatus(reply string) int {
	kind, rest, _ := strings.Cut(strings.TrimSuffix(reply, "\n"), " ")
	if kind == "exit" {
		if n, err := strconv.Atoi(rest); err == nil && n >= 0 && n <= 255 {
			return n
		}
	}
	if kind != "fail" {
		rest = fmt.Sprintf("unexpected reply %q", reply)
	}
	fmt.Fprintf(os.Stderr, "depot ssh relay: %s\n", rest)
	return 255
}

// relayRequest is what a relay process asks of depot: run command on the
// host that rsync named, as user.
type relayRequest struct {
	user, host, command string
}

// maxRelayRequest bounds a request: rsync's server command line, without
// file names.
const maxRelayRequest = 1 << 20

// encodeRelayRequest frames r as a 4-byte length and the NUL-separated
// fields.
func encodeRelayRequest(r relayRequest) ([]byte, error) {
	body := r.user + "\x00" + r.host + "\x00" + r.command
	if len(body) > maxRelayRequest || strings.Count(body, "\x00") != 2 {
		return nil, errors.New("remote command too long or holding a NUL")
	}
	msg := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	return append(msg, body...), nil
}

// readRelayRequest reads a request and the three descriptors sent with it
// (stdin, stdout, stderr), which the caller closes.
func readRelayRequest(c *net.UnixConn) (relayRequest, []*os.File, error) {
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(3*4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return relayRequest{}, nil, err
	}
	files, err := relayFiles(oob[:oobn])
	if err != nil {
		return relayRequest{}, files, err
	}
	if n < 4 {
		return relayRequest{}, files, errors.New("short request")
	}
	size := int(binary.BigEndian.Uint32(buf))
	if size > maxRelayRequest {
		return relayRequest{}, files, errors.New("request too long")
	}
	body := append([]byte(nil), buf[4:n]...)
	if len(body) > size {
		return relayRequest{}, files, errors.New("request longer than it says")
	}
	if len(body) < size {
		rest := make([]byte, size-len(body))
		if _, err := io.ReadFull(c, rest); err != nil {
			return relayRequest{}, files, fmt.Errorf("read request: %w", err)
		}
		body = append(body, rest...)
	}
	fields := strings.Split(string(body), "\x00")
	if len(fields) != 3 {
		return relayRequest{}, files, errors.New("malformed request")
	}
	return relayRequest{user: fields[0], host: fields[1], command: fields[2]}, files, nil
}

// relayFiles takes the descriptors out of a control message: exactly
// three, or an error (with whatever came, for closing).
func relayFiles(oob []byte) ([]*os.File, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := unix.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if len(files) < 2 {
				// stdin and stdout are the relay's own socket or pipe
				// ends (rsync keeps the others): non-blocking, they go
				// through Go's poller, and closing one ends a read or
				// write blocked on it. Not stderr, which rsync shares.
				_ = unix.SetNonblock(fd, true)
			}
			files = append(files, os.NewFile(uintptr(fd), "relay-fd"))
		}
	}
	if len(files) != 3 {
		return files, fmt.Errorf("got %d descriptors, want 3", len(files))
	}
	return files, nil
}
