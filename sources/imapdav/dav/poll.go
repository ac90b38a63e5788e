package dav

import (
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/easgate/easgate/sources"
)

// CalDAV and CardDAV offer no push a client can hold open, so a waiting
// device is served by polling each collection's getctag and sync-token
// (one Depth: 0 PROPFIND). The Hub makes that polling cost per user and
// collection rather than per device: every Watch of a user, whatever
// device or Store it comes from, joins the user's one poller, which checks
// each waited-on collection on its own adaptive schedule and wakes all
// the collection's waiters at once. Its requests are bounded per user.

// Defaults of the polling Options.
const (
	defaultPollInterval       = 60 * time.Second
	defaultActivePollInterval = 5 * time.Second
	defaultActiveFor          = time.Minute
	defaultPollsPerMinute     = 20
)

// pollLinger is how long a user's polling state (the collections' last
// versions, their intervals and the request log of the budget) outlives
// the user's last waiter. A device's next Ping follows its Sync within
// seconds and finds the state warm: no request to learn the version again,
// the fast interval after a change kept. It is at least the budget's
// window, so that Pings that come and go cannot reset the budget.
const pollLinger = 2 * time.Minute

// checkTimeout bounds one check, so that a server that stops answering
// ends its waiters' Watch with an error rather than holding them.
const checkTimeout = 30 * time.Second

// Hub shares DAV change detection among all the Watch calls of a user:
// one poller per user, which stops when the user's last Watch ends. Give
// the same Hub (Options.Hub) to every Store opened for the same server, so
// that a user's devices share it even when they hold different Stores. It
// is safe for concurrent use; the zero value is not: use NewHub.
type Hub struct {
	mu    sync.Mutex
	users map[string]*poller
	stats HubStats
}

// HubStats are a Hub's counts, for metrics: the pollers running now, and
// since NewHub the checks sent, those that found a change, those that
// failed, and those the per-user bound (PollsPerMinute) held back.
type HubStats struct {
	Pollers                          int
	Checks, Changes, Errors, Delayed int64
}

// Stats returns the Hub's counts.
func (h *Hub) Stats() HubStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stats
}

// NewHub returns an empty Hub.
func NewHub() *Hub { return &Hub{users: make(map[string]*poller)} }

// poller is one user's change detection. Its fields are guarded by the
// Hub's mu.
type poller struct {
	user    string
	store   *Store // the latest Store to wait: its credentials and settings
	colls   map[string]*watched
	waiters int                // Watch calls in progress
	kick    chan struct{}      // wakes the polling goroutine: the schedule changed
	stop    context.CancelFunc // nil while no goroutine polls
	done    chan struct{}      // closed when the polling goroutine ends
	left    time.Time          // when the last waiter left
	linger  *time.Timer        // drops the state pollLinger after left

	// sent holds the times of the latest requests, a ring as long as the
	// budget (of the first Store: a Hub serves one Options): the oldest
	// entry tells when the next request is allowed.
	sent     []time.Time
	sentNext int
}

// watched is one collection of a user.
type watched struct {
	path     string
	waiters  map[*waiter][]int // the indexes of path in each waiter's folders
	version  string            // getctag, sync-token and ETag as last seen
	known    bool
	interval time.Duration // the current one: short after activity, doubled while idle
	active   time.Time     // until then the interval stays short: changes come in bursts
	due      time.Time     // when to check next
}

// waiter is one Watch call, or one Notify registration (fn).
type waiter struct {
	ch      chan struct{} // receives once something is recorded below
	fn      func()        // Notify's callback, in place of ch
	changed []int         // indexes into the Watch's folders
	err     error
}

// changes records that the folders at idx changed, and tells w.
func (w *waiter) changes(idx []int) {
	if w.fn == nil { // Notify's caller compares all its folders
		w.changed = append(w.changed, idx...)
	}
	w.notify()
}

func (w *waiter) notify() {
	if w.fn != nil {
		w.fn()
		return
	}
	select {
	case w.ch <- struct{}{}:
	default:
	}
}

