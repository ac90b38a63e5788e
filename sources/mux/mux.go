// Package mux serves one user's folders from several stores of the same
// account, each content type (mail, contacts, calendars, tasks, notes)
// from the store an operator chose for it, and hides the content types
// switched off. Cyrus 3.6, for one, serves mail, contacts and calendars
// over JMAP but tasks only over CalDAV: a Source here takes the first
// three from the JMAP adapter and tasks from the IMAP+DAV one.
//
// The stores' folder ids must not collide; the adapters' do not (JMAP
// mailbox ids, "pim:…" and "dav:…"). Folders of a content type routed
// elsewhere, or switched off, are left out of the hierarchy, and calls
// naming them fail with sources.ErrNotFound.
//
// A Source has every optional ability of package sources; where the store
// a call is routed to lacks it, the call fails with sources.ErrUnsupported
// (Watch polls instead), so the gateway answers "not supported" as it
// would for that store alone.
package mux

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/easgate/easgate/sources"
)

// Route names the store of some content types.
type Route struct {
	Source   sources.Source
	Contents []sources.Content
}

// Source is one user's store assembled from Routes. Content types that no
// Route names are switched off.
type Source struct {
	routes []Route
	poll   time.Duration

	mu    sync.Mutex
	owner map[sources.FolderID]int // folder → index in routes
}

// New returns a Source over routes; a content type named by two routes is
// served by the first. poll is the interval at which folders of a store
// without push are polled by Watch; zero means 30 seconds.
func New(routes []Route, poll time.Duration) *Source {
	return &Source{routes: routes, poll: poll, owner: make(map[sources.FolderID]int)}
}

// serves reports whether route i serves content c.
func (s *Source) serves(i int, c sources.Content) bool {
	for j, r := range s.routes {
		if slices.Contains(r.Contents, c) {
			return j == i
		}
	}
	return false
}

// mail is the index of the route serving mail, or -1 when mail is off.
func (s *Source) mail() int {
	for i := range s.routes {
		if s.serves(i, sources.ContentMail) {
			return i
		}
	}
	return -1
}

// statePrefix marks a Folders state of this package: the states of every
// route, in order, as a JSON array.
const statePrefix = "mux1:"

// Folders implements sources.Source: the folders of each route of the
// content types it serves.
func (s *Source) Folders(ctx context.Context, since sources.State) (sources.FolderDelta, error) {
	states := make([]string, len(s.routes))
	if since != "" {
		if !strings.HasPrefix(string(since), statePrefix) ||
			json.Unmarshal([]byte(since[len(statePrefix):]), &states) != nil || len(states) != len(s.routes) {
			return sources.FolderDelta{}, fmt.Errorf("mux: folders since %q: %w", since, sources.ErrStateExpired)
		}
	}
	var out sources.FolderDelta
	owner := make(map[sources.FolderID]int)
	for i, r := range s.routes {
		d, err := r.Source.Folders(ctx, sources.State(states[i]))
		if err != nil {
			if !sources.Temporary(err) || len(s.routes) == 1 {
				return sources.FolderDelta{}, err
			}
			// This store is down; the others are listed, and the listing
			// says it is partial, so that the folders of this one are not
			// taken for deleted. Its state stays where it was.
			out.Partial = true
			continue
		}
		// A store's own partial listing (its calendar server down) makes
		// the whole one partial.
		out.Partial = out.Partial || d.Partial
		states[i] = string(d.Next)
		for _, f := range d.Changed {
			if s.serves(i, f.Kind.Content()) {
				out.Changed = append(out.Changed, f)
				owner[f.ID] = i
			}
		}
		out.Removed = append(out.Removed, d.Removed...)
	}
	b, _ := json.Marshal(states)
	out.Next = sources.State(statePrefix + string(b))
	s.mu.Lock()
	for id, i := range owner {
		s.owner[id] = i
	}
	for _, id := range out.Removed {
		delete(s.owner, id)
	}
	s.mu.Unlock()
	return out, nil
}

