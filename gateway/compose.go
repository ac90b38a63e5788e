package gateway

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"runtime/debug"
	"strings"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

// What SendMail (MS-ASCMD 2.2.1.17), SmartForward (2.2.1.19) and
// SmartReply (2.2.1.20) share: their message/rfc822 form before 14.0,
// submission through sources.Sender, finding the original message and
// writing a reply or forward around the client's new text.

// mimeRequest builds the typed request of a message/rfc822 body, the form
// of these three commands before 14.0 (MS-ASHTTP 2.2.1.1.2.2): the body is
// the message, and SaveInSent, ItemId, CollectionId, LongId and Occurrence
// come from the query (MS-ASHTTP 2.2.1.1.1.2.5). body is already bounded by
// the server's size limit.
func mimeRequest(q *Request, body io.Reader) (request, error) {
	msg, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	cmd := q.Command.String()
	if len(msg) == 0 {
		return nil, &eas.SchemaError{Command: cmd, Msg: "empty message/rfc822 body"}
	}
	p := q.Params
	src := &eas.ComposeSource{FolderID: p.CollectionID, ItemID: p.ItemID, LongID: p.LongID, InstanceID: p.Occurrence}
	if q.Command != eas.CmdSendMail && src.ItemID == "" && src.LongID == "" {
		return nil, &eas.SchemaError{Command: cmd, Msg: "no ItemId or LongId parameter"}
	}
	switch q.Command {
	case eas.CmdSendMail:
		return &eas.SendMailRequest{SaveInSentItems: p.SaveInSent, Mime: msg}, nil
	case eas.CmdSmartReply:
		return &eas.SmartReplyRequest{Source: src, SaveInSentItems: p.SaveInSent, Mime: msg}, nil
	case eas.CmdSmartForward:
		return &eas.SmartForwardRequest{Source: src, SaveInSentItems: p.SaveInSent, Mime: msg}, nil
	}
	return nil, fmt.Errorf("gateway: %s has no message/rfc822 form", cmd)
}

// checkMessage reads the header of a message from the client: one that
// cannot be read is 107 InvalidMIME, one without a recipient 119
// MessageHasNoRecipient (MS-ASCMD 2.2.2).
func checkMessage(msg []byte) error {
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		return &eas.StatusError{Status: eas.StatusInvalidMIME}
	}
	for _, f := range []string{"To", "Cc", "Bcc"} {
		if l, err := m.Header.AddressList(f); err == nil && len(l) > 0 {
			return nil
		}
	}
	return &eas.StatusError{Status: eas.StatusMessageHasNoRecipient}
}

// send submits msg through the user's store. Its errors are marked
// errSubmission: one the store does not name with a sentinel is a failed
// submission, 120 MailSubmissionFailed (MS-ASCMD 2.2.2), rather than the
// generic 110.
func (s *Server) send(ctx context.Context, sess *Session, msg io.Reader, save bool) error {
	snd, ok := sess.Source.(sources.Sender)
	if !ok {
		return fmt.Errorf("gateway: store cannot send: %w", sources.ErrUnsupported)
	}
	if err := snd.Send(ctx, msg, save); err != nil {
		return fmt.Errorf("%w: %w", errSubmission, err)
	}
	return nil
}

// smartRequest is what SmartReply and SmartForward ask for, in either
// protocol form.
type smartRequest struct {
	cmd         eas.Command
	source      *eas.ComposeSource
	saveInSent  bool
	replaceMime bool
	mime        []byte
	forwardees  []eas.Forwardee // SmartForward, 16.0+
}

func (r *smartRequest) forward() bool { return r.cmd == eas.CmdSmartForward }

