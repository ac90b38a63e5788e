// Package graph is the Microsoft Graph store: Exchange Online mailboxes
// through a small typed net/http client (not msgraph-sdk-go), with
// app-only client credentials of one tenant. Mail, contacts, calendars
// and To Do tasks sync through per-folder delta links kept in a journal
// per mailbox and folder, so that phones get their own States, an
// expired delta link is re-baselined without the phone noticing, and one
// poller per mailbox serves every waiting phone.
//
// The design follows ../shared/notes/graph.md (beside the repository);
// section numbers in comments (§2.4, A1) refer to it.
package graph

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/easgate/easgate/sources"
)

// Options configure a Backend. Zero values take the defaults given.
type Options struct {
	GraphURL     string // "" means https://graph.microsoft.com
	AuthorityURL string // "" means https://login.microsoftonline.com

	Tenant       string // required: tenant id or domain
	ClientID     string // required: the app registration's client id
	ClientSecret string // the client secret, or:
	Certificate  *x509.Certificate
	Key          crypto.Signer // with Certificate: a signed client assertion

	// Passwords checks the device passwords that easgate issues (the
	// phone's Basic password is never sent to Microsoft). Required.
	Passwords PasswordChecker

	// MailDomain completes login names without a domain into UPNs.
	MailDomain string

	Concurrency  int           // requests in flight per mailbox; 0 means 3 (one below Graph's 4)
	Budget       int           // requests per mailbox per BudgetWindow; 0 means 9,000
	BudgetWindow time.Duration // 0 means 10 minutes (Graph's 10,000 per 10 minutes)
	MaxRetryWait time.Duration // longest Retry-After waited for within a request; 0 means 5 s
	PageSize     int           // delta page size (odata.maxpagesize); 0 means 100

	// PollInterval is how often a mailbox's Inbox, Calendar and Contacts
	// are polled while phones wait; other folders are polled four times
	// less often. A folder without changes backs off, doubling its
	// interval: Inbox, Calendar and Contacts up to four times
	// PollInterval, other folders (and every folder while a webhook
	// subscription is live) up to MaxPollInterval. 0 means 30 s and 10
	// minutes.
	PollInterval, MaxPollInterval time.Duration

	// NotificationURL, when set, is the public HTTPS URL at which Graph
	// reaches NotificationHandler: each mailbox with waiting phones gets a
	// subscription whose notifications wake its poller.
	NotificationURL string

	// Directory, when set, names a read-only contacts folder that lists
	// the tenant's users from /users, for the gateway's GAL ([gal] folder
	// names it too). Phones see it as an address book. "" means none.
	Directory string

	// Journals, when set, keeps the journals across restarts (and across
	// MaxUsers evictions); nil keeps them in memory only, and the phones'
	// States expire with them.
	Journals Journals

	// MaxUsers bounds the mailboxes whose journals are kept in memory;
	// past it the one logged in to least recently, without waiting
	// phones, is dropped: without Journals its phones' States expire.
	// 0 means 10,000.
	MaxUsers int

	// CalendarPast and CalendarFuture bound the calendar view window
	// (§2.5); 0 means 180 and 540 days.
	CalendarPast, CalendarFuture time.Duration

	HTTPClient *http.Client // nil means one with a 60 s timeout
	Logger     *slog.Logger // nil discards
}

// PasswordChecker checks the device password easgate issued to a user.
type PasswordChecker interface {
	CheckUserPassword(ctx context.Context, user, password string) (bool, error)
}

// Backend logs phones in to their Graph mailboxes. Sources are shared per
// mailbox, so every device of a user uses one journal and one poller.
type Backend struct {
	o   Options
	c   *client
	log *slog.Logger

	mu      sync.Mutex
	ids     map[string]string  // UPN → object id
	sources map[string]*Source // by object id
	closed  bool
	notify  *notifier
}

