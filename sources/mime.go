package sources

import (
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
)

// The few MIME readings that stores holding raw messages (memory, IMAP)
// and the gateway composing replies all need, in one place.

// ParseImportance reads a message's Importance header field or, failing
// that, X-Priority (1 and 2 high, 4 and 5 low), as mail clients write them.
func ParseImportance(importance, xPriority string) Importance {
	switch strings.ToLower(strings.TrimSpace(importance)) {
	case "high":
		return ImportanceHigh
	case "low":
		return ImportanceLow
	}
	switch p := strings.TrimSpace(xPriority); {
	case strings.HasPrefix(p, "1"), strings.HasPrefix(p, "2"):
		return ImportanceHigh
	case strings.HasPrefix(p, "4"), strings.HasPrefix(p, "5"):
		return ImportanceLow
	}
	return ImportanceNormal
}

// HeaderAddresses returns the addresses of field key of h; nil when there
// are none or the field does not parse.
func HeaderAddresses(h mail.Header, key string) []Address {
	l, _ := h.AddressList(key)
	if len(l) == 0 {
		return nil
	}
	out := make([]Address, len(l))
	for i, a := range l {
		out[i] = Address{Name: a.Name, Email: a.Address}
	}
	return out
}

// TransferDecoder undoes a Content-Transfer-Encoding: base64 and
// quoted-printable are decoded, anything else passes as it is.
func TransferDecoder(cte string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, r)
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

// maxMIMEDepth bounds the nesting of multiparts WalkMIME descends into;
// deeper parts are an error, not a stack overflow.
const maxMIMEDepth = 64

// ErrMIMEDepth is WalkMIME's error for multiparts nested too deeply.
var ErrMIMEDepth = errors.New("sources: multipart nested too deeply")

// WalkMIME calls leaf for each part of the entity with header h and body
// that is not a multipart, depth first: its header, media type (text/plain
// when Content-Type does not parse) and parameters, and its body still
// transfer-encoded. An error from leaf ends the walk and is returned.
func WalkMIME(h textproto.MIMEHeader, body io.Reader, leaf func(h textproto.MIMEHeader, typ string, params map[string]string, body io.Reader) error) error {
	return walkMIME(h, body, leaf, 0)
}

func walkMIME(h textproto.MIMEHeader, body io.Reader, leaf func(textproto.MIMEHeader, string, map[string]string, io.Reader) error, depth int) error {
	typ, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		typ, params = "text/plain", nil
	}
	if !strings.HasPrefix(typ, "multipart/") {
		return leaf(h, typ, params, body)
	}
	if depth >= maxMIMEDepth {
		return ErrMIMEDepth
	}
	mr := multipart.NewReader(body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := walkMIME(p.Header, p, leaf, depth+1); err != nil {
			return err
		}
	}
}
