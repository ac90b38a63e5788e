package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"
)

// A phone in push mode keeps a Ping (or a hanging Sync) open for up to the
// heartbeat, and a server holds thousands of them. An ordinary net/http
// handler costs about 30 KB per waiting request (two goroutines and fixed
// buffers; measured on Go 1.26, Debian 12, amd64). So once the body is
// read, wait takes the connection over (Hijack), drops net/http's buffers
// and waits in one goroutine that holds little more than the connection.
// The answer is then written by hand, and the connection goes back to the
// http.Server through the Listener it came from, for the phone's next
// request (listener.go); without one it is closed after the answer.
//
// Connections that cannot be taken over (HTTP/2, a test recorder) wait in
// the handler instead, with the same contexts and the same answers.

// waitFunc waits for the outcome of a waiting request and returns the
// response to send. Its ctx ends at the heartbeat (cause errHeartbeat),
// when a newer request of the account arrives (errSuperseded) or at
// Shutdown (errShutdown); it then returns its "nothing happened" answer
// promptly rather than an error.
type waitFunc func(ctx context.Context) (any, error)

// errHeartbeat and errShutdown are the other causes that end a wait.
var (
	errHeartbeat = errors.New("gateway: heartbeat interval passed")
	errShutdown  = errors.New("gateway: server shutting down")
)

// parkWriteTimeout bounds writing a parked answer, so that a phone that
// vanished cannot hold its goroutine.
const parkWriteTimeout = 30 * time.Second

// parking is the Server's side of taken-over connections.
type parking struct {
	once sync.Once
	ctx  context.Context // ended by Shutdown; parent of every wait
	stop context.CancelCauseFunc

	mu        sync.Mutex
	closed    bool
	wg        sync.WaitGroup // parked goroutines
	listeners []*Listener
}

func (p *parking) init() {
	p.once.Do(func() { p.ctx, p.stop = context.WithCancelCause(context.Background()) })
}

// Shutdown ends every waiting Ping and hanging Sync with its "nothing
// changed" answer (Ping status 1) and waits until the parked ones are
// written or ctx ends. Call it with http.Server.Shutdown, which neither sees
// taken-over connections nor ends handlers. Requests that wait after
// Shutdown are answered at once.
func (s *Server) Shutdown(ctx context.Context) error {
	p := &s.parking
	p.init()
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.stop(errShutdown)
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// wait answers a waiting request whose body has been read: it registers the
// wait as the account's one waiter, runs fn for at most d, and writes fn's
// response. w must be the ResponseWriter servePost gave the route. When the
// connection can be taken over, wait returns at once and a goroutine
// answers later; otherwise it returns after answering. An error is
// returned only when nothing was written, for servePost to answer.
func (s *Server) wait(ctx context.Context, w http.ResponseWriter, sess *Session, d time.Duration, fn waitFunc) error {
	s.parking.init()
	rec, _ := w.(*recorder)
	if rec == nil || rec.x.r == nil || rec.code != 0 {
		return errors.New("gateway: wait needs the route's own ResponseWriter, unwritten")
	}
	x := rec.x
	fn = s.countWait(x.q.Command, fn)
	if x.release != nil {
		// Waiting costs almost nothing: it is not counted against the
		// request caps.
		x.release()
	}
	if x.r.ProtoMajor == 1 && s.park(x, sess, d, fn) {
		return nil
	}
	x.body.release()

	// Wait in the handler.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(s.parking.ctx, func() { cancel(errShutdown) })
	defer stop()
	leave := s.waiters.enter(sess.Account, cancel)
	defer leave()
	ctx, cancelT := context.WithTimeoutCause(ctx, d, errHeartbeat)
	defer cancelT()
	resp, err := fn(ctx)
	s.respond(ctx, x, resp, err)
	return nil
}

// park takes the connection of x over and answers it from a new goroutine.
// It reports false, having touched nothing, when the connection cannot be
// taken over.
func (s *Server) park(x *exchange, sess *Session, d time.Duration, fn waitFunc) bool {
	p := &s.parking
	// Whatever is left of the body would be read as the next request.
	n, _ := io.Copy(io.Discard, io.LimitReader(x.r.Body, 1<<10))
	// Read under the body's deadline; from here on the connection waits
	// without one.
	x.body.release()
	keep := n == 0 && !x.r.Close
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return false
	}
	conn, brw, err := http.NewResponseController(x.w.ResponseWriter).Hijack()
	if err != nil {
		p.mu.Unlock()
		return false
	}
	p.wg.Add(1)
	p.mu.Unlock()
	// Bytes read past the request (a pipelined request) would be lost on
	// the way back to the http.Server: close after answering instead.
	if brw.Reader.Buffered() > 0 {
		keep = false
	}
	// Drop what ties this request to net/http's buffers and structures;
	// only x, sess and the connection stay.
	brw = nil
	x.detached = true
	x.r = nil
	x.body = nil // it reaches net/http's buffers through its ResponseController
	x.w = &recorder{x: x}

	ctx, cancel := context.WithCancelCause(p.ctx)
	leave := s.waiters.enter(sess.Account, cancel)
	go func() {
		defer p.wg.Done()
		defer cancel(nil)
		defer leave()
		defer func() {
			if v := recover(); v != nil {
				s.log.Error("parked wait panic", "panic", v, "stack", string(debug.Stack()))
				conn.Close()
			}
		}()
		wctx, cancelT := context.WithTimeoutCause(ctx, d, errHeartbeat)
		resp, err := fn(wctx)
		cancelT()
		// At Shutdown the listener is closing too: tell the phone.
		keep = keep && context.Cause(ctx) != errShutdown
		s.answerParked(conn, x, resp, err, keep)
	}()
	return true
}

