package graph

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/http"
	netmail "net/mail"
	"net/textproto"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/easgate/easgate/sources"
)

// Sending (§4.3, §4.2). Graph takes request bodies of about 4 MB at most
// (A10), and a MIME message travels base64-encoded, so sendMail carries
// messages up to 3 MB. A larger one is sent the way Graph provides for
// large attachments: its biggest attachments come out of the MIME, the
// rest becomes a draft, each attachment is added to the draft (by an
// upload session above smallAttachment), and the draft is sent.

const (
	// maxSendSize is the largest MIME message sendMail takes.
	maxSendSize = 3 << 20
	// maxMessageSize is the largest message sent at all: Graph's 150 MB
	// per attachment, Exchange Online's message size limit is lower by
	// default (35 MB) and refuses bigger ones itself.
	maxMessageSize = 150 << 20
	// smallAttachment is the largest attachment added with one POST: its
	// base64 must stay within the request ceiling.
	smallAttachment = 2 << 20
	// uploadChunk is the fragment of an upload session: under Graph's
	// 4 MB, a multiple of 320 KiB as upload sessions elsewhere need.
	uploadChunk = 10 * 320 << 10
)

// Send implements sources.Sender: MIME sendMail up to 3 MB, the draft
// route above it. Graph always files a MIME send in Sent Items (A11), so
// saveInSent false is not honoured.
func (s *Source) Send(ctx context.Context, msg io.Reader, saveInSent bool) error {
	raw, err := io.ReadAll(io.LimitReader(msg, maxMessageSize+1))
	if err != nil {
		return fmt.Errorf("graph: send: %w", err)
	}
	if len(raw) > maxMessageSize {
		return fmt.Errorf("graph: send: message over %d bytes: %w", maxMessageSize, sources.ErrTooLarge)
	}
	if len(raw) <= maxSendSize {
		resp, err := s.c.do(ctx, s.id, request{method: "POST", path: s.path + "/sendMail",
			body: []byte(base64.StdEncoding.EncodeToString(raw)), ctype: "text/plain"})
		if err != nil {
			return fmt.Errorf("graph: send: %w", err)
		}
		resp.Body.Close()
		return nil
	}
	rest, atts, err := splitAttachments(raw, maxSendSize)
	if err != nil {
		return fmt.Errorf("graph: send: %w", err)
	}
	var draft graphMessage
	resp, err := s.c.do(ctx, s.id, request{method: "POST", path: s.path + "/messages",
		body: []byte(base64.StdEncoding.EncodeToString(rest)), ctype: "text/plain"})
	if err != nil {
		return fmt.Errorf("graph: send: creating the draft: %w", err)
	}
	err = decodeBody(resp, &draft)
	if err == nil && draft.ID == "" {
		err = errors.New("graph: send: the draft has no id")
	}
	if err != nil {
		return err
	}
	return s.sendDraft(ctx, draft.ID, atts)
}

// sendDraft adds atts to draft id and sends it; the draft is deleted
// again when that fails.
func (s *Source) sendDraft(ctx context.Context, id string, atts []mimeAttachment) error {
	msgPath := s.path + "/messages/" + url.PathEscape(id)
	err := func() error {
		for i := range atts {
			if err := s.attach(ctx, msgPath, &atts[i]); err != nil {
				return err
			}
		}
		resp, err := s.c.do(ctx, s.id, request{method: "POST", path: msgPath + "/send"})
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}()
	if err != nil {
		if derr := s.c.sendJSON(context.WithoutCancel(ctx), s.id, "DELETE", msgPath, nil, nil, ""); derr != nil {
			s.b.log.Warn("graph: deleting a draft that could not be sent", "mailbox", s.upn, "err", derr)
		}
		return fmt.Errorf("graph: send: %w", err)
	}
	return nil
}

