package imapdav

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/easgate/easgate/sources"
)

const (
	// idleRestart re-issues IDLE before servers' 30-minute inactivity
	// timeout (RFC 2177 asks clients to at least every 29 minutes).
	idleRestart = 10 * time.Minute
	// idleLinger keeps a folder's IDLE connection open this long after its
	// last watcher left, since a device's next Ping follows within seconds.
	idleLinger = 2 * time.Minute
)

// idleHub holds a user's IDLE connections: one per watched folder, shared
// by every Watch call (every device) of the user.
type idleHub struct {
	s      *Source
	mu     sync.Mutex
	boxes  map[string]*idleBox
	closed bool
}

// idleBox is the IDLE connection of one folder. gen is closed, and
// replaced, on every change the server reports; fns, Notify's callbacks,
// are called then too.
type idleBox struct {
	name   string
	refs   int
	gen    chan struct{}
	fns    []*eventFunc
	cancel context.CancelFunc
	ready  chan struct{} // closed once the first IDLE runs (or failed)

	// snap is the mailbox as the last SELECT saw it, to detect changes
	// made while the connection was down.
	snap *imap.SelectData

	cur atomic.Pointer[imapclient.Client] // the live connection, for tests
}

func newIdleHub(s *Source) *idleHub { return &idleHub{s: s, boxes: make(map[string]*idleBox)} }

// subscribe returns the channel that closes at folder name's next change,
// and a release func; ok is false when the user's IDLE limit is reached.
func (h *idleHub) subscribe(name string) (ch <-chan struct{}, ready <-chan struct{}, release func(), ok bool) {
	base := h.s.seenBase(name)
	h.mu.Lock()
	defer h.mu.Unlock()
	b := h.join(name, base)
	if b == nil {
		return nil, nil, nil, false
	}
	var once sync.Once
	return b.gen, b.ready, func() { once.Do(func() { h.release(b) }) }, true
}

// addFunc has f.fn called, with the hub's lock held, at every change of
// folder name, until removeFunc; ok is false when the user's IDLE limit
// is reached.
func (h *idleHub) addFunc(name string, f *eventFunc) (b *idleBox, ok bool) {
	base := h.s.seenBase(name)
	h.mu.Lock()
	defer h.mu.Unlock()
	if b = h.join(name, base); b == nil {
		return nil, false
	}
	b.fns = append(b.fns, f)
	return b, true
}

// join adds a watcher to folder name's box, starting its IDLE connection
// if it has none, and returns the box; nil when the hub is closed or the
// user's IDLE limit is reached. The caller holds h.mu.
//
// A new connection takes a login and a SELECT before its IDLE runs: a
// change made meanwhile, after the caller compared states, would reach
// nobody until the phone's heartbeat. So base, what this Source last
// read of the mailbox (the caller's comparison), is the snapshot the
// first SELECT is compared with, as after a reconnect.
func (h *idleHub) join(name string, base boxBase) *idleBox {
	if h.closed {
		return nil
	}
	b := h.boxes[name]
	if b == nil {
		if len(h.boxes) >= h.s.opts.MaxIdle {
			return nil
		}
		ctx, cancel := context.WithCancel(context.Background())
		b = &idleBox{name: name, gen: make(chan struct{}), cancel: cancel, ready: make(chan struct{})}
		if base.ok {
			c := base.c
			b.snap = &imap.SelectData{UIDValidity: c.validity, HighestModSeq: c.highest, UIDNext: c.next, NumMessages: c.num}
		}
		h.boxes[name] = b
		go h.run(ctx, b)
	}
	b.refs++
	return b
}

// removeFunc ends addFunc's registration of f on b, once: a second call
// finds f gone and does nothing.
func (h *idleHub) removeFunc(b *idleBox, f *eventFunc) {
	h.mu.Lock()
	i := slices.Index(b.fns, f)
	if i >= 0 {
		b.fns = slices.Delete(b.fns, i, i+1)
	}
	h.mu.Unlock()
	if i >= 0 {
		h.release(b)
	}
}

