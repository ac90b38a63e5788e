package gateway

import (
	"bufio"
	"hash"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/easgate/easgate/metrics"
)

// ConnOptions bound client connections and how slowly a client may send.
// Zero fields take the defaults given beside them. The deadlines for
// headers and idle keep-alive connections are the http.Server's
// (ReadHeaderTimeout, IdleTimeout), set by whoever serves.
type ConnOptions struct {
	// MaxConns bounds the open connections of a LimitConns listener,
	// parked Pings included: 10,000. Past it new connections are closed at
	// once. Keep it below the process's open-file limit.
	MaxConns int
	// MaxConnsPerAddress bounds the open connections from one client
	// address: 256 (phones behind one carrier NAT share an address).
	// Trusted proxies (LoginOptions.TrustedProxies) are exempt.
	MaxConnsPerAddress int
	// BodyTimeout is how long any request body may take, and BodyMinRate
	// (bytes per second) how much longer each byte received allows: 30 s
	// and 2,048. A body is cut off once it falls behind
	// BodyTimeout + received/BodyMinRate, so a 50 MB attachment sent at a
	// steady pace arrives, and a trickle does not hold a connection.
	BodyTimeout time.Duration
	BodyMinRate int64
	// WriteTimeout and WriteMinRate do the same for answers: the time an
	// answer spends blocked on a client that does not read may not pass
	// WriteTimeout + written/WriteMinRate: 30 s and 2,048. Time the
	// handler spends between writes (a hanging Sync) does not count.
	WriteTimeout time.Duration
	WriteMinRate int64
}

func (o ConnOptions) withDefaults() ConnOptions {
	if o.MaxConns <= 0 {
		o.MaxConns = 10_000
	}
	if o.MaxConnsPerAddress <= 0 {
		o.MaxConnsPerAddress = 256
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = 30 * time.Second
	}
	if o.BodyMinRate <= 0 {
		o.BodyMinRate = 2048
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 30 * time.Second
	}
	if o.WriteMinRate <= 0 {
		o.WriteMinRate = 2048
	}
	return o
}

// answerAndClose answers code, with msg as plain text unless it is empty, and
// closes the connection without reading what is left of the body. Without
// this net/http reads up to 256 KB of the body before the answer goes out
// and again after it, at the client's pace: a client that announces a body
// and sends two bytes held its connection for as long as it liked.
func answerAndClose(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Connection", "close")
	http.NewResponseController(w).SetReadDeadline(time.Now()) // not supported by test recorders: nothing to stop there
	if msg != "" {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Content-Length", strconv.Itoa(len(msg)+1))
	}
	w.WriteHeader(code)
	if msg != "" {
		io.WriteString(w, msg+"\n")
	}
}

// rateBody enforces ConnOptions' minimum transfer rate on a request body:
// before each Read the connection's read deadline moves to
// start + floor + received/rate. Once the body has been read the deadline
// is cleared, so that a request that then waits (Ping) is not cut off, and
// net/http's check for a vanished client does not end its context.
type rateBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	start time.Time
	floor time.Duration
	rate  int64
	n     int64
	done  bool
	sum   hash.Hash64 // of what was read, for loop detection (overload.go)
}

// limitBody wraps r.Body in a rateBody and returns it (nil for no body);
// w must reach the connection (http.ResponseController).
func (s *Server) limitBody(w http.ResponseWriter, r *http.Request) *rateBody {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	b := &rateBody{ReadCloser: r.Body, rc: http.NewResponseController(w), start: time.Now(),
		floor: s.conns.BodyTimeout, rate: s.conns.BodyMinRate, sum: fnv.New64a()}
	r.Body = b
	return b
}

func (b *rateBody) Read(p []byte) (int, error) {
	if b.done {
		n, err := b.ReadCloser.Read(p)
		b.sum.Write(p[:n])
		return n, err
	}
	b.rc.SetReadDeadline(b.start.Add(b.floor + time.Duration(b.n*int64(time.Second)/b.rate)))
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	b.sum.Write(p[:n])
	if err == io.EOF {
		b.release()
	}
	// On any other error the deadline stays: net/http then gives up on
	// the rest of the body at once instead of draining it at the
	// client's pace.
	return n, err
}

// release clears the deadline: the body is done with, or what is left of
// it was read. It is safe on nil.
func (b *rateBody) release() {
	if b != nil && !b.done {
		b.done = true
		b.rc.SetReadDeadline(time.Time{})
	}
}

// rateWriter enforces ConnOptions' minimum transfer rate on an answer:
// before each write reaches the connection, its write deadline moves so
// that the time spent blocked on the client in all writes so far stays
// within floor + written/rate. A client that stops reading is cut off; a
// handler that waits between writes (a hanging Sync, a Ping) is not,
// since only blocked time counts. Without it a client that never read
// its answer held the handler, its buffers and its connection forever.
type rateWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController // of the wrapped writer
	floor   time.Duration
	rate    int64
	n       int64
	blocked time.Duration
	gone    bool // hijacked: the connection's deadlines are no longer ours
}