// smart answers SmartReply and SmartForward: it fetches the original,
// sends the client's message completed with it (or unchanged, with
// ReplaceMime) and marks the original answered or forwarded.
func (s *Server) smart(ctx context.Context, sess *Session, r *smartRequest) error {
	ref, err := s.originalRef(ctx, sess, r.source)
	if err != nil {
		return err
	}
	// A store that writes replies and forwards itself (Graph) quotes the
	// original better than we can rebuild it, and keeps a forward's
	// attachments without them passing through here. Forwarded meetings
	// (Forwardees) are composed here.
	if rp, ok := sess.Source.(sources.Replier); ok && !r.replaceMime && len(r.forwardees) == 0 {
		if err := checkMessage(r.mime); err != nil {
			return err
		}
		err := rp.Reply(ctx, ref, r.mime, sources.ReplyOptions{Forward: r.forward(), SaveInSent: r.saveInSent})
		switch {
		case err == nil:
			s.markOriginal(ctx, sess, ref, r.forward())
			return nil
		case !errors.Is(err, sources.ErrUnsupported):
			return fmt.Errorf("%w: %w", errSubmission, err)
		}
	}
	items, err := sess.Source.Get(ctx, ref.Folder, []sources.ItemID{ref.ID},
		&sources.GetOptions{Text: true, HTML: true, MIME: r.forward() && !r.replaceMime})
	if err != nil {
		return err
	}
	if len(items) == 0 || items[0].Mail == nil {
		return fmt.Errorf("gateway: original %s/%s: %w", ref.Folder, ref.ID, sources.ErrNotFound)
	}
	orig := items[0].Mail
	if r.replaceMime {
		if err := checkMessage(r.mime); err != nil {
			return err
		}
		err = s.send(ctx, sess, bytes.NewReader(r.mime), r.saveInSent)
	} else {
		var c *composition
		if c, err = s.newComposition(sess, r, ref, orig); err != nil {
			return err
		}
		if c == nil {
			// A charset we cannot convert: the client's text goes out
			// alone rather than garbled.
			err = s.send(ctx, sess, bytes.NewReader(r.mime), r.saveInSent)
		} else {
			err = s.sendComposed(ctx, sess, c, r.saveInSent)
		}
	}
	if err != nil {
		return err
	}
	s.markOriginal(ctx, sess, ref, r.forward())
	return nil
}

// markOriginal sets $answered or $forwarded on the original. The message
// is already sent, so a failure is logged and not reported: a failed status
// would make the device send it again.
func (s *Server) markOriginal(ctx context.Context, sess *Session, ref sources.ItemRef, forward bool) {
	fl, ok := sess.Source.(sources.Flagger)
	if !ok {
		return
	}
	u := sources.FlagUpdate{Answered: ptr(true)}
	if forward {
		u = sources.FlagUpdate{Forwarded: ptr(true)}
	}
	if err := fl.UpdateFlags(ctx, ref.Folder, ref.ID, u); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "flagging original failed", slog.String("user", sess.User),
			slog.String("device_id", sess.Request.DeviceID), slog.Any("err", err))
	}
}

// originalRef resolves the Source of a SmartReply or SmartForward to the
// store's item: a LongId as Search issues it, or a ServerId in FolderId's
// collection. Without FolderId the item is in the Inbox (MS-ASCMD
// 2.2.3.93); our ServerIds name their collection ("CollectionId:N"), which
// is tried first.
func (s *Server) originalRef(ctx context.Context, sess *Session, src *eas.ComposeSource) (sources.ItemRef, error) {
	if src.LongID != "" {
		return parseLongID(src.LongID)
	}
	cid := src.FolderID
	if cid == "" {
		var ok bool
		if cid, _, ok = strings.Cut(src.ItemID, ":"); !ok {
			var err error
			if cid, err = s.inboxCollection(ctx, sess); err != nil {
				return sources.ItemRef{}, err
			}
		}
	}
	ref, err := s.itemRef(ctx, sess, cid, src.ItemID)
	if err != nil {
		return ref, fmt.Errorf("gateway: original %q in %q: %w", src.ItemID, cid, err)
	}
	return ref, nil
}

// inboxCollection returns the CollectionId of the user's inbox.
func (s *Server) inboxCollection(ctx context.Context, sess *Session) (string, error) {
	if s.state == nil {
		return "", errNoState
	}
	fd, err := sess.Source.Folders(ctx, "")
	if err != nil {
		return "", err
	}
	for _, f := range fd.Changed {
		if f.Kind == sources.KindInbox {
			ids, err := s.state.CollectionIDs(ctx, sess.Account, []string{string(f.ID)})
			if err != nil {
				return "", fmt.Errorf("gateway: inbox collection: %w", sources.ErrNotFound)
			}
			return ids[0], nil
		}
	}
	return "", fmt.Errorf("gateway: no inbox: %w", sources.ErrNotFound)
}

// sendComposed writes c into the store's Send through a pipe, so that the
// original's attachments stream from its MIME instead of being held whole.
func (s *Server) sendComposed(ctx context.Context, sess *Session, c *composition, save bool) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		var err error
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("compose panic", "panic", p, "stack", string(debug.Stack()))
				err = fmt.Errorf("gateway: compose panic: %v", p)
			}
			pw.CloseWithError(err)
			done <- err
		}()
		err = c.write(ctx, pw)
	}()
	err := s.send(ctx, sess, pr, save)
	pr.Close() // a Send that stopped reading releases the writer
	if werr := <-done; werr != nil && !errors.Is(werr, io.ErrClosedPipe) {
		// The composition failed first; Send saw only a broken stream.
		return werr
	}
	return err
}

