package imapdav

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/easgate/easgate/sources"
)

// Store-side push: rather than one IDLE connection per user and folder
// (one Dovecot imap process, ~0.7 MiB PSS, per pushing user), Dovecot's
// push_notification plugin posts every mailbox transaction to one HTTP
// endpoint (configs/dovecot/easgate-push.lua). The POST carries the user
// and the mailboxes, but no MODSEQ; it is only a hint that a watched
// mailbox changed, after which the gateway compares states as it does
// after an IDLE wake. Dovecot waits for the answer before it answers its
// own client, so the handler only wakes channels and answers at once.
// Dovecot drops a POST that fails, so the hub also checks each watched
// user's mailboxes every Options.EventCheck (eventcheck.go).

// EventsPath is where the admin listener takes the mailbox events that
// configs/dovecot/easgate-push.lua posts.
const EventsPath = "/dovecot/events"

// Limits of one events POST. A COPY of many messages is one transaction,
// one POST with an event per message (~100 bytes each), so the body limit
// is generous; the decoder keeps only the distinct mailbox names, and
// past maxEventMailboxes of them it wakes all of the user's watchers.
const (
	maxEventBody      = 32 << 20
	maxEventMailboxes = 64
	maxEventUser      = 1024
)

// eventHub holds the mailbox watchers of every user, across the Sources
// a Backend hands out (an evicted Source's Watch still waits here). A
// watched mailbox has one eventBox for all its watchers; it goes away
// with the last of them, so memory follows the waiting Pings. A waiting
// phone is one such registration per folder, so the records are kept
// small (issue 14): a user's few boxes in a slice rather than a map of
// their own, no channel unless a Watch asks for one, and no sync.Once
// per release. The hub also checks each watched user's mailboxes now and
// then, for events that were lost (eventcheck.go).
type eventHub struct {
	every time.Duration // Options.EventCheck
	gap   time.Duration // between two checks' starts: 1/Options.EventCheckRate
	sem   chan struct{} // checks in flight: Options.EventCheckConns
	wake  chan struct{} // the checker looks at the queue again
	log   *slog.Logger
	// observe, when not nil, is told when every check began and its
	// outcome (tests).
	observe func(began time.Time, err error)

	mu    sync.Mutex
	users map[string]*watchedUser // user key → watched mailboxes
	// locals maps the local part of users in users that logged in with
	// an address to those addresses, for a Dovecot that strips the domain
	// (auth_username_format = %n).
	locals  map[string][]string
	queue   userHeap // users by their next check
	running bool     // checkLoop runs
	closed  bool
}

// watchedUser is a user with watched mailboxes.
type watchedUser struct {
	key   string // of eventUser
	boxes []*eventBox
	src   *Source // the latest registrant's: its login runs the check
	due   int64   // the next check, Unix nanoseconds
	index int     // in eventHub.queue
}

// eventBox is one watched mailbox of one user. gen, made when a Watch
// subscribes, is closed at the next event for the mailbox; fns are
// Notify's callbacks, run at every event. base is what the mailbox's
// counters were, seen before its waiting watchers registered (known), for
// the check to compare with; blind marks a watcher that registered seeing
// nothing, whom the next check wakes whatever it finds. epoch counts
// changes of base, so that a check that began before one leaves it alone.
type eventBox struct {
	mailbox string
	gen     chan struct{}
	fns     []*eventFunc
	base    counters
	refs    int32
	epoch   uint16 // compared within one check: wrapping is harmless
	known   bool
	blind   bool
}

func newEventHub(o *Options) *eventHub {
	return &eventHub{
		every:  o.EventCheck,
		gap:    time.Duration(float64(time.Second) / o.EventCheckRate),
		sem:    make(chan struct{}, o.EventCheckConns),
		wake:   make(chan struct{}, 1),
		log:    o.Logger,
		users:  make(map[string]*watchedUser),
		locals: make(map[string][]string),
	}
}

