package gateway

import (
	"context"
	"errors"
	"io"
	"path"
	"reflect"
	"sync"
	"time"

	"github.com/easgate/easgate/metrics"
	"github.com/easgate/easgate/sources"
)

// measuredBackend times Login and hands out measured Sources, so that
// every store call is counted at the gateway's boundary, the same way for
// every adapter.
type measuredBackend struct {
	Backend
	m *metrics.Metrics
}

// measureBackend wraps b; a nil b stays nil, so that "no backend" keeps
// its meaning.
func measureBackend(b Backend, m *metrics.Metrics) Backend {
	if b == nil || m == nil {
		return b
	}
	return &measuredBackend{Backend: b, m: m}
}

// Close closes the wrapped Backend when it is an io.Closer.
func (b *measuredBackend) Close() error {
	if c, ok := b.Backend.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

func (b *measuredBackend) Login(ctx context.Context, user, password string) (sources.Source, error) {
	start := time.Now()
	src, err := b.Backend.Login(ctx, user, password)
	adapter := adapterName(src, b.Backend)
	b.m.StoreCall(adapter, "Login", outcome(err), time.Since(start), true)
	if err != nil || src == nil {
		return src, err
	}
	return measure(src, adapter, b.m), nil
}

// adapterNames caches adapterName by type.
var adapterNames sync.Map // reflect.Type → string

// adapterName is the last element of the package path of src's type (of
// the Backend's when src is nil): "jmap", "imapdav", "memory", "graph".
func adapterName(src sources.Source, b Backend) string {
	var v any = src
	if src == nil {
		v = b
	}
	t := reflect.TypeOf(v)
	if t == nil {
		return "unknown"
	}
	if n, ok := adapterNames.Load(t); ok {
		return n.(string)
	}
	et := t
	for et.Kind() == reflect.Pointer {
		et = et.Elem()
	}
	n := path.Base(et.PkgPath())
	if n == "." || n == "" {
		n = "unknown"
	}
	adapterNames.Store(t, n)
	return n
}

// outcome names err for easgate_store_calls_total.
func outcome(err error) string {
	var tmp temporary
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, sources.ErrNotFound):
		return "not_found"
	case errors.Is(err, sources.ErrStateExpired):
		return "state_expired"
	case errors.Is(err, sources.ErrConflict):
		return "conflict"
	case errors.Is(err, sources.ErrUnsupported):
		return "unsupported"
	case errors.Is(err, sources.ErrTooLarge):
		return "too_large"
	case errors.Is(err, sources.ErrAuth):
		return "auth"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	case errors.As(err, &tmp) && tmp.Temporary():
		return "temporary"
	}
	return "error"
}

// fullSource is a Source with every optional ability package sources
// defines. measured forwards exactly these, so it may stand in only for a
// Source that has them all: a wrapper must never hide an ability (the
// handlers find abilities by type assertion), nor invent one.
// TestMeasuredForwardsEveryAbility fails when sources gains an ability
// this list lacks.
type fullSource interface {
	sources.Source
	sources.Writer
	sources.Mover
	sources.Flagger
	sources.FolderWriter
	sources.Watcher
	sources.Sender
	sources.Searcher
	sources.Attachments
	sources.Stater
}

// measure returns src wrapped to count and time its calls, or src itself
// when its abilities are not exactly those measured forwards.
func measure(src sources.Source, adapter string, m *metrics.Metrics) sources.Source {
	full, ok := src.(fullSource)
	if !ok {
		return src
	}
	ms := &measured{src: full, adapter: adapter, m: m}
	o, hasOof := src.(oofer)
	r, hasResponder := src.(sources.Responder)
	rp, hasReplier := src.(sources.Replier)
	switch {
	case hasOof && hasResponder && hasReplier:
		return &struct {
			*measuredOof
			measuredResponder
			measuredReplier
		}{&measuredOof{measured: ms, o: o}, measuredResponder{ms, r}, measuredReplier{ms, rp}}
	case hasOof && hasReplier:
		return &struct {
			*measuredOof
			measuredReplier
		}{&measuredOof{measured: ms, o: o}, measuredReplier{ms, rp}}
	case hasResponder && hasReplier:
		return &struct {
			*measured
			measuredResponder
			measuredReplier
		}{ms, measuredResponder{ms, r}, measuredReplier{ms, rp}}
	case hasReplier:
		return &struct {
			*measured
			measuredReplier
		}{ms, measuredReplier{ms, rp}}
	case hasOof && hasResponder:
		return &struct {
			*measuredOof
			measuredResponder
		}{&measuredOof{measured: ms, o: o}, measuredResponder{ms, r}}
	case hasOof:
		return &measuredOof{measured: ms, o: o}
	case hasResponder:
		return &struct {
			*measured
			measuredResponder
		}{ms, measuredResponder{ms, r}}
	}
	return ms
}

// measured is a fullSource that counts and times each call.
type measured struct {
	src     fullSource
	adapter string
	m       *metrics.Metrics
}

var _ fullSource = (*measured)(nil)

// done records a call that began at start.
func (s *measured) done(op string, start time.Time, err error) {
	s.m.StoreCall(s.adapter, op, outcome(err), time.Since(start), true)
}

func (s *measured) Folders(ctx context.Context, since sources.State) (sources.FolderDelta, error) {
	start := time.Now()
	d, err := s.src.Folders(ctx, since)
	s.done("Folders", start, err)
	return d, err
}

func (s *measured) Changes(ctx context.Context, f sources.FolderID, since sources.State, max int) (sources.Delta, error) {
	start := time.Now()
	d, err := s.src.Changes(ctx, f, since, max)
	s.done("Changes", start, err)
	return d, err
}

