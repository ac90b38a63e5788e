package jmap

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	gojmap "git.sr.ht/~rockorager/go-jmap"

	"github.com/easgate/easgate/sources"
)

var (
	_ sources.Watcher  = (*Source)(nil)
	_ sources.Notifier = (*Source)(nil)
)

// errNoPush means the server has no usable EventSource: no
// eventSourceUrl, or 204 as Debian's Cyrus 3.6 answers (built without
// push).
var errNoPush = errors.New("jmap: no push")

// hub is one user's push connection, shared by every Watch of that user:
// an EventSource stream (RFC 8620 section 7.3), reconnected with
// Last-Event-Id when it ends, or a ticker when the server cannot push.
// Each event wakes every watcher, which then compares its folders'
// states; events say which types changed, not which folders.
type hub struct {
	s *Source

	mu       sync.Mutex
	wake     chan struct{} // closed and replaced on each event
	mailSeq  uint64        // events that may concern mail
	pimSeq   uint64        // events that may concern pim folders
	watchers int
	cancel   context.CancelFunc // of the running loop; nil if none
	linger   *time.Timer
	lastID   string
	polling  bool
	connects int         // streams opened, for tests
	fns      []*pushFunc // Notify's callbacks, run at each event
}

// pushFunc is a Notify callback, told whether the event may concern mail
// and pim folders; its address identifies it.
type pushFunc struct{ fn func(mail, pim bool) }

func newHub(s *Source) *hub { return &hub{s: s, wake: make(chan struct{})} }

// subscribe registers a watcher, starting the connection if needed, and
// returns the channel of the next event.
func (h *hub) subscribe() (<-chan struct{}, uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.join()
	return h.wake, h.pimSeq
}

// addFunc registers f as a watcher, starting the connection if needed;
// f.fn runs at every event, with the hub's lock held, until removeFunc.
func (h *hub) addFunc(f *pushFunc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.join()
	h.fns = append(h.fns, f)
}

// removeFunc ends addFunc's registration of f, once: a second call finds
// f gone and does nothing.
func (h *hub) removeFunc(f *pushFunc) {
	h.mu.Lock()
	i := slices.Index(h.fns, f)
	if i >= 0 {
		h.fns = slices.Delete(h.fns, i, i+1)
	}
	h.mu.Unlock()
	if i >= 0 {
		h.unsubscribe()
	}
}

// join counts one more watcher and starts the connection if none runs.
// h.mu is held.
func (h *hub) join() {
	h.watchers++
	if h.linger != nil {
		h.linger.Stop()
		h.linger = nil
	}
	if h.cancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		h.cancel = cancel
		go h.run(ctx)
	}
}

// unsubscribe ends a watcher; the connection lingers for the next one.
func (h *hub) unsubscribe() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.watchers--
	if h.watchers > 0 || h.cancel == nil {
		return
	}
	h.linger = time.AfterFunc(h.s.opts.PushLinger, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.watchers == 0 && h.cancel != nil {
			h.cancel()
			h.cancel = nil
		}
	})
}

// close ends the connection now.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.linger != nil {
		h.linger.Stop()
		h.linger = nil
	}
	if h.cancel != nil {
		h.cancel()
		h.cancel = nil
	}
}

// next returns the channel of the event after the current one.
func (h *hub) next() (<-chan struct{}, uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.wake, h.pimSeq
}

func (h *hub) broadcast(mail, pim bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if mail {
		h.mailSeq++
	}
	if pim {
		h.pimSeq++
	}
	close(h.wake)
	h.wake = make(chan struct{})
	for _, f := range h.fns {
		f.fn(mail, pim)
	}
}

