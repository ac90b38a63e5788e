package gateway

import (
	"encoding/base64"
	"errors"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/easgate/easgate/eas"
)

// lv is a length byte followed by s, as the base64 query form lays out its
// variable fields (MS-ASHTTP 2.2.1.1.1.1).
func lv(s string) []byte { return append([]byte{byte(len(s))}, s...) }

// param is one command parameter of the base64 form: tag, length, value.
func param(tag byte, v string) []byte { return append([]byte{tag}, lv(v)...) }

// b64 joins the fields of a base64 query and encodes it.
func b64(fields ...[]byte) string {
	var b []byte
	for _, f := range fields {
		b = append(b, f...)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// head is the fixed start of a base64 query: version, command code and
// locale 0x0407 little-endian.
func head(version, code byte) []byte { return []byte{version, code, 0x07, 0x04} }

var (
	noKey   = []byte{0}
	key1234 = []byte{4, 0xd2, 0x04, 0x00, 0x00} // 1234, little-endian
)

func TestParseQuery(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  *Request
	}{{
		name:  "plain",
		query: "Cmd=Sync&User=alice&DeviceId=dev01&DeviceType=TestPhone",
		want:  &Request{Command: eas.CmdSync, User: "alice", DeviceID: "dev01", DeviceType: "TestPhone"},
	}, {
		name:  "plain-domain-user-and-params",
		query: "Cmd=SmartReply&User=CORP%5Calice&DeviceId=dev01&DeviceType=TestPhone&ItemId=5%3A12&CollectionId=5&SaveInSent=T&LongId=L9&Occurrence=2024-01-02T10%3A00%3A00.000Z",
		want: &Request{Command: eas.CmdSmartReply, User: `CORP\alice`, DeviceID: "dev01", DeviceType: "TestPhone",
			Params: Params{ItemID: "5:12", CollectionID: "5", SaveInSent: true, LongID: "L9", Occurrence: "2024-01-02T10:00:00.000Z"}},
	}, {
		name:  "plain-names-ignore-case",
		query: "cmd=foldersync&user=alice&deviceid=dev01&devicetype=TestPhone&Unknown=1",
		want:  &Request{Command: eas.CmdFolderSync, User: "alice", DeviceID: "dev01", DeviceType: "TestPhone"},
	}, {
		name:  "plain-attachment",
		query: "Cmd=GetAttachment&User=alice&DeviceId=dev01&DeviceType=TestPhone&AttachmentName=7%3A3%3A1&SaveInSent=F",
		want:  &Request{Command: eas.CmdGetAttachment, User: "alice", DeviceID: "dev01", DeviceType: "TestPhone", Params: Params{AttachmentName: "7:3:1"}},
	}, {
		name:  "base64-minimal",
		query: b64(head(141, 9), lv("dev01"), noKey, lv("TestPhone")),
		want:  &Request{Command: eas.CmdFolderSync, DeviceID: "dev01", DeviceType: "TestPhone", Version: eas.V141, Locale: 0x0407, Base64: true},
	}, {
		name: "base64-all-params",
		query: b64(head(161, 2), lv("dev01"), key1234, lv("TestPhone"),
			param(tagUser, "bob@example.org"), param(tagCollectionID, "5"), param(tagItemID, "5:12"),
			param(tagLongID, "L9"), param(tagOccurrence, "x"), param(tagAttachmentName, "a"),
			[]byte{tagOptions, 1, optSaveInSent | optAcceptMultiPart}),
		want: &Request{Command: eas.CmdSmartForward, User: "bob@example.org", DeviceID: "dev01", DeviceType: "TestPhone",
			Version: eas.V161, PolicyKey: 1234, Locale: 0x0407, Base64: true,
			Params: Params{CollectionID: "5", ItemID: "5:12", LongID: "L9", Occurrence: "x", AttachmentName: "a", SaveInSent: true, AcceptMultiPart: true}},
	}, {
		name:  "base64-find",
		query: b64(head(161, 23), lv("dev01"), noKey, lv("TestPhone")),
		want:  &Request{Command: eas.CmdFind, DeviceID: "dev01", DeviceType: "TestPhone", Version: eas.V161, Locale: 0x0407, Base64: true},
	}, {
		name:  "base64-unpadded",
		query: strings.TrimRight(b64(head(140, 18), lv("dev1"), noKey, lv("TestPhone")), "="),
		want:  &Request{Command: eas.CmdPing, DeviceID: "dev1", DeviceType: "TestPhone", Version: eas.V140, Locale: 0x0407, Base64: true},
	}, {
		name:  "base64-url-escaped",
		query: strings.ReplaceAll(b64(head(140, 18), lv("dev1"), noKey, lv("TestPhone")), "=", "%3D"),
		want:  &Request{Command: eas.CmdPing, DeviceID: "dev1", DeviceType: "TestPhone", Version: eas.V140, Locale: 0x0407, Base64: true},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseQuery(tt.query)
			if err != nil {
				t.Fatalf("ParseQuery(%q) = %v", tt.query, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseQuery(%q) =\n%+v, want\n%+v", tt.query, got, tt.want)
			}
		})
	}
}

func TestParseQueryErrors(t *testing.T) {
	ok := [][]byte{head(141, 9), lv("dev01"), noKey, lv("TestPhone")}
	tests := []struct {
		name, query string
	}{
		{"empty", ""},
		{"too-long", "Cmd=Sync&DeviceId=d&DeviceType=t&User=" + strings.Repeat("a", maxQueryLen)},
		{"bad-escape", "Cmd=Sync&DeviceId=%zz&DeviceType=t"},
		{"plain-no-cmd", "User=a&DeviceId=dev01&DeviceType=TestPhone"},
		{"plain-unknown-cmd", "Cmd=Frobnicate&DeviceId=dev01&DeviceType=TestPhone"},
		{"plain-no-device-id", "Cmd=Sync&DeviceType=TestPhone"},
		{"plain-no-device-type", "Cmd=Sync&DeviceId=dev01"},
		{"plain-device-id-comma", "Cmd=Sync&DeviceId=dev%2C01&DeviceType=TestPhone"},
		{"plain-device-id-too-long", "Cmd=Sync&DeviceType=TestPhone&DeviceId=" + strings.Repeat("a", maxDeviceID+1)},
		{"plain-device-type-control", "Cmd=Sync&DeviceId=dev01&DeviceType=Test%00Phone"},
		{"plain-save-in-sent", "Cmd=SendMail&DeviceId=dev01&DeviceType=TestPhone&SaveInSent=yes"},
		{"plain-user-not-utf8", "Cmd=Sync&DeviceId=dev01&DeviceType=TestPhone&User=%ff"},
		{"plain-item-too-long", "Cmd=Sync&DeviceId=dev01&DeviceType=TestPhone&ItemId=" + strings.Repeat("a", maxParamLen+1)},
		{"base64-not-base64", "!!!!"},
		{"base64-truncated-head", b64([]byte{141, 9, 7})},
		{"base64-device-id-past-end", b64(head(141, 9), []byte{10}, []byte("dev"))},
		{"base64-no-policy-key-length", b64(head(141, 9), lv("dev01"))},
		{"base64-policy-key-length-3", b64(head(141, 9), lv("dev01"), []byte{3, 1, 2, 3}, lv("TestPhone"))},
		{"base64-policy-key-short", b64(head(141, 9), lv("dev01"), []byte{4, 1, 2})},
		{"base64-device-type-past-end", b64(head(141, 9), lv("dev01"), noKey, []byte{9}, []byte("Test"))},
		{"base64-empty-device-id", b64(head(141, 9), lv(""), noKey, lv("TestPhone"))},
		{"base64-empty-device-type", b64(head(141, 9), lv("dev01"), noKey, lv(""))},
		{"base64-version-12.0", b64(head(120, 9), lv("dev01"), noKey, lv("TestPhone"))},
		{"base64-version-2.5", b64(head(25, 9), lv("dev01"), noKey, lv("TestPhone"))},
		{"base64-version-unknown", b64(head(150, 9), lv("dev01"), noKey, lv("TestPhone"))},
		{"base64-unknown-command", b64(head(141, 5), lv("dev01"), noKey, lv("TestPhone"))},
		{"base64-param-past-end", b64(append(ok, []byte{tagItemID, 9, 'a'})...)},
		{"base64-param-no-length", b64(append(ok, []byte{tagItemID})...)},
		{"base64-unknown-tag", b64(append(ok, param(2, "x"))...)},
		{"base64-options-length-2", b64(append(ok, []byte{tagOptions, 2, 1, 0})...)},
		{"base64-repeated-tag", b64(append(ok, param(tagUser, "a"), param(tagUser, "b"))...)},
		{"base64-user-control", b64(append(ok, param(tagUser, "a\nb"))...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := ParseQuery(tt.query)
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("ParseQuery(%q) = %+v, %v; want a *RequestError", tt.query, q, err)
			}
		})
	}
}

