package graphemu

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"
)

// serveMessage answers /messages/{id}/... for message o.
func (s *Server) serveMessage(c *call, o *object, rest, low []string) *graphError {
	get, post, patch, del := c.r.Method == http.MethodGet, c.r.Method == http.MethodPost, c.r.Method == http.MethodPatch, c.r.Method == http.MethodDelete
	switch {
	case len(low) == 0 && get:
		s.mu.Lock()
		j := selectProps(s.messageJSON(c, o), c.q.Get("$select"))
		for x := range strings.SplitSeq(c.q.Get("$expand"), ",") {
			switch x = strings.ToLower(strings.TrimSpace(x)); {
			case strings.HasPrefix(x, "attachments"):
				j["attachments"] = s.attachmentsJSON(o, false)
			case x == "microsoft.graph.eventmessage/event":
				s.expandEvent(c, o, j)
			case x == "event":
				// observed (msgraph-sdk-java#958): event is a property of
				// eventMessage only, so it needs the type cast.
				s.mu.Unlock()
				return badRequest("Parsing OData Select and Expand failed: Could not find a property named 'event' on type 'microsoft.graph.message'.")
			}
		}
		s.mu.Unlock()
		writeJSON(c.w, 200, j)
		return nil
	case len(low) == 0 && patch:
		return s.patchMessage(c, o)
	case len(low) == 0 && del:
		// chosen (A13): a deleted message goes to the hidden Recoverable
		// Items, not to Deleted Items.
		s.mu.Lock()
		s.deleteObjectLocked(c.mb, o)
		s.mu.Unlock()
		s.notify(c.mb, "deleted", o)
		c.w.WriteHeader(204)
		return nil
	case len(low) == 1 && low[0] == "$value" && get:
		s.mu.Lock()
		raw := draftMIME(c.mb, o)
		s.mu.Unlock()
		c.w.Header().Set("Content-Type", "text/plain")
		c.w.WriteHeader(200)
		c.w.Write(raw)
		return nil
	case len(low) == 1 && low[0] == "permanentdelete" && post:
		s.mu.Lock()
		s.deleteObjectLocked(c.mb, o)
		s.mu.Unlock()
		s.notify(c.mb, "deleted", o)
		c.w.WriteHeader(204)
		return nil
	case len(low) == 1 && (low[0] == "move" || low[0] == "copy") && post:
		return s.moveMessage(c, o, low[0] == "copy")
	case len(low) == 1 && low[0] == "send" && post:
		s.mu.Lock()
		raw := draftMIME(c.mb, o)
		s.deleteObjectLocked(c.mb, o)
		s.mu.Unlock()
		s.deliver(c.mb, raw)
		c.w.WriteHeader(202)
		return nil
	case len(low) >= 1 && low[0] == "attachments" && get:
		return s.serveAttachments(c, o, rest[1:], low[1:])
	case len(low) == 1 && low[0] == "attachments" && post:
		return s.addAttachment(c, o)
	case len(low) == 2 && low[0] == "attachments" && low[1] == "createuploadsession" && post:
		return s.createUploadSession(c, o)
	case len(low) == 1 && replyActions[low[0]] && post:
		return s.replyAction(c, o, low[0])
	}
	return notImplemented(c.r)
}

// patchMessage changes isRead, flag, categories and importance, and the
// subject and body of drafts (§4.5). Every change bumps the changeKey.
func (s *Server) patchMessage(c *call, o *object) *graphError {
	var req map[string]json.RawMessage
	if gerr := decodeJSON(c.r, &req); gerr != nil {
		return gerr
	}
	// [D] api/message-update: If-Match with a stale etag is 412.
	if im := c.r.Header.Get("If-Match"); im != "" {
		s.mu.Lock()
		cur := o.etag()
		s.mu.Unlock()
		if im != cur && im != "*" {
			return errf(412, "ErrorIrresolvableConflict", "The change key passed in the request does not match the current change key for the item.")
		}
	}
	props := make(map[string]any)
	for k, raw := range req {
		var v any
		json.Unmarshal(raw, &v)
		switch k {
		case "isRead", "categories", "importance", "inferenceClassification":
			props[k] = v
		case "subject", "body", "toRecipients", "ccRecipients", "bccRecipients":
			if d, _ := o.props["isDraft"].(bool); !d {
				return errf(400, "ErrorInvalidPropertyUpdateSentMessage", "Update operation is not supported for this property on a sent message.")
			}
			props[k] = v
		case "flag":
			f, _ := v.(map[string]any)
			// [D] resources/followupflag: a due date needs a start date.
			if f["dueDateTime"] != nil && f["startDateTime"] == nil {
				return errf(400, "ErrorInvalidArgument", "The StartDateTime property must be set when DueDateTime is set.")
			}
			if f["flagStatus"] == nil {
				f["flagStatus"] = "flagged"
			}
			props[k] = f
		default:
			return badRequest("Property %q cannot be updated here.", k)
		}
	}
	s.mu.Lock()
	for _, k := range []string{"subject", "body", "toRecipients", "ccRecipients", "bccRecipients"} {
		if _, ok := props[k]; ok {
			o.edited = true
		}
	}
	props["lastModifiedDateTime"] = s.o.Now().UTC().Format(graphTime)
	c.mb.touch(o, o.parent, props)
	j := s.messageJSON(c, o)
	s.mu.Unlock()
	s.notify(c.mb, "updated", o)
	writeJSON(c.w, 200, j)
	return nil
}