// eventUser is the key of a login name: lower case, without a Windows
// domain ("CORP\alice"), as phones send names in any of these forms.
func eventUser(name string) string {
	if _, n, ok := strings.Cut(name, `\`); ok {
		name = n
	}
	return strings.ToLower(name)
}

// eventMailbox is the key of a mailbox name: INBOX is case-insensitive
// (RFC 3501 5.1), other names are not.
func eventMailbox(name string) string {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	return name
}

// subscribe returns the channel that closes at the next event for user's
// mailbox, and the func that ends the subscription. src, when not nil,
// runs the user's checks; base is what the caller saw of the mailbox
// before.
func (h *eventHub) subscribe(src *Source, user, mailbox string, base boxBase) (<-chan struct{}, func()) {
	user = eventUser(user)
	h.mu.Lock()
	u, b := h.join(src, user, mailbox, base)
	if b.gen == nil {
		b.gen = make(chan struct{})
	}
	ch := b.gen
	h.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			h.leave(u, b)
			h.mu.Unlock()
		})
	}
}

// addFunc adds f to the box of user's (a key of eventUser) mailbox and
// returns the user and the box; f.fn runs at every event for it, with
// the hub's lock held. src and base are subscribe's.
func (h *eventHub) addFunc(src *Source, user, mailbox string, base boxBase, f *eventFunc) (*watchedUser, *eventBox) {
	h.mu.Lock()
	defer h.mu.Unlock()
	u, b := h.join(src, user, mailbox, base)
	b.fns = append(b.fns, f)
	return u, b
}

// removeFunc removes f from box b of u, once: a second call finds f
// gone and does nothing.
func (h *eventHub) removeFunc(u *watchedUser, b *eventBox, f *eventFunc) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if i := slices.Index(b.fns, f); i >= 0 {
		b.fns = slices.Delete(b.fns, i, i+1)
		h.leave(u, b)
	}
}

// eventFunc is a callback of addFunc; its address identifies it.
type eventFunc struct{ fn func() }

// join adds a watcher to user's (a key of eventUser) mailbox and returns
// the user and the box. The caller holds h.mu.
func (h *eventHub) join(src *Source, user, mailbox string, base boxBase) (*watchedUser, *eventBox) {
	mailbox = eventMailbox(mailbox)
	u := h.users[user]
	if u == nil {
		u = &watchedUser{key: user, src: src, index: -1}
		h.users[user] = u
		if local, _, ok := strings.Cut(user, "@"); ok {
			h.locals[local] = append(h.locals[local], user)
		}
		h.schedule(u)
	} else if src != nil {
		u.src = src
	}
	var b *eventBox
	for _, x := range u.boxes {
		if x.mailbox == mailbox {
			b = x
			break
		}
	}
	if b == nil {
		b = &eventBox{mailbox: mailbox}
		u.boxes = append(u.boxes, b)
	}
	if !b.known {
		if base.ok {
			b.base, b.known = base.c, true
			b.epoch++
		} else {
			b.blind = true
		}
	}
	b.refs++
	return u, b
}

// leave removes one watcher of box b of u, the box with its last watcher
// and the user with the last box. The caller holds h.mu.
func (h *eventHub) leave(u *watchedUser, b *eventBox) {
	b.refs--
	if b.refs > 0 {
		return
	}
	if i := slices.Index(u.boxes, b); i >= 0 {
		u.boxes = slices.Delete(u.boxes, i, i+1)
	}
	if len(u.boxes) > 0 || h.users[u.key] != u {
		return
	}
	delete(h.users, u.key)
	h.unschedule(u)
	if local, _, ok := strings.Cut(u.key, "@"); ok {
		us := h.locals[local]
		if i := slices.Index(us, u.key); i >= 0 {
			us = slices.Delete(us, i, i+1)
		}
		if len(us) == 0 {
			delete(h.locals, local)
		} else {
			h.locals[local] = us
		}
	}
}

// fire wakes the watchers of b. The caller holds h.mu.
func (h *eventHub) fire(b *eventBox) {
	if b.gen != nil {
		// Those who hold this channel have their event; the next
		// subscriber makes a new one.
		close(b.gen)
		b.gen = nil
	}
	for _, f := range b.fns {
		f.fn()
	}
}

// notify wakes the watchers of user's mailboxes (all of them when all is
// set) and returns how many it woke and whether anybody watches any
// mailbox of user. A user named without a domain also wakes the watchers
// who logged in with an address of that local part: an extra wake costs
// one state comparison, a missed one a push. A woken box forgets its
// base: every watcher it had is woken, and the next ones bring theirs.
func (h *eventHub) notify(user string, mailboxes []string, all bool) (woken int, known bool) {
	user = eventUser(user)
	h.mu.Lock()
	defer h.mu.Unlock()
	keys := []string{user}
	if !strings.Contains(user, "@") {
		keys = append(keys, h.locals[user]...)
	}
	for _, k := range keys {
		u := h.users[k]
		if u == nil {
			continue
		}
		known = true
		for _, b := range u.boxes {
			if !all && !slices.ContainsFunc(mailboxes, func(m string) bool { return eventMailbox(m) == b.mailbox }) {
				continue
			}
			b.known, b.blind = false, false
			b.epoch++
			woken += int(b.refs)
			h.fire(b)
		}
	}
	return woken, known
}

// watchers returns the number of watched mailboxes, for tests.
func (h *eventHub) watchers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, u := range h.users {
		n += len(u.boxes)
	}
	return n
}

// mailboxEvents is what an events POST says: whose mailboxes changed.
type mailboxEvents struct {
	User      string
	Mailboxes []string // distinct, in order of appearance
	All       bool     // more than maxEventMailboxes: treat every mailbox as changed
	Events    int
}

// decodeEvents reads one POST of configs/dovecot/easgate-push.lua:
//
//	{"user":"alice","service":"imap","events":[{"event":"MessageAppend","mailbox":"INBOX","uid":3,...},...]}
//
// keeping only the user and the distinct mailbox names (mailbox and, for
// a rename, mailbox_old), so that its memory does not grow with the
// number of events. Unknown keys are skipped; the object's keys may come
// in any order (Lua tables have none).
func decodeEvents(r io.Reader) (*mailboxEvents, error) {
	d := json.NewDecoder(r)
	d.UseNumber()
	if err := expectDelim(d, '{'); err != nil {
		return nil, err
	}
	ev := &mailboxEvents{}
	seen := make(map[string]bool)
	add := func(m string) {
		if m == "" || ev.All || seen[m] {
			return
		}
		if len(seen) == maxEventMailboxes {
			ev.All, ev.Mailboxes, seen = true, nil, nil
			return
		}
		seen[m] = true
		ev.Mailboxes = append(ev.Mailboxes, m)
	}
	var haveUser bool
	for d.More() {
		k, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("imapdav: events: %w", err)
		}
		key, _ := k.(string)
		switch key {
		case "user":
			if err := d.Decode(&ev.User); err != nil {
				return nil, fmt.Errorf("imapdav: events: user: %w", err)
			}
			haveUser = true
		case "events":
			if err := expectDelim(d, '['); err != nil {
				return nil, err
			}
			for d.More() {
				var e struct {
					Mailbox    string `json:"mailbox"`
					MailboxOld string `json:"mailbox_old"`
				}
				if err := d.Decode(&e); err != nil {
					return nil, fmt.Errorf("imapdav: events: event %d: %w", ev.Events, err)
				}
				ev.Events++
				add(e.Mailbox)
				add(e.MailboxOld)
			}
			if err := expectDelim(d, ']'); err != nil {
				return nil, err
			}
		default:
			var skip json.RawMessage
			if err := d.Decode(&skip); err != nil {
				return nil, fmt.Errorf("imapdav: events: %q: %w", key, err)
			}
		}
	}
	if err := expectDelim(d, '}'); err != nil {
		return nil, err
	}
	if !haveUser || ev.User == "" || len(ev.User) > maxEventUser {
		return nil, errors.New("imapdav: events: no user, or one too long")
	}
	return ev, nil
}

// queryEvents reads the query of one POST of configs/dovecot/easgate-push.lua:
//
//	user=alice&mailbox=INBOX&mailbox=Archive    or    user=alice&all=1
//
// The script sends no body: Dovecot's Lua binding would send it only
// after the server's "100 Continue", a second round trip within Dovecot's
// timeout, which failed POSTs under load (issue 14). The query is bounded
// by the listener's header limit; past maxEventMailboxes distinct names
// every mailbox counts as changed. Other keys are ignored.
func queryEvents(q string) (*mailboxEvents, error) {
	v, err := url.ParseQuery(q)
	if err != nil {
		return nil, fmt.Errorf("imapdav: events: query: %w", err)
	}
	users := v["user"]
	if len(users) != 1 || users[0] == "" || len(users[0]) > maxEventUser {
		return nil, errors.New("imapdav: events: not one user, or one too long")
	}
	ev := &mailboxEvents{User: users[0], All: v.Get("all") == "1"}
	for _, m := range v["mailbox"] {
		if ev.All {
			break
		}
		ev.Events++
		if m == "" || slices.Contains(ev.Mailboxes, m) {
			continue
		}
		if len(ev.Mailboxes) == maxEventMailboxes {
			ev.All = true
			break
		}
		ev.Mailboxes = append(ev.Mailboxes, m)
	}
	if ev.All {
		ev.Mailboxes = nil
	}
	return ev, nil
}

// expectDelim reads the next token and checks that it is delim.
func expectDelim(d *json.Decoder, delim json.Delim) error {
	t, err := d.Token()
	if err != nil {
		return fmt.Errorf("imapdav: events: %w", err)
	}
	if got, ok := t.(json.Delim); !ok || got != delim {
		return fmt.Errorf("imapdav: events: got %v, want %v", t, delim)
	}
	return nil
}

// EventsOptions configure Backend.EventsHandler.
type EventsOptions struct {
	// Token is the shared secret: each POST must carry
	// "Authorization: Bearer <Token>" (the Lua script's push_lua_auth).
	// It may not be empty.
	Token string

	// Observe, if not nil, is told the outcome of every POST ("ok",
	// "unknown_user": nobody waits on that user's mail, "unauthorized",
	// "bad_request", "method") and how many watchers it woke.
	Observe func(outcome string, woken int)
}

// EventsHandler returns the handler of EventsPath: it takes the POSTs of
// configs/dovecot/easgate-push.lua and wakes the Watch calls waiting on
// the named user's mailboxes. It answers 204 at once: Dovecot waits for
// the answer before it answers the client that made the change.
func (b *Backend) EventsHandler(o EventsOptions) (http.Handler, error) {
	if b.events == nil {
		return nil, errors.New("imapdav: events handler: Options.Events is off")
	}
	if o.Token == "" {
		return nil, errors.New("imapdav: events handler: no token")
	}
	want := sha256.Sum256([]byte("Bearer " + o.Token))
	observe := o.Observe
	if observe == nil {
		observe = func(string, int) {}
	}
	log := b.opts.Logger
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every answer closes the connection. Each imap process of
		// Dovecot posts from its own HTTP client and would otherwise
		// keep a connection open for as long as it lives, on easgate
		// a goroutine, net/http's buffers (~12 KB) and a file each: as
		// many as Dovecot has sessions (275 of 1,000 waiting phones'
		// memory in pingload, issue 14), whether anybody waits or
		// not. A keep-alive connection that easgate closes as idle also
		// races with the next POST, which the script does not retry
		// (an event lost). A new loopback or LAN connection per POST
		// costs well under a millisecond.
		w.Header().Set("Connection", "close")
		defer func() {
			if p := recover(); p != nil {
				log.Error("imapdav: events handler panic", "panic", p, "stack", string(debug.Stack()))
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		if r.Method != http.MethodPost {
			observe("method", 0)
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		got := sha256.Sum256([]byte(r.Header.Get("Authorization")))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			observe("unauthorized", 0)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		var ev *mailboxEvents
		var err error
		if r.URL.RawQuery != "" {
			ev, err = queryEvents(r.URL.RawQuery)
		} else {
			ev, err = decodeEvents(http.MaxBytesReader(w, r.Body, maxEventBody))
		}
		if err != nil {
			observe("bad_request", 0)
			log.Warn("imapdav: events: bad POST", "err", err)
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		woken, known := b.events.notify(ev.User, ev.Mailboxes, ev.All)
		if known {
			observe("ok", woken)
		} else {
			observe("unknown_user", 0)
		}
		w.WriteHeader(http.StatusNoContent)
	}), nil
}

// EventsEnabled reports whether the Backend waits for mailbox events
// rather than holding IDLE connections (Options.Events).
func (b *Backend) EventsEnabled() bool { return b.events != nil }

// eventWatch is Watch's mail side with events: it waits until an event,
// or the user's check (eventcheck.go), names one of fs. It holds no IMAP
// connection while it waits.
func (s *Source) eventWatch(ctx context.Context, fs []sources.FolderID) ([]sources.FolderID, error) {
	// What the user's check compares with, read before subscribing: a
	// change in between has its event missed but differs from it, and a
	// later one is caught by both. Read after subscribing, a change in
	// between whose event was lost would be in it and caught by neither.
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = string(f)
	}
	cnts, err := s.statusAll(ctx, names)
	if err != nil {
		return nil, err
	}
	for i, c := range cnts {
		if c == nil {
			return fs[i : i+1], nil // gone: the caller finds out
		}
		s.saw(names[i], *c)
	}
	chans := make([]<-chan struct{}, len(fs))
	for i, f := range fs {
		ch, release := s.events.subscribe(s, s.user, string(f), s.seenBase(string(f)))
		defer release()
		chans[i] = ch
	}
	woke := make(chan struct{}, 1)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, ch := range chans {
		go func() {
			select {
			case <-ch:
				select {
				case woke <- struct{}{}:
				default:
				}
			case <-wctx.Done():
			}
		}()
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-woke:
	}
	// Let events of other folders that come with this one (a MOVE posts
	// the append and the expunge apart) count too.
	gather := time.NewTimer(eventGather)
	select {
	case <-gather.C:
	case <-ctx.Done():
		gather.Stop()
		return nil, ctx.Err()
	}
	var got []sources.FolderID
	for i, ch := range chans {
		select {
		case <-ch:
			got = append(got, fs[i])
		default:
		}
	}
	return got, nil
}

// Notify implements sources.Notifier, so that a waiting phone holds no
// goroutine. Mail folders wait, with mailbox events (Options.Events), on
// subscriptions only; without, on the user's shared IDLE connection of
// each folder (idleNotify). dav: folders wait on the DAV store's shared
// poller. fn runs once, a moment after the first change to one of fs (so
// that a MOVE's two events count as one change), or when the store can no
// longer tell: with events, after the user's check (eventcheck.go) found
// one of fs changed or could not tell, since the server drops an event it
// failed to post; with IDLE, when the connection was lost; with DAV, when
// a check failed. The caller then compares states. The events check
// compares with what this Source last read of each folder (the caller's
// comparison before Notify); without one, the next check calls fn anyway.
func (s *Source) Notify(fs []sources.FolderID, fn func()) (func(), error) {
	var mail, pim []sources.FolderID
	for _, f := range fs {
		if isDAV(f) {
			pim = append(pim, f)
		} else {
			mail = append(mail, f)
		}
	}
	if len(pim) == 0 {
		return s.mailNotify(mail, fn), nil
	}
	d, err := s.davStore(pim[0])
	if err != nil {
		return nil, err
	}
	dn, ok := d.(sources.Notifier)
	if !ok {
		return nil, sources.ErrUnsupported
	}
	if len(mail) == 0 {
		return dn.Notify(pim, fn)
	}
	// Both: each part calls o.fire, which calls fn once.
	o := &notifyOnce{}
	o.init(fn, 0)
	stopDAV, err := dn.Notify(pim, o.fire)
	if err != nil {
		return nil, err
	}
	stopMail := s.mailNotify(mail, o.fire)
	return func() { stopMail(); stopDAV() }, nil
}

// mailNotify is Notify of mail folders fs.
func (s *Source) mailNotify(fs []sources.FolderID, fn func()) func() {
	if s.events == nil {
		return s.idleNotify(fs, fn)
	}
	n := &eventNotify{hub: s.events, boxes: make([]*eventBox, len(fs))}
	n.init(fn, eventGather)
	user := eventUser(s.user)
	for i, id := range fs {
		n.u, n.boxes[i] = s.events.addFunc(s, user, string(id), s.seenBase(string(id)), &n.f)
	}
	return n.stop
}

// notifyOnce is the part of a Notify registration that calls back: f is
// in the watched boxes' callbacks, and calls fn once, gather after the
// first change.
type notifyOnce struct {
	f      eventFunc
	fired  atomic.Bool
	fn     func()
	gather time.Duration
}

func (o *notifyOnce) init(fn func(), gather time.Duration) {
	o.fn, o.gather = fn, gather
	o.f.fn = o.fire
}

// fire calls fn gather from now, the first time only.
func (o *notifyOnce) fire() {
	if o.fired.CompareAndSwap(false, true) {
		time.AfterFunc(o.gather, o.fn)
	}
}

// eventNotify is one Notify registration with events, in one record
// rather than a closure and a release func per folder: a waiting phone
// holds it.
type eventNotify struct {
	notifyOnce
	hub   *eventHub
	u     *watchedUser
	boxes []*eventBox
}

// stop ends the registration; a second call does nothing.
func (n *eventNotify) stop() {
	for _, b := range n.boxes {
		n.hub.removeFunc(n.u, b, &n.f)
	}
}

// eventGather is how long a woken eventWatch waits for more events: the
// POSTs of one MOVE (append, then expunge) come within about a
// millisecond of each other.
const eventGather = 5 * time.Millisecond

// Conns returns the IMAP connections that the cached users' Sources hold
// now: command connections (idle in the pool or in use) and IDLE ones.
// With Options.Events, a waiting phone holds neither.
func (b *Backend) Conns() (command, idle int) {
	b.mu.Lock()
	users := make([]*Source, 0, len(b.users))
	for _, s := range b.users {
		users = append(users, s)
	}
	b.mu.Unlock()
	for _, s := range users {
		command += s.pool.open()
		s.idle.mu.Lock()
		idle += len(s.idle.boxes)
		s.idle.mu.Unlock()
	}
	return command, idle
}
