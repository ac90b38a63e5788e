// Package imapdav is the store adapter for the common split deployment: mail
// on an IMAP server (Dovecot, Cyrus) and calendars, contacts and tasks on a
// CalDAV/CardDAV server, served to one user as a single sources.Source.
//
// Mail folders are IMAP mailboxes, named by their full mailbox name; item
// ids are UIDs. Folder ids that start with "dav:" belong to package dav.
// Changes rest on CONDSTORE: a State records the mailbox's UIDVALIDITY, the
// mod-sequence up to which every change was reported and the UIDs the
// caller knows of, so that a folder without changes costs one STATUS, new
// and changed messages one UID FETCH CHANGEDSINCE, and expunges one UID
// SEARCH whose ESEARCH answer is a compact set.
package imapdav

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/imapdav/dav"
)

// TLSMode says how to secure a connection.
type TLSMode string

// TLS modes.
const (
	TLSNone     TLSMode = "none"     // plain text; for loopback and tests
	TLSStartTLS TLSMode = "starttls" // upgrade after the greeting
	TLSImplicit TLSMode = "tls"      // TLS from the first byte
)

// DeleteMode says what Delete does with a message.
type DeleteMode string

// Delete modes.
const (
	DeleteToTrash DeleteMode = "trash"   // move to the \Trash folder; expunge there
	DeleteExpunge DeleteMode = "expunge" // \Deleted and UID EXPUNGE at once
)

