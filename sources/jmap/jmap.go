// Package jmap is the sources adapter for JMAP stores (RFC 8620, RFC
// 8621): Cyrus, Stalwart, Fastmail and the like. Mail folders are
// mailboxes; contacts and calendars come from package pim under folder
// ids prefixed "pim:". Every change feed is built from the server's own
// state strings, and Watch listens on the server's EventSource, one
// connection per user however many devices wait.
package jmap

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	gojmap "git.sr.ht/~rockorager/go-jmap"

	"github.com/easgate/easgate/sources"
)

// Options configure a Backend. Zero values give the documented defaults.
type Options struct {
	// URL is the JMAP session resource, or the server's base URL, in
	// which case /.well-known/jmap is used. Required.
	URL string

	// Token, if set, is a service account's Bearer token used for every
	// user instead of the user's own Basic credentials; the account whose
	// name is the user's is then served. The password is checked by
	// Verify, which is required with a Token.
	Token  string
	Verify func(ctx context.Context, user, password string) error

	// HTTPClient carries all requests; nil means a client with a 60 s
	// timeout for API calls. Push streams use its Transport without the
	// timeout.
	HTTPClient *http.Client

	// DestroyOnDelete makes Delete destroy mail instead of moving it to
	// the mailbox with the trash role.
	DestroyOnDelete bool

	// PollInterval is how often Watch polls when the server has no push
	// (no eventSourceUrl, or it answers 204 as Debian's Cyrus does).
	// Zero means 30 seconds.
	PollInterval time.Duration

	// Ping is the keep-alive interval asked of the EventSource; a stream
	// silent for three of them is reconnected. Zero means 30 seconds.
	Ping time.Duration

	// PushLinger keeps a user's EventSource open this long after the last
	// Watch ends, so that consecutive Pings share it. Zero means 2 minutes.
	PushLinger time.Duration

	// Idle, if set, opens the user's Source on the same store's IMAP
	// server (cmd passes an IMAP adapter's Login). Watch then also waits
	// on that Source's Watch for mail folders: Cyrus reports a delivery
	// to IMAP IDLE within ~50 ms, where its EventSource polls once a
	// second. The Source must be a sources.Watcher whose Folders name
	// IMAP folders by path. The EventSource still serves contacts,
	// calendars and folder changes, and takes over whenever IDLE fails.
	// The caller owns what Idle opens and closes it.
	Idle func(ctx context.Context, user, password string) (sources.Source, error)

	// CacheTTL is how long a login is trusted before the password is
	// checked with the server again; zero means 10 minutes. MaxUsers
	// bounds the cached sessions; zero means 1000.
	CacheTTL time.Duration
	MaxUsers int

	// ListChunk is how many ids of a folder a first listing fetches with
	// one Email/query and keeps for the following windows (listing.go):
	// Cyrus evaluates the query over the whole mailbox however few ids
	// it returns. Each user keeps at most 4 such runs, for 5 minutes at
	// most, about 48 bytes an id. Zero means 10,000.
	ListChunk int

	// FetchConns is how many requests one Get sends at once, each of 25
	// mails at least. Zero means 1: Cyrus spent a third more CPU per mail
	// answering a window as two Email/gets of 50 in two processes, and
	// was no faster for it (issue 14); the overlap that helps is the next
	// window's fetch with this one's encoding (PrefetchWindows).
	FetchConns int

	// PrefetchWindows is how many windows of first listings a user's
	// Source fetches ahead and holds at once (prefetch.go): while a
	// phone's window is encoded and sent, the store works on the next.
	// Zero means 2; negative turns prefetching off. PrefetchBytes bounds
	// one such window (bodies plus about 2 KB a mail); a window whose
	// bodies are not cut, or that would or does hold more, is not kept.
	// Zero means 4 MiB. PrefetchTTL is how long a window fetched ahead
	// is kept for its Get, and the longest its fetch may run; zero means
	// 30 seconds. A user thus holds at most PrefetchWindows ×
	// PrefetchBytes for it.
	PrefetchWindows int
	PrefetchBytes   int
	PrefetchTTL     time.Duration

	// IdleConns is how many idle connections to the store are kept for
	// reuse, across users, when HTTPClient is nil; default 64. Cyrus
	// starts a process per connection, so a new one costs it ~7 ms of
	// CPU: net/http's default of 2 per host made users take turns
	// closing and reopening them.
	IdleConns int

	// Logger receives push connection events; nil discards them.
	Logger *slog.Logger
}

