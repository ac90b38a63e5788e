package graphemu

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Attachments (§4.2, [D] outlook-large-attachments,
// attachment-createuploadsession): below 3 MB one POST of a
// fileAttachment with contentBytes; from 3 to 150 MB an upload session
// whose pre-authenticated URL takes PUTs of at most 4 MB, in order.

const (
	maxAttachment = 150 << 20 // [D] largest attachment of an upload session
	maxChunk      = 4 << 20   // [D] "up to 4 MB each time"
	sessionTTL    = 15 * time.Minute
)

// uploadSession is one createUploadSession in progress.
type uploadSession struct {
	mb       *mailbox
	msg      *object
	name     string
	ctype    string
	inline   bool
	cid      string
	size     int64
	data     []byte
	expires  time.Time
	finished bool
}

// addAttachment answers POST …/messages/{id}/attachments with a
// fileAttachment; the 4 MiB request ceiling keeps it below about 3 MB.
func (s *Server) addAttachment(c *call, o *object) *graphError {
	var req struct {
		Type         string `json:"@odata.type"`
		Name         string `json:"name"`
		ContentType  string `json:"contentType"`
		ContentBytes string `json:"contentBytes"`
		IsInline     bool   `json:"isInline"`
		ContentID    string `json:"contentId"`
	}
	if gerr := decodeJSON(c.r, &req); gerr != nil {
		return gerr
	}
	if !strings.EqualFold(req.Type, "#microsoft.graph.fileAttachment") {
		return badRequest("Only file attachments are supported here.")
	}
	data, err := base64.StdEncoding.DecodeString(req.ContentBytes)
	if err != nil {
		return badRequest("contentBytes is not base64.")
	}
	a := &attachment{id: "A" + newID(""), kind: "fileAttachment", name: req.Name, contentType: req.ContentType,
		inline: req.IsInline, contentID: req.ContentID, data: data}
	s.mu.Lock()
	s.attachLocked(c.mb, o, a)
	j := attachmentJSON(a, false)
	s.mu.Unlock()
	s.notify(c.mb, "updated", o)
	writeJSON(c.w, 201, j)
	return nil
}

// attachLocked adds a to message o: a change of the message, which is
// sent as rebuilt from its properties from now on.
func (s *Server) attachLocked(m *mailbox, o *object, a *attachment) {
	if a.contentType == "" {
		a.contentType = "application/octet-stream"
	}
	o.attachments = append(o.attachments, a)
	o.edited = true
	m.touch(o, o.parent, map[string]any{"hasAttachments": true, "lastModifiedDateTime": s.o.Now().UTC().Format(graphTime)})
}

// createUploadSession answers POST …/attachments/createUploadSession.
func (s *Server) createUploadSession(c *call, o *object) *graphError {
	var req struct {
		AttachmentItem *struct {
			AttachmentType string `json:"attachmentType"`
			Name           string `json:"name"`
			Size           int64  `json:"size"`
			ContentType    string `json:"contentType"`
			IsInline       bool   `json:"isInline"`
			ContentID      string `json:"contentId"`
		} `json:"AttachmentItem"`
	}
	if gerr := decodeJSON(c.r, &req); gerr != nil {
		return gerr
	}
	it := req.AttachmentItem
	switch {
	case it == nil || it.Name == "":
		return badRequest("AttachmentItem with a name is required.")
	case it.AttachmentType != "" && !strings.EqualFold(it.AttachmentType, "file"):
		return badRequest("Only file attachments can be uploaded.")
	case it.Size <= 0 || it.Size > maxAttachment:
		return badRequest("The attachment size %d is not between 1 byte and 150 MB.", it.Size)
	}
	token := newID("U")
	exp := s.o.Now().Add(sessionTTL)
	s.mu.Lock()
	s.uploads[token] = &uploadSession{mb: c.mb, msg: o, name: it.Name, ctype: it.ContentType, inline: it.IsInline,
		cid: it.ContentID, size: it.Size, expires: exp}
	s.mu.Unlock()
	writeJSON(c.w, 201, map[string]any{
		"@odata.context":     "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.uploadSession",
		"uploadUrl":          s.link("upload/"+token, nil),
		"expirationDateTime": exp.UTC().Format(graphTime),
		"nextExpectedRanges": []string{"0-"},
	})
	return nil
}

var contentRange = regexp.MustCompile(`^bytes (\d+)-(\d+)/(\d+)$`)

// serveUpload answers a PUT to an upload URL. The URL is
// pre-authenticated: [D] says not to send Authorization with it, and the
// emulator refuses a request that does (chosen: 401, as a token meant for
// graph.microsoft.com is not one for the upload host).
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request, token string) {
	if r.Method == http.MethodDelete {
		s.mu.Lock()
		delete(s.uploads, token)
		s.mu.Unlock()
		w.WriteHeader(204)
		return
	}
	if r.Method != http.MethodPut {
		s.writeError(w, notImplemented(r))
		return
	}
	if r.Header.Get("Authorization") != "" {
		s.writeError(w, errf(401, "InvalidAuthenticationToken", "The upload URL is pre-authenticated; send no Authorization header."))
		return
	}
	s.mu.Lock()
	u := s.uploads[token]
	s.mu.Unlock()
	if u == nil || u.finished || s.o.Now().After(u.expires) {
		s.writeError(w, errf(404, "ErrorItemNotFound", "The upload session does not exist or has expired."))
		return
	}
	m := contentRange.FindStringSubmatch(r.Header.Get("Content-Range"))
	if m == nil {
		s.writeError(w, errf(400, "invalidRequest", "A Content-Range of the form bytes a-b/total is required."))
		return
	}
	from, _ := strconv.ParseInt(m[1], 10, 64)
	to, _ := strconv.ParseInt(m[2], 10, 64)
	total, _ := strconv.ParseInt(m[3], 10, 64)
	if r.ContentLength > maxChunk || to-from+1 > maxChunk {
		s.writeError(w, errf(413, "ErrorRequestEntityTooLarge", "A fragment may hold at most 4 MB."))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxChunk+1))
	if err != nil || len(body) > maxChunk {
		s.writeError(w, errf(413, "ErrorRequestEntityTooLarge", "A fragment may hold at most 4 MB."))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := int64(len(u.data))
	switch {
	case total != u.size:
		s.writeError(w, errf(400, "invalidRequest", "The total %d is not the session's size %d.", total, u.size))
		return
	case from != next || to < from || to >= total:
		// [D] Outlook takes the fragments in order only.
		s.writeError(w, errf(416, "invalidRange", "The fragment %d-%d is not the next expected range %d-.", from, to, next))
		return
	case int64(len(body)) != to-from+1:
		s.writeError(w, errf(400, "invalidRequest", "The body has %d bytes, the range %d.", len(body), to-from+1))
		return
	}
	u.data = append(u.data, body...)
	u.expires = s.o.Now().Add(sessionTTL) // [D] each fragment extends the expiry
	if int64(len(u.data)) < u.size {
		writeJSON(w, 200, map[string]any{"expirationDateTime": u.expires.UTC().Format(graphTime),
			"nextExpectedRanges": []string{strconv.Itoa(len(u.data))}})
		return
	}
	u.finished = true
	delete(s.uploads, token)
	if u.mb.lookup(u.msg.id) != u.msg {
		s.writeError(w, errf(404, "ErrorItemNotFound", "The message is gone."))
		return
	}
	a := &attachment{id: "A" + newID(""), kind: "fileAttachment", name: u.name, contentType: u.ctype,
		inline: u.inline, contentID: u.cid, data: u.data}
	s.attachLocked(u.mb, u.msg, a)
	w.Header().Set("Location", s.link(fmt.Sprintf("v1.0/users('%s')/messages('%s')/attachments('%s')", u.mb.id, u.msg.id, a.id), nil))
	w.WriteHeader(201)
}

