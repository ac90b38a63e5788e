package gateway

import (
	"context"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

// The collection classes of MS-ASCMD 2.2.3.27.
const (
	classEmail    = "Email"
	classCalendar = "Calendar"
	classContacts = "Contacts"
	classTasks    = "Tasks"
	classNotes    = "Notes"
)

// bodyPrefs is what a client asked for in a collection's Options: the
// body types it takes in order of preference (12.0 and later) or the 2.5
// truncation codes, and the user's zone for date-only values.
type bodyPrefs struct {
	v     eas.ProtocolVersion
	class string

	prefs []eas.BodyPreference // 12.0 and later, in the client's order

	truncation     *int // 2.5 Truncation code, nil for none
	mimeSupport    int  // 0 never, 1 S/MIME only, 2 always
	mimeTruncation *int // MIMETruncation code, nil for none

	// zone is the user's time zone: birthdays, task dates and flag dates
	// are wall-clock dates in it. Nil means UTC.
	zone *time.Location

	// src is the user's store, which reads the calendar part of an
	// invitation its adapter left unread (meetingOf); nil skips that.
	src sources.Source

	// self is the user's address, which finds the user among a meeting's
	// attendees; "" leaves the user's answer out.
	self string
}

// newBodyPrefs reads the Options of a Sync, ItemOperations or Search for
// class; o may be nil. Without a BodyPreference a 12.0 client gets plain
// text in full, as MS-ASAIRS 2.2.2.12 leaves the default to the server.
func newBodyPrefs(v eas.ProtocolVersion, class string, o *eas.SyncOptions) bodyPrefs {
	p := bodyPrefs{v: v, class: class}
	if o != nil {
		p.truncation = o.Truncation
		p.mimeSupport = o.MIMESupport
		p.mimeTruncation = o.MIMETruncation
		for _, bp := range o.BodyPreference {
			if bp.Type == int(eas.BodyRTF) {
				continue // no store gives compressed RTF: the next preference serves
			}
			p.prefs = append(p.prefs, bp)
		}
	}
	if len(p.prefs) == 0 {
		p.prefs = []eas.BodyPreference{{Type: int(eas.BodyPlainText)}}
	}
	return p
}

// location returns the user's zone.
func (p bodyPrefs) location() *time.Location {
	if p.zone == nil {
		return time.UTC
	}
	return p.zone
}

// getOptions says which parts of a message the store should fetch. Bodies
// are cut at the largest size any preference asks for, but never below
// what a preview needs.
func (p bodyPrefs) getOptions() *sources.GetOptions {
	o := &sources.GetOptions{}
	if p.class != classEmail {
		return o
	}
	if p.v == eas.V25 {
		if p.mimeSupport > 0 {
			o.MIME = true
		}
		o.Text, o.HTML = true, true // an HTML-only message gives its text from the HTML
		if n, ok := truncationBytes(p.truncation); ok {
			o.BodyLimit = max(n, 1)
		}
		return o
	}
	unlimited := false
	var limit, preview int64
	for _, bp := range p.prefs {
		switch eas.BodyType(bp.Type) {
		case eas.BodyPlainText:
			o.Text = true
		case eas.BodyHTML:
			o.HTML = true
		case eas.BodyMIME:
			o.MIME = true
			continue
		}
		if bp.TruncationSize == nil {
			unlimited = true
		} else {
			limit = max(limit, int64(*bp.TruncationSize))
		}
		if bp.Preview > 0 {
			preview = max(preview, int64(bp.Preview))
		}
	}
	if preview > 0 && p.v >= eas.V140 {
		o.Text = true // previews are plain text
		limit = max(limit, 4*preview+64)
	}
	if o.Text || o.HTML {
		// Stores keep one form or both; each form is made from the other
		// when a message lacks it.
		o.Text, o.HTML = true, true
	}
	if !unlimited {
		o.BodyLimit = max(limit, 1)
	}
	return o
}

// truncationBytes maps a 2.5 Truncation code to a byte limit;
// MS-ASCMD 2.2.3.185. ok is false for no truncation.
func truncationBytes(code *int) (n int64, ok bool) {
	if code == nil {
		return 0, false
	}
	sizes := [...]int64{0, 512, 1024, 2048, 5120, 10240, 20480, 51200, 102400}
	if *code < 0 || *code >= len(sizes) {
		return 0, false
	}
	return sizes[*code], true
}

// mimeTruncationBytes maps a MIMETruncation code to a byte limit;
// MS-ASCMD 2.2.3.108. ok is false for no truncation.
func mimeTruncationBytes(code *int) (n int64, ok bool) {
	if code == nil {
		return 0, false
	}
	sizes := [...]int64{0, 4096, 5120, 7168, 10240, 20480, 51200, 102400}
	if *code < 0 || *code >= len(sizes) {
		return 0, false
	}
	return sizes[*code], true
}

// bodySource is what an item can give as a body: its text and HTML forms
// and, for mail, the raw message.
type bodySource struct {
	text, html *sources.Body
	mime       sources.OpenFunc
	mimeSize   int64
}

func (s bodySource) has(t eas.BodyType) bool {
	switch t {
	case eas.BodyPlainText:
		return s.text != nil || s.html != nil
	case eas.BodyHTML:
		return s.html != nil || s.text != nil
	case eas.BodyMIME:
		return s.mime != nil
	}
	return false
}

// plainBody returns the body for a non-mail item, whose store keeps plain
// text only.
func plainBody(text string) bodySource {
	if text == "" {
		return bodySource{}
	}
	return bodySource{text: &sources.Body{Data: text, Size: int64(len(text))}}
}

// body builds the AirSyncBase:Body for the first preferred type src can
// give. It returns nil when src is empty and nothing was asked in MIME.
func (p bodyPrefs) body(ctx context.Context, src bodySource) (*eas.Body, error) {
	pref := p.prefs[0]
	for _, bp := range p.prefs {
		if src.has(eas.BodyType(bp.Type)) {
			pref = bp
			break
		}
	}
	typ := eas.BodyType(pref.Type)
	if !src.has(typ) {
		if src.text == nil && src.html == nil {
			return nil, nil
		}
		typ = eas.BodyPlainText
	}
	var data string
	var size int64
	truncated := false
	switch typ {
	case eas.BodyMIME:
		size = src.mimeSize
		if pref.AllOrNone && pref.TruncationSize != nil && size > int64(*pref.TruncationSize) {
			break // not read: nothing of it will be sent
		}
		var lim int64
		if pref.TruncationSize != nil {
			lim = int64(*pref.TruncationSize)
		}
		b, err := readMIME(ctx, src.mime, lim, pref.TruncationSize != nil)
		if err != nil {
			return nil, err
		}
		data = string(b)
		if size <= 0 {
			size = int64(len(b))
		}
	case eas.BodyHTML:
		data, size, truncated = htmlOf(src)
	default:
		data, size, truncated = textOf(src)
	}
	b := &eas.Body{Type: typ}
	if pref.TruncationSize != nil && int64(len(data)) > int64(*pref.TruncationSize) {
		data, truncated = cutUTF8(data, int(*pref.TruncationSize)), true
	}
	if typ == eas.BodyMIME && size > int64(len(data)) {
		truncated = true
	}
	if pref.AllOrNone && pref.TruncationSize != nil && size > int64(*pref.TruncationSize) {
		// MS-ASAIRS 2.2.2.3: all of it or nothing.
		data, truncated = "", true
	} else {
		b.Data = &data
	}
	b.EstimatedDataSize = ptr(uint32(min(size, 1<<32-1)))
	b.Truncated = ptr(truncated)
	if pref.Preview > 0 && p.v >= eas.V140 {
		t, _, _ := textOf(src)
		b.Preview = preview(t, pref.Preview)
	}
	return b, nil
}

// textBody is body for the plain-text bodies of contacts, events, tasks
// and notes, which need no store access and cannot fail.
func (p bodyPrefs) textBody(text string) *eas.Body {
	b, _ := p.body(context.Background(), plainBody(text))
	return b
}

// body25 returns the 2.5 body fields: the text cut at the Truncation
// code, its whole size and whether it was cut.
func (p bodyPrefs) body25(src bodySource) (data *string, size *uint32, truncated *bool) {
	t, n, cut := textOf(src)
	if t == "" && n == 0 {
		return nil, nil, nil
	}
	if lim, ok := truncationBytes(p.truncation); ok && int64(len(t)) > lim {
		t, cut = cutUTF8(t, int(lim)), true
	}
	return &t, ptr(uint32(min(n, 1<<32-1))), ptr(cut)
}

// readMIME reads the raw message, at most limit bytes when limited.
func readMIME(ctx context.Context, open sources.OpenFunc, limit int64, limited bool) ([]byte, error) {
	rc, err := open(ctx)
	if err != nil {
		return nil, fmt.Errorf("gateway: open MIME: %w", err)
	}
	defer rc.Close()
	var r io.Reader = rc
	if limited {
		r = io.LimitReader(rc, limit)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("gateway: read MIME: %w", err)
	}
	return b, nil
}

func textOf(s bodySource) (data string, size int64, truncated bool) {
	switch {
	case s.text != nil:
		return s.text.Data, s.text.Size, s.text.Truncated
	case s.html != nil:
		t := htmlToText(s.html.Data)
		if s.html.Truncated {
			return t, max(s.html.Size, int64(len(t))), true
		}
		return t, int64(len(t)), false
	}
	return "", 0, false
}

func htmlOf(s bodySource) (data string, size int64, truncated bool) {
	switch {
	case s.html != nil:
		return s.html.Data, s.html.Size, s.html.Truncated
	case s.text != nil:
		h := textToHTML(s.text.Data)
		return h, int64(len(h)) + max(0, s.text.Size-int64(len(s.text.Data))), s.text.Truncated
	}
	return "", 0, false
}

// textToHTML wraps plain text so that a client asking for HTML only
// shows it as written.
func textToHTML(s string) string {
	return "<html><body><pre>" + html.EscapeString(s) + "</pre></body></html>"
}

// htmlToText reduces HTML to readable text: tags and the contents of
// script and style dropped, block ends made line breaks, entities
// decoded. It is for previews and plain-text fallbacks, not rendering.
func htmlToText(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			b.WriteString(html.UnescapeString(s))
			break
		}
		b.WriteString(html.UnescapeString(s[:i]))
		s = s[i:]
		j := strings.IndexByte(s, '>')
		if j < 0 {
			break
		}
		closing := strings.HasPrefix(s[1:j], "/")
		name, _, _ := strings.Cut(strings.ToLower(strings.TrimLeft(s[1:j], "/")), " ")
		s = s[j+1:]
		switch name {
		case "script", "style", "head":
			if k := strings.Index(strings.ToLower(s), "</"+name); !closing && k >= 0 {
				s = s[k:]
			}
		case "br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6":
			b.WriteByte('\n')
		}
	}
	return strings.TrimSpace(b.String())
}

