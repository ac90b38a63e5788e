package gateway

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/easgate/easgate/eas"
)

// Limits on what a request URI may carry. MS-ASHTTP sets none beyond the
// one-byte lengths of the base64 form; these are far above what devices send.
const (
	maxQueryLen   = 4096 // bytes of the raw query
	maxDeviceID   = 64
	maxDeviceType = 64
	maxParamLen   = 1024 // User, ItemId, CollectionId, LongId, AttachmentName, Occurrence
)

// Request is what the URI and headers of an EAS request say, in either query
// form of MS-ASHTTP 2.2.1.1.1.
type Request struct {
	Command    eas.Command
	User       string // the User parameter, for logs only; authentication uses the Authorization header
	DeviceID   string
	DeviceType string
	Version    eas.ProtocolVersion
	PolicyKey  uint32 // 0: none sent (MS-ASPROV 2.2.2.42)
	Locale     uint16 // a Windows LCID; base64 form only, 0 otherwise
	Params     Params
	Base64     bool   // the query used the base64 form
	UserAgent  string // the User-Agent header
	MIME       bool   // the body is message/rfc822 (SendMail, SmartReply, SmartForward before 14.0)
}

// Params are the command parameters, MS-ASHTTP 2.2.1.1.1.2.5 (plain form)
// and 2.2.1.1.1.1.3 (base64 form).
type Params struct {
	AttachmentName  string
	CollectionID    string
	ItemID          string
	LongID          string
	Occurrence      string
	SaveInSent      bool // SaveInSent=T, or Options bit 0x01
	AcceptMultiPart bool // MS-ASAcceptMultiPart: T, or Options bit 0x02 (MS-ASHTTP 2.2.1.1.2.5)
}

// RequestError reports a request URI or header that breaks MS-ASHTTP. The
// gateway answers it with HTTP 400.
type RequestError struct {
	Msg string
}

func (e *RequestError) Error() string { return "gateway: bad request: " + e.Msg }

func badRequest(format string, args ...any) error {
	return &RequestError{Msg: fmt.Sprintf(format, args...)}
}

// ParseQuery parses the query of a request URI in either form of
// MS-ASHTTP 2.2.1.1.1. For the plain form, Version is left zero: it comes
// from the MS-ASProtocolVersion header. For the base64 form, Version is the
// query's and must be 12.1 or later (MS-ASHTTP 2.2.1.1.1.1).
func ParseQuery(raw string) (*Request, error) {
	if raw == "" {
		return nil, badRequest("no query")
	}
	if len(raw) > maxQueryLen {
		return nil, badRequest("query longer than %d bytes", maxQueryLen)
	}
	// PathUnescape, not QueryUnescape: '+' is a base64 digit, not a space.
	s, err := url.PathUnescape(raw)
	if err != nil {
		return nil, badRequest("query: %v", err)
	}
	if strings.ContainsAny(strings.TrimRight(s, "="), "=&") {
		return parsePlainQuery(raw)
	}
	return parseBase64Query(s)
}

// parsePlainQuery parses the plain text form, MS-ASHTTP 2.2.1.1.1.2.
// Parameter names are matched ignoring case; unknown ones are ignored.
func parsePlainQuery(raw string) (*Request, error) {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, badRequest("query: %v", err)
	}
	q := &Request{}
	for k, vs := range vals {
		v := vs[0]
		var dst *string
		switch strings.ToLower(k) {
		case "cmd":
			if q.Command, err = eas.ParseCommand(v); err != nil {
				return nil, badRequest("unknown command %q", v)
			}
			continue
		case "saveinsent":
			switch v {
			case "T":
				q.Params.SaveInSent = true
			case "F":
			default:
				return nil, badRequest("SaveInSent=%q, want T or F", v)
			}
			continue
		case "user":
			dst = &q.User
		case "deviceid":
			dst = &q.DeviceID
		case "devicetype":
			dst = &q.DeviceType
		case "attachmentname":
			dst = &q.Params.AttachmentName
		case "collectionid":
			dst = &q.Params.CollectionID
		case "itemid":
			dst = &q.Params.ItemID
		case "longid":
			dst = &q.Params.LongID
		case "occurrence":
			dst = &q.Params.Occurrence
		default:
			continue
		}
		if err := checkParam(k, v); err != nil {
			return nil, err
		}
		*dst = v
	}
	if q.Command == 0 {
		return nil, badRequest("no Cmd parameter")
	}
	return q, q.checkDevice()
}

