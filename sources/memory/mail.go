package memory

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/easgate/easgate/sources"
)

// AddMessage files the raw RFC 5322 message raw in folder id, as mail
// delivery would: headers, bodies and attachments are parsed from it, and
// it can be read back through GetOptions.MIME and OpenAttachment.
func (s *Source) AddMessage(ctx context.Context, id sources.FolderID, raw []byte) (sources.ItemID, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	m, atts, err := parseMessage(raw)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.folder(id)
	if err != nil {
		return "", err
	}
	return s.addMessage(f, m, raw, atts), nil
}

func (s *Source) addMessage(f *folder, m *sources.Message, raw []byte, atts [][]byte) sources.ItemID {
	now := time.Now()
	// Like an IMAP APPEND with a date: the message was received when
	// its Date says, so that imported mail keeps its age.
	m.Received = now
	if !m.Date.IsZero() && m.Date.Before(now) {
		m.Received = m.Date
	}
	e := &entry{id: sources.ItemID(s.newID("i")), raw: raw, atts: atts}
	e.item = &sources.Item{ID: e.id, Folder: f.ID, Modified: now, Mail: m}
	s.store(f, e)
	return e.id
}

// Send implements sources.Sender. Nothing leaves the store: the message
// is recorded for Sent and, if saveInSent, filed in the sent folder.
func (s *Source) Send(ctx context.Context, msg io.Reader, saveInSent bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	raw, err := io.ReadAll(io.LimitReader(msg, s.opts.MaxMessageSize+1))
	if err != nil {
		return fmt.Errorf("memory: send: %w", err)
	}
	if int64(len(raw)) > s.opts.MaxMessageSize {
		return fmt.Errorf("memory: send: message over %d bytes: %w", s.opts.MaxMessageSize, sources.ErrTooLarge)
	}
	m, atts, err := parseMessage(raw)
	if err != nil {
		return fmt.Errorf("memory: send: %w", err)
	}
	m.Read = true
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, raw)
	if !saveInSent {
		return nil
	}
	for _, f := range s.folders {
		if f.Kind == sources.KindSent {
			s.addMessage(f, m, raw, atts)
			return nil
		}
	}
	return fmt.Errorf("memory: send: no sent folder: %w", sources.ErrNotFound)
}

// Search implements sources.Searcher by looking at every message of the
// folders searched; a store this size needs no index.
func (s *Source) Search(ctx context.Context, q sources.SearchQuery) (sources.SearchResult, error) {
	if err := ctx.Err(); err != nil {
		return sources.SearchResult{}, err
	}
	words := strings.Fields(strings.ToLower(q.Text))
	s.mu.Lock()
	defer s.mu.Unlock()
	var fs []*folder
	for _, id := range q.Folders {
		f, err := s.folder(id)
		if err != nil {
			return sources.SearchResult{}, err
		}
		fs = append(fs, f)
	}
	if len(q.Folders) == 0 {
		for _, f := range s.folders {
			if f.Kind.Content() == sources.ContentMail {
				fs = append(fs, f)
			}
		}
	}
	type hit struct {
		ref sources.ItemRef
		at  time.Time
	}
	var hits []hit
	for _, f := range fs {
		for _, e := range f.items {
			m := e.item.Mail
			if m == nil || !q.Since.IsZero() && m.Received.Before(q.Since) || !q.Before.IsZero() && !m.Received.Before(q.Before) {
				continue
			}
			if matches(m, words) {
				hits = append(hits, hit{sources.ItemRef{Folder: f.ID, ID: e.id}, m.Received})
			}
		}
	}
	slices.SortFunc(hits, func(a, b hit) int {
		if c := b.at.Compare(a.at); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.ref.Folder, b.ref.Folder), cmp.Compare(a.ref.ID, b.ref.ID))
	})
	r := sources.SearchResult{Total: len(hits)}
	hits = hits[min(max(q.Offset, 0), len(hits)):]
	if q.Limit > 0 && len(hits) > q.Limit {
		hits = hits[:q.Limit]
	}
	for _, h := range hits {
		r.Hits = append(r.Hits, h.ref)
	}
	return r, nil
}

// matches reports whether every word occurs, ignoring case, in m's
// subject, addresses or bodies.
func matches(m *sources.Message, words []string) bool {
	if len(words) == 0 {
		return true
	}
	var b strings.Builder
	b.WriteString(m.Subject)
	for _, l := range [][]sources.Address{m.From, m.To, m.Cc, m.Bcc} {
		for _, a := range l {
			b.WriteString(" " + a.Name + " " + a.Email)
		}
	}
	for _, body := range []*sources.Body{m.Text, m.HTML} {
		if body != nil {
			b.WriteString(" " + body.Data)
		}
	}
	text := strings.ToLower(b.String())
	for _, w := range words {
		if !strings.Contains(text, w) {
			return false
		}
	}
	return true
}

// OpenAttachment implements sources.Attachments, for messages added with
// AddMessage or Send; items stored with Put have no attachment content.
func (s *Source) OpenAttachment(ctx context.Context, ref sources.AttachmentRef) (sources.Attachment, io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return sources.Attachment{}, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.folder(ref.Folder)
	if err != nil {
		return sources.Attachment{}, nil, err
	}
	if e, ok := f.items[ref.Item]; ok && e.item.Mail != nil {
		for i, a := range e.item.Mail.Attachments {
			if a.ID == ref.ID && i < len(e.atts) {
				return a, io.NopCloser(bytes.NewReader(e.atts[i])), nil
			}
		}
	}
	return sources.Attachment{}, nil, fmt.Errorf("memory: attachment %q of %q: %w", ref.ID, ref.Item, sources.ErrNotFound)
}

func openBytes(b []byte) sources.OpenFunc {
	return func(context.Context) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}
}