// preview returns the first n characters of text with runs of white
// space collapsed. MS-ASAIRS 2.2.2.35.
func preview(text string, n int) string {
	var b strings.Builder
	space, count := false, 0
	for _, r := range strings.TrimSpace(text) {
		if unicode.IsSpace(r) {
			space = true
			continue
		}
		if space {
			if count == n {
				break
			}
			b.WriteByte(' ')
			count++
			space = false
		}
		if count == n {
			break
		}
		b.WriteRune(r)
		count++
	}
	return b.String()
}

// cutUTF8 cuts s to at most n bytes without splitting a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// bodyText reads a client's body as plain text: HTML is reduced to text
// for the stores of contacts, events, tasks and notes, which keep text.
func bodyText(b *eas.Body) string {
	if b == nil || b.Data == nil {
		return ""
	}
	if b.Type == eas.BodyHTML {
		return htmlToText(*b.Data)
	}
	return *b.Data
}

// fileReference names an attachment for ItemOperations Fetch and
// GetAttachment: the folder, item and attachment ids, each base64url
// encoded and joined with ':', which the base64url alphabet lacks.
func fileReference(ref sources.AttachmentRef) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(ref.Folder)) + ":" + enc.EncodeToString([]byte(ref.Item)) + ":" + enc.EncodeToString([]byte(ref.ID))
}