// Parameter tags of the base64 form, MS-ASHTTP 2.2.1.1.1.1.3.
const (
	tagAttachmentName = 0
	tagCollectionID   = 1
	tagItemID         = 3
	tagLongID         = 4
	tagOccurrence     = 6
	tagOptions        = 7
	tagUser           = 8
)

// Bits of the Options parameter, MS-ASHTTP 2.2.1.1.1.1.3.
const (
	optSaveInSent      = 0x01
	optAcceptMultiPart = 0x02
)

// parseBase64Query parses the base64 form, MS-ASHTTP 2.2.1.1.1.1: protocol
// version (1 byte), command code (1), locale (2, little-endian), device ID
// (length byte + bytes), policy key (length byte, 0 or 4, + uint32
// little-endian), device type (length byte + bytes), then command
// parameters as tag, length, value.
func parseBase64Query(s string) (*Request, error) {
	enc := base64.StdEncoding
	if len(s)%4 != 0 {
		enc = base64.RawStdEncoding // some clients drop the padding
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, badRequest("base64 query: %v", err)
	}
	p := byteParser{b: b}
	q := &Request{Base64: true}
	v, code, locale := p.byte(), p.byte(), p.uint16()
	q.Locale = locale
	q.DeviceID = string(p.bytes(int(p.byte())))
	switch n := p.byte(); n {
	case 0:
	case 4:
		q.PolicyKey = p.uint32()
	default:
		if p.err == nil {
			return nil, badRequest("base64 query: policy key length %d, want 0 or 4", n)
		}
	}
	q.DeviceType = string(p.bytes(int(p.byte())))
	if p.err != nil {
		return nil, p.err
	}
	q.Version = eas.ProtocolVersion(v)
	if !q.Version.Known() || q.Version < eas.V121 {
		return nil, badRequest("base64 query: protocol version %d is not 12.1 or later", v)
	}
	if q.Command, err = eas.CommandByCode(code); err != nil {
		return nil, badRequest("base64 query: unknown command code %d", code)
	}
	var seen uint16
	for p.err == nil && len(p.b) > 0 {
		tag := p.byte()
		val := p.bytes(int(p.byte()))
		if p.err != nil {
			break
		}
		if tag < 16 {
			if seen&(1<<tag) != 0 {
				return nil, badRequest("base64 query: parameter tag %d repeated", tag)
			}
			seen |= 1 << tag
		}
		var dst *string
		switch tag {
		case tagAttachmentName:
			dst = &q.Params.AttachmentName
		case tagCollectionID:
			dst = &q.Params.CollectionID
		case tagItemID:
			dst = &q.Params.ItemID
		case tagLongID:
			dst = &q.Params.LongID
		case tagOccurrence:
			dst = &q.Params.Occurrence
		case tagUser:
			dst = &q.User
		case tagOptions:
			if len(val) != 1 {
				return nil, badRequest("base64 query: Options length %d, want 1", len(val))
			}
			q.Params.SaveInSent = val[0]&optSaveInSent != 0
			q.Params.AcceptMultiPart = val[0]&optAcceptMultiPart != 0
			continue
		default:
			return nil, badRequest("base64 query: unknown parameter tag %d", tag)
		}
		if err := checkParam("tag "+strconv.Itoa(int(tag)), string(val)); err != nil {
			return nil, err
		}
		*dst = string(val)
	}
	if p.err != nil {
		return nil, p.err
	}
	return q, q.checkDevice()
}

// byteParser reads fields from a byte slice; reading past the end sets a
// sticky error and returns zeros.
type byteParser struct {
	b   []byte
	err error
}

func (p *byteParser) bytes(n int) []byte {
	if p.err != nil {
		return nil
	}
	if n > len(p.b) {
		p.err = badRequest("base64 query: field of %d bytes past the end", n)
		return nil
	}
	v := p.b[:n]
	p.b = p.b[n:]
	return v
}