// route returns the route index of folder f, listing the folders again
// when f is new to it.
func (s *Source) route(ctx context.Context, f sources.FolderID) (int, error) {
	s.mu.Lock()
	i, ok := s.owner[f]
	s.mu.Unlock()
	if ok {
		return i, nil
	}
	if _, err := s.Folders(ctx, ""); err != nil {
		return 0, err
	}
	s.mu.Lock()
	i, ok = s.owner[f]
	s.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("mux: folder %q: %w", f, sources.ErrNotFound)
	}
	return i, nil
}

// of returns the Source serving folder f.
func (s *Source) of(ctx context.Context, f sources.FolderID) (sources.Source, error) {
	i, err := s.route(ctx, f)
	if err != nil {
		return nil, err
	}
	return s.routes[i].Source, nil
}

func unsupported(what string, src sources.Source) error {
	return fmt.Errorf("mux: %s: %T cannot: %w", what, src, sources.ErrUnsupported)
}

// Changes implements sources.Source.
func (s *Source) Changes(ctx context.Context, f sources.FolderID, since sources.State, max int) (sources.Delta, error) {
	src, err := s.of(ctx, f)
	if err != nil {
		return sources.Delta{}, err
	}
	return src.Changes(ctx, f, since, max)
}

// Get implements sources.Source.
func (s *Source) Get(ctx context.Context, f sources.FolderID, ids []sources.ItemID, o *sources.GetOptions) ([]sources.Item, error) {
	src, err := s.of(ctx, f)
	if err != nil {
		return nil, err
	}
	return src.Get(ctx, f, ids, o)
}

// State implements sources.Stater.
func (s *Source) State(ctx context.Context, f sources.FolderID) (sources.State, error) {
	src, err := s.of(ctx, f)
	if err != nil {
		return "", err
	}
	if st, ok := src.(sources.Stater); ok {
		return st.State(ctx, f)
	}
	return "", unsupported("state", src)
}

// Put implements sources.Writer.
func (s *Source) Put(ctx context.Context, f sources.FolderID, it *sources.Item, ifMatch string) (sources.ItemID, string, error) {
	src, err := s.of(ctx, f)
	if err != nil {
		return "", "", err
	}
	if w, ok := src.(sources.Writer); ok {
		return w.Put(ctx, f, it, ifMatch)
	}
	return "", "", unsupported("put", src)
}

// Delete implements sources.Writer.
func (s *Source) Delete(ctx context.Context, f sources.FolderID, id sources.ItemID) error {
	src, err := s.of(ctx, f)
	if err != nil {
		return err
	}
	if w, ok := src.(sources.Writer); ok {
		return w.Delete(ctx, f, id)
	}
	return unsupported("delete", src)
}

// Move implements sources.Mover, between folders of the same store.
func (s *Source) Move(ctx context.Context, from, to sources.FolderID, ids []sources.ItemID) (map[sources.ItemID]sources.ItemID, error) {
	i, err := s.route(ctx, from)
	if err != nil {
		return nil, err
	}
	j, err := s.route(ctx, to)
	if err != nil {
		return nil, err
	}
	src := s.routes[i].Source
	if m, ok := src.(sources.Mover); ok && i == j {
		return m.Move(ctx, from, to, ids)
	}
	return nil, unsupported("move", src)
}

// UpdateFlags implements sources.Flagger.
func (s *Source) UpdateFlags(ctx context.Context, f sources.FolderID, id sources.ItemID, u sources.FlagUpdate) error {
	src, err := s.of(ctx, f)
	if err != nil {
		return err
	}
	if fl, ok := src.(sources.Flagger); ok {
		return fl.UpdateFlags(ctx, f, id, u)
	}
	return unsupported("flags", src)
}

