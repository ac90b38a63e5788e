package gateway

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"sync/atomic"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources/memory"
	"github.com/easgate/easgate/statecache"
)

// TestBodyDeadlineSparesWaits: a Ping waits far longer than the body
// deadline of its request, parked, and its connection still carries the
// next Ping once answered.
func TestBodyDeadlineSparesWaits(t *testing.T) {
	st, err := statecache.Open("", &statecache.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := &pingEnv{store: memory.New(nil), state: st}
	e.s, err = New(&Options{Backend: pingBackend{e.store}, State: st, Limits: Limits{MinHeartbeat: time.Second},
		Conns: ConnOptions{BodyTimeout: 50 * time.Millisecond, BodyMinRate: 1 << 30}})
	if err != nil {
		t.Fatal(err)
	}
	e.ts = httptest.NewUnstartedServer(e.s)
	e.ts.Listener = e.s.Listen(e.s.LimitConns(e.ts.Listener))
	e.ts.Start()
	defer e.ts.Close()
	defer e.s.Shutdown(context.Background())

	ids := e.pingSync(t, "alice", "dev1", "inbox")
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer c.CloseIdleConnections()
	var conns, reused atomic.Int32
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		conns.Add(1)
		if info.Reused {
			reused.Add(1)
		}
	}}
	body := pingBody(t, 1, eas.PingFolder{ID: ids["inbox"], Class: "Email"})
	for i := range 3 {
		r := e.pingRequest(t, "alice", "dev1", eas.V141, body)
		r = r.WithContext(httptrace.WithClientTrace(r.Context(), trace))
		if pr := pingDo(t, c, r); pr.Status != eas.PingStatusExpired {
			t.Fatalf("Ping %d: status %d, want 1 after the 1 s heartbeat", i, pr.Status)
		}
	}
	if conns.Load() != 3 || reused.Load() != 2 {
		t.Errorf("3 Pings used %d connections of which %d reused, want 3 and 2", conns.Load(), reused.Load())
	}
}

// TestLimitConns: past the per-address cap, and past the total, new
// connections are closed at once; a closed one frees its place.
func TestLimitConns(t *testing.T) {
	s := newTestServer(t, &Options{Conns: ConnOptions{MaxConns: 3, MaxConnsPerAddress: 2}}, nil)
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := s.LimitConns(raw)
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func(from byte) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, from)}}
		c, err := d.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// closedByServer reports whether the server closed c at once.
	closedByServer := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		ne, timeout := err.(net.Error)
		return err == io.EOF || (err != nil && !(timeout && ne.Timeout()))
	}
	a1, a2 := dial(2), dial(2)
	for range 2 {
		<-accepted
	}
	if a3 := dial(2); !closedByServer(a3) {
		t.Error("a third connection from 127.0.0.2 stayed open, want it closed (2 per address)")
	}
	b1 := dial(3)
	first := <-accepted
	if c := dial(4); !closedByServer(c) {
		t.Error("a fourth connection in all stayed open, want it closed (3 in all)")
	}
	if closedByServer(a1) || closedByServer(b1) {
		t.Error("a connection within the caps was closed")
	}
	fams := gather(t, s)
	if n := counter(fams, "easgate_connections_open", "", ""); n != 3 {
		t.Errorf("easgate_connections_open = %v, want 3", n)
	}
	for cp, want := range map[string]float64{"address": 1, "total": 1} {
		if n := counter(fams, "easgate_connections_refused_total", "cap", cp); n != want {
			t.Errorf("easgate_connections_refused_total{cap=%s} = %v, want %v", cp, n, want)
		}
	}
	first.Close() // the server closes one: room for another
	c := dial(4)
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Error("no connection accepted after one closed")
	}
	c.Close()
	a2.Close()
}

// TestWriteDeadline: an answer to a client that stops reading is cut off
// once it has been blocked for WriteTimeout, while a handler that waits
// longer than that between writes (a hanging Sync) is not.
func TestWriteDeadline(t *testing.T) {
	s, err := New(&Options{Backend: pingBackend{memory.New(nil)}, State: nil,
		Conns: ConnOptions{WriteTimeout: 200 * time.Millisecond, WriteMinRate: 1 << 30}})
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := s.limitWrites(w)
		defer rw.finish()
		if r.URL.Path == "/wait" {
			io.WriteString(rw, "first ")
			rw.FlushError()
			<-time.After(600 * time.Millisecond) // three times WriteTimeout, not blocked on the client
			_, err := io.WriteString(rw, "second")
			ended <- err
			return
		}
		chunk := make([]byte, 64<<10)
		for {
			if _, err := rw.Write(chunk); err != nil {
				ended <- err
				return
			}
		}
	}))
	defer ts.Close()

	// A client that asks and never reads.
	c, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4096)
	io.WriteString(c, "GET /flood HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case err := <-ended:
		if err == nil {
			t.Fatal("the flood ended without an error")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("an answer to a client that does not read was still being written after 30 s")
	}

	resp, err := http.Get(ts.URL + "/wait")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := <-ended; err != nil || string(b) != "first second" {
		t.Errorf("a handler that waited between writes got %v and the client %q, want no error and \"first second\"", err, b)
	}
}
