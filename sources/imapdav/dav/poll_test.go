package dav

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
)

// reqLog is the HTTP transport of the Stores under test: it records every
// request as the DAV server receives it.
type reqLog struct {
	mu   sync.Mutex
	reqs []reqRec
}

type reqRec struct {
	method, path, depth string
	start, end          time.Time
}

func (l *reqLog) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := reqRec{method: r.Method, path: r.URL.Path, depth: r.Header.Get("Depth"), start: time.Now()}
	resp, err := http.DefaultTransport.RoundTrip(r)
	rec.end = time.Now()
	l.mu.Lock()
	l.reqs = append(l.reqs, rec)
	l.mu.Unlock()
	return resp, err
}

// checks returns the change checks (Depth: 0 PROPFINDs) sent to any of
// paths since request number from.
func (l *reqLog) checks(from int, paths ...string) []reqRec {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []reqRec
	for _, r := range l.reqs[min(from, len(l.reqs)):] {
		if r.method == "PROPFIND" && r.depth == "0" && slices.Contains(paths, r.path) {
			out = append(out, r)
		}
	}
	return out
}

func (l *reqLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.reqs)
}

// waitFor polls cond until it holds, failing the test after 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after 20s", what)
		}
	}
}

// pollEnv is alice's two devices, each with a Store of its own (as after
// a password change), sharing one Hub and one counted transport.
type pollEnv struct {
	hub      *Hub
	log      *reqLog
	a, b     *Store
	book     sources.FolderID
	cal      sources.FolderID
	bookPath string
	calPath  string
}

func newPollEnv(t *testing.T, srv *testserver.DAV, o Options) *pollEnv {
	e := &pollEnv{hub: NewHub(), log: &reqLog{}}
	o.CalDAV, o.CardDAV = srv.URL, srv.URL
	o.HTTPClient = &http.Client{Transport: e.log}
	o.Hub = e.hub
	var err error
	if e.a, err = Open(t.Context(), &o, "alice", testserver.Users["alice"]); err != nil {
		t.Fatal(err)
	}
	if e.b, err = Open(t.Context(), &o, "alice", testserver.Users["alice"]); err != nil {
		t.Fatal(err)
	}
	fs, err := e.a.Folders(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		switch f.Kind {
		case sources.KindContacts:
			e.book = f.ID
		case sources.KindCalendar:
			e.cal = f.ID
		}
	}
	if e.book == "" || e.cal == "" {
		t.Fatalf("Folders = %+v, want a default address book and calendar", fs)
	}
	e.bookPath = strings.TrimPrefix(string(e.book), "dav:")
	e.calPath = strings.TrimPrefix(string(e.cal), "dav:")
	return e
}

// watch starts a Watch of fs on s and returns where its outcome arrives.
func watch(ctx context.Context, s *Store, fs ...sources.FolderID) <-chan watchResult {
	ch := make(chan watchResult, 1)
	go func() {
		got, err := s.Watch(ctx, fs)
		ch <- watchResult{got, err}
	}()
	return ch
}

type watchResult struct {
	fs  []sources.FolderID
	err error
}

// poller returns alice's poller state: whether one exists, whether its
// goroutine runs, and its waiters.
func (e *pollEnv) poller() (exists, running bool, waiters int, done chan struct{}) {
	e.hub.mu.Lock()
	defer e.hub.mu.Unlock()
	p := e.hub.users["alice"]
	if p == nil {
		return false, false, 0, nil
	}
	return true, p.stop != nil, p.waiters, p.done
}

func (e *pollEnv) known(path string) bool {
	e.hub.mu.Lock()
	defer e.hub.mu.Unlock()
	p := e.hub.users["alice"]
	return p != nil && p.colls[path] != nil && p.colls[path].known
}

func contact(n string) *sources.Item {
	return &sources.Item{Contact: &sources.Contact{FirstName: "Poll", LastName: n, FileAs: "Poll " + n}}
}

