package graphemu

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"
)

const graphTime = "2006-01-02T15:04:05Z"

// serveMail answers mailFolders, messages, sendMail and mailboxSettings.
func (s *Server) serveMail(c *call, rest []string) *graphError {
	low := make([]string, len(rest))
	for i, r := range rest {
		low[i] = strings.ToLower(r)
	}
	get, post, patch, del := c.r.Method == http.MethodGet, c.r.Method == http.MethodPost, c.r.Method == http.MethodPatch, c.r.Method == http.MethodDelete
	switch {
	case low[0] == "sendmail" && len(rest) == 1 && post:
		return s.sendMail(c)
	case low[0] == "mailboxsettings" && len(rest) == 1:
		return s.mailboxSettings(c)
	case low[0] == "mailfolders" && len(rest) == 1 && get:
		return s.listMailFolders(c, "msgfolderroot")
	case low[0] == "mailfolders" && len(rest) == 1 && post:
		return s.createMailFolder(c, "msgfolderroot")
	case low[0] == "mailfolders" && len(rest) == 2 && low[1] == "delta":
		return s.serveDelta(c, deltaSpec{container: hierMail, odataType: "#microsoft.graph.mailFolder",
			path:    c.version + "/users/" + c.mb.id + "/mailFolders/delta",
			context: "https://graph.microsoft.com/v1.0/$metadata#Collection(mailFolder)",
			render:  func(o *object) map[string]any { return s.folderJSON(c.mb, o) }, sel: c.q.Get("$select")})
	case low[0] == "mailfolders" && len(rest) >= 2:
		s.mu.Lock()
		f := s.mailFolder(c.mb, rest[1])
		s.mu.Unlock()
		if f == nil {
			return notFound("folder " + rest[1])
		}
		sub := low[2:]
		switch {
		case len(sub) == 0 && get:
			s.mu.Lock()
			j := selectProps(s.folderJSON(c.mb, f), c.q.Get("$select"))
			s.mu.Unlock()
			writeJSON(c.w, 200, j)
			return nil
		case len(sub) == 0 && patch:
			return s.patchMailFolder(c, f)
		case len(sub) == 0 && del:
			s.mu.Lock()
			s.deleteFolderLocked(c.mb, f)
			s.mu.Unlock()
			s.notify(c.mb, "deleted", f)
			c.w.WriteHeader(204)
			return nil
		case len(sub) == 1 && sub[0] == "move" && post:
			return s.moveMailFolder(c, f)
		case len(sub) == 1 && sub[0] == "childfolders" && get:
			return s.listMailFolders(c, f.id)
		case len(sub) == 1 && sub[0] == "childfolders" && post:
			return s.createMailFolder(c, f.id)
		case len(sub) == 1 && sub[0] == "messages" && get:
			return s.listMessages(c, f)
		case len(sub) == 1 && sub[0] == "messages" && post:
			return s.createMessage(c, f)
		case len(sub) == 2 && sub[0] == "messages" && sub[1] == "delta":
			return s.serveDelta(c, deltaSpec{container: f.id, odataType: "#microsoft.graph.message",
				path:    c.version + "/users/" + c.mb.id + "/mailFolders('" + f.id + "')/messages/delta",
				context: "https://graph.microsoft.com/v1.0/$metadata#Collection(message)",
				render:  func(o *object) map[string]any { return s.messageJSON(c, o) }, sel: c.q.Get("$select")})
		}
	case low[0] == "messages" && len(rest) == 1 && get:
		return s.listMessages(c, nil)
	case low[0] == "messages" && len(rest) == 1 && post:
		s.mu.Lock()
		f := s.mailFolder(c.mb, "drafts")
		s.mu.Unlock()
		return s.createMessage(c, f)
	case low[0] == "messages" && len(rest) >= 2:
		s.mu.Lock()
		o := c.mb.lookup(rest[1])
		s.mu.Unlock()
		if o == nil || o.kind != kindMessage {
			return notFound("message " + rest[1])
		}
		return s.serveMessage(c, o, rest[2:], low[2:])
	}
	return notImplemented(c.r)
}