func TestParseRequestHeaders(t *testing.T) {
	const plain = "/Microsoft-Server-ActiveSync?Cmd=SendMail&User=alice&DeviceId=dev01&DeviceType=TestPhone"
	base := b64(head(141, 1), lv("dev01"), key1234, lv("TestPhone"))
	tests := []struct {
		name    string
		target  string
		headers map[string]string
		want    *Request // nil: a *RequestError
	}{{
		name:    "plain",
		target:  plain,
		headers: map[string]string{"MS-ASProtocolVersion": "14.1", "X-MS-PolicyKey": "3000000000", "Content-Type": "application/vnd.ms-sync.wbxml", "User-Agent": "Test/1.0", "MS-ASAcceptMultiPart": "T"},
		want: &Request{Command: eas.CmdSendMail, User: "alice", DeviceID: "dev01", DeviceType: "TestPhone", Version: eas.V141,
			PolicyKey: 3000000000, UserAgent: "Test/1.0", Params: Params{AcceptMultiPart: true}},
	}, {
		name:    "plain-mime-before-14",
		target:  plain,
		headers: map[string]string{"MS-ASProtocolVersion": "12.1", "Content-Type": "message/rfc822"},
		want:    &Request{Command: eas.CmdSendMail, User: "alice", DeviceID: "dev01", DeviceType: "TestPhone", Version: eas.V121, MIME: true},
	}, {
		name:    "base64-ignores-version-and-key-headers",
		target:  "/Microsoft-Server-ActiveSync?" + base,
		headers: map[string]string{"MS-ASProtocolVersion": "2.5", "X-MS-PolicyKey": "99"},
		want:    &Request{Command: eas.CmdSendMail, DeviceID: "dev01", DeviceType: "TestPhone", Version: eas.V141, PolicyKey: 1234, Locale: 0x0407, Base64: true},
	}, {
		name:   "no-version",
		target: plain,
	}, {
		name:    "unknown-version",
		target:  plain,
		headers: map[string]string{"MS-ASProtocolVersion": "13.0"},
	}, {
		name:    "version-not-enabled",
		target:  plain,
		headers: map[string]string{"MS-ASProtocolVersion": "2.5"},
	}, {
		name:    "bad-policy-key",
		target:  plain,
		headers: map[string]string{"MS-ASProtocolVersion": "14.1", "X-MS-PolicyKey": "-1"},
	}, {
		name:    "policy-key-too-big",
		target:  plain,
		headers: map[string]string{"MS-ASProtocolVersion": "14.1", "X-MS-PolicyKey": "4294967296"},
	}, {
		name:    "mime-in-14",
		target:  plain,
		headers: map[string]string{"MS-ASProtocolVersion": "14.0", "Content-Type": "message/rfc822"},
	}, {
		name:    "bad-content-type",
		target:  plain,
		headers: map[string]string{"MS-ASProtocolVersion": "14.1", "Content-Type": "text/xml"},
	}, {
		name:    "malformed-content-type",
		target:  plain,
		headers: map[string]string{"MS-ASProtocolVersion": "14.1", "Content-Type": "a/b; ="},
	}}
	enabled := []eas.ProtocolVersion{eas.V121, eas.V140, eas.V141}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", tt.target, nil)
			r.Header.Del("User-Agent")
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			got, err := parseRequest(r, enabled)
			if tt.want == nil {
				var re *RequestError
				if !errors.As(err, &re) {
					t.Fatalf("parseRequest(%s) = %v, want a *RequestError", tt.name, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseRequest(%s) = %v", tt.name, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseRequest(%s) =\n%+v, want\n%+v", tt.name, got, tt.want)
			}
		})
	}
}