// NewBackend checks o and returns a Backend; nothing is contacted before
// the first login.
func NewBackend(o Options) (*Backend, error) {
	if o.Tenant == "" || o.ClientID == "" {
		return nil, errors.New("graph: tenant and client id are required")
	}
	if o.ClientSecret == "" && (o.Certificate == nil || o.Key == nil) {
		return nil, errors.New("graph: a client secret or a certificate with its key is required")
	}
	if o.Passwords == nil {
		return nil, errors.New("graph: a password checker is required")
	}
	if o.GraphURL == "" {
		o.GraphURL = "https://graph.microsoft.com"
	}
	if o.AuthorityURL == "" {
		o.AuthorityURL = "https://login.microsoftonline.com"
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 3
	}
	if o.Budget <= 0 {
		o.Budget = 9000
	}
	if o.BudgetWindow <= 0 {
		o.BudgetWindow = 10 * time.Minute
	}
	if o.MaxRetryWait <= 0 {
		o.MaxRetryWait = 5 * time.Second
	}
	if o.PageSize <= 0 {
		o.PageSize = 100
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 30 * time.Second
	}
	if o.MaxPollInterval <= 0 {
		o.MaxPollInterval = 10 * time.Minute
	}
	if o.CalendarPast <= 0 {
		o.CalendarPast = 180 * 24 * time.Hour
	}
	if o.CalendarFuture <= 0 {
		o.CalendarFuture = 540 * 24 * time.Hour
	}
	if o.MaxUsers <= 0 {
		o.MaxUsers = 10000
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 60 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Backend{o: o, log: o.Logger, ids: make(map[string]string), sources: make(map[string]*Source)}
	b.c = newClient(&b.o)
	if o.NotificationURL != "" {
		b.notify = newNotifier(b)
	}
	return b, nil
}

// Requests returns the number of Graph requests made so far.
func (b *Backend) Requests() int64 { return b.c.requests.get() }

// Close stops the pollers and deletes the subscriptions.
func (b *Backend) Close() error {
	b.mu.Lock()
	b.closed = true
	srcs := make([]*Source, 0, len(b.sources))
	for _, s := range b.sources {
		srcs = append(srcs, s)
	}
	b.mu.Unlock()
	for _, s := range srcs {
		s.poll.stop()
	}
	if b.notify != nil {
		b.notify.close()
	}
	return nil
}

// UPN turns an EAS login (alice, DOMAIN\alice, alice@example.com) into
// the lower-cased UPN the password table and Graph know it by.
func (b *Backend) UPN(login string) string { return upnOf(login, b.o.MailDomain) }

func upnOf(login, mailDomain string) string {
	if _, n, ok := strings.Cut(login, `\`); ok {
		login = n
	}
	if !strings.Contains(login, "@") && mailDomain != "" {
		login += "@" + mailDomain
	}
	return strings.ToLower(login)
}

// Login checks the device password easgate issued to user and returns
// the user's mailbox. The password never leaves easgate; the mailbox is
// found by UPN once and addressed by its object id from then on, which
// survives renames (§1.3).
func (b *Backend) Login(ctx context.Context, user, password string) (sources.Source, error) {
	upn := b.UPN(user)
	if err := b.checkPassword(ctx, upn, password); err != nil {
		return nil, err
	}
	id, err := b.resolve(ctx, upn)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sources[id]
	if s == nil {
		b.evictLocked()
		s = newSource(b, id, upn)
		b.sources[id] = s
	}
	s.used = time.Now()
	return s, nil
}

// evictLocked makes room for one more Source: the one used least
// recently whose phones are not waiting goes.
func (b *Backend) evictLocked() {
	if len(b.sources) < b.o.MaxUsers {
		return
	}
	var oldest *Source
	for _, s := range b.sources {
		if waiting(s) == 0 && (oldest == nil || s.used.Before(oldest.used)) {
			oldest = s
		}
	}
	if oldest != nil {
		// Its poller ends by itself with its last waiter; a login the
		// gateway still remembers keeps working on it meanwhile.
		delete(b.sources, oldest.id)
	}
}

// checkPassword checks the device password of upn. The gateway
// remembers logins that succeeded, so this argon2id check (tens of
// milliseconds) runs once per phone every few minutes, not per request.
func (b *Backend) checkPassword(ctx context.Context, upn, password string) error {
	ok, err := b.o.Passwords.CheckUserPassword(ctx, upn, password)
	if err != nil {
		return fmt.Errorf("graph: checking the password of %q: %w", upn, err)
	}
	if !ok {
		return fmt.Errorf("graph: user %q: %w", upn, sources.ErrAuth)
	}
	return nil
}

// resolve maps a UPN to the mailbox's object id, once.
func (b *Backend) resolve(ctx context.Context, upn string) (string, error) {
	b.mu.Lock()
	id, ok := b.ids[upn]
	b.mu.Unlock()
	if ok {
		return id, nil
	}
	var u struct {
		ID string `json:"id"`
	}
	err := b.c.getJSON(ctx, "directory", "/users/"+url.PathEscape(upn), url.Values{"$select": {"id,mail,userPrincipalName"}}, nil, &u)
	if errors.Is(err, sources.ErrNotFound) {
		return "", fmt.Errorf("graph: no mailbox %q: %w", upn, sources.ErrAuth)
	}
	if err != nil {
		return "", err
	}
	b.mu.Lock()
	b.ids[upn] = u.ID
	b.mu.Unlock()
	return u.ID, nil
}

// Source is one mailbox. It is safe for concurrent use and shared by
// every device of its user.
type Source struct {
	b    *Backend
	c    *client
	id   string // the mailbox's object id
	upn  string
	path string // /users/{id}

	mu       sync.Mutex
	feeds    map[sources.FolderID]*feed
	folders  *feed // the folder hierarchy, as a journal too
	known    map[sources.FolderID]sources.Folder
	wellDone bool
	well     map[string]string // well-known name → mail folder id

	poll *poller
	used time.Time // last login, for evictLocked; guarded by Backend.mu
}

var (
	_ sources.Source       = (*Source)(nil)
	_ sources.Writer       = (*Source)(nil)
	_ sources.Mover        = (*Source)(nil)
	_ sources.Flagger      = (*Source)(nil)
	_ sources.FolderWriter = (*Source)(nil)
	_ sources.Watcher      = (*Source)(nil)
	_ sources.Notifier     = (*Source)(nil)
	_ sources.Sender       = (*Source)(nil)
	_ sources.Replier      = (*Source)(nil)
	_ sources.Searcher     = (*Source)(nil)
	_ sources.Attachments  = (*Source)(nil)
	_ sources.Stater       = (*Source)(nil)
)

func newSource(b *Backend, id, upn string) *Source {
	s := &Source{b: b, c: b.c, id: id, upn: upn, path: "/users/" + url.PathEscape(id),
		feeds: make(map[sources.FolderID]*feed), known: make(map[sources.FolderID]sources.Folder)}
	s.folders = newFeed(s, "", contentFolders)
	s.poll = newPoller(s)
	return s
}

func pemBlock(b []byte, kind string) []byte {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil
		}
		if strings.HasSuffix(blk.Type, kind) {
			return blk.Bytes
		}
	}
}
