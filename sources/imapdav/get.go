package imapdav

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // bodies and headers in ISO-8859-x, Windows-125x, Shift_JIS... become UTF-8
	"github.com/emersion/go-message/mail"

	"github.com/easgate/easgate/sources"
)

// Get implements sources.Source. Messages are fetched whole with
// BODY.PEEK[] and parsed with go-message rather than trusting
// BODYSTRUCTURE, which go-imap misreads for message/global (go-imap issue
// #741); a body prefix (BODY.PEEK[]<0.n>) would not be valid MIME.
func (s *Source) Get(ctx context.Context, f sources.FolderID, ids []sources.ItemID, o *sources.GetOptions) ([]sources.Item, error) {
	if isDAV(f) {
		d, err := s.davStore(f)
		if err != nil {
			return nil, err
		}
		return d.Get(ctx, f, ids, o)
	}
	if o == nil {
		o = &sources.GetOptions{}
	}
	var uids []imap.UID
	for _, id := range ids {
		if u, err := parseUID(id); err == nil {
			uids = append(uids, u)
		}
	}
	if len(uids) == 0 {
		return nil, nil
	}
	var msgs []*imapclient.FetchMessageBuffer
	condstore := false
	err := s.with(ctx, func(c *conn) (err error) {
		condstore = c.has(imap.CapCondStore)
		msgs, err = c.fetchFresh(string(f), uids, &imap.FetchOptions{
			UID: true, Flags: true, InternalDate: true, RFC822Size: true, ModSeq: condstore,
			BodySection: []*imap.FetchItemBodySection{{Peek: true}},
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("imapdav: get from %q: %w", f, err)
	}
	byUID := make(map[imap.UID]*imapclient.FetchMessageBuffer, len(msgs))
	for _, m := range msgs {
		if !slices.Contains(m.Flags, imap.FlagDeleted) {
			byUID[m.UID] = m
		}
	}
	var items []sources.Item
	for _, u := range uids {
		m := byUID[u]
		if m == nil {
			continue
		}
		var raw []byte
		if len(m.BodySection) > 0 {
			raw = m.BodySection[0].Bytes
		}
		msg, err := parseMessage(bytes.NewReader(raw), o)
		if err != nil {
			s.logger().Warn("imapdav: unreadable message", "folder", f, "uid", u, "err", err)
			msg = &sources.Message{}
		}
		applyFlags(msg, m.Flags)
		msg.Received = m.InternalDate
		msg.Size = m.RFC822Size
		if o.MIME {
			msg.MIME = s.opener(f, u)
		}
		it := sources.Item{ID: itemID(u), Folder: f, Modified: m.InternalDate, Mail: msg}
		if condstore {
			it.ETag = strconv.FormatUint(m.ModSeq, 10)
		} else {
			it.ETag = strconv.FormatUint(flagHash(m.Flags), 36)
		}
		items = append(items, it)
	}
	return items, nil
}

// opener returns an OpenFunc that streams message u with a fresh fetch.
func (s *Source) opener(f sources.FolderID, u imap.UID) sources.OpenFunc {
	return func(ctx context.Context) (io.ReadCloser, error) {
		return s.openMessage(ctx, f, u)
	}
}

// openMessage streams the raw message u of folder f on a pooled
// connection, which returns to the pool when the reader is closed.
func (s *Source) openMessage(ctx context.Context, f sources.FolderID, u imap.UID) (io.ReadCloser, error) {
	c, err := s.pool.get(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.ensure(string(f)); err != nil {
		s.pool.put(c, err)
		return nil, err
	}
	cmd := c.c.Fetch(imap.UIDSetNum(u), &imap.FetchOptions{
		UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	r := &bodyReader{s: s, c: c, cmd: cmd}
	if m := cmd.Next(); m != nil {
		for item := m.Next(); item != nil; item = m.Next() {
			if b, ok := item.(imapclient.FetchItemDataBodySection); ok && b.Literal != nil {
				r.lit = b.Literal
				return r, nil
			}
		}
	}
	err = cmd.Close()
	s.pool.put(c, err)
	if err != nil {
		return nil, wrap(err, "fetch %d from %q", u, f)
	}
	return nil, fmt.Errorf("imapdav: message %d of %q: %w", u, f, sources.ErrNotFound)
}

// bodyReader is a message literal being read off a connection.
type bodyReader struct {
	s      *Source
	c      *conn
	cmd    *imapclient.FetchCommand
	lit    io.Reader
	closed bool
}

func (r *bodyReader) Read(p []byte) (int, error) { return r.lit.Read(p) }

// Close reads what is left of the answer and returns the connection.
func (r *bodyReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	_, err := io.Copy(io.Discard, r.lit)
	if cerr := r.cmd.Close(); err == nil {
		err = cerr
	}
	r.s.pool.put(r.c, err)
	return err
}

// applyFlags sets the message's flags from IMAP flags and keywords. Other
// keywords that are not $-prefixed system keywords become categories;
// keywords cannot contain spaces, which are stored as underscores.
func applyFlags(m *sources.Message, flags []imap.Flag) {
	for _, f := range flags {
		switch strings.ToLower(string(f)) {
		case `\seen`:
			m.Read = true
		case `\flagged`:
			m.Flagged = true
		case `\answered`:
			m.Answered = true
		case "$forwarded":
			m.Forwarded = true
		default:
			if k := string(f); !strings.HasPrefix(k, `\`) && !strings.HasPrefix(k, "$") && !strings.EqualFold(k, "NonJunk") && !strings.EqualFold(k, "Junk") {
				m.Categories = append(m.Categories, strings.ReplaceAll(k, "_", " "))
			}
		}
	}
}

// parseMessage reads a raw message: headers, the first text/plain and
// text/html parts that are not attachments as bodies (as o asks), and
// every other leaf part as an attachment whose ID is its part path ("2",
// "1.3").
func parseMessage(r io.Reader, o *sources.GetOptions) (*sources.Message, error) {
	e, err := message.Read(r)
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, err
	}
	h := mail.Header{Header: e.Header}
	m := &sources.Message{
		From:       addrs(h, "From"),
		To:         addrs(h, "To"),
		Cc:         addrs(h, "Cc"),
		Bcc:        addrs(h, "Bcc"),
		ReplyTo:    addrs(h, "Reply-To"),
		Importance: sources.ParseImportance(h.Get("Importance"), h.Get("X-Priority")),
	}
	m.Subject, _ = h.Subject()
	m.Date, _ = h.Date()
	m.MessageID, _ = h.MessageID()
	if l, _ := h.MsgIDList("In-Reply-To"); len(l) > 0 {
		m.InReplyTo = l[0]
	}
	m.References, _ = h.MsgIDList("References")
	err = walk(e, nil, func(path []int, p *message.Entity) error {
		t, params, _ := p.Header.ContentType()
		disp, dparams, _ := p.Header.ContentDisposition()
		name := dparams["filename"]
		if name == "" {
			name = params["name"]
		}
		if disp != "attachment" && name == "" {
			switch {
			case t == "text/plain" && m.Text == nil:
				m.Text, err = readBody(p.Body, o.Text, o.BodyLimit)
				return err
			case t == "text/html" && m.HTML == nil:
				m.HTML, err = readBody(p.Body, o.HTML, o.BodyLimit)
				return err
			}
		}
		n, err := io.Copy(io.Discard, p.Body)
		if err != nil && !message.IsUnknownEncoding(err) {
			return err
		}
		cid := strings.Trim(p.Header.Get("Content-Id"), "<> ")
		m.Attachments = append(m.Attachments, sources.Attachment{
			ID:          partID(path),
			Name:        name,
			ContentType: t,
			Size:        n,
			ContentID:   cid,
			Inline:      disp == "inline" || disp == "" && cid != "",
		})
		return nil
	})
	return m, err
}

// readBody reads a body, keeping at most limit bytes (cut at a character
// boundary) when keep is set; otherwise only its size.
func readBody(r io.Reader, keep bool, limit int64) (*sources.Body, error) {
	if !keep {
		n, err := io.Copy(io.Discard, r)
		return nil, ignoreCharset(err, n)
	}
	data, err := io.ReadAll(r)
	if err := ignoreCharset(err, 0); err != nil {
		return nil, err
	}
	b := &sources.Body{Size: int64(len(data))}
	if limit > 0 && int64(len(data)) > limit {
		cut := int(limit)
		for cut > 0 && !utf8.RuneStart(data[cut]) {
			cut--
		}
		data, b.Truncated = data[:cut], true
	}
	b.Data = string(data)
	return b, nil
}

func ignoreCharset(err error, _ int64) error {
	if err == nil || message.IsUnknownCharset(err) || message.IsUnknownEncoding(err) {
		return nil
	}
	return err
}

// walk calls fn for each leaf part of e in order, with its part path as
// IMAP numbers them: the leaf of a single-part message is [1].
func walk(e *message.Entity, path []int, fn func(path []int, p *message.Entity) error) error {
	mr := e.MultipartReader()
	if mr == nil {
		if len(path) == 0 {
			path = []int{1}
		}
		return fn(path, e)
	}
	defer mr.Close()
	for i := 1; ; i++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			return err
		}
		if err := walk(p, append(slices.Clip(path), i), fn); err != nil {
			return err
		}
	}
}

func partID(path []int) string {
	s := make([]string, len(path))
	for i, n := range path {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ".")
}

// findPart descends e along path.
func findPart(e *message.Entity, path []int) (*message.Entity, error) {
	for i, n := range path {
		mr := e.MultipartReader()
		if mr == nil {
			if i == len(path)-1 && n == 1 && i == 0 {
				return e, nil
			}
			return nil, sources.ErrNotFound
		}
		var p *message.Entity
		for j := 1; j <= n; j++ {
			var err error
			if p, err = mr.NextPart(); err == io.EOF {
				return nil, sources.ErrNotFound
			} else if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
				return nil, err
			}
		}
		e = p
	}
	return e, nil
}

// OpenAttachment implements sources.Attachments: it streams the message
// and returns the decoded part, without holding the message in memory.
func (s *Source) OpenAttachment(ctx context.Context, ref sources.AttachmentRef) (sources.Attachment, io.ReadCloser, error) {
	u, err := parseUID(ref.Item)
	if err != nil || isDAV(ref.Folder) {
		return sources.Attachment{}, nil, fmt.Errorf("imapdav: attachment %q of %q: %w", ref.ID, ref.Item, sources.ErrNotFound)
	}
	var path []int
	for _, p := range strings.Split(ref.ID, ".") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			return sources.Attachment{}, nil, fmt.Errorf("imapdav: attachment id %q: %w", ref.ID, sources.ErrNotFound)
		}
		path = append(path, n)
	}
	rc, err := s.openMessage(ctx, ref.Folder, u)
	if err != nil {
		return sources.Attachment{}, nil, err
	}
	e, err := message.Read(rc)
	if err == nil || message.IsUnknownCharset(err) || message.IsUnknownEncoding(err) {
		e, err = findPart(e, path)
	}
	if err != nil {
		rc.Close()
		if errors.Is(err, sources.ErrNotFound) {
			return sources.Attachment{}, nil, fmt.Errorf("imapdav: attachment %q of %q: %w", ref.ID, ref.Item, err)
		}
		return sources.Attachment{}, nil, fmt.Errorf("imapdav: attachment %q of %q: %w", ref.ID, ref.Item, err)
	}
	t, params, _ := e.Header.ContentType()
	_, dparams, _ := e.Header.ContentDisposition()
	a := sources.Attachment{ID: ref.ID, Name: dparams["filename"], ContentType: t, Size: -1,
		ContentID: strings.Trim(e.Header.Get("Content-Id"), "<> ")}
	if a.Name == "" {
		a.Name = params["name"]
	}
	return a, struct {
		io.Reader
		io.Closer
	}{e.Body, rc}, nil
}

// addrs reads the addresses of field key. It stays apart from
// sources.HeaderAddresses because go-message's header decodes encoded
// words in every charset, where net/mail knows three.
func addrs(h mail.Header, key string) []sources.Address {
	l, _ := h.AddressList(key)
	if len(l) == 0 {
		return nil
	}
	out := make([]sources.Address, len(l))
	for i, a := range l {
		out[i] = sources.Address{Name: a.Name, Email: a.Address}
	}
	return out
}