// CreateFolder implements sources.FolderWriter: in the store of kind's
// content.
func (s *Source) CreateFolder(ctx context.Context, parent sources.FolderID, name string, kind sources.FolderKind) (sources.FolderID, error) {
	for i, r := range s.routes {
		if !s.serves(i, kind.Content()) {
			continue
		}
		if fw, ok := r.Source.(sources.FolderWriter); ok {
			id, err := fw.CreateFolder(ctx, parent, name, kind)
			if err == nil {
				s.mu.Lock()
				s.owner[id] = i
				s.mu.Unlock()
			}
			return id, err
		}
		return "", unsupported("create folder", r.Source)
	}
	return "", fmt.Errorf("mux: create folder of %s: switched off: %w", kind, sources.ErrUnsupported)
}

// RenameFolder implements sources.FolderWriter.
func (s *Source) RenameFolder(ctx context.Context, id, parent sources.FolderID, name string) error {
	src, err := s.of(ctx, id)
	if err != nil {
		return err
	}
	if fw, ok := src.(sources.FolderWriter); ok {
		return fw.RenameFolder(ctx, id, parent, name)
	}
	return unsupported("rename folder", src)
}

// DeleteFolder implements sources.FolderWriter.
func (s *Source) DeleteFolder(ctx context.Context, id sources.FolderID) error {
	src, err := s.of(ctx, id)
	if err != nil {
		return err
	}
	if fw, ok := src.(sources.FolderWriter); ok {
		return fw.DeleteFolder(ctx, id)
	}
	return unsupported("delete folder", src)
}

// Send implements sources.Sender through the store of mail.
func (s *Source) Send(ctx context.Context, msg io.Reader, saveInSent bool) error {
	i := s.mail()
	if i < 0 {
		return fmt.Errorf("mux: send: mail is switched off: %w", sources.ErrUnsupported)
	}
	if sd, ok := s.routes[i].Source.(sources.Sender); ok {
		return sd.Send(ctx, msg, saveInSent)
	}
	return unsupported("send", s.routes[i].Source)
}

// Reply implements sources.Replier through the store of the original; a
// store that cannot is ErrUnsupported, and the caller composes the
// message.
func (s *Source) Reply(ctx context.Context, orig sources.ItemRef, msg []byte, o sources.ReplyOptions) error {
	src, err := s.of(ctx, orig.Folder)
	if err != nil {
		return err
	}
	if rp, ok := src.(sources.Replier); ok {
		return rp.Reply(ctx, orig, msg, o)
	}
	return unsupported("reply", src)
}

// Search implements sources.Searcher through the store of mail.
func (s *Source) Search(ctx context.Context, q sources.SearchQuery) (sources.SearchResult, error) {
	i := s.mail()
	if i < 0 {
		return sources.SearchResult{}, fmt.Errorf("mux: search: mail is switched off: %w", sources.ErrUnsupported)
	}
	if sr, ok := s.routes[i].Source.(sources.Searcher); ok {
		return sr.Search(ctx, q)
	}
	return sources.SearchResult{}, unsupported("search", s.routes[i].Source)
}

// OpenAttachment implements sources.Attachments.
func (s *Source) OpenAttachment(ctx context.Context, ref sources.AttachmentRef) (sources.Attachment, io.ReadCloser, error) {
	src, err := s.of(ctx, ref.Folder)
	if err != nil {
		return sources.Attachment{}, nil, err
	}
	if a, ok := src.(sources.Attachments); ok {
		return a.OpenAttachment(ctx, ref)
	}
	return sources.Attachment{}, nil, unsupported("attachments", src)
}

var _ sources.Responder = (*Source)(nil)

// Respond implements sources.Responder through the store of the
// invitation, when that store answers invitations itself (Graph); for
// the others it is ErrUnsupported, and the gateway answers by iTIP as it
// would for that store alone. An event the answer leaves in a calendar
// this Source does not serve (calendars routed elsewhere) is not named.
func (s *Source) Respond(ctx context.Context, ref sources.ItemRef, a sources.MeetingAnswer) (sources.ItemRef, error) {
	src, err := s.of(ctx, ref.Folder)
	if err != nil {
		return sources.ItemRef{}, err
	}
	r, ok := src.(sources.Responder)
	if !ok {
		return sources.ItemRef{}, unsupported("respond", src)
	}
	ev, err := r.Respond(ctx, ref, a)
	if err != nil || ev.ID == "" {
		return ev, err
	}
	if i, err := s.route(ctx, ev.Folder); err != nil || s.routes[i].Source != src {
		return sources.ItemRef{}, nil
	}
	return ev, nil
}

