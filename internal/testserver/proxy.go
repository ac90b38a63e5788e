package testserver

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// LineProxy starts a loopback TCP proxy to target that calls onLine with
// each whole line the client sends (CRLF included; the slice is valid only
// during the call), before passing it on, and returns its address. Tests
// and benchmarks count a line protocol's commands (IMAP) with it. It
// stops at the end of t.
func LineProxy(t testing.TB, target string, onLine func(line []byte)) string {
	t.Helper()
	return proxy(t, target, func(cl, sv net.Conn) {
		go func() { io.Copy(cl, sv); cl.Close() }()
		go func() {
			defer sv.Close()
			r := bufio.NewReader(cl)
			for {
				// A line longer than the buffer (literal data) comes
				// in pieces; only its last piece is seen as a line.
				line, err := r.ReadSlice('\n')
				if len(line) > 0 && err == nil {
					onLine(line)
				}
				if _, werr := sv.Write(line); werr != nil || err != nil && err != bufio.ErrBufferFull {
					return
				}
			}
		}()
	})
}

// DelayProxy starts a loopback TCP proxy to target that holds everything
// it forwards, in either direction, for delay before passing it on, and
// returns its address: each round trip through it costs 2 × delay, as
// scheduling delays on a loaded machine do. It stops at the end of t.
func DelayProxy(t testing.TB, target string, delay time.Duration) string {
	t.Helper()
	pipe := func(dst, src net.Conn) {
		defer dst.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				time.Sleep(delay) // the latency this proxy is for
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return // closing dst passes the end on
			}
		}
	}
	return proxy(t, target, func(cl, sv net.Conn) {
		go pipe(sv, cl)
		go pipe(cl, sv)
	})
}

// proxy starts a loopback TCP listener that dials target for each client
// and hands both connections to serve, and returns its address. It stops
// at the end of t.
func proxy(t testing.TB, target string, serve func(cl, sv net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			cl, err := ln.Accept()
			if err != nil {
				return
			}
			sv, err := net.Dial("tcp", target)
			if err != nil {
				cl.Close()
				continue
			}
			serve(cl, sv)
		}
	}()
	return ln.Addr().String()
}
