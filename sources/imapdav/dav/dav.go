// Package dav serves calendars, task lists and address books from a
// CalDAV (RFC 4791) and CardDAV (RFC 6352) server: collections become
// folders, calendar objects and vCards become items, and changes come from
// RFC 6578 sync-collection, or from getctag and an ETag diff on servers
// without it. The package sources/imapdav routes "dav:" folder ids here.
package dav

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-webdav"
	"github.com/emersion/go-webdav/caldav"
	"github.com/emersion/go-webdav/carddav"

	"github.com/easgate/easgate/sources"
)

// Options configure a Store. The zero value is usable but finds nothing:
// set at least one URL.
type Options struct {
	// CalDAV and CardDAV are the URLs discovery starts from: the server's
	// root, a principal or a home set. Either may be empty; when both name
	// the same server, its collections are listed once.
	CalDAV, CardDAV string

	// HTTPClient sends the requests; nil means http.DefaultClient.
	HTTPClient *http.Client

	// PollInterval is how often a waited-on collection is checked for
	// changes when nothing happens in it; zero means 60 seconds.
	// ActivePollInterval is how often for ActiveFor after a change was
	// seen in it or a device wrote to it (changes come in bursts); after
	// that each check that finds nothing doubles the interval, up to
	// PollInterval. Zero means 5 seconds, capped at PollInterval; a zero
	// ActiveFor means a minute.
	PollInterval, ActivePollInterval, ActiveFor time.Duration

	// PollsPerMinute bounds the checks of one user's collections, all
	// devices together, in any minute; past it checks wait. Zero means 20.
	PollsPerMinute int

	// Hub shares the checks among the user's devices. Stores of the same
	// server should share one (package imapdav gives its Backend's Stores
	// one); nil gives the Store its own, shared only by its own Watch
	// calls.
	Hub *Hub

	// Logger receives objects that cannot be parsed and are skipped; nil
	// discards.
	Logger *slog.Logger

	// noSync makes the store ignore sync-collection, so that tests can run
	// the getctag fallback against servers that have it.
	noSync bool
	// budgetWindow replaces PollsPerMinute's minute, so that tests can
	// watch the bound at work in seconds.
	budgetWindow time.Duration
}

// Store is one user's DAV collections. It is safe for concurrent use.
type Store struct {
	base           *url.URL
	user, password string
	client         *http.Client
	log            *slog.Logger
	noSync         bool

	hub              *Hub
	pollMin, pollMax time.Duration
	activeFor        time.Duration
	budget           int
	budgetWindow     time.Duration

	calURL, cardURL string

	mu      sync.Mutex
	colls   map[sources.FolderID]*collection
	order   []sources.FolderID
	raw     map[string]object   // href -> last object read or written, for merges on Put
	snaps   map[string]snapshot // getctag fallback: state hash -> href/ETag list
	pages   map[sources.FolderID]pageCache
	rawSize int
}

// collection is one folder: a DAV collection, or the task view of a
// calendar that holds both events and to-dos.
type collection struct {
	folder sources.Folder
	path   string
	card   bool
	sync   bool // the server offers sync-collection here
}