// attach adds a to the message at msgPath: one POST when small, an
// upload session otherwise ([D] outlook-large-attachments).
func (s *Source) attach(ctx context.Context, msgPath string, a *mimeAttachment) error {
	if len(a.data) <= smallAttachment {
		j := map[string]any{"@odata.type": "#microsoft.graph.fileAttachment", "name": a.name, "contentType": a.ctype,
			"contentBytes": a.data, "isInline": a.inline}
		if a.cid != "" {
			j["contentId"] = a.cid
		}
		return s.c.sendJSON(ctx, s.id, "POST", msgPath+"/attachments", j, nil, "")
	}
	item := map[string]any{"attachmentType": "file", "name": a.name, "size": len(a.data), "contentType": a.ctype, "isInline": a.inline}
	if a.cid != "" {
		item["contentId"] = a.cid
	}
	var us struct {
		UploadURL string `json:"uploadUrl"`
	}
	if err := s.c.sendJSON(ctx, s.id, "POST", msgPath+"/attachments/createUploadSession", map[string]any{"AttachmentItem": item}, &us, ""); err != nil {
		return fmt.Errorf("upload session for %q: %w", a.name, err)
	}
	if us.UploadURL == "" {
		return fmt.Errorf("upload session for %q: no uploadUrl", a.name)
	}
	for from := 0; from < len(a.data); from += uploadChunk {
		to := min(from+uploadChunk, len(a.data))
		// The URL is pre-authenticated: no Authorization header ([D]).
		resp, err := s.c.do(ctx, s.id, request{method: "PUT", path: us.UploadURL, body: a.data[from:to],
			ctype: "application/octet-stream", preauth: true, contentRange: fmt.Sprintf("bytes %d-%d/%d", from, to-1, len(a.data))})
		if err != nil {
			return fmt.Errorf("uploading %q at %d: %w", a.name, from, err)
		}
		resp.Body.Close()
	}
	return nil
}

// decodeBody decodes a JSON answer and closes it.
func decodeBody(resp *http.Response, out any) error {
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out); err != nil {
		return fmt.Errorf("graph: decoding: %w", err)
	}
	return nil
}

// mimeAttachment is an attachment taken out of a MIME message.
type mimeAttachment struct {
	name, ctype, cid string
	inline           bool
	data             []byte
	raw              int // bytes it took in the MIME
}

// splitAttachments takes the largest attachments out of the top level of
// a multipart message until what remains fits in limit. A message that
// cannot be made to fit is ErrTooLarge.
func splitAttachments(raw []byte, limit int) ([]byte, []mimeAttachment, error) {
	head, body, ok := cutHeader(raw)
	if !ok {
		return nil, nil, fmt.Errorf("no header: %w", sources.ErrTooLarge)
	}
	m, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the message: %w", err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return nil, nil, fmt.Errorf("a single-part message over %d bytes: %w", limit, sources.ErrTooLarge)
	}
	pre, parts, post := splitParts(body, params["boundary"])
	type cand struct {
		i int
		a mimeAttachment
	}
	var cands []cand
	for i, p := range parts {
		if a, ok := partAttachment(p); ok {
			cands = append(cands, cand{i, a})
		}
	}
	slices.SortFunc(cands, func(x, y cand) int { return y.a.raw - x.a.raw })
	size := len(raw)
	drop := make(map[int]bool)
	var atts []mimeAttachment
	for _, c := range cands {
		if size <= limit {
			break
		}
		drop[c.i] = true
		size -= c.a.raw
		atts = append(atts, c.a)
	}
	if size > limit {
		return nil, nil, fmt.Errorf("the message without its attachments is over %d bytes: %w", limit, sources.ErrTooLarge)
	}
	var out bytes.Buffer
	out.Write(head)
	out.Write(pre)
	delim := "--" + params["boundary"]
	for i, p := range parts {
		if drop[i] {
			continue
		}
		out.WriteString(delim + "\r\n")
		out.Write(p)
		out.WriteString("\r\n")
	}
	out.WriteString(delim + "--\r\n")
	out.Write(post)
	// The rebuilt delimiters may differ in length from the original ones.
	if out.Len() > limit {
		return nil, nil, fmt.Errorf("the message without its attachments is over %d bytes: %w", limit, sources.ErrTooLarge)
	}
	return out.Bytes(), atts, nil
}