func (h *idleHub) release(b *idleBox) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if b.refs--; b.refs > 0 {
		return
	}
	time.AfterFunc(idleLinger, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if b.refs == 0 && h.boxes[b.name] == b {
			delete(h.boxes, b.name)
			b.cancel()
		}
	})
}

// signal wakes b's watchers.
func (h *idleHub) signal(b *idleBox) {
	h.mu.Lock()
	close(b.gen)
	b.gen = make(chan struct{})
	for _, f := range b.fns {
		f.fn()
	}
	h.mu.Unlock()
}

func (h *idleHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for name, b := range h.boxes {
		b.cancel()
		delete(h.boxes, name)
	}
}

// run keeps b's IDLE connection up until ctx ends, reconnecting with
// backoff when it drops. After a reconnect it compares the mailbox with
// the last SELECT, so that a change made while it was down still wakes
// the watchers.
func (h *idleHub) run(ctx context.Context, b *idleBox) {
	log := h.s.logger().With("folder", b.name)
	defer func() {
		if p := recover(); p != nil {
			log.Error("imapdav: idle panic", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	var readyOnce sync.Once
	ready := func() { readyOnce.Do(func() { close(b.ready) }) }
	defer ready()
	backoff := time.Second
	for ctx.Err() == nil {
		err := h.idle(ctx, b, ready)
		if ctx.Err() != nil {
			return
		}
		ready()
		// Wake the watchers: they look at the store, and learn from the
		// error whether it is down rather than waiting their heartbeat.
		h.signal(b)
		log.Info("imapdav: idle connection lost; reconnecting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
		if err == nil {
			backoff = time.Second
		}
	}
}

// idle runs one IDLE connection of b until it fails or ctx ends.
func (h *idleHub) idle(ctx context.Context, b *idleBox, ready func()) error {
	handler := &imapclient.UnilateralDataHandler{
		Expunge: func(uint32) { h.signal(b) },
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				h.signal(b)
			}
		},
		Fetch: func(m *imapclient.FetchMessageData) {
			for m.Next() != nil {
			}
			h.signal(b)
		},
	}
	c, err := h.s.pool.dial(ctx, handler)
	if err != nil {
		return err
	}
	defer c.c.Close()
	b.cur.Store(c.c)
	stop := context.AfterFunc(ctx, func() { c.c.Close() })
	defer stop()
	sel, err := c.selectBox(b.name)
	if errors.Is(err, sources.ErrNotFound) {
		h.signal(b) // deleted: its watchers learn it from Changes
		return err
	}
	if err != nil {
		return err
	}
	if b.snap != nil && changedSince(b.snap, sel) {
		h.signal(b)
	}
	b.snap = sel
	for {
		cmd, err := c.c.Idle()
		if err != nil {
			return wrap(err, "idle %q", b.name)
		}
		ready()
		t := time.NewTimer(idleRestart)
		select {
		case <-c.c.Closed():
			t.Stop()
			return fmt.Errorf("imapdav: idle %q: connection closed", b.name)
		case <-ctx.Done():
			t.Stop()
			cmd.Close()
			return nil
		case <-t.C:
		}
		if err := cmd.Close(); err != nil {
			return wrap(err, "end idle %q", b.name)
		}
		if err := cmd.Wait(); err != nil {
			return wrap(err, "idle %q", b.name)
		}
		// Re-selecting refreshes the snapshot for the next reconnect and
		// catches anything the IDLE did not report.
		if sel, err = c.selectBox(b.name); err != nil {
			return err
		}
		if changedSince(b.snap, sel) {
			h.signal(b)
		}
		b.snap = sel
	}
}

// Watch implements sources.Watcher: mail folders wait for the store's
// mailbox events when Options.Events is on (events.go), otherwise on the
// user's shared IDLE connections (polled once the IDLE limit is reached);
// dav: folders wait on the DAV store's Watch.
func (s *Source) Watch(ctx context.Context, fs []sources.FolderID) ([]sources.FolderID, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		fs  []sources.FolderID
		err error
	}
	results := make(chan result, 4)
	var davFs, pollFs []sources.FolderID
	type sub struct {
		f  sources.FolderID
		ch <-chan struct{}
	}
	var subs []sub
	var eventFs []sources.FolderID
	for _, f := range fs {
		if isDAV(f) {
			davFs = append(davFs, f)
			continue
		}
		if s.events != nil {
			eventFs = append(eventFs, f)
			continue
		}
		ch, _, release, ok := s.idle.subscribe(string(f))
		if !ok {
			pollFs = append(pollFs, f)
			continue
		}
		defer release()
		subs = append(subs, sub{f, ch})
	}
	if len(davFs) > 0 {
		d, err := s.davStore(davFs[0])
		if err != nil {
			return nil, err
		}
		go func() {
			got, err := d.Watch(ctx, davFs)
			results <- result{got, err}
		}()
	}
	if len(eventFs) > 0 {
		go func() {
			got, err := s.eventWatch(ctx, eventFs)
			results <- result{got, err}
		}()
	}
	if len(pollFs) > 0 {
		p := &sources.PollWatcher{Source: s, Interval: s.opts.PollInterval}
		go func() {
			got, err := p.Watch(ctx, pollFs)
			results <- result{got, err}
		}()
	}
	// Wake on any subscribed folder: one goroutine waits on them all.
	if len(subs) > 0 {
		go func() {
			any := make(chan struct{}, len(subs))
			for _, sb := range subs {
				go func() {
					select {
					case <-sb.ch:
						any <- struct{}{}
					case <-ctx.Done():
					}
				}()
			}
			select {
			case <-any:
			case <-ctx.Done():
				return
			}
			// Let changes to other folders that arrive together count too.
			time.Sleep(idleGather)
			var got []sources.FolderID
			for _, sb := range subs {
				select {
				case <-sb.ch:
					got = append(got, sb.f)
				default:
				}
			}
			results <- result{got, nil}
		}()
	}
	select {
	case r := <-results:
		if r.err != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return r.fs, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// idleNotify is Notify without events: fn is called from the user's
// shared IDLE connections of fs, and a waiting phone holds no goroutine
// of its own. Folders past the user's IDLE limit are polled, as Watch
// does: fn is called after Options.PollInterval, and the caller compares.
func (s *Source) idleNotify(fs []sources.FolderID, fn func()) func() {
	n := &idleNotify{hub: s.idle, boxes: make([]*idleBox, 0, len(fs))}
	n.init(fn, idleGather)
	poll := false
	for _, f := range fs {
		b, ok := s.idle.addFunc(string(f), &n.f)
		if !ok {
			poll = true
			continue
		}
		n.boxes = append(n.boxes, b)
	}
	if poll {
		n.poll = time.AfterFunc(s.opts.PollInterval, n.fire)
	}
	return n.stop
}

// idleNotify is one Notify registration on IDLE connections.
type idleNotify struct {
	notifyOnce
	hub   *idleHub
	boxes []*idleBox
	poll  *time.Timer // folders past the IDLE limit; nil when none
}

// stop ends the registration; a second call does nothing.
func (n *idleNotify) stop() {
	if n.poll != nil {
		n.poll.Stop()
	}
	for _, b := range n.boxes {
		n.hub.removeFunc(b, &n.f)
	}
}

// idleGather is how long a woken watcher waits for changes to its other
// folders that arrive together.
const idleGather = 20 * time.Millisecond

// changedSince compares two SELECT answers.
func changedSince(a, b *imap.SelectData) bool {
	return a.UIDValidity != b.UIDValidity || a.UIDNext != b.UIDNext ||
		a.NumMessages != b.NumMessages || a.HighestModSeq != b.HighestModSeq
}