// oofer is the automatic-reply ability the gateway looks for.
type oofer interface {
	Oof(ctx context.Context) (sources.Oof, error)
	SetOof(ctx context.Context, o sources.Oof) error
}

// Oof returns the automatic replies of the store of mail.
func (s *Source) Oof(ctx context.Context) (sources.Oof, error) {
	if i := s.mail(); i >= 0 {
		if o, ok := s.routes[i].Source.(oofer); ok {
			return o.Oof(ctx)
		}
	}
	return sources.Oof{}, fmt.Errorf("mux: automatic replies: %w", sources.ErrUnsupported)
}

// SetOof changes the automatic replies of the store of mail.
func (s *Source) SetOof(ctx context.Context, o sources.Oof) error {
	if i := s.mail(); i >= 0 {
		if of, ok := s.routes[i].Source.(oofer); ok {
			return of.SetOof(ctx, o)
		}
	}
	return fmt.Errorf("mux: automatic replies: %w", sources.ErrUnsupported)
}

// Watch implements sources.Watcher: it waits on every store holding one
// of fs at once, polling a store without push, and returns what the first
// to answer reports.
func (s *Source) Watch(ctx context.Context, fs []sources.FolderID) ([]sources.FolderID, error) {
	byRoute := make(map[int][]sources.FolderID)
	var gone []sources.FolderID
	for _, f := range fs {
		i, err := s.route(ctx, f)
		switch {
		case errors.Is(err, sources.ErrNotFound):
			gone = append(gone, f)
		case err != nil:
			return nil, err
		default:
			byRoute[i] = append(byRoute[i], f)
		}
	}
	if len(gone) > 0 {
		return gone, nil
	}
	if len(byRoute) == 0 {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		fs  []sources.FolderID
		err error
	}
	done := make(chan result, len(byRoute))
	for i, fs := range byRoute {
		src := s.routes[i].Source
		w, ok := src.(sources.Watcher)
		if !ok {
			w = &sources.PollWatcher{Source: src, Interval: s.poll}
		}
		go func() {
			defer func() {
				if r := recover(); r != nil {
					done <- result{err: fmt.Errorf("mux: watch panic: %v\n%s", r, debug.Stack())}
				}
			}()
			changed, err := w.Watch(ctx, fs)
			done <- result{changed, err}
		}()
	}
	r := <-done
	return r.fs, r.err
}

// Notify implements sources.Notifier when every store holding one of fs
// can call back: fn is called once, at the first change any of them
// reports. When one cannot (a store that only polls), nothing is
// registered and Notify answers sources.ErrUnsupported, for the caller
// to Watch. Routing fs may ask a store for its folders, within a minute.
func (s *Source) Notify(fs []sources.FolderID, fn func()) (func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	byRoute := make(map[int][]sources.FolderID)
	for _, f := range fs {
		i, err := s.route(ctx, f)
		if err != nil {
			return nil, err
		}
		byRoute[i] = append(byRoute[i], f)
	}
	var fired atomic.Bool
	once := func() {
		if fired.CompareAndSwap(false, true) {
			fn()
		}
	}
	var stops []func()
	stop := func() {
		for _, st := range stops {
			st()
		}
	}
	for i, fs := range byRoute {
		n, ok := s.routes[i].Source.(sources.Notifier)
		if !ok {
			stop()
			return nil, sources.ErrUnsupported
		}
		st, err := n.Notify(fs, once)
		if err != nil {
			stop()
			return nil, err
		}
		stops = append(stops, st)
	}
	return stop, nil
}

// The abilities of a Source.
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