// Options configures a Backend. A nil *Options is not valid: IMAP is
// required.
type Options struct {
	// IMAP is the server's "host:port".
	IMAP string
	// TLS secures IMAP; empty means TLSStartTLS.
	TLS TLSMode

	// Submission is the SMTP submission server's "host:port"; empty
	// leaves the Source without Send. STARTTLS is used when offered,
	// unless SubmissionTLS is TLSImplicit; TLSNone never upgrades.
	Submission    string
	SubmissionTLS TLSMode

	// DAV, if not nil, serves calendars, contacts and tasks through
	// package dav; their folder ids start with "dav:".
	DAV *dav.Options

	// MaxConns limits each user's IMAP connections for commands; zero
	// means 4. One more per user runs the STATUS of change checks and
	// never selects a mailbox. MaxIdle limits the IDLE connections, one per watched
	// folder, beyond which folders are polled; zero means 8.
	MaxConns, MaxIdle int

	// PollInterval is how often folders without an IDLE connection are
	// polled; zero means 30 seconds.
	PollInterval time.Duration

	// Events makes Watch wait for the mailbox events that the IMAP
	// server posts to Backend.EventsHandler (Dovecot's push_notification
	// plugin with configs/dovecot/easgate-push.lua) rather than hold an
	// IDLE connection per user and folder. EventCheck is how often each
	// user with a waiting Watch has its watched folders checked anyway,
	// one STATUS each for all the user's phones, since the server drops
	// an event it failed to post; zero means 5 minutes. EventCheckRate
	// bounds how many users' checks start per second across the Backend
	// (zero means 50), EventCheckConns how many run at once (zero means
	// 4): with more users than EventCheck × EventCheckRate, the checks
	// come less often rather than faster.
	Events          bool
	EventCheck      time.Duration
	EventCheckRate  float64
	EventCheckConns int

	// ConnIdle is how long a command connection may stay unused in the
	// pool before it is logged out; zero means 1 minute. Each open
	// connection is a server process on Dovecot, so a user who only
	// waits for push should hold none.
	ConnIdle time.Duration

	// PageTrust is how long a listing's later pages are served from the
	// candidates of its first page without a STATUS to show the folder
	// unchanged; zero means 1 second, a negative value never (a STATUS
	// per page). On Dovecot with maildir a STATUS costs a read of the
	// folder's whole dovecot-uidlist whenever the folder's index changed
	// since the last one, and the listing's own FETCHes change it (they
	// fill Dovecot's cache on a cold mailbox): one STATUS per window made
	// a first Sync of 50,000 mails cost Dovecot O(mailbox²) (issue 14).
	// What changes in the folder meanwhile is not lost: the state a
	// listing ends with keeps the counters of its first page, so the next
	// Changes finds them different and asks the server, and a message
	// expunged meanwhile is left out by Get and reported removed later.
	PageTrust time.Duration

	// Delete is what Delete does; empty means DeleteToTrash.
	Delete DeleteMode

	// SessionTTL is how long a user's Source stays cached after its last
	// Login; zero means 30 minutes. MaxUsers bounds the users whose
	// Source is cached; zero means 1000. Past it the least recently used
	// one is dropped (its next Login checks the password again).
	SessionTTL time.Duration
	MaxUsers   int

	// Logger receives connection and push events; nil discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.TLS == "" {
		o.TLS = TLSStartTLS
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 4
	}
	if o.MaxIdle <= 0 {
		o.MaxIdle = 8
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 30 * time.Second
	}
	if o.EventCheck <= 0 {
		o.EventCheck = 5 * time.Minute
	}
	if o.EventCheckRate <= 0 {
		o.EventCheckRate = 50
	}
	if o.EventCheckConns <= 0 {
		o.EventCheckConns = 4
	}
	if o.ConnIdle <= 0 {
		o.ConnIdle = time.Minute
	}
	if o.PageTrust == 0 {
		o.PageTrust = defaultPageTrust
	}
	if o.Delete == "" {
		o.Delete = DeleteToTrash
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 30 * time.Minute
	}
	if o.MaxUsers <= 0 {
		o.MaxUsers = 1000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Backend logs users in and keeps an authenticated Source per user, with
// its connection pool, so that the Login that runs on every request costs
// no round trip once the user's password has been checked.
type Backend struct {
	opts   Options
	events *eventHub // nil unless Options.Events

	mu    sync.Mutex
	users map[string]*Source
}

// NewBackend returns a Backend for the servers that o names.
func NewBackend(o *Options) (*Backend, error) {
	if o == nil || o.IMAP == "" {
		return nil, errors.New("imapdav: no IMAP address")
	}
	switch o.TLS {
	case "", TLSNone, TLSStartTLS, TLSImplicit:
	default:
		return nil, fmt.Errorf("imapdav: unknown TLS mode %q", o.TLS)
	}
	switch o.Delete {
	case "", DeleteToTrash, DeleteExpunge:
	default:
		return nil, fmt.Errorf("imapdav: unknown delete mode %q", o.Delete)
	}
	opts := o.withDefaults()
	if opts.DAV != nil && opts.DAV.Hub == nil {
		// One Hub for all users: a user's devices share one DAV poller
		// even when they hold different Sources (after a password change
		// or an eviction).
		d := *opts.DAV
		d.Hub = dav.NewHub()
		opts.DAV = &d
	}
	b := &Backend{opts: opts, users: make(map[string]*Source)}
	if o.Events {
		b.events = newEventHub(&b.opts)
	}
	return b, nil
}

// DAVHub returns the Hub that shares DAV change polling among the users'
// devices, for its counts; nil without DAV.
func (b *Backend) DAVHub() *dav.Hub {
	if b.opts.DAV == nil {
		return nil
	}
	return b.opts.DAV.Hub
}

// Login returns user's Source. The first Login of a user, and one with a
// password other than the cached one, authenticates against the IMAP
// server (and opens the DAV store); later ones reuse the cached Source.
// A refused password yields an error wrapping sources.ErrAuth; a server
// that cannot be reached a temporary one.
func (b *Backend) Login(ctx context.Context, user, password string) (sources.Source, error) {
	sum := sha256.Sum256([]byte(password))
	b.mu.Lock()
	s := b.users[user]
	b.mu.Unlock()
	if s != nil && subtle.ConstantTimeCompare(s.secret[:], sum[:]) == 1 && !s.expired() {
		s.touch()
		return s, nil
	}
	s = newSource(&b.opts, user, password)
	s.events = b.events
	// A fresh connection proves the password; it then joins the pool.
	c, err := s.pool.get(ctx)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.pool.put(c, nil)
	if err := b.openDAV(ctx, s, user, password); err != nil {
		s.Close()
		return nil, err
	}
	b.add(user, s)
	return s, nil
}

// add caches s as user's Source, retiring the one it replaces and, when
// the cache is full, the ones evict drops.
func (b *Backend) add(user string, s *Source) {
	b.mu.Lock()
	old := b.users[user]
	var dropped []*Source
	if old == nil && len(b.users) >= b.opts.MaxUsers {
		dropped = b.evict()
	}
	b.users[user] = s
	b.mu.Unlock()
	if old != nil {
		old.retire()
	}
	for _, d := range dropped {
		d.retire()
	}
}

// evict makes room for one more user: it drops every expired Source, or,
// when none is, the least recently used one. b.mu is held.
func (b *Backend) evict() []*Source {
	var out []*Source
	var lru string
	var lruAt time.Time
	for u, s := range b.users {
		s.mu.Lock()
		at := s.lastUsed
		s.mu.Unlock()
		switch {
		case time.Since(at) > b.opts.SessionTTL:
			out = append(out, s)
			delete(b.users, u)
		case lru == "" || at.Before(lruAt):
			lru, lruAt = u, at
		}
	}
	if len(out) == 0 && lru != "" {
		out = append(out, b.users[lru])
		delete(b.users, lru)
	}
	return out
}

// cached returns the number of users whose Source is cached.
func (b *Backend) cached() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.users)
}

// Close closes every cached Source and stops the event checks.
func (b *Backend) Close() error {
	if b.events != nil {
		b.events.close()
	}
	b.mu.Lock()
	users := b.users
	b.users = make(map[string]*Source)
	b.mu.Unlock()
	for _, s := range users {
		s.Close()
	}
	return nil
}