// Open discovers the user's collections: current-user-principal, then the
// calendar and address book home sets, then the collections in them. A
// wrong password fails with an error wrapping sources.ErrAuth; a server
// that does not answer with a temporary one.
func Open(ctx context.Context, o *Options, user, password string) (*Store, error) {
	if o == nil {
		o = &Options{}
	}
	first := o.CalDAV
	if first == "" {
		first = o.CardDAV
	}
	base, err := url.Parse(first)
	if err != nil || base.Host == "" {
		return nil, fmt.Errorf("dav: bad URL %q", first)
	}
	s := &Store{
		base: base, user: user, password: password,
		client: o.HTTPClient, log: o.Logger, noSync: o.noSync,
		hub: o.Hub, pollMin: o.ActivePollInterval, pollMax: o.PollInterval, activeFor: o.ActiveFor, budget: o.PollsPerMinute, budgetWindow: o.budgetWindow,
		calURL: o.CalDAV, cardURL: o.CardDAV,
		raw: make(map[string]object), snaps: make(map[string]snapshot), pages: make(map[sources.FolderID]pageCache),
	}
	if s.client == nil {
		s.client = http.DefaultClient
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.hub == nil {
		s.hub = NewHub()
	}
	if s.pollMax <= 0 {
		s.pollMax = defaultPollInterval
	}
	if s.pollMin <= 0 {
		s.pollMin = defaultActivePollInterval
	}
	s.pollMin = min(s.pollMin, s.pollMax)
	if s.activeFor <= 0 {
		s.activeFor = defaultActiveFor
	}
	if s.budget <= 0 {
		s.budget = defaultPollsPerMinute
	}
	if s.budgetWindow <= 0 {
		s.budgetWindow = time.Minute
	}
	if err := s.discover(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// discover finds the collections and replaces the folder list.
func (s *Store) discover(ctx context.Context) error {
	hc := discoveryClient{s}
	homes := map[string]bool{} // home set path -> address books
	var order []string
	for _, side := range []struct {
		u    string
		card bool
	}{{s.calURL, false}, {s.cardURL, true}} {
		if side.u == "" {
			continue
		}
		wc, err := webdav.NewClient(hc, side.u)
		if err != nil {
			return fmt.Errorf("dav: %w", err)
		}
		principal, err := wc.FindCurrentUserPrincipal(ctx)
		if err != nil {
			return fmt.Errorf("dav: current-user-principal at %s: %w", side.u, err)
		}
		var home string
		if side.card {
			c, err := carddav.NewClient(hc, side.u)
			if err != nil {
				return fmt.Errorf("dav: %w", err)
			}
			home, err = c.FindAddressBookHomeSet(ctx, principal)
			if err != nil {
				return fmt.Errorf("dav: addressbook-home-set of %s: %w", principal, err)
			}
		} else {
			c, err := caldav.NewClient(hc, side.u)
			if err != nil {
				return fmt.Errorf("dav: %w", err)
			}
			home, err = c.FindCalendarHomeSet(ctx, principal)
			if err != nil {
				return fmt.Errorf("dav: calendar-home-set of %s: %w", principal, err)
			}
		}
		if _, ok := homes[home]; !ok {
			order = append(order, home)
		}
		homes[home] = true
	}

	var cals, tasks, books []*collection
	seen := map[string]bool{}
	for _, home := range order {
		ms, err := s.propfind(ctx, home, "1",
			`<d:resourcetype/><d:displayname/><c:supported-calendar-component-set/><d:supported-report-set/>`)
		if err != nil {
			return fmt.Errorf("dav: PROPFIND %s: %w", home, err)
		}
		for _, r := range ms.Responses {
			p, ok := r.okProp()
			h := r.href()
			if !ok || p.ResourceType == nil || seen[h] {
				continue
			}
			seen[h] = true
			c := &collection{path: h, sync: !s.noSync && p.ReportSet != nil && hasSyncReport(p)}
			if p.ReportSet == nil && !s.noSync {
				c.sync = true // not advertised either way: try it
			}
			name := p.DisplayName
			if name == "" {
				name = strings.TrimSuffix(h[strings.LastIndex(strings.TrimSuffix(h, "/"), "/")+1:], "/")
			}
			c.folder = sources.Folder{ID: sources.FolderID("dav:" + h), Name: name}
			switch {
			case p.ResourceType.AddressBook != nil:
				c.card = true
				books = append(books, c)
			case p.ResourceType.Calendar != nil:
				comps := map[string]bool{}
				if p.Components != nil {
					for _, cp := range p.Components.Comps {
						comps[strings.ToUpper(cp.Name)] = true
					}
				}
				if len(comps) == 0 || comps["VEVENT"] {
					cals = append(cals, c)
					if comps["VTODO"] || len(comps) == 0 {
						// A mixed collection also appears as a task
						// folder; each view shows only its own kind.
						t := *c
						t.folder.ID = sources.FolderID("dav:tasks:" + h)
						tasks = append(tasks, &t)
					}
				} else if comps["VTODO"] {
					tasks = append(tasks, c)
				}
			}
		}
	}
	// Task views of mixed calendars only serve when no collection holds
	// to-dos alone.
	if slices.ContainsFunc(tasks, func(c *collection) bool { return !strings.HasPrefix(string(c.folder.ID), "dav:tasks:") }) {
		tasks = slices.DeleteFunc(tasks, func(c *collection) bool { return strings.HasPrefix(string(c.folder.ID), "dav:tasks:") })
	} else if len(tasks) > 1 {
		tasks = tasks[:1]
	}
	colls := map[sources.FolderID]*collection{}
	var ids []sources.FolderID
	for _, g := range []struct {
		l             []*collection
		first, others sources.FolderKind
		role          string
	}{{cals, sources.KindCalendar, sources.KindUserCalendar, "calendar"}, {tasks, sources.KindTasks, sources.KindUserTasks, "tasks"}, {books, sources.KindContacts, sources.KindUserContacts, "contacts"}} {
		def := defaultIndex(g.l)
		for i, c := range g.l {
			c.folder.Kind = g.others
			if i == def {
				c.folder.Kind = g.first
				c.folder.Role = g.role
			}
			colls[c.folder.ID] = c
			ids = append(ids, c.folder.ID)
		}
	}
	s.mu.Lock()
	s.colls, s.order = colls, ids
	s.mu.Unlock()
	return nil
}

// defaultIndex picks the default collection of a kind: the one named
// "default" (Cyrus's Default, Nextcloud's personal), else the first.
func defaultIndex(l []*collection) int {
	for i, c := range l {
		base := strings.ToLower(strings.Trim(c.path[strings.LastIndex(strings.TrimSuffix(c.path, "/"), "/")+1:], "/"))
		if strings.EqualFold(c.folder.Name, "default") || base == "default" {
			return i
		}
	}
	return 0
}

func hasSyncReport(p prop) bool {
	for _, r := range p.ReportSet.Reports {
		if strings.Contains(string(r.Inner), "sync-collection") {
			return true
		}
	}
	return false
}

// discoveryClient is the HTTP client given to go-webdav for discovery:
// it adds Basic auth, sends XML as application/xml (Xandikos refuses
// text/xml), and turns a 401 or a 5xx into the same errors as the rest of
// the package, which go-webdav passes through.
type discoveryClient struct{ s *Store }

func (d discoveryClient) Do(req *http.Request) (*http.Response, error) {
	req.SetBasicAuth(d.s.user, d.s.password)
	if strings.HasPrefix(req.Header.Get("Content-Type"), "text/xml") {
		req.Header.Set("Content-Type", `application/xml; charset="utf-8"`)
	}
	resp, err := d.s.client.Do(req)
	if err != nil {
		if req.Context().Err() != nil {
			return nil, err
		}
		return nil, sources.MarkTemporary(err)
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode >= 500 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, &statusError{Method: req.Method, Path: req.URL.Path, Code: resp.StatusCode, Body: string(b)}
	}
	return resp, nil
}

// Folders lists the collections as folders, with ids prefixed "dav:".
func (s *Store) Folders(ctx context.Context) ([]sources.Folder, error) {
	if err := s.discover(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fs := make([]sources.Folder, len(s.order))
	for i, id := range s.order {
		fs[i] = s.colls[id].folder
	}
	return fs, nil
}

// collection returns folder f, discovering again once if it is unknown.
func (s *Store) collection(ctx context.Context, f sources.FolderID) (*collection, error) {
	s.mu.Lock()
	c := s.colls[f]
	s.mu.Unlock()
	if c != nil {
		return c, nil
	}
	if !strings.HasPrefix(string(f), "dav:") {
		return nil, fmt.Errorf("dav: folder %q: %w", f, sources.ErrNotFound)
	}
	if err := s.discover(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	c = s.colls[f]
	s.mu.Unlock()
	if c == nil {
		return nil, fmt.Errorf("dav: folder %q: %w", f, sources.ErrNotFound)
	}
	return c, nil
}
