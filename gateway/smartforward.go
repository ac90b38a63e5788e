package gateway

import (
	"context"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

// handleSmartForward answers SmartForward, MS-ASCMD 2.2.1.19: the client
// sends only its new text, and the server sends it with the original's text
// after a header block and the original's attachments, then marks the
// original forwarded. From 16.0 the Forwardees are added to the recipients.
// Success has no response body (MS-ASCMD 2.2.3.177.17).
func (s *Server) handleSmartForward(ctx context.Context, sess *Session, req *eas.SmartForwardRequest) (*eas.SmartForwardResponse, error) {
	r := &smartRequest{
		cmd:         eas.CmdSmartForward,
		source:      req.Source,
		saveInSent:  req.SaveInSentItems,
		replaceMime: req.ReplaceMime,
		mime:        req.Mime,
	}
	if req.Forwardees != nil {
		r.forwardees = req.Forwardees.Forwardee
	}
	return nil, s.submitOnce(ctx, sess, req.ClientID, func() error { return s.smart(ctx, sess, r) })
}

// forwardBlock introduces the forwarded original with its header fields,
// as plain text or as HTML.
func forwardBlock(m *sources.Message, asHTML bool) string {
	lines := []string{"---------- Forwarded message ----------", "From: " + formatAddresses(m.From)}
	if !m.Date.IsZero() {
		lines = append(lines, "Date: "+m.Date.Format(time.RFC1123Z))
	}
	lines = append(lines, "Subject: "+m.Subject, "To: "+formatAddresses(m.To))
	if len(m.Cc) > 0 {
		lines = append(lines, "Cc: "+formatAddresses(m.Cc))
	}
	if !asHTML {
		return strings.Join(lines, "\r\n") + "\r\n\r\n"
	}
	for i, l := range lines {
		lines[i] = html.EscapeString(l)
	}
	return strings.Join(lines, "<br>\r\n") + "<br><br>"
}

// copyAttachments writes the original's attachments into mw. From the
// original's MIME, each part is copied with its encoded body as it is,
// streaming; a store without MIME gives them through sources.Attachments.
func (c *composition) copyAttachments(ctx context.Context, mw *multipart.Writer) error {
	if c.orig.MIME != nil {
		rc, err := c.orig.MIME(ctx)
		if err != nil {
			return err
		}
		defer rc.Close()
		m, err := mail.ReadMessage(rc)
		if err != nil {
			return fmt.Errorf("gateway: original's MIME: %w", err)
		}
		return copyLeaves(mw, textproto.MIMEHeader(m.Header), m.Body)
	}
	if c.atts == nil {
		return nil
	}
	for _, a := range c.orig.Attachments {
		if err := c.copyAttachment(ctx, mw, a); err != nil {
			return err
		}
	}
	return nil
}

// copyLeaves copies every leaf of a MIME entity that is not message text.
func copyLeaves(mw *multipart.Writer, h textproto.MIMEHeader, body io.Reader) error {
	typ, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		typ, params = "text/plain", nil
	}
	if strings.HasPrefix(typ, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("gateway: original's MIME: %w", err)
			}
			if err := copyLeaves(mw, p.Header, p); err != nil {
				return err
			}
		}
	}
	if isBodyText(h, typ) {
		return nil
	}
	pw, err := mw.CreatePart(contentFields(h))
	if err != nil {
		return err
	}
	_, err = io.Copy(pw, body)
	return err
}

// copyAttachment writes one attachment read through sources.Attachments,
// in base64.
func (c *composition) copyAttachment(ctx context.Context, mw *multipart.Writer, a sources.Attachment) error {
	_, rc, err := c.atts.OpenAttachment(ctx, sources.AttachmentRef{Folder: c.ref.Folder, Item: c.ref.ID, ID: a.ID})
	if err != nil {
		return err
	}
	defer rc.Close()
	ct := a.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	disp := "attachment"
	if a.Inline {
		disp = "inline"
	}
	h := textproto.MIMEHeader{
		"Content-Type":              {ct},
		"Content-Disposition":       {mime.FormatMediaType(disp, map[string]string{"filename": a.Name})},
		"Content-Transfer-Encoding": {"base64"},
	}
	if a.ContentID != "" {
		h.Set("Content-Id", "<"+a.ContentID+">")
	}
	pw, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	enc := base64.NewEncoder(base64.StdEncoding, &lineBreaker{w: pw})
	if _, err := io.Copy(enc, rc); err != nil {
		return err
	}
	return enc.Close()
}

// lineBreaker breaks base64 text into lines of 76 characters (RFC 2045
// 6.8); encoding/base64 writes one long line.
type lineBreaker struct {
	w   io.Writer
	col int
}

func (l *lineBreaker) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(76-l.col, len(p))
		m, err := l.w.Write(p[:k])
		n += m
		if err != nil {
			return n, err
		}
		p, l.col = p[k:], l.col+k
		if l.col == 76 {
			if _, err := io.WriteString(l.w, "\r\n"); err != nil {
				return n, err
			}
			l.col = 0
		}
	}
	return n, nil
}