// testWatchShared: two devices of alice wait on her address book. One
// poller checks it, one request at a time at the configured interval,
// however many wait; a change made on the server wakes both, and the
// poller ends with the waits.
func testWatchShared(t *testing.T, srv *testserver.DAV) {
	const interval = 100 * time.Millisecond
	e := newPollEnv(t, srv, Options{PollInterval: interval, ActivePollInterval: interval, PollsPerMinute: 10000})
	from := e.log.len()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	wa, wb := watch(ctx, e.a, e.book), watch(ctx, e.b, e.book)
	waitFor(t, "both waiters", func() bool { _, _, n, _ := e.poller(); return n == 2 })
	waitFor(t, "8 checks", func() bool { return len(e.log.checks(from, e.bookPath)) >= 8 })

	// One poller: each check starts at least an interval after the
	// previous one ended. Two pollers would interleave.
	cs := e.log.checks(from, e.bookPath)
	for i := 1; i < len(cs); i++ {
		if gap := cs[i].start.Sub(cs[i-1].end); gap < interval {
			t.Errorf("check %d began %v after check %d ended, want at least %v: more than one poller", i, gap, i-1, interval)
		}
	}
	elapsed := cs[len(cs)-1].start.Sub(cs[0].start)
	t.Logf("%d checks in %v for 2 waiting devices (interval %v)", len(cs), elapsed.Round(time.Millisecond), interval)
	if most := int(elapsed/interval) + 1; len(cs) > most {
		t.Errorf("%d checks in %v: one poller sends at most %d", len(cs), elapsed, most)
	}
	if st := e.hub.Stats(); st.Pollers != 1 || st.Checks < int64(len(cs)) {
		t.Errorf("Stats = %+v while 2 devices wait, want 1 poller and at least %d checks", st, len(cs))
	}
	if n := e.log.len() - from; n != len(e.log.checks(from, e.bookPath)) {
		t.Errorf("%d requests while waiting, %d of them checks: want only checks", n, len(e.log.checks(from, e.bookPath)))
	}

	// A change on the server wakes both devices.
	r := raw{t, strings.TrimSuffix(e.a.base.String(), "/"), "alice"}
	uid := fmt.Sprintf("poll%d", time.Now().UnixNano())
	card := "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:" + uid + "\r\nFN:Poll Test\r\nN:Test;Poll;;;\r\nEND:VCARD\r\n"
	if _, _, err := r.do(t.Context(), "PUT", e.bookPath+uid+".vcf", "text/vcard", card); err != nil {
		t.Fatal(err)
	}
	for name, w := range map[string]<-chan watchResult{"a": wa, "b": wb} {
		select {
		case got := <-w:
			if got.err != nil || !slices.Equal(got.fs, []sources.FolderID{e.book}) {
				t.Errorf("Watch on device %s = %v, %v; want [%s]", name, got.fs, got.err, e.book)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("device %s not woken 20s after the change", name)
		}
	}
	// Both have returned: the poller ends.
	_, _, _, done := e.poller()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the poller still runs 20s after its last waiter returned")
	}
	if _, running, _, _ := e.poller(); running {
		t.Error("poller marked running after its goroutine ended")
	}
	if st := e.hub.Stats(); st.Pollers != 0 || st.Changes != 1 || st.Errors != 0 {
		t.Errorf("Stats = %+v after the waits, want no poller, 1 change and no error", st)
	}

	// Waits that end by their context (a heartbeat) stop it too.
	ctx2, cancel2 := context.WithCancel(t.Context())
	wa, wb = watch(ctx2, e.a, e.book, e.cal), watch(ctx2, e.b, e.book)
	waitFor(t, "both waiters again", func() bool { _, _, n, _ := e.poller(); return n == 2 })
	_, _, _, done = e.poller()
	cancel2()
	for _, w := range []<-chan watchResult{wa, wb} {
		if got := <-w; !errors.Is(got.err, context.Canceled) {
			t.Errorf("Watch after cancel = %v, %v; want context.Canceled", got.fs, got.err)
		}
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the poller still runs 20s after its waits were cancelled")
	}
}