// cutHeader splits a message after the blank line that ends its header.
func cutHeader(raw []byte) (head, body []byte, ok bool) {
	for _, sep := range []string{"\r\n\r\n", "\n\n"} {
		if i := bytes.Index(raw, []byte(sep)); i >= 0 {
			return raw[:i+len(sep)], raw[i+len(sep):], true
		}
	}
	return nil, nil, false
}

// splitParts cuts a multipart body at its delimiter lines: the preamble,
// each part's raw bytes (header and body, without the line break before
// the next delimiter) and the epilogue.
func splitParts(body []byte, boundary string) (pre []byte, parts [][]byte, post []byte) {
	delim := []byte("--" + boundary)
	start, inPart := -1, false
	pos := 0
	for pos <= len(body) {
		end := bytes.IndexByte(body[pos:], '\n')
		next := len(body) + 1
		line := body[pos:]
		if end >= 0 {
			line, next = body[pos:pos+end], pos+end+1
		}
		t := bytes.TrimRight(line, " \t\r")
		if bytes.HasPrefix(t, delim) && (len(t) == len(delim) || bytes.Equal(t[len(delim):], []byte("--"))) {
			cut := pos
			if cut > 0 && body[cut-1] == '\n' {
				cut--
				if cut > 0 && body[cut-1] == '\r' {
					cut--
				}
			}
			if inPart {
				parts = append(parts, body[start:max(cut, start)])
			} else {
				pre = body[:pos]
			}
			if len(t) > len(delim) { // the close delimiter
				if next <= len(body) {
					post = body[next:]
				}
				return pre, parts, post
			}
			start, inPart = min(next, len(body)), true
		}
		pos = next
	}
	if inPart {
		parts = append(parts, body[start:])
	}
	return pre, parts, post
}

var wordDecoder = &mime.WordDecoder{}

// partAttachment reads a raw part as an attachment: one with a
// Content-Disposition of attachment, or a file name, and not a multipart.
func partAttachment(p []byte) (mimeAttachment, bool) {
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(p)))
	h, err := r.ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return mimeAttachment{}, false
	}
	ct, cparams, _ := mime.ParseMediaType(h.Get("Content-Type"))
	disp, dparams, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	name := dparams["filename"]
	if name == "" {
		name = cparams["name"]
	}
	if strings.HasPrefix(ct, "multipart/") || (disp != "attachment" && name == "") {
		return mimeAttachment{}, false
	}
	if d, err := wordDecoder.DecodeHeader(name); err == nil {
		name = d
	}
	if name == "" {
		name = "attachment"
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	_, content, _ := cutHeader(p)
	data, err := decodeCTE(h.Get("Content-Transfer-Encoding"), content)
	if err != nil {
		return mimeAttachment{}, false
	}
	return mimeAttachment{name: name, ctype: ct, cid: strings.Trim(h.Get("Content-Id"), "<> "), inline: disp == "inline",
		data: data, raw: len(p)}, true
}

// decodeCTE undoes a Content-Transfer-Encoding.
func decodeCTE(cte string, content []byte) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		return io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(bytes.Map(dropSpace, content))))
	case "quoted-printable":
		return io.ReadAll(quotedprintable.NewReader(bytes.NewReader(content)))
	}
	return content, nil
}

func dropSpace(r rune) rune {
	if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
		return -1
	}
	return r
}

var htmlTags = regexp.MustCompile(`<[^>]*>`)