// mailFolder resolves a folder id or well-known name; nil if unknown.
func (s *Server) mailFolder(m *mailbox, idOrName string) *object {
	if id, ok := m.wellKnown[strings.ToLower(idOrName)]; ok {
		idOrName = id
	}
	o := m.objects[idOrName]
	if o == nil || o.kind != kindMailFolder {
		return nil
	}
	return o
}

func (s *Server) folderJSON(m *mailbox, f *object) map[string]any {
	p := clone(f.props)
	p["id"] = f.id
	p["parentFolderId"] = f.parent
	var children, total, unread int
	for _, e := range m.container(hierMail).entries {
		if !e.removed && e.obj.parent == f.id {
			children++
		}
	}
	for _, e := range m.container(f.id).entries {
		if !e.removed {
			total++
			if r, _ := e.obj.props["isRead"].(bool); !r {
				unread++
			}
		}
	}
	p["childFolderCount"], p["totalItemCount"], p["unreadItemCount"], p["isHidden"] = children, total, unread, false
	return p
}

func (s *Server) listMailFolders(c *call, parent string) *graphError {
	s.mu.Lock()
	if id, ok := c.mb.wellKnown[parent]; ok {
		parent = id
	}
	var out []map[string]any
	for _, e := range c.mb.container(hierMail).sorted(0, false) {
		if e.obj.parent == parent {
			out = append(out, selectProps(s.folderJSON(c.mb, e.obj), c.q.Get("$select")))
		}
	}
	s.mu.Unlock()
	writeJSON(c.w, 200, map[string]any{"value": nonNil(out)})
	return nil
}

func (s *Server) createMailFolder(c *call, parent string) *graphError {
	var req struct {
		DisplayName string `json:"displayName"`
	}
	if gerr := decodeJSON(c.r, &req); gerr != nil {
		return gerr
	}
	if req.DisplayName == "" {
		return badRequest("displayName is required.")
	}
	s.mu.Lock()
	if id, ok := c.mb.wellKnown[parent]; ok {
		parent = id
	}
	if s.folderNamed(c.mb, parent, req.DisplayName) != nil {
		s.mu.Unlock()
		return errf(409, "ErrorFolderExists", "A folder with the specified name already exists.")
	}
	f := &object{id: "F" + newID(""), kind: kindMailFolder, props: map[string]any{"displayName": req.DisplayName}}
	c.mb.insert(f, parent, hierMail)
	j := s.folderJSON(c.mb, f)
	s.mu.Unlock()
	writeJSON(c.w, 201, j)
	return nil
}

func (s *Server) folderNamed(m *mailbox, parent, name string) *object {
	for _, e := range m.container(hierMail).entries {
		if !e.removed && e.obj.parent == parent && strings.EqualFold(e.obj.props["displayName"].(string), name) {
			return e.obj
		}
	}
	return nil
}