// testWatchBudget: with checks due every 20 ms on two collections, the
// poller still sends at most PollsPerMinute in any window (a second here,
// a minute in production).
func testWatchBudget(t *testing.T, srv *testserver.DAV) {
	const budget, window = 5, time.Second
	e := newPollEnv(t, srv, Options{PollInterval: 20 * time.Millisecond, ActivePollInterval: 20 * time.Millisecond,
		PollsPerMinute: budget, budgetWindow: window})
	from := e.log.len()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	wa, wb := watch(ctx, e.a, e.book, e.cal), watch(ctx, e.b, e.book)
	// Three windows' worth: the bound must hold across windows.
	waitFor(t, "3 windows of checks", func() bool { return len(e.log.checks(from, e.bookPath, e.calPath)) >= 3*budget+1 })
	cancel()
	<-wa
	<-wb
	cs := e.log.checks(from, e.bookPath, e.calPath)
	// The poller counts a check when it decides to send it; the
	// server sees it a little later. 200 ms allows for that delay.
	const slack = 200 * time.Millisecond
	for i := budget; i < len(cs); i++ {
		if d := cs[i].start.Sub(cs[i-budget].start); d < window-slack {
			t.Errorf("checks %d to %d within %v: more than %d in a window of %v", i-budget, i, d, budget, window)
		}
	}
	if st := e.hub.Stats(); st.Delayed == 0 {
		t.Errorf("Stats = %+v, want checks delayed by the bound", st)
	}
	elapsed := cs[len(cs)-1].start.Sub(cs[0].start)
	t.Logf("%d checks in %v, bound %d per %v; unbounded they would be due every 10 ms", len(cs), elapsed.Round(time.Millisecond), budget, window)
}

// testWatchWrite: a device's write through easgate has the poller check
// the collection at once, so that another device waiting on it wakes
// without waiting for the interval (an hour here).
func testWatchWrite(t *testing.T, srv *testserver.DAV) {
	e := newPollEnv(t, srv, Options{PollInterval: time.Hour, ActivePollInterval: time.Hour})
	w := watch(t.Context(), e.a, e.book)
	waitFor(t, "the first check", func() bool { return e.known(e.bookPath) })
	start := time.Now()
	if _, _, err := e.b.Put(t.Context(), e.book, contact(fmt.Sprint(time.Now().UnixNano())), ""); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-w:
		if got.err != nil || !slices.Equal(got.fs, []sources.FolderID{e.book}) {
			t.Errorf("Watch = %v, %v; want [%s]", got.fs, got.err, e.book)
		}
		t.Logf("woken %v after the other device's Put", time.Since(start).Round(time.Millisecond))
	case <-time.After(20 * time.Second):
		t.Fatal("the waiting device was not woken 20s after the other device's Put")
	}
}

// TestPollSchedule: the interval shortens on a change, stays short for
// activeFor, and then doubles while idle, up to the idle interval; a deleted collection wakes as changed, an
// error reaches the waiters.
func TestPollSchedule(t *testing.T) {
	s := &Store{pollMin: time.Second, pollMax: 8 * time.Second}
	p := &poller{store: s}
	w := &waiter{ch: make(chan struct{}, 1)}
	c := &watched{waiters: map[*waiter][]int{w: {0, 2}}, interval: s.pollMin}
	gone := fmt.Errorf("PROPFIND: %w", sources.ErrNotFound)
	down := sources.MarkTemporary(errors.New("connection refused"))
	for i, step := range []struct {
		activeFor    time.Duration
		burstOver    bool
		version      string
		err          error
		wantInterval time.Duration
		wantChanged  []int
		wantErr      error
	}{
		{version: "v1", wantInterval: time.Second}, // the first check learns the version
		{version: "v1", wantInterval: 2 * time.Second},
		{version: "v1", wantInterval: 4 * time.Second},
		{version: "v1", wantInterval: 8 * time.Second},
		{version: "v1", wantInterval: 8 * time.Second},
		{version: "v2", wantInterval: time.Second, wantChanged: []int{0, 2}},
		{version: "v2", wantInterval: 2 * time.Second},
		{err: down, wantInterval: 4 * time.Second, wantErr: down},
		{err: gone, wantInterval: 8 * time.Second, wantChanged: []int{0, 2}},
		{version: "v3", wantInterval: 8 * time.Second}, // learnt again
		// With a burst window, the short interval holds until it ends.
		{activeFor: time.Hour, version: "v4", wantInterval: time.Second, wantChanged: []int{0, 2}},
		{version: "v4", wantInterval: time.Second},
		{version: "v4", wantInterval: time.Second},
		{version: "v5", wantInterval: time.Second, wantChanged: []int{0, 2}},
		{burstOver: true, version: "v5", wantInterval: 2 * time.Second},
	} {
		if step.activeFor != 0 {
			s.activeFor = step.activeFor
		}
		if step.burstOver {
			c.active = time.Now()
		}
		w.changed, w.err = nil, nil
		before := time.Now()
		if changed := p.seen(c, step.version, step.err); changed != (step.wantChanged != nil) {
			t.Errorf("step %d: seen = %v, want %v", i, changed, step.wantChanged != nil)
		}
		if c.interval != step.wantInterval || c.due.Before(before.Add(step.wantInterval)) {
			t.Errorf("step %d: interval %v, due in %v; want %v", i, c.interval, time.Until(c.due).Round(time.Millisecond), step.wantInterval)
		}
		if !slices.Equal(w.changed, step.wantChanged) || w.err != step.wantErr {
			t.Errorf("step %d: waiter got %v, %v; want %v, %v", i, w.changed, w.err, step.wantChanged, step.wantErr)
		}
		select {
		case <-w.ch:
		default:
		}
	}
}