// composition is a reply or forward being written: the client's message
// split into its header fields, its new text and its own attachments, and
// the original it answers.
type composition struct {
	forward    bool
	fields     []string // the client's header fields, raw, without the MIME ones
	to         string   // a replacement To field with the Forwardees added; "" keeps the client's
	extra      []string // fields the client did not set: threading, Subject, Date, From
	text, html string   // the client's text; html is "" when it sent plain text only
	own        []rawPart
	orig       *sources.Message
	ref        sources.ItemRef
	atts       sources.Attachments // for an original without MIME
}

// rawPart is a leaf MIME part kept as it came: header and encoded body.
type rawPart struct {
	header textproto.MIMEHeader
	body   []byte
}

// mimeFields are the client's header fields that the composition replaces.
var mimeFields = map[string]bool{"content-type": true, "content-transfer-encoding": true, "mime-version": true}

// newComposition parses the client's message. It returns nil, nil when
// the client's text is in a charset it cannot convert to UTF-8.
func (s *Server) newComposition(sess *Session, r *smartRequest, ref sources.ItemRef, orig *sources.Message) (*composition, error) {
	c := &composition{forward: r.forward(), orig: orig, ref: ref}
	c.atts, _ = sess.Source.(sources.Attachments)
	h := mail.Header{}
	if len(r.mime) > 0 {
		m, err := mail.ReadMessage(bytes.NewReader(r.mime))
		if err != nil {
			return nil, &eas.StatusError{Status: eas.StatusInvalidMIME}
		}
		h = m.Header
		c.fields = headerFields(r.mime)
		ok, err := c.readClient(textproto.MIMEHeader(h), m.Body)
		if err != nil {
			return nil, &eas.StatusError{Status: eas.StatusInvalidMIME}
		}
		if !ok {
			return nil, nil
		}
	}
	var to []*mail.Address
	if len(r.forwardees) > 0 {
		to, _ = h.AddressList("To")
		for _, f := range r.forwardees {
			to = append(to, &mail.Address{Name: f.Name, Address: f.Email})
		}
		c.to = "To: " + joinAddresses(to) + "\r\n"
	}
	if len(to) == 0 {
		if err := checkMessage(r.mime); err != nil {
			return nil, err
		}
	}
	c.extra = s.missingFields(sess, h, c)
	return c, nil
}

// missingFields returns the header fields a reply or forward needs that
// the client left out.
func (s *Server) missingFields(sess *Session, h mail.Header, c *composition) []string {
	var out []string
	add := func(name, value string) {
		if h.Get(name) == "" {
			out = append(out, name+": "+value+"\r\n")
		}
	}
	if !c.forward && c.orig.MessageID != "" {
		// RFC 5322 3.6.4: the parent's References, or its In-Reply-To,
		// followed by its Message-ID.
		refs := c.orig.References
		if len(refs) == 0 && c.orig.InReplyTo != "" {
			refs = []string{c.orig.InReplyTo}
		}
		refs = append(refs[:len(refs):len(refs)], c.orig.MessageID)
		add("In-Reply-To", "<"+c.orig.MessageID+">")
		add("References", "<"+strings.Join(refs, ">\r\n <")+">")
	}
	prefix := "RE: "
	if c.forward {
		prefix = "FW: "
	}
	add("Subject", mime.QEncoding.Encode("utf-8", prefix+c.orig.Subject))
	add("Date", s.now().Format(time.RFC1123Z))
	if from := s.primaryAddress(sess.User); strings.Contains(from, "@") {
		add("From", from)
	}
	return out
}

// headerFields splits the header of msg into its fields, each with its
// folded lines and line break. net/mail parses a header into a map, which
// loses the order of fields and of repeated ones; the client's fields are
// passed on as written.
func headerFields(msg []byte) []string {
	var fields []string
	sc := bufio.NewScanner(bytes.NewReader(msg))
	sc.Buffer(nil, len(msg)+1)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			break
		}
		if (line[0] == ' ' || line[0] == '\t') && len(fields) > 0 {
			fields[len(fields)-1] += line + "\r\n"
			continue
		}
		fields = append(fields, line+"\r\n")
	}
	return fields
}