// Watch blocks until one of fs changes on the server, and returns those
// that did, or until ctx ends. A folder deleted on the server counts as
// changed. Changes are judged against the version the user's poller saw
// last, which may be older than the Watch: it may report a change the
// caller has already synced (callers compare their states), and a change
// made before the poller's first check of a collection goes unreported. A
// check that fails (the server down) ends the Watch with its error, so
// that a waiting device learns of the outage at once. See Hub for who
// checks, and Options for how often.
func (s *Store) Watch(ctx context.Context, fs []sources.FolderID) ([]sources.FolderID, error) {
	paths, err := s.paths(ctx, fs)
	if err != nil {
		return nil, err
	}
	w := &waiter{ch: make(chan struct{}, 1)}
	release := s.hub.subscribe(s, paths, w)
	defer release()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-w.ch:
	}
	s.hub.mu.Lock()
	idx, err := slices.Clone(w.changed), w.err
	s.hub.mu.Unlock()
	if len(idx) == 0 {
		return nil, err
	}
	slices.Sort(idx)
	out := make([]sources.FolderID, 0, len(idx))
	for _, i := range slices.Compact(idx) {
		out = append(out, fs[i])
	}
	return out, nil
}

// Notify implements sources.Notifier on the user's shared poller, as
// Watch does but without a goroutine: fn is called, with the Hub's lock
// held, whenever the poller finds one of fs changed or gone, or a check
// fails (the caller then compares states and learns of the outage), until
// stop. Finding the collections of fs may ask the server, once per
// folder the Store has not resolved yet.
func (s *Store) Notify(fs []sources.FolderID, fn func()) (stop func(), err error) {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	paths, err := s.paths(ctx, fs)
	if err != nil {
		return nil, err
	}
	return s.hub.subscribe(s, paths, &waiter{fn: fn}), nil
}

// paths returns the collection path of each folder of fs, which may ask
// the server for folders the Store has not resolved yet.
func (s *Store) paths(ctx context.Context, fs []sources.FolderID) ([]string, error) {
	paths := make([]string, len(fs))
	for i, f := range fs {
		c, err := s.collection(ctx, f)
		if err != nil {
			return nil, err
		}
		paths[i] = c.path
	}
	return paths, nil
}

// subscribe adds waiter w on paths to s's user, starting the user's
// poller if none runs. release removes it again.
func (h *Hub) subscribe(s *Store, paths []string, w *waiter) (release func()) {
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.users[s.user]
	if p == nil {
		p = &poller{user: s.user, colls: make(map[string]*watched), sent: make([]time.Time, s.budget)}
		h.users[s.user] = p
	}
	p.store = s
	for i, path := range paths {
		c := p.colls[path]
		if c == nil {
			c = &watched{path: path, waiters: make(map[*waiter][]int), interval: s.pollMin, due: now}
			p.colls[path] = c
		}
		c.waiters[w] = append(c.waiters[w], i)
	}
	p.waiters++
	if p.stop == nil {
		// A goroutine of its own for each start: one that was stopped
		// may still be ending, and must not take the new one's kicks.
		ctx, cancel := context.WithCancel(context.Background())
		p.stop, p.done, p.kick = cancel, make(chan struct{}), make(chan struct{}, 1)
		h.stats.Pollers++
		go h.run(ctx, p, p.kick, p.done)
	} else {
		p.poke()
	}
	var once sync.Once
	return func() { once.Do(func() { h.release(p, w, paths) }) }
}

// release ends waiter w. The last waiter of a user stops the poller at
// once; its state is dropped pollLinger later unless a waiter came back.
func (h *Hub) release(p *poller, w *waiter, paths []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, path := range paths {
		if c := p.colls[path]; c != nil {
			delete(c.waiters, w)
		}
	}
	if p.waiters--; p.waiters > 0 {
		return
	}
	h.stopPoller(p)
	p.left = time.Now()
	if p.linger == nil {
		p.linger = time.AfterFunc(pollLinger, func() { h.expire(p) })
	} else {
		p.linger.Reset(pollLinger)
	}
}

// stopPoller ends p's polling goroutine, if one runs. h.mu is held.
func (h *Hub) stopPoller(p *poller) {
	if p.stop != nil {
		p.stop()
		p.stop = nil
		h.stats.Pollers--
	}
}

// expire drops p's state if nobody has waited for pollLinger.
func (h *Hub) expire(p *poller) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p.waiters == 0 && time.Since(p.left) >= pollLinger && h.users[p.user] == p {
		delete(h.users, p.user)
	}
}

// wrote tells the Hub that the user's device changed collection path
// through easgate: its poller checks the collection at once, so that the
// user's other devices hear of it within one request, and fast for a
// while after.
func (h *Hub) wrote(user, path string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.users[user]
	if p == nil {
		return
	}
	c := p.colls[path]
	if c == nil {
		return
	}
	now := time.Now()
	c.interval, c.due, c.active = p.store.pollMin, now, now.Add(p.store.activeFor)
	p.poke()
}

