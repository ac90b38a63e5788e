package gateway

import (
	"context"
	"hash"
	"hash/fnv"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/easgate/easgate/statecache"
)

// throttleHeader is MS-ASHTTP 2.2.2.1.2.13's response header naming why a
// device is throttled. Exchange sends "OutOfBudgets" with a 503 and
// Retry-After when a device has used up its share of the server.
const (
	throttleHeader = "X-MS-ASThrottle"
	outOfBudgets   = "OutOfBudgets"
)

// requestSlots counts the requests being worked on that do not wait:
// a Ping or hanging Sync gives its slot back once it starts waiting
// (wait), since a parked wait costs almost nothing. Past
// Limits.MaxRequests in total or Limits.MaxDeviceRequests for one device,
// a request is answered 503 with Retry-After before its body is read.
type requestSlots struct {
	mu      sync.Mutex
	total   int
	devices map[statecache.Account]int // no zero entries: bounded by the requests in flight
}

// take claims a slot for acct, or returns the reason it may not:
// "requests" or "device_requests". release gives the slot back; it may be
// called more than once.
func (s *Server) takeSlot(acct statecache.Account) (release func(), reason string) {
	rs := &s.slots
	rs.mu.Lock()
	defer rs.mu.Unlock()
	switch {
	case rs.total >= s.limits.MaxRequests:
		return nil, "requests"
	case rs.devices[acct] >= s.limits.MaxDeviceRequests:
		return nil, "device_requests"
	}
	if rs.devices == nil {
		rs.devices = make(map[statecache.Account]int)
	}
	rs.total++
	rs.devices[acct]++
	var once sync.Once
	return func() {
		once.Do(func() {
			rs.mu.Lock()
			defer rs.mu.Unlock()
			rs.total--
			if rs.devices[acct]--; rs.devices[acct] <= 0 {
				delete(rs.devices, acct)
			}
		})
	}, ""
}

// overloaded answers 503 with Retry-After and X-MS-ASThrottle and closes
// the connection without reading the body.
func (s *Server) overloaded(w http.ResponseWriter, reason string) {
	s.metrics.Throttled(reason)
	w.Header().Set("Retry-After", strconv.Itoa(int(s.limits.RetryAfter/time.Second)))
	w.Header().Set(throttleHeader, outOfBudgets)
	answerAndClose(w, http.StatusServiceUnavailable, "")
}

// loops notices a device that sends the same request again and again, as
// Z-Push's loop detection does: each account's last request is kept as a
// hash of its command and body; one that arrives within Limits.LoopWindow
// of an identical one extends the run. Past Limits.LoopRepeats the answer
// is delayed, one second doubling with each further repeat up to
// Limits.LoopDelay. The device still gets its normal answer: nothing
// forces it to resync, it only loops more slowly. A hanging Sync or Ping
// that waited its heartbeat does not count, since the heartbeat is longer
// than the window. Each device's last request is kept in an accountCache
// (Server.loops), bounded by Limits.MaxAccounts and forgotten after
// LoopWindow.
type loopRun struct {
	sum uint64
	at  time.Time
	n   int
}

// loopSum hashes a request's command and the hash of its body (the
// rateBody's; nil for none) into what loopDelay compares.
func loopSum(cmd string, body hash.Hash64) uint64 {
	h := fnv.New64a()
	h.Write([]byte(cmd))
	if body != nil {
		h.Write(body.Sum(nil))
	}
	return h.Sum64()
}

// loopDelay records a request of acct whose command and body hash to sum
// and returns how long to hold its answer back: 0 unless the device loops.
func (s *Server) loopDelay(acct statecache.Account, sum uint64) (time.Duration, int) {
	now := s.now()
	n := 1
	s.loops.update(acct, func(run *loopRun, ok bool) (*loopRun, bool) {
		if ok && run.sum == sum && now.Sub(run.at) <= s.limits.LoopWindow {
			n = run.n + 1
		}
		return &loopRun{sum: sum, at: now, n: n}, true
	})
	over := n - s.limits.LoopRepeats
	if over <= 0 {
		return 0, n
	}
	d := s.limits.LoopDelay
	if over <= 30 && time.Second<<(over-1) < d {
		d = time.Second << (over - 1)
	}
	return d, n
}

// slowLoop holds a looping device's request back (loopDelay). It returns
// false when ctx ended meanwhile: the client is gone.
func (s *Server) slowLoop(ctx context.Context, x *exchange, sess *Session) bool {
	var body hash.Hash64
	if x.body != nil {
		body = x.body.sum
	}
	d, n := s.loopDelay(sess.Account, loopSum(x.q.Command.String(), body))
	if d <= 0 {
		return true
	}
	s.metrics.Throttled("loop")
	s.log.LogAttrs(ctx, slog.LevelInfo, "device loops: answer delayed", slog.String("user", sess.User),
		slog.String("device_id", sess.Account.Device), slog.String("cmd", x.q.Command.String()),
		slog.Int("repeats", n), slog.Duration("delay", d))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
