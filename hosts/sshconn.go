package hosts

import (
	"io"
	"net"
)

// deadlineConn carries a connection made through an SSH channel, which
// refuses deadlines ("ssh: tcpChan: deadline not supported"), across a
// net.Pipe, which has them. Database drivers (lib/pq) set deadlines on every
// connection; through the pipe they work as on a socket. Closing the conn
// closes the channel; the channel's end closes the conn.
type deadlineConn struct {
	net.Conn // the pipe's end that the caller uses
	channel  net.Conn
}

// withDeadlines returns ch behind a pipe that supports deadlines.
func withDeadlines(ch net.Conn) net.Conn {
	user, inner := net.Pipe()
	go func() {
		_, _ = io.Copy(ch, inner)
		ch.Close()
	}()
	go func() {
		_, _ = io.Copy(inner, ch)
		inner.Close()
	}()
	return &deadlineConn{Conn: user, channel: ch}
}

// LocalAddr is the channel's, not the pipe's.
func (c *deadlineConn) LocalAddr() net.Addr { return c.channel.LocalAddr() }

// RemoteAddr is the channel's, not the pipe's.
func (c *deadlineConn) RemoteAddr() net.Addr { return c.channel.RemoteAddr() }