// fieldName returns the lower-case name of a raw header field.
func fieldName(f string) string {
	name, _, _ := strings.Cut(f, ":")
	return strings.ToLower(strings.TrimSpace(name))
}

// readClient walks the client's message for its first plain and HTML
// texts; every other leaf is the client's own attachment. It reports false
// when a text's charset cannot be converted.
func (c *composition) readClient(h textproto.MIMEHeader, body io.Reader) (bool, error) {
	err := sources.WalkMIME(h, body, func(h textproto.MIMEHeader, typ string, params map[string]string, body io.Reader) error {
		raw, err := io.ReadAll(body)
		if err != nil {
			return err
		}
		if isBodyText(h, typ) && (typ == "text/plain" && c.text == "" || typ == "text/html" && c.html == "") {
			data, err := io.ReadAll(sources.TransferDecoder(h.Get("Content-Transfer-Encoding"), bytes.NewReader(raw)))
			if err != nil {
				return err
			}
			s, ok := toUTF8(data, params["charset"])
			if !ok {
				return errCharset
			}
			if typ == "text/plain" {
				c.text = s
			} else {
				c.html = s
			}
			return nil
		}
		c.own = append(c.own, rawPart{header: contentFields(h), body: raw})
		return nil
	})
	if errors.Is(err, errCharset) {
		return false, nil
	}
	return err == nil, err
}

// errCharset ends readClient's walk at a text whose charset it cannot
// convert.
var errCharset = errors.New("gateway: unknown charset")

// isBodyText reports whether a leaf part is message text rather than an
// attachment: text/plain or text/html, neither marked as an attachment
// nor named.
func isBodyText(h textproto.MIMEHeader, typ string) bool {
	if typ != "text/plain" && typ != "text/html" {
		return false
	}
	disp, dp, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	_, tp, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return disp != "attachment" && dp["filename"] == "" && tp["name"] == ""
}

// contentFields keeps the Content-* fields of a part's header.
func contentFields(h textproto.MIMEHeader) textproto.MIMEHeader {
	out := textproto.MIMEHeader{}
	for k, v := range h {
		if strings.HasPrefix(strings.ToLower(k), "content-") {
			out[k] = v
		}
	}
	return out
}

// toUTF8 converts text in charset to UTF-8. Only UTF-8, ASCII and Latin-1
// are known: the standard library has no charset tables, devices write
// UTF-8, and a reply in another charset is sent without the quote.
func toUTF8(b []byte, charset string) (string, bool) {
	switch strings.ToLower(charset) {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return strings.ToValidUTF8(string(b), "\uFFFD"), true
	case "iso-8859-1", "latin1", "latin-1":
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		return string(r), true
	}
	return "", false
}

