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

	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
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
//
// A wait whose store can call back (sources.Notifier) costs not even the
// goroutine: it is a parked record (a *parked) that the store's callback,
// the heartbeat's timer, a newer request of the device or Shutdown wakes;
// only then does a goroutine look at the store and answer. A waiting phone
// then holds the connection, that record and the store's registration:
// about 4 KB, where a goroutine alone starts at 2–8 KB of stack.

// waitFunc waits for the outcome of a waiting request and returns the
// response to send. Its ctx ends at the heartbeat (cause errHeartbeat),
// when a newer request of the account arrives (errSuperseded) or at
// Shutdown (errShutdown); it then returns its "nothing happened" answer
// promptly rather than an error.
type waitFunc func(ctx context.Context) (any, error)

// A notifyWait is a wait that needs no goroutine while nothing happens.
// The goroutine that runs check and end is the only one to touch the
// wait's own state, so they need no lock between themselves; arm is
// called from it too, except for the first time. It is an interface, not
// three funcs, so that a waiting phone holds one small value.
type notifyWait interface {
	// arm asks the store to call wake at the next change, and returns
	// the function that cancels that. wake returns at once and may be
	// called from any goroutine, also before arm returns. An error
	// sources.ErrUnsupported makes the wait take a goroutine instead.
	arm(wake func()) (stop func(), err error)
	// check runs after a wake: it returns the answer, or nil and nil
	// to go on waiting. Its ctx ends when the wait ends meanwhile; what
	// it then returns is ignored and end answers.
	check(ctx context.Context) (any, error)
	// end answers when the wait ends without an answer from check: ctx
	// is done, with the cause (errHeartbeat, errSuperseded, ...).
	end(ctx context.Context) (any, error)
}

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
	// Parked records are not tied to p.ctx (a registration there would
	// cost each waiting phone): end them through the waiters. One that
	// registers after this sees p.ctx done (parkRecord).
	s.waiters.endWhere(func(statecache.Account) bool { return true }, errShutdown)
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
// returned only when nothing was written, for servePost to answer. nw,
// when not nil, is the same wait as fn told as a notifyWait, which a
// taken-over connection waits in without a goroutine.
func (s *Server) wait(ctx context.Context, w http.ResponseWriter, sess *Session, d time.Duration, fn waitFunc, nw notifyWait) error {
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
	if x.r.ProtoMajor == 1 && s.park(x, sess, d, fn, nw) {
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

// park takes the connection of x over and answers it from a new goroutine,
// or, with nw, from a parked record. It reports false, having touched
// nothing, when the connection cannot be taken over.
func (s *Server) park(x *exchange, sess *Session, d time.Duration, fn waitFunc, nw notifyWait) bool {
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
	if s.parkHook != nil {
		s.parkHook(x.r, brw)
	}
	// Drop what ties this request to net/http's buffers and structures;
	// only x, sess and the connection stay.
	brw = nil
	x.detached = true
	x.r = nil
	x.body = nil // it reaches net/http's buffers through its ResponseController
	x.w = &recorder{x: x}
	if nw != nil && s.parkRecord(conn, x, sess, d, nw, keep) {
		return true
	}

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

// parked is a wait that holds no goroutine (a notifyWait on a taken-over
// connection). Its store registration, its heartbeat timer, the account's
// waiters entry and Shutdown wake it; the first wake starts the one
// goroutine that checks and, if it is not the answer yet, arms again and
// ends.
type parked struct {
	s    *Server
	conn net.Conn
	x    *exchange
	nw   notifyWait
	keep bool

	timer *time.Timer
	leave func() // the waiters entry
	done  func() // the waiting gauge

	mu       sync.Mutex
	released bool                    // release ran
	over     bool                    // the parking's WaitGroup was told
	running  bool                    // a goroutine checks or answers
	pending  bool                    // woken while it ran: check again
	cause    error                   // why the wait ended; nil while it waits
	stop     func()                  // cancels the store registration
	cancelCk context.CancelCauseFunc // ends a check in progress
}

// parkRecord parks x's connection, taken over, in a parked record. It
// reports false, having registered nothing, when the store cannot call
// back for these folders (sources.ErrUnsupported): the wait then takes a
// goroutine.
func (s *Server) parkRecord(conn net.Conn, x *exchange, sess *Session, d time.Duration, nw notifyWait, keep bool) bool {
	// Nothing can run p before it is complete: end and wake find running.
	p := &parked{s: s, conn: conn, x: x, nw: nw, keep: keep, running: true}
	stop, err := nw.arm(p.wake)
	if errors.Is(err, sources.ErrUnsupported) {
		return false
	}
	p.done = s.metrics.Waiting(x.q.Command.String())
	p.mu.Lock()
	p.leave = s.waiters.enter(sess.Account, p.end)
	p.timer = time.AfterFunc(d, func() { p.end(errHeartbeat) })
	p.mu.Unlock()
	if s.parking.ctx.Err() != nil {
		p.end(errShutdown) // Shutdown's endWhere ran before enter
	}
	if err != nil {
		p.finish(nil, err)
		return true
	}
	p.armed(stop)
	return true
}

// arm registers p with the store again after a check, or answers its
// error. It runs where p.running is set.
func (p *parked) arm() {
	stop, err := p.nw.arm(p.wake)
	if err != nil {
		p.finish(nil, err)
		return
	}
	p.armed(stop)
}

// armed keeps the store registration stop and clears p.running, unless
// the wait was woken or ended meanwhile: then it runs again.
func (p *parked) armed(stop func()) {
	p.mu.Lock()
	if p.cause == nil && !p.pending {
		p.stop, p.running = stop, false
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	stop()
	p.goRun()
}

// wake is called by the store at a change, and by a recheck.
func (p *parked) wake() {
	p.mu.Lock()
	if p.cause != nil || p.running {
		p.pending = p.cause == nil
		p.mu.Unlock()
		return
	}
	p.running = true
	p.mu.Unlock()
	// The store may call wake holding its locks: cancel its registration
	// from the new goroutine.
	p.goRun()
}

// end ends the wait with cause: the heartbeat, a newer request of the
// device, an administrator's action or Shutdown.
func (p *parked) end(cause error) {
	p.mu.Lock()
	if p.cause != nil {
		p.mu.Unlock()
		return
	}
	p.cause = cause
	if p.cancelCk != nil {
		p.cancelCk(cause)
	}
	if p.running {
		p.mu.Unlock()
		return
	}
	p.running = true
	p.mu.Unlock()
	p.goRun()
}

func (p *parked) goRun() {
	go func() {
		defer func() {
			if v := recover(); v != nil {
				p.s.log.Error("parked wait panic", "panic", v, "stack", string(debug.Stack()))
				p.release()
				p.conn.Close()
				p.leaveParking()
			}
		}()
		p.run()
	}()
}

// run checks the store after a wake, or answers the end of the wait.
func (p *parked) run() {
	for {
		p.mu.Lock()
		stop, cause := p.stop, p.cause
		p.stop, p.pending = nil, false
		var ctx context.Context
		if cause == nil {
			ctx, p.cancelCk = context.WithCancelCause(context.Background())
		}
		p.mu.Unlock()
		if stop != nil {
			stop()
		}
		if cause != nil {
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(cause)
			resp, err := p.nw.end(ctx)
			p.finish(resp, err)
			return
		}
		resp, err := p.nw.check(ctx)
		ended := ctx.Err() != nil
		p.mu.Lock()
		p.cancelCk(nil)
		p.cancelCk = nil
		again := p.cause != nil || p.pending
		p.mu.Unlock()
		if ended {
			continue // ended meanwhile: end answers
		}
		if resp != nil || err != nil {
			p.finish(resp, err)
			return
		}
		if !again {
			p.arm()
			return
		}
	}
}

// finish answers a parked wait and releases what it held.
func (p *parked) finish(resp any, err error) {
	p.mu.Lock()
	if p.cause == nil {
		p.cause = errAnswered
	}
	keep := p.keep && p.cause != errShutdown
	p.mu.Unlock()
	p.release()
	p.s.answerParked(p.conn, p.x, resp, err, keep)
	p.leaveParking()
}

// release gives back what a parked wait holds besides its connection,
// once.
func (p *parked) release() {
	p.mu.Lock()
	done := p.released
	p.released = true
	p.mu.Unlock()
	if !done {
		p.timer.Stop()
		p.leave()
		p.done()
	}
}

// leaveParking tells Shutdown that p is answered, once.
func (p *parked) leaveParking() {
	p.mu.Lock()
	done := p.over
	p.over = true
	p.mu.Unlock()
	if !done {
		p.s.parking.wg.Done()
	}
}

// errAnswered marks a parked wait that answered a change.
var errAnswered = errors.New("gateway: answered")

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
