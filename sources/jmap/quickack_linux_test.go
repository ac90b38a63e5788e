package jmap

import (
	"net"
	"syscall"
	"testing"
)

// TestTransportQuickAck checks that the Backend's own transport dials
// connections that acknowledge at once, and that the option takes.
func TestTransportQuickAck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Write([]byte("x"))
			c.Close()
		}
	}()
	c, err := NewTransport(0).DialContext(t.Context(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	qc, ok := c.(*quickAckConn)
	if !ok {
		t.Fatalf("dialed a %T, want a *quickAckConn", c)
	}
	if _, err := qc.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	qc.raw.Control(func(fd uintptr) { v, serr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK) })
	if serr != nil || v != 1 {
		t.Errorf("TCP_QUICKACK after a read = %d, %v; want 1", v, serr)
	}
}
