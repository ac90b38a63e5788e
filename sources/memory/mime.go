package memory

import (
	"bytes"
	"fmt"
	"io"
	"mime"
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
		From:       sources.HeaderAddresses(h, "From"),
		To:         sources.HeaderAddresses(h, "To"),
		Cc:         sources.HeaderAddresses(h, "Cc"),
		Bcc:        sources.HeaderAddresses(h, "Bcc"),
		ReplyTo:    sources.HeaderAddresses(h, "Reply-To"),
		Subject:    decodeWords(h.Get("Subject")),
		MessageID:  trimID(h.Get("Message-Id")),
		InReplyTo:  trimID(h.Get("In-Reply-To")),
		Importance: sources.ParseImportance(h.Get("Importance"), h.Get("X-Priority")),
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
	return sources.WalkMIME(h, body, func(h textproto.MIMEHeader, typ string, params map[string]string, body io.Reader) error {
		return leaf(h, typ, params, body, m, atts)
	})
}

// leaf reads one part: the first plain and HTML texts are the bodies,
// every other part an attachment.
func leaf(h textproto.MIMEHeader, typ string, params map[string]string, body io.Reader, m *sources.Message, atts *[][]byte) error {
	data, err := io.ReadAll(sources.TransferDecoder(h.Get("Content-Transfer-Encoding"), body))
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