// answerParked writes the answer of a parked wait to conn, logs and counts
// it, and hands conn back to its Listener or closes it.
func (s *Server) answerParked(conn net.Conn, x *exchange, resp any, err error, keep bool) {
	a := &answer{header: make(http.Header)}
	x.w.ResponseWriter = a
	ctx := context.Background()
	s.respond(ctx, x, resp, err)
	var l *Listener
	if keep {
		l = s.parking.listenerOf(conn)
	}
	conn.SetWriteDeadline(time.Now().Add(parkWriteTimeout))
	werr := a.writeTo(conn, s.now(), l != nil)
	s.finish(ctx, x)
	if werr != nil {
		s.log.LogAttrs(ctx, slog.LevelDebug, "writing a parked answer", slog.String("device_id", x.q.DeviceID),
			slog.Any("err", werr))
		conn.Close()
		return
	}
	conn.SetWriteDeadline(time.Time{})
	if l == nil || !l.handBack(conn) {
		conn.Close()
	}
}

// answer is the http.ResponseWriter of a parked wait: it holds the
// response until writeTo sends it.
type answer struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (a *answer) Header() http.Header { return a.header }

func (a *answer) WriteHeader(code int) {
	if a.code == 0 {
		a.code = code
	}
}

func (a *answer) Write(b []byte) (int, error) {
	a.WriteHeader(http.StatusOK)
	return a.body.Write(b)
}

// writeTo writes a as a complete HTTP/1.1 response (RFC 9112): with a
// Content-Length, so that the connection can carry the next request, and
// Connection: close unless keep.
func (a *answer) writeTo(w io.Writer, now time.Time, keep bool) error {
	a.WriteHeader(http.StatusOK)
	h := a.header
	h.Set("Content-Length", strconv.Itoa(a.body.Len()))
	h.Set("Date", now.UTC().Format(http.TimeFormat))
	if !keep {
		h.Set("Connection", "close")
	}
	bw := bufio.NewWriterSize(w, 512+a.body.Len())
	bw.WriteString("HTTP/1.1 " + strconv.Itoa(a.code) + " " + http.StatusText(a.code) + "\r\n")
	h.Write(bw)
	bw.WriteString("\r\n")
	bw.Write(a.body.Bytes())
	return bw.Flush()
}