// draftMIME is what sending message o submits: its MIME as created, or,
// once its properties or attachments were changed through Graph, a
// message rebuilt from them.
func draftMIME(m *mailbox, o *object) []byte {
	if !o.edited {
		return o.mime
	}
	var b strings.Builder
	hdr := func(k, v string) {
		if v != "" {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	addrs := func(k string) string {
		list, _ := o.props[k].([]any)
		var parts []string
		for _, r := range list {
			j, _ := json.Marshal(r)
			var jr jsonRecipient
			json.Unmarshal(j, &jr)
			if jr.EmailAddress.Address != "" {
				parts = append(parts, jr.String())
			}
		}
		return strings.Join(parts, ", ")
	}
	hdr("From", (jsonRecipient{EmailAddress: struct {
		Name    string `json:"name"`
		Address string `json:"address"`
	}{m.name, m.upn}}).String())
	hdr("To", addrs("toRecipients"))
	hdr("Cc", addrs("ccRecipients"))
	hdr("Bcc", addrs("bccRecipients"))
	subject, _ := o.props["subject"].(string)
	hdr("Subject", mime.QEncoding.Encode("utf-8", subject))
	hdr("Date", time.Now().Format(time.RFC1123Z))
	msgID, _ := o.props["internetMessageId"].(string)
	hdr("Message-ID", msgID)
	// chosen (A12): a reply made by createReply threads with the original.
	hdr("In-Reply-To", o.inReplyTo)
	hdr("References", o.inReplyTo)
	b.WriteString("MIME-Version: 1.0\r\n")
	body, _ := o.props["body"].(map[string]any)
	content, _ := body["content"].(string)
	ct := "text/plain"
	if ctype, _ := body["contentType"].(string); strings.EqualFold(ctype, "html") {
		ct = "text/html"
	}
	bodyPart := "Content-Type: " + ct + "; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" + wrap64([]byte(content))
	if len(o.attachments) == 0 {
		b.WriteString(bodyPart)
		return []byte(b.String())
	}
	var parts strings.Builder
	mw := multipart.NewWriter(&parts)
	b.WriteString("Content-Type: multipart/mixed; boundary=\"" + mw.Boundary() + "\"\r\n\r\n")
	pw, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {ct + "; charset=utf-8"}, "Content-Transfer-Encoding": {"base64"}})
	io.WriteString(pw, wrap64([]byte(content)))
	for _, a := range o.attachments {
		if a.kind != "fileAttachment" {
			continue
		}
		disp := "attachment"
		if a.inline {
			disp = "inline"
		}
		h := textproto.MIMEHeader{"Content-Type": {mime.FormatMediaType(a.contentType, map[string]string{"name": a.name})},
			"Content-Disposition":       {mime.FormatMediaType(disp, map[string]string{"filename": a.name})},
			"Content-Transfer-Encoding": {"base64"}}
		if a.contentID != "" {
			h.Set("Content-Id", "<"+a.contentID+">")
		}
		pw, _ := mw.CreatePart(h)
		io.WriteString(pw, wrap64(a.data))
	}
	mw.Close()
	b.WriteString(parts.String())
	return []byte(b.String())
}

// wrap64 is base64 in lines of 76 characters.
func wrap64(data []byte) string {
	s := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	b.Grow(len(s) + len(s)/76*2 + 2)
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s + "\r\n")
	return b.String()
}