// moveMessage moves or copies a message (§4.4): 201 with the message in
// its new folder, whose id is new unless the call asks for immutable ids
// (§4.6); a copy always gets a new id.
func (s *Server) moveMessage(c *call, o *object, copyIt bool) *graphError {
	var req struct {
		DestinationID string `json:"destinationId"`
	}
	if gerr := decodeJSON(c.r, &req); gerr != nil {
		return gerr
	}
	s.mu.Lock()
	to := s.mailFolder(c.mb, req.DestinationID)
	if to == nil {
		s.mu.Unlock()
		return notFound("folder " + req.DestinationID)
	}
	from := o.parent
	if copyIt {
		n := &object{id: "I" + newID(""), kind: kindMessage, props: clone(o.props), mime: o.mime, attachments: o.attachments}
		c.mb.insert(n, to.id, to.id)
		o = n
	} else if from != to.id {
		c.mb.move(o, from, to.id, to.id)
	}
	j := s.messageJSON(c, o)
	s.mu.Unlock()
	s.notify(c.mb, "created", o)
	writeJSON(c.w, 201, j)
	return nil
}

func (s *Server) attachmentsJSON(o *object, withContent bool) []map[string]any {
	out := []map[string]any{}
	for _, a := range o.attachments {
		out = append(out, attachmentJSON(a, withContent))
	}
	return out
}

func attachmentJSON(a *attachment, withContent bool) map[string]any {
	j := map[string]any{"@odata.type": "#microsoft.graph." + a.kind, "id": a.id, "name": a.name,
		"contentType": a.contentType, "size": len(a.data), "isInline": a.inline, "lastModifiedDateTime": "2026-01-01T00:00:00Z"}
	if a.kind == "fileAttachment" {
		j["contentId"] = a.contentID
		if withContent {
			j["contentBytes"] = base64.StdEncoding.EncodeToString(a.data)
		}
	}
	return j
}

// serveAttachments lists, describes and streams attachments (§4.2): a
// reference attachment's $value is 405.
func (s *Server) serveAttachments(c *call, o *object, rest, low []string) *graphError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(rest) == 0 {
		writeJSON(c.w, 200, map[string]any{"value": s.attachmentsJSON(o, false)})
		return nil
	}
	var a *attachment
	for _, x := range o.attachments {
		if x.id == rest[0] {
			a = x
		}
	}
	if a == nil {
		return notFound("attachment " + rest[0])
	}
	switch {
	case len(low) == 1:
		writeJSON(c.w, 200, attachmentJSON(a, true))
		return nil
	case len(low) == 2 && low[1] == "$value":
		if a.kind == "referenceAttachment" {
			return errf(405, "ErrorInvalidRequest", "The raw content of a reference attachment cannot be read.")
		}
		c.w.Header().Set("Content-Type", a.contentType)
		c.w.WriteHeader(200)
		c.w.Write(a.data)
		return nil
	}
	return notImplemented(c.r)
}

// AddReferenceAttachment adds a link attachment to a message, for §7
// row 9; it returns the attachment id.
func (s *Server) AddReferenceAttachment(user, messageID, name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.findLocked(user)
	if m == nil || m.lookup(messageID) == nil {
		return "", fmt.Errorf("graphemu: no message %q in %q", messageID, user)
	}
	a := &attachment{id: "A" + newID(""), kind: "referenceAttachment", name: name, contentType: "text/html"}
	o := m.lookup(messageID)
	o.attachments = append(o.attachments, a)
	return a.id, nil
}

// sendMail submits a message given as base64 MIME (text/plain) or JSON
// (§4.3). chosen (A11): a MIME send is always saved to Sent Items.
func (s *Server) sendMail(c *call) *graphError {
	b, gerr := readBody(c.r)
	if gerr != nil {
		return gerr
	}
	var raw []byte
	save := true
	if ct, _, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type")); ct == "text/plain" {
		var err error
		raw, err = base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil {
			return errf(400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
		}
	} else {
		var req struct {
			Message         json.RawMessage `json:"message"`
			SaveToSentItems *bool           `json:"saveToSentItems"`
		}
		if err := json.Unmarshal(b, &req); err != nil || req.Message == nil {
			return badRequest("The message is missing.")
		}
		if req.SaveToSentItems != nil {
			save = *req.SaveToSentItems
		}
		if raw, gerr = mimeFromJSON(req.Message); gerr != nil {
			return gerr
		}
	}
	if _, err := newMessage(raw, s.o.Now()); err != nil {
		return badRequest("%v", err)
	}
	if save {
		s.deliver(c.mb, raw)
	} else {
		s.deliverRecipients(raw)
	}
	c.w.WriteHeader(202)
	return nil
}

