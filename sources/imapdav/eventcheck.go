package imapdav

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/easgate/easgate/sources"
)

// The safety check of store-side push. Dovecot drops an event whose POST
// failed, so the watched mailboxes are compared with the server anyway,
// every Options.EventCheck. The check is the user's, not the phone's: one
// STATUS per watched mailbox, on the user's status connection, for all of
// that user's waiting phones, compared with the counters the mailbox had
// when the check (or a registrant) last saw it; a difference wakes the
// mailbox's watchers as an event would. Checking per phone cost a login
// and a STATUS per waiting phone and interval: 63 a second at 19,000
// phones (issue 14). Each user's first check comes at a random point of
// the interval, so that users who start waiting together (a restart) are
// spread over it, and checks start at most Options.EventCheckRate a
// second, at most Options.EventCheckConns at a time, across the Backend:
// more users than EventCheck × EventCheckRate stretch the interval
// rather than the load on the server.
//
// What the check guarantees: a change after a watcher registered, whose
// event was lost, wakes the watcher at the user's next check, within
// EventCheck (while the rate keeps up). The counters a mailbox is
// compared with were seen before any of its waiting watchers registered
// (eventBox.base), or the watcher registered without any (blind) and the
// next check wakes it regardless.

// checkTimeout bounds one user's check: a server that does not answer
// within it is taken as one that can no longer tell.
const checkTimeout = 30 * time.Second

// boxBase is what a registrant saw of a mailbox before it registered.
type boxBase struct {
	c  counters
	ok bool // c was seen; false: the registrant saw nothing
}

// userHeap orders the watched users by their next check.
type userHeap []*watchedUser

func (q userHeap) Len() int           { return len(q) }
func (q userHeap) Less(i, j int) bool { return q[i].due < q[j].due }
func (q userHeap) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *userHeap) Push(x any) {
	u := x.(*watchedUser)
	u.index = len(*q)
	*q = append(*q, u)
}
func (q *userHeap) Pop() any {
	old := *q
	u := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	u.index = -1
	return u
}

// schedule puts a newly watched user in the check queue, its first check
// at a random point of the coming interval, and starts the checker when
// it is not running. The caller holds h.mu.
func (h *eventHub) schedule(u *watchedUser) {
	u.due = time.Now().Add(h.every/2 + rand.N(h.every/2+1)).UnixNano()
	heap.Push(&h.queue, u)
	if !h.running && !h.closed {
		h.running = true
		go h.checkLoop()
	} else if u.index == 0 {
		h.poke()
	}
}

// unschedule takes a user no longer watched out of the queue. The caller
// holds h.mu.
func (h *eventHub) unschedule(u *watchedUser) {
	if u.index >= 0 {
		heap.Remove(&h.queue, u.index)
	}
	if len(h.queue) == 0 {
		h.poke() // the checker ends
	}
}

// poke wakes the checker to look at the queue again.
func (h *eventHub) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// close stops the checker; checks in progress finish.
func (h *eventHub) close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.poke()
}

// boxCheck is a watched mailbox as a check found it when it began.
type boxCheck struct {
	box   *eventBox
	epoch uint16
}

// checkLoop starts the users' checks as they fall due, within the rate and
// the number in flight; it ends when no user is watched.
func (h *eventHub) checkLoop() {
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("imapdav: event checker panic", "panic", p, "stack", string(debug.Stack()))
			h.mu.Lock()
			h.running = false
			h.mu.Unlock()
		}
	}()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var last time.Time   // when the last check started
	var warned time.Time // when falling behind was last logged
	sleep := func(d time.Duration) {
		t.Reset(d)
		select {
		case <-t.C:
		case <-h.wake:
			t.Stop()
		}
	}
	for {
		h.mu.Lock()
		if len(h.queue) == 0 || h.closed {
			h.running = false
			h.mu.Unlock()
			return
		}
		now := time.Now()
		u := h.queue[0]
		if wait := time.Duration(u.due - now.UnixNano()); wait > 0 {
			h.mu.Unlock()
			sleep(wait)
			continue
		}
		if wait := last.Add(h.gap).Sub(now); wait > 0 {
			h.mu.Unlock()
			sleep(wait)
			continue
		}
		if lag := time.Duration(now.UnixNano() - u.due); lag > h.every/10 && now.Sub(warned) > h.every {
			warned = now
			h.log.Warn("imapdav: the event checks fall behind: more watched users than events_check × events_check_rate",
				"lag", lag.Round(time.Second), "users", len(h.queue))
		}
		u.due += int64(h.every)
		heap.Fix(&h.queue, 0)
		src := u.src
		boxes := make([]boxCheck, len(u.boxes))
		for i, b := range u.boxes {
			boxes[i] = boxCheck{b, b.epoch}
		}
		h.mu.Unlock()
		last = now
		if src == nil {
			continue // a registration without a Source: hub tests only
		}
		h.sem <- struct{}{}
		go h.runCheck(u, src, boxes, now)
	}
}