func (p *poller) poke() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// next returns the waited-on collection to check next and when; nil when
// nobody waits on any. The time is the collection's due time, or later
// when the budget is spent (held). h.mu is held.
func (p *poller) next() (c *watched, at time.Time, held bool) {
	for _, x := range p.colls {
		if len(x.waiters) > 0 && (c == nil || x.due.Before(c.due)) {
			c = x
		}
	}
	if c == nil {
		return nil, time.Time{}, false
	}
	// The oldest of the last budget requests must have left the window.
	free := p.sent[p.sentNext].Add(p.store.budgetWindow)
	return c, later(c.due, free), free.After(c.due)
}

// record notes a request sent at now. h.mu is held.
func (p *poller) record(now time.Time) {
	p.sent[p.sentNext] = now
	p.sentNext = (p.sentNext + 1) % len(p.sent)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// run is p's polling goroutine: it checks the due collection, waits for
// the next, and ends with ctx.
func (h *Hub) run(ctx context.Context, p *poller, kick <-chan struct{}, done chan struct{}) {
	defer close(done)
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		p.store.log.Error("dav: poller panic", "user", p.user, "panic", v, "stack", string(debug.Stack()))
		// The waiters fail rather than wait on a poller that is gone; the
		// next Watch starts another.
		err := fmt.Errorf("dav: poller of %s failed: %v", p.user, v)
		for _, c := range p.colls {
			for w := range c.waiters {
				w.err = err
				w.notify()
			}
		}
		if p.done == done {
			h.stopPoller(p)
		}
	}()
	t := time.NewTimer(0)
	defer t.Stop()
	for ctx.Err() == nil {
		h.mu.Lock()
		c, at, held := p.next()
		s := p.store
		now := time.Now()
		if c != nil && !at.After(now) {
			p.record(now)
			h.stats.Checks++
			if held {
				h.stats.Delayed++
			}
		}
		h.mu.Unlock()
		if c == nil || at.After(now) {
			var tc <-chan time.Time
			if c != nil {
				t.Reset(at.Sub(now))
				tc = t.C
			}
			select {
			case <-ctx.Done():
				return
			case <-kick:
			case <-tc:
			}
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, checkTimeout)
		v, err := s.versionAt(cctx, c.path)
		timedOut := cctx.Err() != nil
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil && timedOut {
			err = sources.MarkTemporary(fmt.Errorf("dav: check of %s: no answer within %v: %w", c.path, checkTimeout, err))
		}
		h.mu.Lock()
		switch changed := p.seen(c, v, err); {
		case err != nil && !isNotFound(err):
			h.stats.Errors++
		case changed:
			h.stats.Changes++
		}
		h.mu.Unlock()
	}
}

// seen applies a check's outcome to c: a changed version wakes its
// waiters and has c checked at the short interval for activeFor; after
// that every check that finds nothing doubles the interval, up to the
// idle one. A collection gone counts as changed; any other error
// is handed to the waiters. It reports whether the waiters were told of a
// change. h.mu is held.
func (p *poller) seen(c *watched, v string, err error) (changed bool) {
	s := p.store
	now := time.Now()
	switch {
	case err != nil && isNotFound(err):
		for w, idx := range c.waiters {
			w.changes(idx)
		}
		c.known, c.interval, changed = false, s.pollMax, true
	case err != nil:
		for w := range c.waiters {
			w.err = err
			w.notify()
		}
		c.interval = min(2*c.interval, s.pollMax)
	case !c.known:
		c.version, c.known = v, true
	case v != c.version:
		c.version, c.interval, c.active, changed = v, s.pollMin, now.Add(s.activeFor), true
		for w, idx := range c.waiters {
			w.changes(idx)
		}
	case now.Before(c.active):
	default:
		c.interval = min(2*c.interval, s.pollMax)
	}
	c.due = now.Add(c.interval)
	return changed
}

// versionAt returns a string that changes whenever the collection at path
// does: getctag, sync-token and ETag together (servers differ in which of
// them they keep).
func (s *Store) versionAt(ctx context.Context, path string) (string, error) {
	ms, err := s.propfind(ctx, path, "0", `<cs:getctag/><d:sync-token/><d:getetag/>`)
	if err != nil {
		return "", fmt.Errorf("dav: PROPFIND %s: %w", path, err)
	}
	for _, r := range ms.Responses {
		if p, ok := r.okProp(); ok {
			return p.CTag + "\x00" + p.SyncToken + "\x00" + p.ETag, nil
		}
	}
	return "", nil
}
