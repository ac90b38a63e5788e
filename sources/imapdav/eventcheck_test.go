package imapdav

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
)

// checkLog counts a hub's checks and when they began.
type checkLog struct {
	mu     sync.Mutex
	starts []time.Time
	errs   int
}

func (l *checkLog) observe(began time.Time, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.starts = append(l.starts, began)
	if err != nil {
		l.errs++
	}
}

func (l *checkLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.starts)
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20 s", what)
		}
	}
}

// TestEventCheckFindsLostEvent: Dovecot's POSTs are refused (a wrong
// token), so every event is lost, and the user's check still wakes all of
// the user's waiting phones at a change, with one check per user rather
// than per phone, and no login kept between checks. A registration that
// saw nothing of its folder is woken by the first check whatever it
// finds; those that saw the folder are not woken while nothing changes.
func TestEventCheckFindsLostEvent(t *testing.T) {
	const every = 300 * time.Millisecond
	e := startEventsWith(t, Options{EventCheck: every, ConnIdle: 100 * time.Millisecond}, "a-token-easgate-refuses")
	var log checkLog
	e.b.events.observe = log.observe
	s, oc, folder := e.alice(t)
	fs := []sources.FolderID{sources.FolderID(folder), "INBOX"}

	// Blind: this Source never read the folders.
	blind := make(chan struct{})
	stop, err := s.Notify(fs, func() { close(blind) })
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-blind:
	case <-time.After(20 * time.Second):
		t.Fatal("a registration without a base was not called back by the user's check")
	}
	stop()

	// Three phones of alice, after comparing states as the gateway does.
	for _, f := range fs {
		if _, err := s.State(t.Context(), f); err != nil {
			t.Fatal(err)
		}
	}
	var calls atomic.Int32
	var wg sync.WaitGroup
	const phones = 3
	for range phones {
		wg.Add(1)
		var once sync.Once
		stop, err := s.Notify(fs, func() { once.Do(func() { calls.Add(1); wg.Done() }) })
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
	}
	// Two checks that find nothing wake nobody; meanwhile the check's
	// login, and the Source's own, are logged out.
	from, start := log.count(), time.Now()
	waitFor(t, "two checks", func() bool { return log.count() >= from+2 })
	waitFor(t, "no IMAP connection between checks", func() bool { c, _ := e.b.Conns(); return c == 0 })
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d phones were woken while nothing changed", n)
	}
	if _, err := appendRaw(oc, folder, testMessage(1)); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%d of %d phones woken within 20 s of an APPEND whose event was lost", calls.Load(), phones)
	}
	// One check per interval for the user, not one per phone: the first
	// comes within the interval, then one per interval.
	checks, most := log.count()-from, int(time.Since(start)/every)+2
	if checks > most {
		t.Errorf("%d checks in %v for one user with %d phones, want at most %d (one per %v)", checks, time.Since(start), phones, most, every)
	}
	if n := e.outcome("unauthorized"); n == 0 {
		t.Error("Dovecot's POST was not refused: the test did not lose the event")
	}
	if n := e.outcome("ok"); n != 0 {
		t.Errorf("%d events were accepted, want none", n)
	}
	if log.errs != 0 {
		t.Errorf("%d checks failed", log.errs)
	}
}

// TestEventCheckRate: checks start at most Options.EventCheckRate a
// second across the Backend, however many users fall due together: 12
// users checked every 200 ms at 10 checks a second take a round of 1.2 s,
// not 0.2 s.
func TestEventCheckRate(t *testing.T) {
	const rate, users, want = 10, 12, 30
	e := startEventsWith(t, Options{EventCheck: 200 * time.Millisecond, EventCheckRate: rate, EventCheckConns: 2}, "imapdav-events-test")
	var log checkLog
	e.b.events.observe = log.observe
	src, err := e.b.Login(t.Context(), "alice", testserver.Users["alice"])
	if err != nil {
		t.Fatal(err)
	}
	s := src.(*Source)
	if _, err := s.State(t.Context(), "INBOX"); err != nil {
		t.Fatal(err)
	}
	// Users of the hub's own, all checked with alice's login.
	for i := range users {
		_, release := e.b.events.subscribe(s, fmt.Sprintf("user%d", i), "INBOX", s.seenBase("INBOX"))
		defer release()
	}
	waitFor(t, fmt.Sprintf("%d checks", want), func() bool { return log.count() >= want })
	log.mu.Lock()
	starts := slices.Clone(log.starts)
	errs := log.errs
	log.mu.Unlock()
	slices.SortFunc(starts, time.Time.Compare)
	if d, least := starts[want-1].Sub(starts[0]), time.Duration(want-1)*time.Second/rate; d < least {
		t.Errorf("%d checks began within %v, want at least %v at %d a second", want, d, least, rate)
	}
	if errs != 0 {
		t.Errorf("%d checks failed", errs)
	}
}

// TestEventCheckJitter: users who start waiting together have their
// first checks spread over the second half of the interval, not at once.
func TestEventCheckJitter(t *testing.T) {
	o := Options{EventCheck: time.Minute}.withDefaults()
	h := newEventHub(&o)
	now := time.Now()
	const users = 200
	for i := range users {
		_, release := h.subscribe(nil, fmt.Sprintf("user%d", i), "INBOX", boxBase{})
		defer release()
	}
	h.mu.Lock()
	lo, hi := h.queue[0].due, h.queue[0].due
	for _, u := range h.queue {
		lo, hi = min(lo, u.due), max(hi, u.due)
	}
	h.mu.Unlock()
	first, last := time.Unix(0, lo).Sub(now), time.Unix(0, hi).Sub(now)
	if first < o.EventCheck/2-time.Second || last > o.EventCheck+time.Second {
		t.Errorf("first checks from %v to %v after registering, want within [%v, %v]", first, last, o.EventCheck/2, o.EventCheck)
	}
	if last-first < o.EventCheck/4 {
		t.Errorf("the first checks of %d users span %v, want them spread over at least %v", users, last-first, o.EventCheck/4)
	}
}