// run keeps the stream open until ctx ends, backing off from 1 s to a
// minute while the server fails; a stream that ends after a while (Cyrus
// closes them after httptimeout, 5 min) is reopened at once.
func (h *hub) run(ctx context.Context) {
	defer func() {
		if r := recover(); r != nil {
			h.s.log.Error("jmap: push panic", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	backoff := time.Second
	for ctx.Err() == nil {
		start := time.Now()
		err := h.stream(ctx)
		if errors.Is(err, errNoPush) {
			h.s.log.Info("jmap: no push; polling", "interval", h.s.opts.PollInterval)
			h.poll(ctx)
			return
		}
		if ctx.Err() != nil {
			return
		}
		lasted := time.Since(start)
		if lasted > time.Minute {
			backoff = time.Second
		}
		h.s.log.Debug("jmap: push stream ended", "err", err, "after", lasted)
		// A stream the server ends in good order is reopened at once,
		// unless it ends as soon as it starts.
		if err != nil || lasted < time.Second {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Minute)
		}
	}
}

func (h *hub) poll(ctx context.Context) {
	h.mu.Lock()
	h.polling = true
	h.mu.Unlock()
	t := time.NewTicker(h.s.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.broadcast(true, true)
		}
	}
}

// stream reads one EventSource connection to its end.
func (h *hub) stream(ctx context.Context) error {
	c := h.s.conn()
	sess, err := c.sessionInfo(ctx)
	if err != nil {
		return err
	}
	if sess.EventSourceURL == "" {
		return errNoPush
	}
	ping := h.s.opts.Ping
	u := strings.NewReplacer("{types}", "*", "{closeafter}", "no",
		"{ping}", fmt.Sprint(int(ping.Seconds()))).Replace(sess.EventSourceURL)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	h.mu.Lock()
	if h.lastID != "" {
		req.Header.Set("Last-Event-Id", h.lastID)
	}
	h.mu.Unlock()
	// The API client's timeout would cut the stream; keep its transport.
	resp, err := (&http.Client{Transport: c.hc.Transport}).Do(req)
	if err != nil {
		return sources.MarkTemporary(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return errNoPush
	}
	if err := httpError(resp); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return errNoPush
	}
	h.mu.Lock()
	h.connects++
	h.mu.Unlock()
	h.s.log.Debug("jmap: push connected", "url", u)
	// Changes made before the stream opened reach nobody else.
	h.broadcast(true, true)

	// A stream silent for three pings is dead.
	watchdog := time.AfterFunc(3*ping, cancel)
	defer watchdog.Stop()
	pimTypes := map[string]bool{}
	if p := h.s.pimStore(); p != nil {
		for _, t := range p.DataTypes() {
			pimTypes[t] = true
		}
	}
	r := bufio.NewReader(resp.Body)
	var event, data, id string
	for {
		line, err := r.ReadString('\n')
		if err == io.EOF {
			return nil // the server ended the stream; reopen it
		}
		if err != nil {
			return err
		}
		watchdog.Reset(3 * ping)
		line = strings.TrimRight(line, "\r\n")
		if line != "" {
			k, v, _ := strings.Cut(line, ":")
			v = strings.TrimPrefix(v, " ")
			switch k {
			case "event":
				event = v
			case "data":
				data += v
			case "id":
				id = v
			}
			continue
		}
		if id != "" {
			h.mu.Lock()
			h.lastID = id
			h.mu.Unlock()
		}
		if event == "state" || event == "" && data != "" {
			var sc gojmap.StateChange
			if json.Unmarshal([]byte(data), &sc) == nil {
				var mail, pim bool
				for t := range sc.Changed[h.s.account] {
					// Cyrus reports an APPEND as Email only, although the
					// Mailbox counts change too.
					mail = mail || t == "Email" || t == "Mailbox"
					pim = pim || pimTypes[t]
				}
				if mail || pim {
					h.broadcast(mail, pim)
				}
			}
		}
		event, data, id = "", "", ""
	}
}

// Watch implements sources.Watcher. It shares the user's push connection
// and, with Options.Idle, the user's IMAP IDLE connections too; after
// each event from either, it asks each folder's feed for a change since
// the state it had when Watch began.
func (s *Source) Watch(ctx context.Context, fs []sources.FolderID) ([]sources.FolderID, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wake, pimSeq := s.push.subscribe()
	defer s.push.unsubscribe()
	var idle chan struct{} // nil, never ready, without IDLE
	if s.idle != nil {
		idle = make(chan struct{}, 1)
		go s.idle.watch(ctx, fs, idle)
	}
	base := make([]sources.State, len(fs))
	var gone []sources.FolderID
	for i, f := range fs {
		st, err := s.State(ctx, f)
		switch {
		case errors.Is(err, sources.ErrNotFound):
			gone = append(gone, f)
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
		base[i] = st
	}
	if len(gone) > 0 {
		return gone, nil
	}
	for {
		pimEvent := false
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-idle:
		case <-wake:
			var seq uint64
			wake, seq = s.push.next()
			pimEvent = seq != pimSeq
			pimSeq = seq
		}
		var changed []sources.FolderID
		for i, f := range fs {
			if isPIM(f) && !pimEvent {
				continue
			}
			d, err := s.Changes(ctx, f, base[i], 1)
			switch {
			case errors.Is(err, sources.ErrNotFound), errors.Is(err, sources.ErrStateExpired):
				changed = append(changed, f)
			case err != nil && ctx.Err() != nil:
				return nil, ctx.Err()
			case err != nil:
				// A failing store is not a change; the next event retries.
				s.log.Debug("jmap: watch", "folder", f, "err", err)
			case len(d.Changed) > 0 || len(d.Removed) > 0:
				changed = append(changed, f)
			case !d.More:
				base[i] = d.Next
			}
		}
		if len(changed) > 0 {
			return slices.Clip(changed), nil
		}
	}
}

// Notify implements sources.Notifier on the user's shared push connection
// (and, with Options.Idle, the user's shared IMAP IDLE connections), so
// that a waiting phone holds no goroutine: fn is called once, at the
// first event that may concern one of fs (mail or pim, as Watch tells
// them apart), or at the next poll when the server cannot push. The
// caller then compares states. With Options.Idle the mail folders are
// mapped to IMAP names, which may ask the store; a failure there leaves
// waking to the EventSource, as in Watch.
func (s *Source) Notify(fs []sources.FolderID, fn func()) (func(), error) {
	n := &pushNotify{hub: s.push, fn: fn}
	for _, f := range fs {
		if isPIM(f) {
			n.pim = true
		} else {
			n.mail = true
		}
	}
	n.f.fn = n.event
	s.push.addFunc(&n.f)
	if s.idle != nil && n.mail {
		n.idleStop = s.idle.notify(fs, n.fire)
	}
	return n.stop, nil
}

// pushNotify is one Notify registration.
type pushNotify struct {
	f         pushFunc
	hub       *hub
	mail, pim bool // fs holds mail folders, pim folders
	fired     atomic.Bool
	fn        func()
	idleStop  func() // nil without IDLE
}

// event is called at every push event.
func (n *pushNotify) event(mail, pim bool) {
	if mail && n.mail || pim && n.pim {
		n.fire()
	}
}

// fire calls fn, the first time only.
func (n *pushNotify) fire() {
	if n.fired.CompareAndSwap(false, true) {
		n.fn()
	}
}

// stop ends the registration; a second call does nothing.
func (n *pushNotify) stop() {
	n.hub.removeFunc(&n.f)
	if n.idleStop != nil {
		n.idleStop()
	}
}