// runCheck checks one user's watched mailboxes and wakes the watchers of
// those that changed, or of all of them when the server cannot tell.
// began is when checkLoop started it.
func (h *eventHub) runCheck(u *watchedUser, src *Source, boxes []boxCheck, began time.Time) {
	defer func() { <-h.sem }()
	defer func() {
		if p := recover(); p != nil {
			h.log.Error("imapdav: event check panic", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	names := make([]string, len(boxes))
	for i, b := range boxes {
		names[i] = b.box.mailbox
	}
	got, err := src.statusAll(ctx, names)
	if h.observe != nil {
		h.observe(began, err)
	}
	var found []string
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, bc := range boxes {
		b := bc.box
		if b.epoch != bc.epoch || h.users[u.key] != u {
			// An event or a registrant set the box's counters after
			// this check began: the next check compares with those.
			continue
		}
		var c *counters
		if err == nil {
			c = got[i]
		}
		switch {
		case c == nil:
			// Gone, or the server cannot tell: the watchers compare.
			b.known, b.blind = false, false
			b.epoch++
		case b.blind || b.known && b.base != *c:
			b.base, b.known, b.blind = *c, true, false
			b.epoch++
		default:
			b.base, b.known = *c, true
			continue
		}
		found = append(found, b.mailbox)
		h.fire(b)
	}
	if err != nil {
		src.logger().Warn("imapdav: event check failed; the user's watchers compare themselves", "err", err)
	} else if len(found) > 0 {
		src.logger().Info("imapdav: change found by the periodic check, not by an event", "mailboxes", found)
	}
}

// statusOptions are the counters of a change check.
var statusOptions = &imap.StatusOptions{UIDValidity: true, UIDNext: true, NumMessages: true, HighestModSeq: true}

// statusAll returns the counters of mailboxes names (nil for one that is
// gone), from STATUS on the status connection. When the check had to log
// in for it, the connection is logged out afterwards: with events, a
// user who only waits holds none. A retired Source (its pool closed)
// dials a connection of its own.
func (s *Source) statusAll(ctx context.Context, names []string) ([]*counters, error) {
	out := make([]*counters, len(names))
	opened := s.pool.open() == 0
	if s.pool.isClosed() {
		c, err := s.pool.dial(ctx, nil)
		if err != nil {
			return nil, err
		}
		defer logout([]*conn{c})
		for i, n := range names {
			sd, err := c.status(n, statusOptions)
			if out[i], err = statusCounters(sd, err); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	if opened {
		defer func() { logout(s.pool.takeStatus()) }()
	}
	for i, n := range names {
		sd, err := s.pool.status(ctx, n, statusOptions)
		if out[i], err = statusCounters(sd, err); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// statusCounters returns the counters of a STATUS answer, nil for a
// mailbox that is gone.
func statusCounters(sd *imap.StatusData, err error) (*counters, error) {
	switch {
	case errors.Is(err, sources.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	case sd.NumMessages == nil || sd.UIDNext == 0:
		return nil, fmt.Errorf("imapdav: status %q: counters missing", sd.Mailbox)
	}
	return &counters{sd.UIDValidity, sd.HighestModSeq, sd.UIDNext, *sd.NumMessages}, nil
}

// saw remembers the counters of mailbox f that a command just read, for
// the base of the next registration on it (Notify, Watch). A Source keeps
// the last maxSeen.
func (s *Source) saw(f string, c counters) {
	f = eventMailbox(f)
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.seen {
		if s.seen[i].mailbox == f {
			s.seen[i].c = c
			return
		}
	}
	if len(s.seen) == maxSeen {
		copy(s.seen, s.seen[1:])
		s.seen = s.seen[:maxSeen-1]
	}
	s.seen = append(s.seen, seenBox{f, c})
}

// seenBase returns what the Source last saw of mailbox f.
func (s *Source) seenBase(f string) boxBase {
	f = eventMailbox(f)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.seen {
		if x.mailbox == f {
			return boxBase{x.c, true}
		}
	}
	return boxBase{}
}

// seenBox is a mailbox's counters as a command last read them.
type seenBox struct {
	mailbox string
	c       counters
}

// maxSeen bounds the mailboxes a Source remembers counters of: a phone
// pushes a handful of folders.
const maxSeen = 16