// parseFileReference reverses fileReference.
func parseFileReference(s string) (sources.AttachmentRef, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return sources.AttachmentRef{}, errBadFileReference
	}
	var dec [3][]byte
	for i, p := range parts {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil || len(b) == 0 {
			return sources.AttachmentRef{}, errBadFileReference
		}
		dec[i] = b
	}
	return sources.AttachmentRef{Folder: sources.FolderID(dec[0]), Item: sources.ItemID(dec[1]), ID: string(dec[2])}, nil
}

// toEAS converts a store item into the payload of class for protocol
// version v, ready for ApplicationData or Properties.
func toEAS(ctx context.Context, it *sources.Item, v eas.ProtocolVersion, p bodyPrefs) (eas.Raw, error) {
	p.v = v
	switch {
	case it.Mail != nil:
		m, err := mailToEAS(ctx, it, v, p)
		if err != nil {
			return eas.Raw{}, err
		}
		return eas.RawValue(m), nil
	case it.Contact != nil:
		return eas.RawValue(contactToEAS(it.Contact, v, p)), nil
	case it.Event != nil:
		return eas.RawValue(eventToEAS(it.Event, v, p)), nil
	case it.Task != nil:
		return eas.RawValue(taskToEAS(it.Task, v, p)), nil
	case it.Note != nil:
		if v < eas.V140 {
			return eas.Raw{}, fmt.Errorf("gateway: notes need 14.0, have %s: %w", v, sources.ErrUnsupported)
		}
		return eas.RawValue(noteToEAS(it, p)), nil
	}
	return eas.Raw{}, fmt.Errorf("gateway: item %q has no content", it.ID)
}