func (p *byteParser) byte() byte {
	if b := p.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (p *byteParser) uint16() uint16 {
	if b := p.bytes(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (p *byteParser) uint32() uint32 {
	if b := p.bytes(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func checkParam(name, v string) error {
	if len(v) > maxParamLen {
		return badRequest("%s longer than %d bytes", name, maxParamLen)
	}
	if !utf8.ValidString(v) || strings.ContainsFunc(v, isControl) {
		return badRequest("%s is not printable UTF-8", name)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// checkDevice checks DeviceId and DeviceType. MS-ASHTTP 2.2.1.1.1.2.3 forbids
// commas and "special characters" in a device ID without listing them; the
// ID keys the device's state, so it is held to letters, digits, '-' and '_'.
func (q *Request) checkDevice() error {
	if q.DeviceID == "" || len(q.DeviceID) > maxDeviceID {
		return badRequest("DeviceId must have 1 to %d characters", maxDeviceID)
	}
	for _, c := range []byte(q.DeviceID) {
		if !isAlnum(c) && c != '-' && c != '_' {
			return badRequest("DeviceId %q has a character other than letters, digits, '-' and '_'", q.DeviceID)
		}
	}
	if q.DeviceType == "" || len(q.DeviceType) > maxDeviceType {
		return badRequest("DeviceType must have 1 to %d characters", maxDeviceType)
	}
	for _, c := range []byte(q.DeviceType) {
		if c < 0x20 || c >= 0x7f || c == ',' {
			return badRequest("DeviceType %q has a character that is not printable ASCII", q.DeviceType)
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// Media types of request bodies, MS-ASHTTP 2.2.1.1.2.2.
const (
	wbxmlType = "application/vnd.ms-sync.wbxml"
	mimeType  = "message/rfc822"
)

// parseRequest parses the query and headers of an EAS POST. Only versions
// in allowed are accepted.
func parseRequest(r *http.Request, allowed []eas.ProtocolVersion) (*Request, error) {
	q, err := ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	q.UserAgent = r.UserAgent()
	h := r.Header
	// MS-ASHTTP 2.2.1.1.2.6: the base64 form carries the version itself and
	// SHOULD NOT send the header; when both are present the query wins.
	if !q.Base64 {
		hv := h.Get("MS-ASProtocolVersion")
		if hv == "" {
			return q, badRequest("no MS-ASProtocolVersion header")
		}
		if q.Version, err = eas.ParseVersion(hv); err != nil {
			return q, badRequest("MS-ASProtocolVersion %q is not a supported version", hv)
		}
	}
	if !versionAllowed(q.Version, allowed) {
		return q, badRequest("protocol version %s is not enabled", q.Version)
	}
	if pk := h.Get("X-MS-PolicyKey"); pk != "" && !q.Base64 {
		n, err := strconv.ParseUint(pk, 10, 32)
		if err != nil {
			return q, badRequest("X-MS-PolicyKey %q is not a 32-bit unsigned integer", pk)
		}
		q.PolicyKey = uint32(n)
	}
	if mp := h.Get("MS-ASAcceptMultiPart"); mp != "" {
		q.Params.AcceptMultiPart = mp == "T"
	}
	if ct := h.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return q, badRequest("Content-Type %q: %v", ct, err)
		}
		switch {
		case mt == wbxmlType:
		case mt == mimeType && q.Version < eas.V140 &&
			(q.Command == eas.CmdSendMail || q.Command == eas.CmdSmartReply || q.Command == eas.CmdSmartForward):
			// MS-ASHTTP 2.2.1.1.2.2: before 14.0 these three send the
			// message itself as the body.
			q.MIME = true
		default:
			return q, badRequest("Content-Type %q is not allowed for %s in %s", mt, q.Command, q.Version)
		}
	}
	return q, nil
}

func versionAllowed(v eas.ProtocolVersion, allowed []eas.ProtocolVersion) bool {
	for _, a := range allowed {
		if a == v {
			return true
		}
	}
	return false
}