// TestWatchPoll runs the poller's tests against each DAV server, one
// server start each.
func TestWatchPoll(t *testing.T) {
	for _, sv := range servers {
		t.Run(sv.name, func(t *testing.T) {
			srv := sv.start(t)
			t.Run("Shared", func(t *testing.T) { testWatchShared(t, srv) })
			t.Run("Budget", func(t *testing.T) { testWatchBudget(t, srv) })
			t.Run("Write", func(t *testing.T) { testWatchWrite(t, srv) })
			t.Run("Notify", func(t *testing.T) { testNotify(t, srv) })
		})
	}
}

// testNotify: a Notify registration waits on the user's shared poller as
// a Watch does, without a goroutine of its own: a change on the server
// calls back every registration of alice's devices, and stopping them all
// ends the poller.
func testNotify(t *testing.T, srv *testserver.DAV) {
	const interval = 100 * time.Millisecond
	e := newPollEnv(t, srv, Options{PollInterval: interval, ActivePollInterval: interval, PollsPerMinute: 10000})
	waitFor(t, "no poller", func() bool { _, running, _, _ := e.poller(); return !running })
	g0 := runtime.NumGoroutine()
	const phones = 10
	var wg sync.WaitGroup
	var stops []func()
	for i := range phones {
		s := e.a
		if i%2 == 1 {
			s = e.b
		}
		wg.Add(1)
		var once sync.Once
		stop, err := s.Notify([]sources.FolderID{e.book, e.cal}, func() { once.Do(wg.Done) })
		if err != nil {
			t.Fatal(err)
		}
		stops = append(stops, stop)
	}
	// The poller's goroutine, and the transport's, not one per phone.
	if n := runtime.NumGoroutine() - g0; n >= phones/2 {
		t.Errorf("%d more goroutines for %d registrations, want none of their own", n, phones)
	}
	waitFor(t, "the address book checked once", func() bool { return e.known(e.bookPath) })
	r := raw{t, strings.TrimSuffix(e.a.base.String(), "/"), "alice"}
	uid := fmt.Sprintf("notify%d", time.Now().UnixNano())
	card := "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:" + uid + "\r\nFN:Notify Test\r\nN:Test;Notify;;;\r\nEND:VCARD\r\n"
	if _, _, err := r.do(t.Context(), "PUT", e.bookPath+uid+".vcf", "text/vcard", card); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("not every registration was called back 20s after the change")
	}
	_, _, _, pdone := e.poller()
	for _, stop := range stops {
		stop()
		stop()
	}
	select {
	case <-pdone:
	case <-time.After(20 * time.Second):
		t.Fatal("the poller still runs 20s after every registration stopped")
	}
}