// Source is one user's mail, calendars, contacts and tasks.
type Source struct {
	// opts is the Backend's (or Dial's): shared, not a copy per user,
	// as are the logger's attributes (logger), since a Source is kept
	// for every user with a waiting phone (issue 14).
	opts   *Options
	user   string
	pass   string
	secret [sha256.Size]byte

	pool *pool
	dav  pimStore // nil without DAV
	idle *idleHub
	// events, when not nil, replaces idle for mail folders (events.go);
	// shared by all Sources of the Backend.
	events *eventHub

	mu       sync.Mutex
	lastUsed time.Time
	lists    map[sources.State][]sources.Folder // recent Folders answers, for deltas
	pim      []sources.Folder                   // the DAV folders last listed, answered while DAV is down
	snaps    map[string]snapshot                // flag snapshots, without CONDSTORE
	page     *pageCache                         // the last Changes' candidates, for the next page
	trust    time.Duration                      // Options.PageTrust; tests change it
	seen     []seenBox                          // counters last read, for Notify's base (eventcheck.go)

	// noCondStore makes Changes ignore CONDSTORE, to test the fallback.
	noCondStore bool
}

// Interface guards.
var (
	_ sources.Source       = (*Source)(nil)
	_ sources.Writer       = (*Source)(nil)
	_ sources.Mover        = (*Source)(nil)
	_ sources.Flagger      = (*Source)(nil)
	_ sources.FolderWriter = (*Source)(nil)
	_ sources.Watcher      = (*Source)(nil)
	_ sources.Sender       = (*Source)(nil)
	_ sources.Searcher     = (*Source)(nil)
	_ sources.Attachments  = (*Source)(nil)
	_ sources.Stater       = (*Source)(nil)
	_ sources.Notifier     = (*Source)(nil)
)

// Dial returns a Source for user without a Backend's cache, for tools and
// tests; the caller closes it.
func Dial(ctx context.Context, o *Options, user, password string) (*Source, error) {
	b, err := NewBackend(o)
	if err != nil {
		return nil, err
	}
	src, err := b.Login(ctx, user, password)
	if err != nil {
		return nil, err
	}
	return src.(*Source), nil
}

func newSource(o *Options, user, password string) *Source {
	s := &Source{
		opts:     o,
		user:     user,
		pass:     password,
		secret:   sha256.Sum256([]byte(password)),
		lastUsed: time.Now(),
		lists:    make(map[sources.State][]sources.Folder),
		trust:    o.PageTrust,
	}
	s.pool = newPool(s)
	s.idle = newIdleHub(s)
	return s
}

// logger returns the Logger with the user's name, made when something
// is logged rather than kept.
func (s *Source) logger() *slog.Logger { return s.opts.Logger.With("user", s.user) }

func (s *Source) touch() {
	s.mu.Lock()
	s.lastUsed = time.Now()
	s.mu.Unlock()
}

func (s *Source) expired() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Since(s.lastUsed) > s.opts.SessionTTL
}

// retire drops a Source the Backend no longer hands out without breaking
// the requests still using it: its idle command connections are logged
// out and those in use are closed when returned (a later command dials
// afresh), and its IDLE connections end as their watchers leave.
func (s *Source) retire() { s.pool.close() }

// Close logs out every connection of the Source.
func (s *Source) Close() error {
	s.idle.close()
	s.pool.close()
	return nil
}

// isDAV reports whether f belongs to the DAV store.
func isDAV(f sources.FolderID) bool { return strings.HasPrefix(string(f), "dav:") }

// davStore returns the DAV store, or ErrNotFound for a dav: folder when
// there is none.
func (s *Source) davStore(f sources.FolderID) (pimStore, error) {
	if s.dav == nil {
		return nil, fmt.Errorf("imapdav: folder %q: no DAV store configured: %w", f, sources.ErrNotFound)
	}
	return s.dav, nil
}

// wrap adds context to an IMAP error and classifies it: NONEXISTENT and
// TRYCREATE become ErrNotFound, ALREADYEXISTS ErrConflict, and a failed
// connection a temporary error.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf(format, args...)
	var ie *imap.Error
	if errors.As(err, &ie) {
		switch ie.Code {
		case imap.ResponseCodeNonExistent, imap.ResponseCodeTryCreate:
			return fmt.Errorf("imapdav: %s: %w: %w", msg, sources.ErrNotFound, err)
		case imap.ResponseCodeAlreadyExists:
			return fmt.Errorf("imapdav: %s: %w: %w", msg, sources.ErrConflict, err)
		case imap.ResponseCodeAuthenticationFailed, imap.ResponseCodeAuthorizationFailed:
			return fmt.Errorf("imapdav: %s: %w: %w", msg, sources.ErrAuth, err)
		case imap.ResponseCodeUnavailable, imap.ResponseCodeServerBug, imap.ResponseCodeLimit, imap.ResponseCodeInUse:
			return sources.MarkTemporary(fmt.Errorf("imapdav: %s: %w", msg, err))
		case imap.ResponseCodeTooBig, imap.ResponseCodeOverQuota:
			return fmt.Errorf("imapdav: %s: %w: %w", msg, sources.ErrTooLarge, err)
		}
		return fmt.Errorf("imapdav: %s: %w", msg, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("imapdav: %s: %w", msg, err)
	}
	// Anything that is not a server answer is the connection failing.
	return sources.MarkTemporary(fmt.Errorf("imapdav: %s: %w", msg, err))
}