// NewTransport returns the HTTP transport a Backend uses when
// Options.HTTPClient is nil: idleConns idle connections kept across
// users (zero means 64), each acknowledging what it reads at once
// (quickack_linux.go).
func NewTransport(idleConns int) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = cmp.Or(idleConns, 64)
	tr.MaxIdleConnsPerHost = tr.MaxIdleConns
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return quickAck(c), nil
	}
	return tr
}

// Backend opens Sources for users, caching one per user so that a
// device's every request does not fetch the session again. It satisfies
// the gateway's Backend interface.
type Backend struct {
	opts Options
	log  *slog.Logger

	mu    sync.Mutex
	users map[string]*cached

	prefetched prefetchCounts // by every user's Source, PrefetchStats
}

type cached struct {
	key  [32]byte // sha256 of the password
	src  *Source
	seen time.Time // last successful check with the server
	used time.Time
}

// NewBackend returns a Backend for o.
func NewBackend(o Options) (*Backend, error) {
	if o.URL == "" {
		return nil, errors.New("jmap: url: required")
	}
	if o.Token != "" && o.Verify == nil {
		return nil, errors.New("jmap: token: a service account needs Verify to check passwords")
	}
	if o.ListChunk < 0 || o.FetchConns < 0 {
		return nil, fmt.Errorf("jmap: list chunk %d or fetch conns %d is negative", o.ListChunk, o.FetchConns)
	}
	if o.PrefetchBytes < 0 || o.PrefetchTTL < 0 {
		return nil, fmt.Errorf("jmap: prefetch bytes %d or lifetime %v is negative", o.PrefetchBytes, o.PrefetchTTL)
	}
	if o.IdleConns < 0 {
		return nil, fmt.Errorf("jmap: idle conns %d is negative", o.IdleConns)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 60 * time.Second, Transport: NewTransport(o.IdleConns)}
	}
	o.PollInterval = cmp.Or(o.PollInterval, 30*time.Second)
	o.Ping = cmp.Or(o.Ping, 30*time.Second)
	o.PushLinger = cmp.Or(o.PushLinger, 2*time.Minute)
	o.CacheTTL = cmp.Or(o.CacheTTL, 10*time.Minute)
	o.MaxUsers = cmp.Or(o.MaxUsers, 1000)
	o.ListChunk = cmp.Or(o.ListChunk, defaultListChunk)
	o.FetchConns = cmp.Or(o.FetchConns, 1)
	o.PrefetchWindows = cmp.Or(o.PrefetchWindows, defaultPrefetchWindows)
	o.PrefetchBytes = cmp.Or(o.PrefetchBytes, defaultPrefetchBytes)
	o.PrefetchTTL = cmp.Or(o.PrefetchTTL, defaultPrefetchTTL)
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Backend{opts: o, log: log, users: make(map[string]*cached)}, nil
}

// Login authenticates user with the store and returns their Source. A
// refused password yields an error wrapping sources.ErrAuth, a store that
// cannot be reached a temporary one.
func (b *Backend) Login(ctx context.Context, user, password string) (sources.Source, error) {
	key := sha256.Sum256([]byte(password))
	now := time.Now()
	b.mu.Lock()
	if c := b.users[user]; c != nil && subtle.ConstantTimeCompare(c.key[:], key[:]) == 1 && now.Sub(c.seen) < b.opts.CacheTTL {
		c.used = now
		b.mu.Unlock()
		return c.src, nil
	}
	b.mu.Unlock()

	src, err := b.open(ctx, user, password)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.users[user]; c != nil {
		// Keep the Source that watchers may be sharing; take the new
		// credentials' connection.
		c.src.setConn(src.conn())
		if c.src.idle != nil {
			c.src.idle.setPassword(password)
		}
		c.key, c.seen, c.used = key, now, now
		return c.src, nil
	}
	if len(b.users) >= b.opts.MaxUsers {
		b.evict()
	}
	b.users[user] = &cached{key: key, src: src, seen: now, used: now}
	return src, nil
}

