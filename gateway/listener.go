package gateway

import (
	"errors"
	"net"
	"runtime/debug"
	"sync"
)

// Listener is a net.Listener for the http.Server that serves a Server. Its
// Accept returns the connections of the wrapped listener and also those
// handed back after a parked wait was answered (park.go), so that a phone's
// Ping → Sync → Ping reuses one TCP (and TLS) connection. The http.Server
// sees a handed-back connection as a new one: its next request is read
// within ReadHeaderTimeout, which thus also bounds how long the phone may
// stay silent after a parked answer.
//
// With TLS, Listener must be the outermost wrapper, around the tls.Listener,
// so that it hands back the *tls.Conn that net/http recognises; the
// http.Server must then be started with Serve, not ServeTLS.
type Listener struct {
	net.Listener
	log      func(msg string, args ...any)
	accepted chan accepted
	back     chan net.Conn
	done     chan struct{}
	start    sync.Once
	close    sync.Once
}

type accepted struct {
	c   net.Conn
	err error
}

// Listen wraps ln in a Listener and registers it with s, which hands the
// connections of answered parked waits back to it. Serve the http.Server
// with the Listener.
func (s *Server) Listen(ln net.Listener) *Listener {
	l := &Listener{
		Listener: ln,
		log:      s.log.Error,
		accepted: make(chan accepted),
		back:     make(chan net.Conn),
		done:     make(chan struct{}),
	}
	p := &s.parking
	p.mu.Lock()
	p.listeners = append(p.listeners, l)
	p.mu.Unlock()
	return l
}

// Accept returns the next new or handed-back connection.
func (l *Listener) Accept() (net.Conn, error) {
	l.start.Do(func() { go l.acceptLoop() })
	select {
	case c := <-l.back:
		return c, nil
	case a := <-l.accepted:
		return a.c, a.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// acceptLoop accepts from the wrapped listener. It passes every result on,
// errors included, so that the http.Server's backoff paces it.
func (l *Listener) acceptLoop() {
	defer func() {
		if v := recover(); v != nil {
			l.log("listener panic", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	for {
		c, err := l.Listener.Accept()
		select {
		case l.accepted <- accepted{c, err}:
		case <-l.done:
			if c != nil {
				c.Close()
			}
			return
		}
		if errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

// Close closes the wrapped listener; handed-back connections are then
// closed by their parked wait.
func (l *Listener) Close() error {
	err := net.ErrClosed
	l.close.Do(func() {
		close(l.done)
		err = l.Listener.Close()
	})
	return err
}

// handBack queues c for Accept. It reports false when l is closed.
func (l *Listener) handBack(c net.Conn) bool {
	select {
	case l.back <- c:
		return true
	case <-l.done:
		return false
	}
}

// listenerOf returns the registered Listener that accepted conn, matched by
// local address, or nil.
func (p *parking) listenerOf(conn net.Conn) *Listener {
	ca, ok := conn.LocalAddr().(*net.TCPAddr)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.listeners {
		if len(p.listeners) == 1 {
			return l
		}
		la, lok := l.Addr().(*net.TCPAddr)
		if ok && lok && la.Port == ca.Port && (la.IP.IsUnspecified() || la.IP.Equal(ca.IP)) {
			return l
		}
	}
	return nil
}