// limitWrites wraps w in a rateWriter. The connection's write deadline
// is cleared first: a kept-alive connection must not bring the last
// answer's deadline to this one.
func (s *Server) limitWrites(w http.ResponseWriter) *rateWriter {
	rw := &rateWriter{ResponseWriter: w, rc: http.NewResponseController(w), floor: s.conns.WriteTimeout, rate: s.conns.WriteMinRate}
	rw.rc.SetWriteDeadline(time.Time{}) // not supported by test recorders: nothing to bound there
	return rw
}

// arm sets the deadline for writing more bytes and returns when it was set.
func (w *rateWriter) arm(more int) time.Time {
	now := time.Now()
	allowed := w.floor + time.Duration((w.n+int64(more))*int64(time.Second)/w.rate) - w.blocked
	w.rc.SetWriteDeadline(now.Add(max(allowed, 0)))
	return now
}

func (w *rateWriter) Write(p []byte) (int, error) {
	start := w.arm(len(p))
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	w.blocked += time.Since(start)
	return n, err
}

// FlushError is what http.ResponseController's Flush calls: a flush
// after a wait gets a fresh deadline, not the last write's.
func (w *rateWriter) FlushError() error {
	start := w.arm(0)
	err := w.rc.Flush()
	w.blocked += time.Since(start)
	return err
}

// finish sets the deadline for what net/http writes after the handler:
// what is left in its buffer (4 KB at most) and the end of a chunked
// answer. It does not flush, so that a small answer keeps its
// Content-Length.
func (w *rateWriter) finish() {
	if !w.gone {
		w.rc.SetWriteDeadline(time.Now().Add(w.floor))
	}
}

// Hijack hands the connection over (a parked Ping, park.go), which then
// sets its own deadlines.
func (w *rateWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := w.rc.Hijack()
	if err == nil {
		w.gone = true
	}
	return c, brw, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *rateWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// clientAddr returns the address of the client of r: the peer, or, when
// the peer is a trusted proxy, the nearest address in X-Forwarded-For that
// is not one. A peer that cannot be parsed gives the zero Addr.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	addr := ap.Addr().Unmap()
	if !s.trusted(addr) {
		return addr
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		list := strings.Split(hops[i], ",")
		for j := len(list) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(list[j]))
			if err != nil {
				// A hop we cannot read ends what can be believed.
				return addr
			}
			addr = a.Unmap()
			if !s.trusted(addr) {
				return addr
			}
		}
	}
	return addr
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// LimitConns wraps ln so that it holds at most ConnOptions.MaxConns open
// connections, and MaxConnsPerAddress from one address; past a cap a new
// connection is closed as soon as it is accepted. With TLS, wrap the TCP
// listener, inside tls.NewListener, and Listen outside it.
func (s *Server) LimitConns(ln net.Listener) net.Listener {
	return &limitListener{Listener: ln, o: s.conns, trusted: s.trusted, m: s.metrics, per: make(map[netip.Addr]int)}
}

type limitListener struct {
	net.Listener
	o       ConnOptions
	trusted func(netip.Addr) bool
	m       *metrics.Metrics

	mu    sync.Mutex
	total int
	per   map[netip.Addr]int // open connections by address; no zero entries
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		var addr netip.Addr
		if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
			addr = ap.Addr().Unmap()
		}
		if reason := l.admit(addr); reason != "" {
			l.m.ConnRefused(reason)
			c.Close()
			continue
		}
		l.m.ConnOpened()
		return &countedConn{Conn: c, l: l, addr: addr}, nil
	}
}

// admit counts a new connection from addr, or returns why it may not
// open.
func (l *limitListener) admit(addr netip.Addr) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.o.MaxConns {
		return "total"
	}
	if l.per[addr] >= l.o.MaxConnsPerAddress && !l.trusted(addr) {
		return "address"
	}
	l.total++
	l.per[addr]++
	return ""
}

func (l *limitListener) closed(addr netip.Addr) {
	l.mu.Lock()
	l.total--
	if l.per[addr]--; l.per[addr] <= 0 {
		delete(l.per, addr)
	}
	l.mu.Unlock()
	l.m.ConnClosed()
}

// countedConn is a connection that a limitListener counts until it is
// closed.
type countedConn struct {
	net.Conn
	l    *limitListener
	addr netip.Addr
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.closed(c.addr) })
	return err
}

// CloseWrite lets net/http half-close the connection before closing it,
// so that a client still sending does not lose our last answer to a reset.
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