func joinAddresses(as []*mail.Address) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// write writes the whole message: the client's header fields, then a body
// of the client's text followed by the original's, then attachments.
func (c *composition) write(ctx context.Context, w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, f := range c.fields {
		switch n := fieldName(f); {
		case mimeFields[n], n == "to" && c.to != "":
			continue
		}
		bw.WriteString(f)
	}
	bw.WriteString(c.to)
	for _, f := range c.extra {
		bw.WriteString(f)
	}
	bw.WriteString("MIME-Version: 1.0\r\n")
	body := c.bodyPart()
	if len(c.own) == 0 && !(c.forward && len(c.orig.Attachments) > 0) {
		writeHeader(bw, body.header)
		if err := body.write(bw); err != nil {
			return err
		}
		return bw.Flush()
	}
	mw := multipart.NewWriter(bw)
	writeHeader(bw, textproto.MIMEHeader{"Content-Type": {mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": mw.Boundary()})}})
	pw, err := mw.CreatePart(body.header)
	if err != nil {
		return err
	}
	if err := body.write(pw); err != nil {
		return err
	}
	for _, p := range c.own {
		pw, err := mw.CreatePart(p.header)
		if err != nil {
			return err
		}
		if _, err := pw.Write(p.body); err != nil {
			return err
		}
	}
	if c.forward {
		if err := c.copyAttachments(ctx, mw); err != nil {
			return err
		}
	}
	if err := mw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// writeHeader writes h and the blank line that ends it, Content-Type
// first.
func writeHeader(w *bufio.Writer, h textproto.MIMEHeader) {
	for _, k := range []string{"Content-Type", "Content-Transfer-Encoding"} {
		for _, v := range h[k] {
			w.WriteString(k + ": " + v + "\r\n")
		}
	}
	w.WriteString("\r\n")
}

// part is a MIME part still to be written.
type part struct {
	header textproto.MIMEHeader
	write  func(io.Writer) error
}

// bodyPart is the text of the new message: plain text only when the client
// wrote plain text only, else multipart/alternative with both.
func (c *composition) bodyPart() part {
	origText, origHTML := originalText(c.orig)
	text, html := c.plainBody(origText), ""
	if c.html != "" {
		html = c.htmlBody(origHTML)
	}
	if html == "" {
		return textPart("text/plain", text)
	}
	boundary := multipart.NewWriter(io.Discard).Boundary()
	return part{
		header: textproto.MIMEHeader{"Content-Type": {mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": boundary})}},
		write: func(w io.Writer) error {
			mw := multipart.NewWriter(w)
			if err := mw.SetBoundary(boundary); err != nil {
				return err
			}
			for _, p := range []part{textPart("text/plain", text), textPart("text/html", html)} {
				pw, err := mw.CreatePart(p.header)
				if err != nil {
					return err
				}
				if err := p.write(pw); err != nil {
					return err
				}
			}
			return mw.Close()
		},
	}
}

// textPart is UTF-8 text in quoted-printable, which keeps mostly-ASCII text
// readable and line lengths within RFC 5322's limit.
func textPart(typ, s string) part {
	return part{
		header: textproto.MIMEHeader{
			"Content-Type":              {mime.FormatMediaType(typ, map[string]string{"charset": "utf-8"})},
			"Content-Transfer-Encoding": {"quoted-printable"},
		},
		write: func(w io.Writer) error {
			qw := quotedprintable.NewWriter(w)
			if _, err := io.WriteString(qw, s); err != nil {
				return err
			}
			return qw.Close()
		},
	}
}

// originalText returns the original's text as plain text and as an HTML
// fragment, each made from the other when the original lacks it.
func originalText(m *sources.Message) (text, fragment string) {
	switch {
	case m.HTML != nil:
		fragment = htmlInner(m.HTML.Data)
	case m.Text != nil:
		fragment = "<pre>" + html.EscapeString(m.Text.Data) + "</pre>"
	}
	switch {
	case m.Text != nil:
		text = m.Text.Data
	case m.HTML != nil:
		text = htmlToText(m.HTML.Data)
	}
	return text, fragment
}

// htmlInner returns what lies between <body> and </body>, or all of s.
func htmlInner(s string) string {
	lower := strings.ToLower(s)
	if i := strings.Index(lower, "<body"); i >= 0 {
		if j := strings.IndexByte(lower[i:], '>'); j >= 0 {
			s, lower = s[i+j+1:], lower[i+j+1:]
		}
	}
	if k := strings.LastIndex(lower, "</body"); k >= 0 {
		s = s[:k]
	}
	return s
}

// plainBody is the client's text followed by the original's: quoted for
// a reply, after a header block for a forward.
func (c *composition) plainBody(origText string) string {
	text := c.text
	if text == "" && c.html != "" {
		text = htmlToText(c.html)
	}
	var b strings.Builder
	b.WriteString(strings.TrimRight(text, "\r\n"))
	b.WriteString("\r\n\r\n")
	if c.forward {
		b.WriteString(forwardBlock(c.orig, false))
		b.WriteString(origText)
	} else {
		b.WriteString(attribution(c.orig) + "\r\n")
		b.WriteString(quote(origText))
	}
	return b.String()
}

// htmlBody is the client's HTML with the original's inserted before its
// </body>: in a blockquote for a reply, after a header block for a forward.
func (c *composition) htmlBody(origFragment string) string {
	var add string
	if c.forward {
		add = "<div>" + forwardBlock(c.orig, true) + "</div>" + origFragment
	} else {
		add = "<div>" + html.EscapeString(attribution(c.orig)) + "</div>\r\n" +
			`<blockquote style="margin:0 0 0 .8ex;border-left:1px solid #ccc;padding-left:1ex">` +
			origFragment + "</blockquote>"
	}
	add = "<br>\r\n" + add + "\r\n"
	if k := strings.LastIndex(strings.ToLower(c.html), "</body"); k >= 0 {
		return c.html[:k] + add + c.html[k:]
	}
	return c.html + add
}

// formatAddresses renders addresses for people to read.
func formatAddresses(as []sources.Address) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.Email
		if a.Name != "" {
			s[i] = a.Name + " <" + a.Email + ">"
		}
	}
	return strings.Join(s, ", ")
}