// deliver files a sent message in the sender's Sent Items, after
// SentDelay, and delivers it to the recipients that have a mailbox here.
func (s *Server) deliver(from *mailbox, raw []byte) {
	put := func() {
		s.mu.Lock()
		o, err := newMessage(raw, s.o.Now())
		if err != nil {
			s.mu.Unlock()
			return
		}
		o.props["isRead"] = true
		f := s.mailFolder(from, "sentitems")
		from.insert(o, f.id, f.id)
		s.mu.Unlock()
		s.notify(from, "created", o)
	}
	if s.o.SentDelay > 0 {
		time.AfterFunc(s.o.SentDelay, put)
	} else {
		put()
	}
	s.deliverRecipients(raw)
}

func (s *Server) deliverRecipients(raw []byte) {
	o, err := newMessage(raw, s.o.Now())
	if err != nil {
		return
	}
	seen := make(map[string]bool)
	for _, k := range []string{"toRecipients", "ccRecipients", "bccRecipients"} {
		list, _ := o.props[k].([]any)
		for _, r := range list {
			addr, _ := r.(map[string]any)["emailAddress"].(map[string]any)["address"].(string)
			if seen[strings.ToLower(addr)] {
				continue
			}
			seen[strings.ToLower(addr)] = true
			s.DeliverMail(addr, "inbox", raw)
		}
	}
}

// mimeFromJSON builds a plain MIME message from a Graph message JSON.
func mimeFromJSON(b []byte) ([]byte, *graphError) {
	var m struct {
		Subject string `json:"subject"`
		Body    struct {
			ContentType string `json:"contentType"`
			Content     string `json:"content"`
		} `json:"body"`
		From         *jsonRecipient  `json:"from"`
		ToRecipients []jsonRecipient `json:"toRecipients"`
		CcRecipients []jsonRecipient `json:"ccRecipients"`
		Importance   string          `json:"importance"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, badRequest("Invalid message JSON: %v", err)
	}
	var sb strings.Builder
	list := func(k string, rs []jsonRecipient) {
		if len(rs) == 0 {
			return
		}
		var parts []string
		for _, r := range rs {
			parts = append(parts, r.String())
		}
		sb.WriteString(k + ": " + strings.Join(parts, ", ") + "\r\n")
	}
	if m.From != nil {
		list("From", []jsonRecipient{*m.From})
	}
	list("To", m.ToRecipients)
	list("Cc", m.CcRecipients)
	sb.WriteString("Subject: " + mime.QEncoding.Encode("utf-8", m.Subject) + "\r\n")
	sb.WriteString("Date: " + time.Now().Format(time.RFC1123Z) + "\r\n")
	sb.WriteString("Message-ID: <" + newID("") + "@graphemu>\r\n")
	if m.Importance == "high" || m.Importance == "low" {
		sb.WriteString("Importance: " + m.Importance + "\r\n")
	}
	ct := "text/plain"
	if strings.EqualFold(m.Body.ContentType, "html") {
		ct = "text/html"
	}
	sb.WriteString("MIME-Version: 1.0\r\nContent-Type: " + ct + "; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	sb.WriteString(m.Body.Content)
	return []byte(sb.String()), nil
}

type jsonRecipient struct {
	EmailAddress struct {
		Name    string `json:"name"`
		Address string `json:"address"`
	} `json:"emailAddress"`
}

func (r jsonRecipient) String() string {
	if r.EmailAddress.Name == "" {
		return "<" + r.EmailAddress.Address + ">"
	}
	return mime.QEncoding.Encode("utf-8", r.EmailAddress.Name) + " <" + r.EmailAddress.Address + ">"
}

// mailboxSettings answers GET and PATCH of the automatic replies and the
// time zone (§6.1).
func (s *Server) mailboxSettings(c *call) *graphError {
	switch c.r.Method {
	case http.MethodGet:
		s.mu.Lock()
		j := map[string]any{"timeZone": "UTC", "automaticRepliesSetting": clone(c.mb.oof)}
		s.mu.Unlock()
		writeJSON(c.w, 200, j)
		return nil
	case http.MethodPatch:
		var req struct {
			AutomaticRepliesSetting map[string]any `json:"automaticRepliesSetting"`
		}
		if gerr := decodeJSON(c.r, &req); gerr != nil {
			return gerr
		}
		s.mu.Lock()
		for k, v := range req.AutomaticRepliesSetting {
			c.mb.oof[k] = v
		}
		j := map[string]any{"timeZone": "UTC", "automaticRepliesSetting": clone(c.mb.oof)}
		s.mu.Unlock()
		writeJSON(c.w, 200, j)
		return nil
	}
	return notImplemented(c.r)
}
