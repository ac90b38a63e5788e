package memory

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strconv"
	"strings"

	"github.com/easgate/easgate/sources"
)

// parseMessage reads a raw message into a Message and the decoded content
// of its attachments. The first text/plain and text/html parts that are not
// attachments become the bodies; everything else is an attachment. Bodies
// are kept in their own charset: the store is for tests, which write UTF-8.
func parseMessage(raw []byte) (*sources.Message, [][]byte, error) {
	r, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, fmt.Errorf("memory: parse message: %w", err)
	}
	h := r.Header
	m := &sources.Message{
		From:       addresses(h, "From"),
		To:         addresses(h, "To"),
		Cc:         addresses(h, "Cc"),
		Bcc:        addresses(h, "Bcc"),
		ReplyTo:    addresses(h, "Reply-To"),
		Subject:    decodeWords(h.Get("Subject")),
		MessageID:  trimID(h.Get("Message-Id")),
		InReplyTo:  trimID(h.Get("In-Reply-To")),
		Importance: importance(h),
		Size:       int64(len(raw)),
	}
	for _, id := range strings.Fields(h.Get("References")) {
		m.References = append(m.References, trimID(id))
	}
	if d, err := h.Date(); err == nil {
		m.Date = d
	}
	var atts [][]byte
	if err := walk(textproto.MIMEHeader(h), r.Body, m, &atts); err != nil {
		return nil, nil, fmt.Errorf("memory: parse message: %w", err)
	}
	return m, atts, nil
}

func walk(h textproto.MIMEHeader, body io.Reader, m *sources.Message, atts *[][]byte) error {
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
				return err
			}
			if err := walk(p.Header, p, m, atts); err != nil {
				return err
			}
		}
	}
	data, err := io.ReadAll(decoder(h.Get("Content-Transfer-Encoding"), body))
	if err != nil {
		return err
	}
	disp, dparams, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	name := decodeWords(dparams["filename"])
	if name == "" {
		name = decodeWords(params["name"])
	}
	if disp != "attachment" && name == "" {
		b := &sources.Body{Data: string(data), Size: int64(len(data))}
		switch {
		case typ == "text/plain" && m.Text == nil:
			m.Text = b
			return nil
		case typ == "text/html" && m.HTML == nil:
			m.HTML = b
			return nil
		}
	}
	cid := trimID(h.Get("Content-Id"))
	m.Attachments = append(m.Attachments, sources.Attachment{
		ID:          strconv.Itoa(len(*atts) + 1),
		Name:        name,
		ContentType: typ,
		Size:        int64(len(data)),
		ContentID:   cid,
		Inline:      disp == "inline" || disp == "" && cid != "",
	})
	*atts = append(*atts, data)
	return nil
}

func decoder(cte string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, r)
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

func addresses(h mail.Header, key string) []sources.Address {
	l, err := h.AddressList(key)
	if err != nil {
		return nil
	}
	as := make([]sources.Address, len(l))
	for i, a := range l {
		as[i] = sources.Address{Name: a.Name, Email: a.Address}
	}
	return as
}

func decodeWords(s string) string {
	d, err := new(mime.WordDecoder).DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

func trimID(s string) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "<"), ">")
}

// importance reads the Importance header or, failing that, X-Priority.
func importance(h mail.Header) sources.Importance {
	switch strings.ToLower(strings.TrimSpace(h.Get("Importance"))) {
	case "high":
		return sources.ImportanceHigh
	case "low":
		return sources.ImportanceLow
	}
	switch p := strings.TrimSpace(h.Get("X-Priority")); {
	case strings.HasPrefix(p, "1"), strings.HasPrefix(p, "2"):
		return sources.ImportanceHigh
	case strings.HasPrefix(p, "4"), strings.HasPrefix(p, "5"):
		return sources.ImportanceLow
	}
	return sources.ImportanceNormal
}
