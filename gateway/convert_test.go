package gateway

import (
	"bytes"
	"context"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

// wire sends raw through WBXML and back, as a client's ApplicationData
// arrives: tokens, not a Go value.
func wire(t *testing.T, raw eas.Raw) eas.Raw {
	t.Helper()
	var b bytes.Buffer
	e := eas.NewEncoder(&b)
	start := eas.StartTag{Tag: eas.Tag{Page: eas.PageAirSync, Name: "ApplicationData"}}
	if err := raw.MarshalWBXML(e, start); err != nil {
		t.Fatalf("encode: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("encode: %v", err)
	}
	d := eas.NewDecoder(&b, nil)
	if _, err := d.Token(); err != nil {
		t.Fatalf("decode: %v", err)
	}
	var r eas.Raw
	if err := r.UnmarshalWBXML(d, start); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return r
}

// validator is what every class payload implements.
type validator interface {
	Validate(eas.ProtocolVersion) error
}

// payload converts it and decodes the result into a new T.
func payload[T any](t *testing.T, it *sources.Item, v eas.ProtocolVersion, p bodyPrefs) *T {
	t.Helper()
	raw, err := toEAS(context.Background(), it, v, p)
	if err != nil {
		t.Fatalf("toEAS(%s) = %v", v, err)
	}
	var out T
	if err := wire(t, raw).Decode(&out); err != nil {
		t.Fatalf("Decode(%s) = %v", v, err)
	}
	if vd, ok := any(&out).(validator); ok {
		if err := vd.Validate(v); err != nil {
			t.Errorf("Validate(%s) = %v", v, err)
		}
	}
	return &out
}

var testVersions = []eas.ProtocolVersion{eas.V25, eas.V120, eas.V121, eas.V140, eas.V141, eas.V160, eas.V161}

func u32(n uint32) *uint32 { return &n }

func TestBodyPreferences(t *testing.T) {
	long := strings.Repeat("ä", 600) // 1200 bytes
	msg := &sources.Message{
		Text: &sources.Body{Data: long, Size: int64(len(long))},
		HTML: &sources.Body{Data: "<p>" + long + "</p>", Size: int64(len(long) + 7)},
		MIME: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader("Subject: x\r\n\r\n" + long)), nil
		},
		Size: int64(14 + len(long)),
	}
	type want struct {
		typ       eas.BodyType
		dataLen   int // -1: no Data
		truncated bool
		size      uint32
		preview   string
	}
	tests := []struct {
		name  string
		v     eas.ProtocolVersion
		prefs []eas.BodyPreference
		want  want
	}{
		{"plain", eas.V141, []eas.BodyPreference{{Type: 1}}, want{eas.BodyPlainText, 1200, false, 1200, ""}},
		{"html", eas.V141, []eas.BodyPreference{{Type: 2}}, want{eas.BodyHTML, 1207, false, 1207, ""}},
		{"mime", eas.V141, []eas.BodyPreference{{Type: 4}}, want{eas.BodyMIME, 1214, false, 1214, ""}},
		{"rtf falls back", eas.V141, []eas.BodyPreference{{Type: 3}, {Type: 2}}, want{eas.BodyHTML, 1207, false, 1207, ""}},
		{"truncated at a character", eas.V141, []eas.BodyPreference{{Type: 1, TruncationSize: u32(101)}}, want{eas.BodyPlainText, 100, true, 1200, ""}},
		{"mime truncated", eas.V141, []eas.BodyPreference{{Type: 4, TruncationSize: u32(20)}}, want{eas.BodyMIME, 20, true, 1214, ""}},
		{"all or none, too large", eas.V141, []eas.BodyPreference{{Type: 1, TruncationSize: u32(100), AllOrNone: true}}, want{eas.BodyPlainText, -1, true, 1200, ""}},
		{"all or none, fits", eas.V141, []eas.BodyPreference{{Type: 1, TruncationSize: u32(5000), AllOrNone: true}}, want{eas.BodyPlainText, 1200, false, 1200, ""}},
		{"preview", eas.V141, []eas.BodyPreference{{Type: 2, TruncationSize: u32(0), Preview: 5}}, want{eas.BodyHTML, 0, true, 1207, "äääää"}},
		{"no preview before 14.0", eas.V121, []eas.BodyPreference{{Type: 1, Preview: 5}}, want{eas.BodyPlainText, 1200, false, 1200, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newBodyPrefs(tt.v, classEmail, &eas.SyncOptions{BodyPreference: tt.prefs})
			e := payload[eas.Email](t, &sources.Item{ID: "1", Mail: msg}, tt.v, p)
			b := e.Body
			if b == nil {
				t.Fatal("no Body")
			}
			got := want{typ: b.Type, dataLen: -1, preview: b.Preview}
			if b.Data != nil {
				got.dataLen = len(*b.Data)
			}
			if b.Truncated != nil {
				got.truncated = *b.Truncated
			}
			if b.EstimatedDataSize != nil {
				got.size = *b.EstimatedDataSize
			}
			if got != tt.want {
				t.Errorf("Body = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestBody25(t *testing.T) {
	long := strings.Repeat("x", 3000)
	msg := &sources.Message{
		Text: &sources.Body{Data: long, Size: 3000},
		MIME: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader(strings.Repeat("m", 6000))), nil
		},
		Size: 6000,
	}
	code := func(n int) *int { return &n }
	tests := []struct {
		name     string
		o        eas.SyncOptions
		body     int // -1 for none
		mime     int
		truncate bool
	}{
		{"no truncation", eas.SyncOptions{}, 3000, -1, false},
		{"code 0 sends nothing", eas.SyncOptions{Truncation: code(0)}, 0, -1, true},
		{"code 3 is 2048 bytes", eas.SyncOptions{Truncation: code(3)}, 2048, -1, true},
		{"code 4 is 5120 bytes", eas.SyncOptions{Truncation: code(4)}, 3000, -1, false},
		{"code 9 is all", eas.SyncOptions{Truncation: code(9)}, 3000, -1, false},
		{"MIME code 2 is 5120 bytes", eas.SyncOptions{MIMESupport: 2, MIMETruncation: code(2)}, -1, 5120, true},
		{"MIME code 8 is all", eas.SyncOptions{MIMESupport: 2, MIMETruncation: code(8)}, -1, 6000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := payload[eas.Email](t, &sources.Item{ID: "1", Mail: msg}, eas.V25, newBodyPrefs(eas.V25, classEmail, &tt.o))
			body, mime, truncated := -1, -1, false
			if e.Body25 != nil {
				body, truncated = len(*e.Body25), *e.BodyTruncated25
			}
			if e.MIMEData25 != nil {
				mime, truncated = len(*e.MIMEData25), *e.MIMETruncated25
			}
			if body != tt.body || mime != tt.mime || truncated != tt.truncate {
				t.Errorf("Body %d, MIME %d, truncated %v; want %d, %d, %v", body, mime, truncated, tt.body, tt.mime, tt.truncate)
			}
		})
	}
}

func TestGetOptions(t *testing.T) {
	tests := []struct {
		name string
		v    eas.ProtocolVersion
		o    *eas.SyncOptions
		want sources.GetOptions
	}{
		// Text and HTML come together: an HTML-only message gives its
		// text from the HTML, and the other way round.
		{"default", eas.V141, nil, sources.GetOptions{Text: true, HTML: true}},
		{"html limited", eas.V141, &eas.SyncOptions{BodyPreference: []eas.BodyPreference{{Type: 2, TruncationSize: u32(500)}}}, sources.GetOptions{Text: true, HTML: true, BodyLimit: 500}},
		{"mime", eas.V141, &eas.SyncOptions{BodyPreference: []eas.BodyPreference{{Type: 4, TruncationSize: u32(500)}, {Type: 1}}}, sources.GetOptions{MIME: true, Text: true, HTML: true}},
		{"preview needs text", eas.V141, &eas.SyncOptions{BodyPreference: []eas.BodyPreference{{Type: 2, TruncationSize: u32(0), Preview: 100}}}, sources.GetOptions{HTML: true, Text: true, BodyLimit: 464}},
		{"2.5 code", eas.V25, &eas.SyncOptions{Truncation: ptr(1)}, sources.GetOptions{Text: true, HTML: true, BodyLimit: 512}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newBodyPrefs(tt.v, classEmail, tt.o).getOptions(); *got != tt.want {
				t.Errorf("getOptions() = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestFileReference(t *testing.T) {
	ref := sources.AttachmentRef{Folder: "INBOX/Sub:dir", Item: "42/7", ID: "2.1"}
	s := fileReference(ref)
	if strings.ContainsAny(s, "/+=") {
		t.Errorf("fileReference = %q, not URL-safe", s)
	}
	got, err := parseFileReference(s)
	if err != nil || got != ref {
		t.Errorf("parseFileReference(%q) = %+v, %v; want %+v", s, got, err, ref)
	}
	for _, bad := range []string{"", "a:b", "a:b:c:d", "!!:a:b", "::"} {
		if _, err := parseFileReference(bad); err == nil {
			t.Errorf("parseFileReference(%q) succeeded", bad)
		}
	}
}

func TestHTMLToText(t *testing.T) {
	got := htmlToText("<html><head><style>p{}</style></head><body><p>a &amp; b</p><script>x()</script>c<br>d</body></html>")
	if want := "a & b\nc\nd"; got != want {
		t.Errorf("htmlToText = %q, want %q", got, want)
	}
}

// sameItem compares two items structurally, naming the first difference.
func sameItem(t *testing.T, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
}
