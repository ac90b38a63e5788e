package graph

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/easgate/easgate/sources"
)

// poller is the one delta poller of a mailbox: while any phone waits in
// Watch, it polls the folders they wait on, each at its own adaptive
// interval (§3.2), and wakes the waiters whose folders changed. Every
// device of the mailbox shares it, so ten waiting phones cost what one
// does. A notification from a webhook makes it poll at once.
type poller struct {
	s *Source

	mu      sync.Mutex
	waiters map[*waiter]struct{}
	running bool
	wake    chan struct{} // poll now
	quit    chan struct{}
	stopped bool
}

// waiter is one Watch call, or one Notify registration (fn).
type waiter struct {
	folders map[sources.FolderID]uint64 // folder → journal seq when the wait began
	ch      chan []sources.FolderID
	fn      func() // Notify's callback, in place of ch
	fired   bool   // fn ran; guarded by the poller's mu
}

func newPoller(s *Source) *poller {
	return &poller{s: s, waiters: make(map[*waiter]struct{}), wake: make(chan struct{}, 1), quit: make(chan struct{})}
}

// Watch implements sources.Watcher.
func (s *Source) Watch(ctx context.Context, fs []sources.FolderID) ([]sources.FolderID, error) {
	w := &waiter{ch: make(chan []sources.FolderID, 1)}
	if err := s.start(ctx, w, fs); err != nil {
		return nil, err
	}
	defer s.poll.remove(w)
	select {
	case changed := <-w.ch:
		return changed, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Notify implements sources.Notifier on the mailbox's shared poller, as
// Watch does but without a goroutine: fn is called once, with the
// poller's lock held, after a poll round found one of fs changed. A
// journal nobody has read yet is read first, for its baseline, within a
// minute.
func (s *Source) Notify(fs []sources.FolderID, fn func()) (stop func(), err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := &waiter{fn: fn}
	if err := s.start(ctx, w, fs); err != nil {
		return nil, err
	}
	return func() { s.poll.remove(w) }, nil
}

// start records where the journals of fs stand for w and adds w to the
// poller, subscribing to the mailbox's notifications when configured.
func (s *Source) start(ctx context.Context, w *waiter, fs []sources.FolderID) error {
	w.folders = make(map[sources.FolderID]uint64, len(fs))
	for _, fid := range fs {
		f, err := s.feed(ctx, fid)
		if err != nil {
			return err
		}
		if err := f.lock(ctx); err != nil {
			return err
		}
		if f.link == "" {
			// A journal nobody has read yet: its first round is the baseline.
			if err := f.sync(ctx); err != nil {
				f.mu.Unlock()
				return err
			}
		}
		w.folders[fid] = f.seq
		f.mu.Unlock()
	}
	s.poll.add(w)
	if s.b.notify != nil {
		s.b.notify.ensure(s)
	}
	return nil
}

func (p *poller) add(w *waiter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.waiters[w] = struct{}{}
	now := time.Now()
	for fid := range w.folders {
		p.s.mu.Lock()
		f := p.s.feeds[fid]
		p.s.mu.Unlock()
		// A new waiter resets its folders to the fast end of their interval.
		f.interval = p.base(fid)
		if f.next.IsZero() || f.next.After(now.Add(f.interval)) {
			f.next = now.Add(f.interval)
		}
	}
	if !p.running && !p.stopped {
		p.running = true
		go p.loop()
	}
}

// waiting returns the number of Watch calls in progress on s.
func waiting(s *Source) int {
	s.poll.mu.Lock()
	defer s.poll.mu.Unlock()
	return len(s.poll.waiters)
}

func (p *poller) remove(w *waiter) {
	p.mu.Lock()
	delete(p.waiters, w)
	p.mu.Unlock()
}

// poke makes the poller poll every watched folder now.
func (p *poller) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *poller) stop() {
	p.mu.Lock()
	if !p.stopped {
		p.stopped = true
		close(p.quit)
	}
	p.mu.Unlock()
}

// base is a folder's fastest poll interval: Inbox, Calendar and Contacts
// at PollInterval, other folders four times slower (§3.2).
func (p *poller) base(fid sources.FolderID) time.Duration {
	p.s.mu.Lock()
	k := p.s.known[fid].Kind
	p.s.mu.Unlock()
	switch k {
	case sources.KindInbox, sources.KindCalendar, sources.KindContacts:
		return p.s.b.o.PollInterval
	}
	return 4 * p.s.b.o.PollInterval
}

// ceiling is how far a folder without changes backs off: Inbox,
// Calendar and Contacts to four times their base, so that mail still
// arrives within minutes by polling alone; other folders to
// MaxPollInterval. With a webhook subscription, notifications carry the
// news and every folder backs off to MaxPollInterval.
func (p *poller) ceiling(fid sources.FolderID) time.Duration {
	base := p.base(fid)
	if base == p.s.b.o.PollInterval && !p.s.b.hooked(p.s.id) {
		return min(4*base, p.s.b.o.MaxPollInterval)
	}
	return max(base, p.s.b.o.MaxPollInterval)
}

// loop polls until no waiter is left.
func (p *poller) loop() {
	defer func() {
		if r := recover(); r != nil {
			p.s.b.log.Error("graph: poller panicked", "mailbox", p.s.upn, "panic", r, "stack", string(debug.Stack()))
			p.mu.Lock()
			p.running = false
			p.mu.Unlock()
		}
	}()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		p.mu.Lock()
		if len(p.waiters) == 0 || p.stopped {
			p.running = false
			p.mu.Unlock()
			return
		}
		due, next := p.due(false)
		p.mu.Unlock()
		if len(due) == 0 {
			t.Reset(time.Until(next))
			select {
			case <-t.C:
			case <-p.wake:
				p.mu.Lock()
				due, _ = p.due(true)
				p.mu.Unlock()
				p.pollFolders(due, true)
			case <-p.quit:
				return
			}
			continue
		}
		p.pollFolders(due, false)
	}
}

