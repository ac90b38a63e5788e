package jmap

import (
	"net"
	"syscall"
)

// quickAckConn asks the kernel to acknowledge what it received at once,
// after every read. Cyrus writes a response's last bytes only once what
// it sent before is acknowledged (Nagle), and Linux delays an ACK by up
// to 40 ms when one segment is outstanding: a quarter of the windows of
// a first Sync waited those 40 ms (issue 14). TCP_QUICKACK does not
// stick, so it is set again after each read.
type quickAckConn struct {
	net.Conn
	raw syscall.RawConn
}

func (c *quickAckConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.raw.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
	return n, err
}

// quickAck returns c acknowledging at once, if it is a TCP connection.
func quickAck(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	return &quickAckConn{Conn: c, raw: raw}
}