func (s *Server) patchMailFolder(c *call, f *object) *graphError {
	var req struct {
		DisplayName string `json:"displayName"`
	}
	if gerr := decodeJSON(c.r, &req); gerr != nil {
		return gerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.DisplayName != "" {
		if g := s.folderNamed(c.mb, f.parent, req.DisplayName); g != nil && g != f {
			return errf(409, "ErrorFolderExists", "A folder with the specified name already exists.")
		}
		c.mb.touch(f, hierMail, map[string]any{"displayName": req.DisplayName})
	}
	writeJSON(c.w, 200, s.folderJSON(c.mb, f))
	return nil
}

func (s *Server) moveMailFolder(c *call, f *object) *graphError {
	var req struct {
		DestinationID string `json:"destinationId"`
	}
	if gerr := decodeJSON(c.r, &req); gerr != nil {
		return gerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	to := s.mailFolder(c.mb, req.DestinationID)
	if req.DestinationID == "msgfolderroot" || to != nil && to.id == c.mb.wellKnown["msgfolderroot"] {
		to = c.mb.objects[c.mb.wellKnown["msgfolderroot"]]
	}
	if to == nil {
		return notFound("folder " + req.DestinationID)
	}
	f.parent = to.id
	c.mb.touch(f, hierMail, map[string]any{"parentFolderId": to.id})
	writeJSON(c.w, 201, s.folderJSON(c.mb, f))
	return nil
}

// deleteFolderLocked deletes a mail folder with its messages and
// subfolders. chosen: deleted folders are gone, not moved to Deleted
// Items (the docs do not say).
func (s *Server) deleteFolderLocked(m *mailbox, f *object) {
	for _, e := range m.container(hierMail).entries {
		if !e.removed && e.obj.parent == f.id {
			s.deleteFolderLocked(m, e.obj)
		}
	}
	for _, e := range m.container(f.id).entries {
		if !e.removed {
			m.remove(e.obj, f.id)
		}
	}
	m.remove(f, hierMail)
}

// CreateMailFolder creates a mail folder under parent (an id or a
// well-known name; "" for the top level) in mailbox user and returns its
// id.
func (s *Server) CreateMailFolder(user, parent, name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.findLocked(user)
	if m == nil {
		return "", fmt.Errorf("graphemu: no mailbox %q", user)
	}
	if parent == "" {
		parent = "msgfolderroot"
	}
	p := s.mailFolder(m, parent)
	if p == nil {
		return "", fmt.Errorf("graphemu: no folder %q", parent)
	}
	f := &object{id: "F" + newID(""), kind: kindMailFolder, props: map[string]any{"displayName": name}}
	m.insert(f, p.id, hierMail)
	return f.id, nil
}

// DeliverMail stores a raw RFC 5322 message in a folder of mailbox user
// (an id or a well-known name such as "inbox"), as delivery would, and
// returns its immutable id.
func (s *Server) DeliverMail(user, folder string, raw []byte) (string, error) {
	s.mu.Lock()
	m := s.findLocked(user)
	if m == nil {
		s.mu.Unlock()
		return "", fmt.Errorf("graphemu: no mailbox %q", user)
	}
	f := s.mailFolder(m, folder)
	if f == nil {
		s.mu.Unlock()
		return "", fmt.Errorf("graphemu: no folder %q", folder)
	}
	o, err := newMessage(raw, s.o.Now())
	if err != nil {
		s.mu.Unlock()
		return "", err
	}
	m.insert(o, f.id, f.id)
	s.mu.Unlock()
	s.notify(m, "created", o)
	return o.id, nil
}

// UpdateItem changes properties of an item of mailbox user, as another
// client would (flags, read state, a contact's name, ...).
func (s *Server) UpdateItem(user, id string, props map[string]any) error {
	s.mu.Lock()
	m := s.findLocked(user)
	var o *object
	if m != nil {
		o = m.lookup(id)
	}
	if o == nil {
		s.mu.Unlock()
		return fmt.Errorf("graphemu: no item %q in %q", id, user)
	}
	if o.kind == kindEvent {
		s.patchEventLocked(&call{mb: m}, o, props)
	} else {
		m.touch(o, containerOf(o), props)
	}
	s.mu.Unlock()
	s.notify(m, "updated", o)
	return nil
}

// DeleteItem deletes an item of mailbox user, as another client would.
func (s *Server) DeleteItem(user, id string) error {
	s.mu.Lock()
	m := s.findLocked(user)
	var o *object
	if m != nil {
		o = m.lookup(id)
	}
	if o == nil {
		s.mu.Unlock()
		return fmt.Errorf("graphemu: no item %q in %q", id, user)
	}
	s.deleteObjectLocked(m, o)
	s.mu.Unlock()
	s.notify(m, "deleted", o)
	return nil
}

// containerOf is the container an item's delta entries are in.
func containerOf(o *object) string {
	switch o.kind {
	case kindMailFolder:
		return hierMail
	case kindContactF:
		return hierContacts
	case kindTaskList:
		return hierTodo
	case kindEvent:
		return eventsC(o.parent)
	}
	return o.parent
}

func (s *Server) deleteObjectLocked(m *mailbox, o *object) {
	if o.kind == kindEvent {
		s.deleteEventLocked(m, o)
		return
	}
	m.remove(o, containerOf(o))
}

// newMessage parses raw into a message object, read from its headers and
// first text and HTML parts, with its other parts as file attachments.
func newMessage(raw []byte, now time.Time) (*object, error) {
	o := &object{id: "I" + newID(""), kind: kindMessage, mime: raw, props: make(map[string]any), propSeq: make(map[string]uint64)}
	mr, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil && mr == nil {
		return nil, fmt.Errorf("graphemu: parsing MIME: %w", err)
	}
	h := mr.Header
	subject, _ := h.Subject()
	date, _ := h.Date()
	if date.IsZero() {
		date = now
	}
	msgID, _ := h.MessageID()
	if msgID == "" {
		msgID = newID("") + "@graphemu"
	}
	addrs := func(k string) []any {
		list, _ := h.AddressList(k)
		out := []any{}
		for _, a := range list {
			out = append(out, recipient(a.Name, a.Address))
		}
		return out
	}
	from := addrs("From")
	var text, html string
	var atts []*attachment
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(io.LimitReader(p.Body, 32<<20))
		switch ph := p.Header.(type) {
		case *mail.InlineHeader:
			ct, _, _ := ph.ContentType()
			switch {
			case ct == "text/plain" && text == "":
				text = string(b)
			case ct == "text/html" && html == "":
				html = string(b)
			default:
				atts = append(atts, &attachment{id: "A" + newID(""), kind: "fileAttachment", name: "attachment", contentType: ct, data: b, inline: true, contentID: strings.Trim(ph.Get("Content-Id"), "<>")})
			}
		case *mail.AttachmentHeader:
			ct, _, _ := ph.ContentType()
			name, _ := ph.Filename()
			atts = append(atts, &attachment{id: "A" + newID(""), kind: "fileAttachment", name: name, contentType: ct, data: b, contentID: strings.Trim(ph.Get("Content-Id"), "<>")})
		}
	}
	body := map[string]any{"contentType": "text", "content": text}
	if html != "" {
		body = map[string]any{"contentType": "html", "content": html}
	}
	importance := "normal"
	switch strings.ToLower(h.Get("Importance")) {
	case "high":
		importance = "high"
	case "low":
		importance = "low"
	}
	o.props = map[string]any{
		"subject": subject, "receivedDateTime": now.UTC().Format(graphTime), "sentDateTime": date.UTC().Format(graphTime),
		"createdDateTime": now.UTC().Format(graphTime), "lastModifiedDateTime": now.UTC().Format(graphTime),
		"internetMessageId": "<" + msgID + ">", "importance": importance, "isRead": false, "isDraft": false,
		"toRecipients": addrs("To"), "ccRecipients": addrs("Cc"), "bccRecipients": addrs("Bcc"), "replyTo": addrs("Reply-To"),
		"body": body, "bodyPreview": preview(text, html), "hasAttachments": len(atts) > 0,
		"flag": map[string]any{"flagStatus": "notFlagged"}, "categories": []any{},
		"conversationId": "CV" + shortHash(newID("")), "inferenceClassification": "focused",
	}
	if len(from) > 0 {
		o.props["from"], o.props["sender"] = from[0], from[0]
	}
	o.attachments = atts
	return o, nil
}

func recipient(name, addr string) map[string]any {
	return map[string]any{"emailAddress": map[string]any{"name": name, "address": addr}}
}

var tags = regexp.MustCompile(`<[^>]*>`)

func preview(text, html string) string {
	if text == "" {
		text = tags.ReplaceAllString(html, " ")
	}
	text = strings.Join(strings.Fields(text), " ")
	if r := []rune(text); len(r) > 255 {
		text = string(r[:255])
	}
	return text
}

// messageJSON renders a message as the call sees it (§4.1, §4.6).
func (s *Server) messageJSON(c *call, o *object) map[string]any {
	p := clone(o.props)
	p["id"] = c.outID(o, nil)
	p["@odata.etag"] = o.etag()
	p["changeKey"] = o.changeKey()
	p["parentFolderId"] = o.parent
	if t, ok := meetingTypes[fmt.Sprint(o.props["meetingMessageType"])]; ok {
		p["@odata.type"] = t
	}
	if body, ok := p["body"].(map[string]any); ok {
		want := strings.ToLower(preferValue(c.r.Header, "outlook.body-content-type"))
		if want == "text" && body["contentType"] == "html" {
			p["body"] = map[string]any{"contentType": "text", "content": strings.TrimSpace(tags.ReplaceAllString(body["content"].(string), ""))}
		}
	}
	return p
}

func (s *Server) listMessages(c *call, f *object) *graphError {
	search := strings.ToLower(strings.Trim(c.q.Get("$search"), `"`))
	top := atoiDefault(c.q.Get("$top"), 10)
	skip := atoiDefault(c.q.Get("$skip"), 0)
	if c.q.Get("$skip") == "0" {
		skip = 0
	}
	s.mu.Lock()
	var cands []*object
	for name, cont := range c.mb.containers {
		if f != nil && name != f.id {
			continue
		}
		for _, e := range cont.entries {
			if !e.removed && e.obj.kind == kindMessage {
				cands = append(cands, e.obj)
			}
		}
	}
	var hits []*object
	for _, o := range cands {
		if search == "" || matches(o, search) {
			hits = append(hits, o)
		}
	}
	// Newest first, as $search returns them.
	slices.SortFunc(hits, func(a, b *object) int {
		return strings.Compare(b.props["receivedDateTime"].(string)+b.id, a.props["receivedDateTime"].(string)+a.id)
	})
	total := len(hits)
	var out []map[string]any
	for i := skip; i < len(hits) && len(out) < top; i++ {
		out = append(out, selectProps(s.messageJSON(c, hits[i]), c.q.Get("$select")))
	}
	s.mu.Unlock()
	res := map[string]any{"value": nonNil(out)}
	if c.q.Get("$count") == "true" {
		res["@odata.count"] = total
	}
	if skip+top < total {
		q := cloneQuery(c.q)
		q.Set("$skip", fmt.Sprint(skip+top))
		res["@odata.nextLink"] = s.link(strings.TrimPrefix(c.r.URL.Path, "/"), q)
	}
	writeJSON(c.w, 200, res)
	return nil
}

func matches(o *object, term string) bool {
	hay := strings.ToLower(fmt.Sprint(o.props["subject"], " ", o.props["bodyPreview"], " ", o.props["from"], " ", o.props["toRecipients"]))
	for w := range strings.FieldsSeq(term) {
		if !strings.Contains(hay, w) {
			return false
		}
	}
	return true
}

// createMessage creates a message in folder f from JSON, or from base64
// MIME sent as text/plain (§4.1).
func (s *Server) createMessage(c *call, f *object) *graphError {
	b, gerr := readBody(c.r)
	if gerr != nil {
		return gerr
	}
	var o *object
	if ct, _, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type")); ct == "text/plain" {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil {
			return errf(400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
		}
		if o, err = newMessage(raw, s.o.Now()); err != nil {
			return badRequest("%v", err)
		}
	} else {
		raw, gerr := mimeFromJSON(b)
		if gerr != nil {
			return gerr
		}
		var err error
		if o, err = newMessage(raw, s.o.Now()); err != nil {
			return badRequest("%v", err)
		}
	}
	// [D] api/user-post-messages: a posted message is a draft wherever
	// it is created.
	o.props["isDraft"] = true
	if r, ok := jsonBool(b, "isRead"); ok {
		o.props["isRead"] = r
	}
	s.mu.Lock()
	c.mb.insert(o, f.id, f.id)
	j := s.messageJSON(c, o)
	s.mu.Unlock()
	s.notify(c.mb, "created", o)
	writeJSON(c.w, 201, j)
	return nil
}

func jsonBool(b []byte, key string) (bool, bool) {
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return false, false
	}
	v, ok := m[key].(bool)
	return v, ok
}

func cloneQuery(q url.Values) url.Values {
	out := make(url.Values, len(q))
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}
