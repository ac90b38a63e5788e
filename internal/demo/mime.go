package demo

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/easgate/easgate/sources"
)

// message is a mail to be written as RFC 5322 with MIME, and the flags
// and folder it gets once stored.
type message struct {
	from       sources.Address
	to, cc     []sources.Address
	subject    string
	date       time.Time
	id         string // Message-ID without angle brackets
	inReplyTo  string
	references []string
	important  bool
	list       string // List-Id, for newsletters

	text, html string
	ics        string // an iTIP request, sent beside the text
	atts       []attachment

	folder                  string // a folder key of mail.go: inbox, archive, ...
	read, flagged, answered bool
}

type attachment struct {
	name, ctype string
	data        []byte
}

// raw writes m as a message: text alone, text and HTML (or text and a
// calendar) as multipart/alternative, and attachments after them in
// multipart/mixed. Boundaries start with "=_", which neither
// quoted-printable nor base64 content can contain, and come from a hash of
// the Message-ID, so the same message always has the same bytes.
func (m *message) raw() []byte {
	var b bytes.Buffer
	header(&b, "Message-ID", "<"+m.id+">")
	header(&b, "Date", m.date.In(zoneOf(m.from.Email)).Format(time.RFC1123Z))
	header(&b, "From", addrs([]sources.Address{m.from}))
	header(&b, "To", addrs(m.to))
	if len(m.cc) > 0 {
		header(&b, "Cc", addrs(m.cc))
	}
	header(&b, "Subject", mime.QEncoding.Encode("utf-8", m.subject))
	if m.inReplyTo != "" {
		header(&b, "In-Reply-To", "<"+m.inReplyTo+">")
	}
	if len(m.references) > 0 {
		header(&b, "References", "<"+strings.Join(m.references, "> <")+">")
	}
	if m.important {
		header(&b, "Importance", "high")
		header(&b, "X-Priority", "1")
	}
	if m.list != "" {
		header(&b, "List-Id", m.list)
		header(&b, "List-Unsubscribe", "<https://"+m.from.Email[strings.IndexByte(m.from.Email, '@')+1:]+"/unsubscribe>")
	}
	header(&b, "MIME-Version", "1.0")

	hash := fnv.New64a()
	hash.Write([]byte(m.id))
	boundary := fmt.Sprintf("=_%016x", hash.Sum64())
	body := part{h: textPart("text/plain", m.text)}
	switch {
	case m.html != "":
		body = alternative(boundary+"a", body, part{h: textPart("text/html", m.html)})
	case m.ics != "":
		h := textPart("text/calendar", m.ics)
		h.h.Set("Content-Type", "text/calendar; charset=utf-8; method=REQUEST")
		body = alternative(boundary+"a", body, part{h: h})
	}
	if len(m.atts) > 0 {
		mixed := part{ctype: "multipart/mixed", boundary: boundary + "m", parts: []part{body}}
		for _, a := range m.atts {
			mixed.parts = append(mixed.parts, part{h: filePart(a)})
		}
		body = mixed
	}
	body.writeTop(&b)
	return b.Bytes()
}

// part is a MIME entity: a leaf with its header and encoded content, or a
// multipart with its parts.
type part struct {
	h leaf

	ctype    string // multipart/...; empty for a leaf
	boundary string
	parts    []part
}

type leaf struct {
	h    textproto.MIMEHeader
	data []byte // already transfer-encoded
}

func alternative(boundary string, ps ...part) part {
	return part{ctype: "multipart/alternative", boundary: boundary, parts: ps}
}

func (p *part) header() textproto.MIMEHeader {
	if p.ctype == "" {
		return p.h.h
	}
	return textproto.MIMEHeader{"Content-Type": {mime.FormatMediaType(p.ctype, map[string]string{"boundary": p.boundary})}}
}

// writeTop writes p as the body of a message, its header last in the
// message header.
func (p *part) writeTop(b *bytes.Buffer) {
	h := p.header()
	for _, k := range []string{"Content-Type", "Content-Transfer-Encoding", "Content-Disposition"} {
		if v := h.Get(k); v != "" {
			header(b, k, v)
		}
	}
	b.WriteString("\r\n")
	p.writeBody(b)
}

func (p *part) writeBody(b *bytes.Buffer) {
	if p.ctype == "" {
		b.Write(p.h.data)
		return
	}
	w := multipart.NewWriter(b)
	if err := w.SetBoundary(p.boundary); err != nil {
		panic(err) // our boundaries are short and plain
	}
	for _, c := range p.parts {
		pw, _ := w.CreatePart(c.header()) // a bytes.Buffer never fails
		var cb bytes.Buffer
		c.writeBody(&cb)
		pw.Write(cb.Bytes())
	}
	w.Close()
}

func textPart(ctype, s string) leaf {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	b.WriteString("\r\n")
	return leaf{
		h: textproto.MIMEHeader{
			"Content-Type":              {ctype + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		},
		data: b.Bytes(),
	}
}

func filePart(a attachment) leaf {
	enc := base64.StdEncoding.EncodeToString(a.data)
	var b bytes.Buffer
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return leaf{
		h: textproto.MIMEHeader{
			"Content-Type":              {mime.FormatMediaType(a.ctype, map[string]string{"name": a.name})},
			"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": a.name})},
			"Content-Transfer-Encoding": {"base64"},
		},
		data: b.Bytes(),
	}
}

func addrs(as []sources.Address) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = (&mail.Address{Name: a.Name, Address: a.Email}).String()
	}
	return strings.Join(s, ", ")
}

// header writes one header field, folded at spaces to keep lines under 78
// characters where it can.
func header(b *bytes.Buffer, k, v string) {
	n := len(k) + 2
	b.WriteString(k + ":")
	for i, w := range strings.Split(v, " ") {
		if i > 0 && n+1+len(w) > 76 {
			b.WriteString("\r\n")
			n = 0
		}
		b.WriteString(" " + w)
		n += 1 + len(w)
	}
	b.WriteString("\r\n")
}