// due lists the watched folders whose time has come (all of them when
// now is set) and when the next one is due. p.mu is held.
func (p *poller) due(now bool) ([]*feed, time.Time) {
	seen := make(map[sources.FolderID]bool)
	var out []*feed
	next := time.Now().Add(time.Hour)
	for w := range p.waiters {
		for fid := range w.folders {
			if seen[fid] {
				continue
			}
			seen[fid] = true
			p.s.mu.Lock()
			f := p.s.feeds[fid]
			p.s.mu.Unlock()
			if now || !f.next.After(time.Now()) {
				out = append(out, f)
			} else if f.next.Before(next) {
				next = f.next
			}
		}
	}
	return out, next
}

// pollFolders runs one delta round on each folder and wakes the waiters
// of those that changed. A folder without changes backs off, doubling its
// interval up to MaxPollInterval; one with changes goes back to its base.
func (p *poller) pollFolders(fs []*feed, hinted bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, f := range fs {
		var before, seq uint64
		err := f.lock(ctx)
		if err == nil {
			before = f.seq
			err = f.sync(ctx)
			seq = f.seq
			f.mu.Unlock()
		}
		if err != nil {
			p.s.b.log.Debug("graph: poll failed", "mailbox", p.s.upn, "folder", f.folder, "err", err)
		}
		p.mu.Lock()
		switch {
		case seq != before || hinted:
			f.interval = p.base(f.folder)
		default:
			f.interval = min(2*f.interval, p.ceiling(f.folder))
		}
		f.next = time.Now().Add(f.interval)
		for w := range p.waiters {
			var changed []sources.FolderID
			for fid, at := range w.folders {
				if fid == f.folder && seq > at {
					changed = append(changed, fid)
				}
			}
			switch {
			case len(changed) == 0:
			case w.fn != nil:
				if !w.fired {
					w.fired = true
					w.fn()
				}
			default:
				select {
				case w.ch <- changed:
				default:
				}
			}
		}
		p.mu.Unlock()
	}
}

// notifier keeps one Graph subscription per mailbox with waiting phones
// and turns its notifications into pokes of that mailbox's poller (§3.2:
// a notification is a hint, delta stays the truth).
type notifier struct {
	b *Backend

	mu    sync.Mutex
	subs  map[string]*webhook // by subscription id
	boxes map[string]*webhook // by mailbox id
	// pending holds subscriptions being created, by clientState: Graph
	// may notify before the POST creating one has been answered, and
	// the secret clientState is what vouches for such a notification.
	pending map[string]*webhook
	quit    chan struct{}
}

type webhook struct {
	id, clientState string
	src             *Source
	expires         time.Time
}

// subscriptionLifetime is what easgate asks for: valid under both
// documented maxima (A6). Subscriptions are renewed at half of it.
const subscriptionLifetime = 4200 * time.Minute

func newNotifier(b *Backend) *notifier {
	n := &notifier{b: b, subs: make(map[string]*webhook), boxes: make(map[string]*webhook),
		pending: make(map[string]*webhook), quit: make(chan struct{})}
	go n.renewLoop()
	return n
}

func (n *notifier) close() {
	close(n.quit)
	n.mu.Lock()
	hooks := make([]*webhook, 0, len(n.subs))
	for _, h := range n.subs {
		hooks = append(hooks, h)
	}
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, h := range hooks {
		n.b.c.sendJSON(ctx, h.src.id, "DELETE", "/subscriptions/"+h.id, nil, nil, "")
	}
}

// ensure subscribes mailbox s if it has no subscription yet. It runs in
// the background: until Graph validates the URL, polling covers.
func (n *notifier) ensure(s *Source) {
	n.mu.Lock()
	if n.boxes[s.id] != nil {
		n.mu.Unlock()
		return
	}
	h := &webhook{src: s}
	n.boxes[s.id] = h
	n.mu.Unlock()
	go n.subscribe(h)
}