// Close ends every user's push connection; Watch calls still running
// fall back to waiting for their context. The Backend stays usable.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.users {
		c.src.push.close()
	}
	return nil
}

// evict drops the least recently used Source; its watchers keep working,
// and its push connection ends when they are done.
func (b *Backend) evict() {
	var old string
	var t time.Time
	for u, c := range b.users {
		if old == "" || c.used.Before(t) {
			old, t = u, c.used
		}
	}
	delete(b.users, old)
}

func (b *Backend) open(ctx context.Context, user, password string) (*Source, error) {
	var auth string
	if b.opts.Token != "" {
		if err := b.opts.Verify(ctx, user, password); err != nil {
			return nil, fmt.Errorf("jmap: login %q: %w", user, err)
		}
		auth = "Bearer " + b.opts.Token
	} else {
		auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	}
	u := b.opts.URL
	c, err := newConn(ctx, b.opts.HTTPClient, u, auth)
	if err != nil && !errors.Is(err, sources.ErrAuth) && !strings.Contains(u, "/.well-known/") {
		// A base URL: try the well-known location (RFC 8620 section 2.2).
		wk := strings.TrimSuffix(u, "/") + "/.well-known/jmap"
		if c2, err2 := newConn(ctx, b.opts.HTTPClient, wk, auth); err2 == nil {
			c, err = c2, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("jmap: login %q: %w", user, err)
	}
	account, err := pickAccount(c.session, user, b.opts.Token != "")
	if err != nil {
		return nil, fmt.Errorf("jmap: login %q: %w", user, err)
	}
	s := newSource(c, account, &b.opts, b.log.With("user", user))
	s.ahead.stats = &b.prefetched
	if b.opts.Idle != nil {
		s.idle = &idleLink{s: s, open: b.opts.Idle, user: user, pass: password}
	}
	return s, nil
}

// pickAccount returns the primary mail account, or, for a service
// account, the account named after the user.
func pickAccount(s *gojmap.Session, user string, impersonate bool) (gojmap.ID, error) {
	if impersonate {
		for id, a := range s.Accounts {
			if a.Name == user {
				return id, nil
			}
		}
		return "", fmt.Errorf("no account named %q: %w", user, sources.ErrAuth)
	}
	if id, ok := s.PrimaryAccounts[uriMail]; ok {
		return id, nil
	}
	return "", fmt.Errorf("no mail account: %w", sources.ErrUnsupported)
}

// Source is one user's JMAP store.
type Source struct {
	account gojmap.ID
	opts    *Options
	log     *slog.Logger
	pim     pimStore // nil without contacts and calendars

	mu    sync.Mutex
	c     *conn
	known map[sources.FolderID]mailState // last complete state of each mail folder, for State

	lists segments   // of first listings, listing.go
	ahead prefetches // windows of first listings fetched ahead, prefetch.go

	push *hub
	idle *idleLink // nil without Options.Idle
}

func newSource(c *conn, account gojmap.ID, o *Options, log *slog.Logger) *Source {
	s := &Source{c: c, account: account, opts: o, log: log}
	s.pim = newPIM(c, account)
	s.push = newHub(s)
	return s
}

func (s *Source) conn() *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c
}

func (s *Source) setConn(c *conn) {
	s.mu.Lock()
	s.c = c
	s.pim = newPIM(c, s.account)
	s.mu.Unlock()
}

func (s *Source) pimStore() pimStore {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pim
}

// do sends calls on the user's current connection.
func (s *Source) do(ctx context.Context, calls ...*call) error {
	return s.conn().do(ctx, calls...)
}

// isPIM reports whether folder id belongs to the pim store.
func isPIM(id sources.FolderID) bool { return strings.HasPrefix(string(id), "pim:") }

// The abilities a JMAP store has.
var (
	_ sources.Source       = (*Source)(nil)
	_ sources.Writer       = (*Source)(nil)
	_ sources.Mover        = (*Source)(nil)
	_ sources.Flagger      = (*Source)(nil)
	_ sources.FolderWriter = (*Source)(nil)
	_ sources.Sender       = (*Source)(nil)
	_ sources.Searcher     = (*Source)(nil)
	_ sources.Attachments  = (*Source)(nil)
	_ sources.Stater       = (*Source)(nil)
)