// fromEAS converts a client's ApplicationData of class into a store item.
// For a Change, old is the current item: properties the client did not
// send keep their values (MS-ASCMD 2.2.3.168, ghosted properties), and
// properties sent empty are cleared.
func fromEAS(class string, raw eas.Raw, v eas.ProtocolVersion, old *sources.Item) (*sources.Item, error) {
	sent, err := sentElements(raw)
	if err != nil {
		return nil, err
	}
	it := &sources.Item{}
	if old != nil {
		it.ID, it.Folder, it.ETag, it.Modified = old.ID, old.Folder, old.ETag, old.Modified
	}
	switch class {
	case classEmail:
		var m eas.Email
		if err := raw.Decode(&m); err != nil {
			return nil, err
		}
		var prev *sources.Message
		if old != nil {
			prev = old.Mail
		}
		it.Mail = mailFromEAS(&m, sent, prev)
	case classContacts:
		var c eas.Contact
		if err := raw.Decode(&c); err != nil {
			return nil, err
		}
		var prev *sources.Contact
		if old != nil {
			prev = old.Contact
		}
		it.Contact, err = contactFromEAS(&c, sent, prev)
	case classCalendar:
		var c eas.Calendar
		if err := raw.Decode(&c); err != nil {
			return nil, err
		}
		var prev *sources.Event
		if old != nil {
			prev = old.Event
		}
		it.Event = eventFromEAS(&c, sent, prev)
	case classTasks:
		var t eas.Task
		if err := raw.Decode(&t); err != nil {
			return nil, err
		}
		var prev *sources.Task
		if old != nil {
			prev = old.Task
		}
		it.Task = taskFromEAS(&t, sent, prev)
	case classNotes:
		var n eas.Note
		if err := raw.Decode(&n); err != nil {
			return nil, err
		}
		var prev *sources.Note
		if old != nil {
			prev = old.Note
		}
		it.Note = noteFromEAS(&n, sent, prev)
	default:
		return nil, fmt.Errorf("gateway: class %q: %w", class, sources.ErrUnsupported)
	}
	if err != nil {
		return nil, err
	}
	return it, nil
}

// elements records which top-level elements a client sent and which of
// them were empty. An empty container (iOS 16.x sends <Recurrence/> and
// <Attendees/> in every Add, testdata/devices/ios) means "none".
type elements map[string]bool // "Page:Name" → had content

func (e elements) has(name string) bool { _, ok := e[name]; return ok }

// empty reports whether name was sent without content.
func (e elements) empty(name string) bool { c, ok := e[name]; return ok && !c }

// sentElements lists the top-level elements of raw.
func sentElements(raw eas.Raw) (elements, error) {
	sent := elements{}
	err := raw.Elements(func(t eas.Tag, content bool) { sent[t.String()] = content })
	return sent, err
}

func ptr[T any](v T) *T { return &v }

// dateTime returns t as a DateTime of form, nil for the zero time.
func dateTime(t time.Time, form eas.DateTimeForm) *eas.DateTime {
	if t.IsZero() {
		return nil
	}
	d := eas.NewDateTime(t, form)
	return &d
}

// timeOf returns d's instant, the zero time for nil.
func timeOf(d *eas.DateTime) time.Time {
	if d == nil {
		return time.Time{}
	}
	return d.Time
}

// wallAsUTC writes t's wall clock in loc as if it were UTC, the form of
// MS-ASTASK StartDate and DueDate.
func wallAsUTC(t time.Time, loc *time.Location) time.Time {
	if t.IsZero() {
		return t
	}
	t = t.In(loc)
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
}

// utcAsWall reverses wallAsUTC.
func utcAsWall(t time.Time, loc *time.Location) time.Time {
	if t.IsZero() {
		return t
	}
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, loc)
}

// categories returns cs for a categories element, nil when empty.
func categories(cs []string) []string {
	if len(cs) == 0 {
		return nil
	}
	return cs
}