func (s *measured) Get(ctx context.Context, f sources.FolderID, ids []sources.ItemID, o *sources.GetOptions) ([]sources.Item, error) {
	start := time.Now()
	items, err := s.src.Get(ctx, f, ids, o)
	s.done("Get", start, err)
	return items, err
}

func (s *measured) Put(ctx context.Context, f sources.FolderID, it *sources.Item, ifMatch string) (sources.ItemID, string, error) {
	start := time.Now()
	id, etag, err := s.src.Put(ctx, f, it, ifMatch)
	s.done("Put", start, err)
	return id, etag, err
}

func (s *measured) Delete(ctx context.Context, f sources.FolderID, id sources.ItemID) error {
	start := time.Now()
	err := s.src.Delete(ctx, f, id)
	s.done("Delete", start, err)
	return err
}

func (s *measured) Move(ctx context.Context, from, to sources.FolderID, ids []sources.ItemID) (map[sources.ItemID]sources.ItemID, error) {
	start := time.Now()
	moved, err := s.src.Move(ctx, from, to, ids)
	s.done("Move", start, err)
	return moved, err
}

func (s *measured) UpdateFlags(ctx context.Context, f sources.FolderID, id sources.ItemID, u sources.FlagUpdate) error {
	start := time.Now()
	err := s.src.UpdateFlags(ctx, f, id, u)
	s.done("UpdateFlags", start, err)
	return err
}

func (s *measured) CreateFolder(ctx context.Context, parent sources.FolderID, name string, kind sources.FolderKind) (sources.FolderID, error) {
	start := time.Now()
	id, err := s.src.CreateFolder(ctx, parent, name, kind)
	s.done("CreateFolder", start, err)
	return id, err
}

func (s *measured) RenameFolder(ctx context.Context, id, parent sources.FolderID, name string) error {
	start := time.Now()
	err := s.src.RenameFolder(ctx, id, parent, name)
	s.done("RenameFolder", start, err)
	return err
}

func (s *measured) DeleteFolder(ctx context.Context, id sources.FolderID) error {
	start := time.Now()
	err := s.src.DeleteFolder(ctx, id)
	s.done("DeleteFolder", start, err)
	return err
}

// Watch is counted, not timed: it lasts until a change or the heartbeat.
func (s *measured) Watch(ctx context.Context, fs []sources.FolderID) ([]sources.FolderID, error) {
	changed, err := s.src.Watch(ctx, fs)
	s.m.StoreCall(s.adapter, "Watch", outcome(err), 0, false)
	return changed, err
}

func (s *measured) Send(ctx context.Context, msg io.Reader, saveInSent bool) error {
	start := time.Now()
	err := s.src.Send(ctx, msg, saveInSent)
	s.done("Send", start, err)
	return err
}

func (s *measured) Search(ctx context.Context, q sources.SearchQuery) (sources.SearchResult, error) {
	start := time.Now()
	r, err := s.src.Search(ctx, q)
	s.done("Search", start, err)
	return r, err
}

// OpenAttachment is timed until the attachment is open, not read.
func (s *measured) OpenAttachment(ctx context.Context, ref sources.AttachmentRef) (sources.Attachment, io.ReadCloser, error) {
	start := time.Now()
	a, rc, err := s.src.OpenAttachment(ctx, ref)
	s.done("OpenAttachment", start, err)
	return a, rc, err
}

func (s *measured) State(ctx context.Context, f sources.FolderID) (sources.State, error) {
	start := time.Now()
	st, err := s.src.State(ctx, f)
	s.done("State", start, err)
	return st, err
}

// measuredOof is measured for a store that also keeps automatic replies.
type measuredOof struct {
	*measured
	o oofer
}

var _ oofer = (*measuredOof)(nil)

func (s *measuredOof) Oof(ctx context.Context) (sources.Oof, error) {
	start := time.Now()
	o, err := s.o.Oof(ctx)
	s.done("Oof", start, err)
	return o, err
}

func (s *measuredOof) SetOof(ctx context.Context, o sources.Oof) error {
	start := time.Now()
	err := s.o.SetOof(ctx, o)
	s.done("SetOof", start, err)
	return err
}

// measuredResponder adds a store's own answering of invitations
// (sources.Responder, optional like oofer) to a measured store.
// measuredReplier forwards sources.Replier, counted as "Reply".
type measuredReplier struct {
	ms *measured
	r  sources.Replier
}

var _ sources.Replier = measuredReplier{}

func (s measuredReplier) Reply(ctx context.Context, orig sources.ItemRef, msg []byte, o sources.ReplyOptions) error {
	start := time.Now()
	err := s.r.Reply(ctx, orig, msg, o)
	s.ms.done("Reply", start, err)
	return err
}

type measuredResponder struct {
	ms *measured
	r  sources.Responder
}

var _ sources.Responder = measuredResponder{}

func (s measuredResponder) Respond(ctx context.Context, ref sources.ItemRef, a sources.MeetingAnswer) (sources.ItemRef, error) {
	start := time.Now()
	ev, err := s.r.Respond(ctx, ref, a)
	s.ms.done("Respond", start, err)
	return ev, err
}

// Notify forwards to the store's sources.Notifier, counted, not timed,
// like Watch. A store without one answers sources.ErrUnsupported, and its
// waits use Watch: measured has the method whatever the store, so that
// wrapping neither hides the ability nor multiplies the combinations of
// optional ones.
func (s *measured) Notify(fs []sources.FolderID, fn func()) (func(), error) {
	n, ok := s.src.(sources.Notifier)
	if !ok {
		return nil, sources.ErrUnsupported
	}
	stop, err := n.Notify(fs, fn)
	s.m.StoreCall(s.adapter, "Notify", outcome(err), 0, false)
	return stop, err
}