// Reply implements sources.Replier with createReply or createForward
// (§4.3): Graph writes the quote of the original (and a forward keeps
// its attachments); the client's text becomes the comment, its
// recipients and subject the draft's, and its own attachments are added
// before the draft is sent. Graph files the copy in Sent Items (A11).
func (s *Source) Reply(ctx context.Context, orig sources.ItemRef, msg []byte, o sources.ReplyOptions) error {
	if graphID(orig.Folder) != string(orig.Folder) || orig.Folder == prefixDirectory {
		return fmt.Errorf("graph: reply to %s: not mail: %w", orig.Folder, sources.ErrUnsupported)
	}
	if len(msg) > maxMessageSize {
		return fmt.Errorf("graph: reply: message over %d bytes: %w", maxMessageSize, sources.ErrTooLarge)
	}
	m, err := netmail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		return fmt.Errorf("graph: reply: reading the message: %w", err)
	}
	text, atts := newText(msg, m)
	draftMsg := map[string]any{}
	for _, f := range []struct{ hdr, prop string }{{"To", "toRecipients"}, {"Cc", "ccRecipients"}, {"Bcc", "bccRecipients"}} {
		if list, err := m.Header.AddressList(f.hdr); err == nil && len(list) > 0 {
			var rs []sources.Address
			for _, a := range list {
				rs = append(rs, sources.Address{Name: a.Name, Email: a.Address})
			}
			draftMsg[f.prop] = toRecipients(rs)
		}
	}
	if subj, err := wordDecoder.DecodeHeader(m.Header.Get("Subject")); err == nil && subj != "" {
		draftMsg["subject"] = subj
	}
	action := "createReply"
	if o.Forward {
		action = "createForward"
	}
	var draft graphMessage
	err = s.c.sendJSON(ctx, s.id, "POST", s.path+"/messages/"+url.PathEscape(string(orig.ID))+"/"+action,
		map[string]any{"comment": text, "message": draftMsg}, &draft, "")
	if err != nil {
		return fmt.Errorf("graph: %s of %s: %w", action, orig.ID, err)
	}
	if draft.ID == "" {
		return fmt.Errorf("graph: %s of %s: the draft has no id", action, orig.ID)
	}
	return s.sendDraft(ctx, draft.ID, atts)
}

// newText returns the text of the client's new message (its first plain
// text part, or its first HTML part without tags) and its attachments.
func newText(raw []byte, m *netmail.Message) (string, []mimeAttachment) {
	mt, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	_, body, _ := cutHeader(raw)
	if !strings.HasPrefix(mt, "multipart/") {
		return decodeText(m.Header.Get("Content-Transfer-Encoding"), mt, body), nil
	}
	var text, html string
	var atts []mimeAttachment
	var walk func(body []byte, boundary string, depth int)
	walk = func(body []byte, boundary string, depth int) {
		_, parts, _ := splitParts(body, boundary)
		for _, p := range parts {
			if a, ok := partAttachment(p); ok {
				atts = append(atts, a)
				continue
			}
			h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(p))).ReadMIMEHeader()
			if err != nil && len(h) == 0 {
				continue
			}
			ct, cp, _ := mime.ParseMediaType(h.Get("Content-Type"))
			_, content, _ := cutHeader(p)
			switch {
			case strings.HasPrefix(ct, "multipart/") && depth < 8:
				walk(content, cp["boundary"], depth+1)
			case (ct == "text/plain" || ct == "") && text == "":
				text = decodeText(h.Get("Content-Transfer-Encoding"), ct, content)
			case ct == "text/html" && html == "":
				html = decodeText(h.Get("Content-Transfer-Encoding"), ct, content)
			}
		}
	}
	walk(body, params["boundary"], 0)
	if text == "" && html != "" {
		text = strings.TrimSpace(htmlTags.ReplaceAllString(html, ""))
	}
	return text, atts
}

// decodeText undoes a part's transfer encoding; HTML loses its tags.
func decodeText(cte, ct string, content []byte) string {
	b, err := decodeCTE(cte, content)
	if err != nil {
		b = content
	}
	if ct == "text/html" {
		return strings.TrimSpace(htmlTags.ReplaceAllString(string(b), ""))
	}
	return strings.TrimRight(string(b), "\r\n")
}