func (n *notifier) subscribe(h *webhook) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := make([]byte, 32)
	rand.Read(b)
	state := hex.EncodeToString(b) // 64 characters (A7)
	exp := time.Now().Add(subscriptionLifetime)
	var out struct {
		ID                 string    `json:"id"`
		ExpirationDateTime time.Time `json:"expirationDateTime"`
	}
	// Registered before the POST: Graph validates during it.
	n.mu.Lock()
	h.clientState = state
	n.pending[state] = h
	n.mu.Unlock()
	err := n.b.c.sendJSON(ctx, h.src.id, "POST", "/subscriptions", map[string]any{
		"changeType": "created,updated,deleted", "notificationUrl": n.b.o.NotificationURL,
		"lifecycleNotificationUrl": n.b.o.NotificationURL, "resource": "users/" + h.src.id + "/messages",
		"expirationDateTime": exp.UTC().Format(time.RFC3339), "clientState": state}, &out, "")
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.pending, state)
	if err != nil {
		n.b.log.Warn("graph: subscribing failed; polling only", "mailbox", h.src.upn, "err", err)
		delete(n.boxes, h.src.id)
		return
	}
	h.id, h.expires = out.ID, out.ExpirationDateTime
	n.subs[h.id] = h
}

// renewLoop renews subscriptions past half their lifetime.
func (n *notifier) renewLoop() {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-n.quit:
			return
		case <-t.C:
		}
		n.renewDue(time.Now())
	}
}

func (n *notifier) renewDue(now time.Time) {
	n.mu.Lock()
	var due []*webhook
	for _, h := range n.subs {
		if h.expires.Sub(now) < subscriptionLifetime/2 {
			due = append(due, h)
		}
	}
	n.mu.Unlock()
	for _, h := range due {
		n.renew(h)
	}
}

func (n *notifier) renew(h *webhook) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exp := time.Now().Add(subscriptionLifetime)
	var out struct {
		ExpirationDateTime time.Time `json:"expirationDateTime"`
	}
	err := n.b.c.sendJSON(ctx, h.src.id, "PATCH", "/subscriptions/"+h.id,
		map[string]any{"expirationDateTime": exp.UTC().Format(time.RFC3339)}, &out, "")
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil {
		n.b.log.Warn("graph: renewing a subscription failed; subscribing again", "mailbox", h.src.upn, "err", err)
		delete(n.subs, h.id)
		delete(n.boxes, h.src.id)
		return
	}
	h.expires = out.ExpirationDateTime
}

// NotificationHandler answers Graph at Options.NotificationURL: the
// validation handshake (the token echoed as text/plain), change
// notifications and lifecycle events, each acknowledged with 202 at once
// and acted on by waking the mailbox's poller.
func (b *Backend) NotificationHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.URL.Query().Get("validationToken"); tok != "" {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(200)
			io.WriteString(w, tok) // Query() has URL-decoded it, as Graph asks
			return
		}
		if r.Method != http.MethodPost || b.notify == nil {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		serveNotifications(w, r, []*Backend{b})
	})
}

// serveNotifications acknowledges a notification POST at once and hands
// each notification to the backends; the one whose subscription it is
// (the clientState vouches) wakes its poller, the others ignore it.
func serveNotifications(w http.ResponseWriter, r *http.Request, bs []*Backend) {
	var body struct {
		Value []struct {
			SubscriptionID string `json:"subscriptionId"`
			ClientState    string `json:"clientState"`
			LifecycleEvent string `json:"lifecycleEvent"`
		} `json:"value"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		http.Error(w, "bad notification", http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	for _, v := range body.Value {
		for _, b := range bs {
			if b.notify != nil {
				b.notify.handle(v.SubscriptionID, v.ClientState, v.LifecycleEvent)
			}
		}
	}
}

// hooked reports whether mailbox id has a live subscription.
func (b *Backend) hooked(id string) bool {
	if b.notify == nil {
		return false
	}
	b.notify.mu.Lock()
	defer b.notify.mu.Unlock()
	h := b.notify.boxes[id]
	return h != nil && h.id != ""
}

// handle acts on one notification whose clientState matches.
func (n *notifier) handle(subID, state, event string) {
	n.mu.Lock()
	h := n.subs[subID]
	if h == nil {
		h = n.pending[state] // notified before the POST was answered
	}
	if h == nil || h.clientState != state {
		n.mu.Unlock()
		return
	}
	switch event {
	case "subscriptionRemoved":
		delete(n.subs, subID)
		delete(n.boxes, h.src.id)
		n.mu.Unlock()
		n.ensure(h.src)
	case "reauthorizationRequired":
		pending := h.id == ""
		n.mu.Unlock()
		if !pending { // a subscription still being created is fresh
			go n.renew(h)
		}
	default: // a change, or "missed": delta finds what it was
		n.mu.Unlock()
	}
	h.src.poll.poke()
}