// encodeBase64Query lays q out in the base64 form, the inverse of
// parseBase64Query for the fields that form carries.
func encodeBase64Query(q *Request) string {
	code, _ := q.Command.Code()
	f := [][]byte{head(byte(q.Version), code), lv(q.DeviceID)}
	f[0][2], f[0][3] = byte(q.Locale), byte(q.Locale>>8)
	if q.PolicyKey != 0 {
		k := q.PolicyKey
		f = append(f, []byte{4, byte(k), byte(k >> 8), byte(k >> 16), byte(k >> 24)})
	} else {
		f = append(f, noKey)
	}
	f = append(f, lv(q.DeviceType))
	for _, p := range []struct {
		tag byte
		v   string
	}{{tagAttachmentName, q.Params.AttachmentName}, {tagCollectionID, q.Params.CollectionID}, {tagItemID, q.Params.ItemID},
		{tagLongID, q.Params.LongID}, {tagOccurrence, q.Params.Occurrence}, {tagUser, q.User}} {
		if p.v != "" {
			f = append(f, param(p.tag, p.v))
		}
	}
	var opt byte
	if q.Params.SaveInSent {
		opt |= optSaveInSent
	}
	if q.Params.AcceptMultiPart {
		opt |= optAcceptMultiPart
	}
	if opt != 0 {
		f = append(f, []byte{tagOptions, 1, opt})
	}
	return b64(f...)
}

// FuzzParseQuery checks that the parser never panics and that whatever the
// base64 form accepts survives a round trip through it.
func FuzzParseQuery(f *testing.F) {
	f.Add(b64(head(141, 9), lv("dev01"), noKey, lv("TestPhone")))
	f.Add(b64(head(161, 2), lv("dev01"), key1234, lv("TestPhone"), param(tagUser, "bob"), []byte{tagOptions, 1, 3}))
	f.Add(b64(head(141, 9), lv("dev01"), []byte{4, 1, 2}))
	f.Add("Cmd=Sync&User=alice&DeviceId=dev01&DeviceType=TestPhone")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := ParseQuery(raw)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("ParseQuery(%q) = %v, want a *RequestError", raw, err)
			}
			return
		}
		if !q.Base64 {
			return
		}
		again, err := ParseQuery(encodeBase64Query(q))
		if err != nil {
			t.Fatalf("re-parsing %+v: %v", q, err)
		}
		if !reflect.DeepEqual(again, q) {
			t.Fatalf("round trip of %q:\n%+v, want\n%+v", raw, again, q)
		}
	})
}
