package graphemu

import (
	"encoding/base64"
	"encoding/json"
	"html"
	"mime"
	"strings"
)

// replyActions are the message actions of [D] api/message-reply,
// message-replyall, message-forward and their create* draft forms.
var replyActions = map[string]bool{"reply": true, "replyall": true, "forward": true,
	"createreply": true, "createreplyall": true, "createforward": true}

// replyAction answers the reply, reply-all and forward actions (§4.3):
// create* files a draft (201) that the caller edits and sends; the others
// send at once (202). The JSON body takes a comment or a message, and
// [D] refuses a comment together with a message body (400). A MIME body
// (text/plain, base64) is sent as given: chosen (A12), nothing is quoted
// or threaded.
func (s *Server) replyAction(c *call, orig *object, action string) *graphError {
	create := strings.HasPrefix(action, "create")
	kind := strings.TrimPrefix(action, "create")
	b, gerr := readBody(c.r)
	if gerr != nil {
		return gerr
	}
	if ct, _, _ := mime.ParseMediaType(c.r.Header.Get("Content-Type")); ct == "text/plain" && len(b) > 0 {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil {
			return errf(400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
		}
		o, err := newMessage(raw, s.o.Now())
		if err != nil {
			return badRequest("%v", err)
		}
		return s.fileOrSend(c, o, raw, create)
	}
	var req struct {
		Comment      *string         `json:"comment"`
		ToRecipients []any           `json:"toRecipients"`
		Message      json.RawMessage `json:"message"`
	}
	if len(strings.TrimSpace(string(b))) > 0 {
		if err := json.Unmarshal(b, &req); err != nil {
			return badRequest("Invalid JSON: %v", err)
		}
	}
	var msg map[string]any
	if req.Message != nil {
		if err := json.Unmarshal(req.Message, &msg); err != nil {
			return badRequest("Invalid message: %v", err)
		}
	}
	if req.Comment != nil && msg["body"] != nil {
		return badRequest("Specify either a comment or the body property of the message parameter, not both.")
	}
	s.mu.Lock()
	o, gerr := s.replyDraftLocked(c.mb, orig, kind, req.Comment, req.ToRecipients, msg)
	s.mu.Unlock()
	if gerr != nil {
		return gerr
	}
	if !create {
		if to, _ := o.props["toRecipients"].([]any); len(to) == 0 {
			return badRequest("At least one recipient is required.")
		}
	}
	return s.fileOrSend(c, o, nil, create)
}

// fileOrSend files o in Drafts (201) or sends it (202): raw as given, or
// the draft rebuilt from its properties.
func (s *Server) fileOrSend(c *call, o *object, raw []byte, create bool) *graphError {
	if create {
		o.props["isDraft"] = true
		s.mu.Lock()
		f := s.mailFolder(c.mb, "drafts")
		c.mb.insert(o, f.id, f.id)
		j := s.messageJSON(c, o)
		s.mu.Unlock()
		s.notify(c.mb, "created", o)
		writeJSON(c.w, 201, j)
		return nil
	}
	if raw == nil {
		s.mu.Lock()
		raw = draftMIME(c.mb, o)
		s.mu.Unlock()
	}
	s.deliver(c.mb, raw)
	c.w.WriteHeader(202)
	return nil
}

// replyDraftLocked builds the reply or forward of orig: recipients from
// the original (replyTo over from [D]), a prefixed subject, the comment
// or the message's body above a quote of the original, and for a forward
// the original's attachments.
func (s *Server) replyDraftLocked(m *mailbox, orig *object, kind string, comment *string, to []any, msg map[string]any) (*object, *graphError) {
	o, err := newMessage([]byte("Subject: draft\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n"), s.o.Now())
	if err != nil {
		return nil, badRequest("%v", err)
	}
	o.edited = true
	p := o.props
	subject, _ := orig.props["subject"].(string)
	self := strings.ToLower(m.upn)
	var recips, cc []any
	switch kind {
	case "reply", "replyall":
		p["subject"] = "RE: " + subject
		o.inReplyTo, _ = orig.props["internetMessageId"].(string)
		if rt, _ := orig.props["replyTo"].([]any); len(rt) > 0 {
			recips = append(recips, rt...)
		} else if f := orig.props["from"]; f != nil {
			recips = append(recips, f)
		}
		if kind == "replyall" {
			for _, k := range []string{"toRecipients", "ccRecipients"} {
				list, _ := orig.props[k].([]any)
				for _, r := range list {
					if strings.ToLower(addressOf(r)) == self {
						continue
					}
					if k == "toRecipients" {
						recips = append(recips, r)
					} else {
						cc = append(cc, r)
					}
				}
			}
		}
	case "forward":
		p["subject"] = "FW: " + subject
		recips = to
		for _, a := range orig.attachments {
			if a.kind == "fileAttachment" {
				cp := *a
				cp.id = "A" + newID("")
				o.attachments = append(o.attachments, &cp)
			}
		}
		p["hasAttachments"] = len(o.attachments) > 0
	}
	text := ""
	if comment != nil {
		text = html.EscapeString(*comment)
	}
	if b, ok := msg["body"].(map[string]any); ok {
		text, _ = b["content"].(string)
		if ct, _ := b["contentType"].(string); !strings.EqualFold(ct, "html") {
			text = html.EscapeString(text)
		}
	}
	for _, k := range []string{"toRecipients", "ccRecipients", "bccRecipients", "subject"} {
		if v, ok := msg[k]; ok {
			if k == "toRecipients" {
				recips = nil
			}
			p[k] = v
		}
	}
	if _, ok := msg["toRecipients"]; !ok {
		p["toRecipients"] = append([]any{}, recips...)
	}
	if _, ok := msg["ccRecipients"]; !ok {
		p["ccRecipients"] = append([]any{}, cc...)
	}
	origBody, _ := orig.props["body"].(map[string]any)
	quoted, _ := origBody["content"].(string)
	if ct, _ := origBody["contentType"].(string); !strings.EqualFold(ct, "html") {
		quoted = "<pre>" + html.EscapeString(quoted) + "</pre>"
	}
	from := addressOf(orig.props["from"])
	p["body"] = map[string]any{"contentType": "html", "content": "<html><body><div>" + text + "</div><hr><div><b>From:</b> " +
		html.EscapeString(from) + "<br><b>Subject:</b> " + html.EscapeString(subject) + "</div>" + quoted + "</body></html>"}
	p["from"], p["sender"] = recipient(m.name, m.upn), recipient(m.name, m.upn)
	return o, nil
}

// addressOf is the address of a recipient JSON value.
func addressOf(r any) string {
	rm, _ := r.(map[string]any)
	ea, _ := rm["emailAddress"].(map[string]any)
	a, _ := ea["address"].(string)
	return a
}
