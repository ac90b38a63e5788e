package eas

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

// tokens decodes a whole document into copied tokens.
func tokens(t testing.TB, data []byte) []Token {
	t.Helper()
	d := NewDecoder(bytes.NewReader(data), nil)
	var out []Token
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Token: %v", err)
		}
		out = append(out, CopyToken(tok))
	}
}

func TestTokenRoundTrip(t *testing.T) {
	// FolderSync with SyncKey 0, as the Gmail app sends it, and a Sync with
	// a page switch, an empty tag and opaque data.
	docs := map[string][]byte{
		"foldersync": {0x03, 0x01, 0x6A, 0x00, 0x00, 0x07, 0x56, 0x52, 0x03, '0', 0x00, 0x01, 0x01},
		"sync-switch-empty-opaque": {0x03, 0x01, 0x6A, 0x00,
			0x45,                        // AirSync:Sync
			0x5C,                        // AirSync:Collections
			0x4F,                        // AirSync:Collection
			0x4B, 0x03, '1', 0x00, 0x01, // SyncKey 1
			0x14,                                                 // GetChanges, empty
			0x00, 0x11, 0x4A, 0xC3, 0x03, 0x01, 0x00, 0xFF, 0x01, // AirSyncBase:Data opaque
			0x01, 0x01, 0x01},
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			toks := tokens(t, doc)
			var b bytes.Buffer
			e := NewEncoder(&b)
			for _, tok := range toks {
				if err := e.EncodeToken(tok); err != nil {
					t.Fatalf("EncodeToken(%v): %v", tok, err)
				}
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b.Bytes(), doc) {
				t.Errorf("re-encoded = % x, want % x", b.Bytes(), doc)
			}
			var x bytes.Buffer
			if err := DecodeXML(&x, bytes.NewReader(doc), nil); err != nil {
				t.Fatal(err)
			}
			var back bytes.Buffer
			if err := EncodeXML(&back, &x); err != nil {
				t.Fatalf("EncodeXML: %v\n%s", err, x.String())
			}
			if !bytes.Equal(back.Bytes(), doc) {
				t.Errorf("XML round trip = % x, want % x\n%s", back.Bytes(), doc, x.String())
			}
		})
	}
}

func TestDecoderErrors(t *testing.T) {
	h := []byte{0x03, 0x01, 0x6A, 0x00}
	cat := func(b ...byte) []byte { return append(append([]byte(nil), h...), b...) }
	tests := []struct {
		name  string
		doc   []byte
		opts  *DecoderOptions
		limit string
	}{
		{"empty", nil, nil, ""},
		{"header only", h, nil, ""},
		{"bad version", []byte{0x09, 0x01, 0x6A, 0x00, 0x45, 0x01}, nil, ""},
		{"unknown page", cat(0x00, 0x40, 0x45, 0x01), nil, ""},
		{"unknown tag", cat(0x7F, 0x01), nil, ""},
		{"truncated string", cat(0x45, 0x03, 'a', 'b'), nil, ""},
		{"end without start", cat(0x01), nil, ""},
		{"unclosed", cat(0x45, 0x5C), nil, ""},
		{"second root", cat(0x05, 0x05), nil, ""},
		{"attributes", cat(0xC5, 0x01), nil, ""},
		{"literal", cat(0x04, 0x00), nil, ""},
		{"text outside root", cat(0x03, 'a', 0x00), nil, ""},
		{"opaque too long", cat(0x45, 0xC3, 0x0A, 0x01), nil, ""},
		{"uint overflow", cat(0x45, 0xC3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01), nil, ""},
		{"depth", cat(0x45, 0x5C, 0x4F, 0x01, 0x01, 0x01), &DecoderOptions{MaxDepth: 2}, "MaxDepth"},
		{"string size", cat(0x45, 0x03, 'a', 'b', 'c', 0x00, 0x01), &DecoderOptions{MaxStringSize: 2}, "MaxStringSize"},
		{"opaque size", cat(0x45, 0xC3, 0x03, 1, 2, 3, 0x01), &DecoderOptions{MaxOpaqueSize: 2}, "MaxOpaqueSize"},
		{"tokens", cat(0x45, 0x05, 0x05, 0x05, 0x01), &DecoderOptions{MaxTokens: 3}, "MaxTokens"},
		{"size", cat(0x45, 0x05, 0x05, 0x05, 0x01), &DecoderOptions{MaxSize: 6}, "MaxSize"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, streaming := range []bool{false, true} {
				var r io.Reader = bytes.NewReader(tc.doc)
				if streaming {
					r = io.MultiReader(strings.NewReader(string(tc.doc)))
				}
				d := NewDecoder(r, tc.opts)
				var err error
				for err == nil {
					_, err = d.Token()
				}
				var se *SyntaxError
				if !errors.As(err, &se) {
					t.Fatalf("streaming=%v: error = %v, want *SyntaxError", streaming, err)
				}
				var le *LimitError
				if got := errors.As(err, &le); got != (tc.limit != "") || got && le.Limit != tc.limit {
					t.Errorf("streaming=%v: error = %v, want limit %q", streaming, err, tc.limit)
				}
				if se.Offset < 0 || se.Offset > int64(len(tc.doc)) {
					t.Errorf("offset %d outside the document", se.Offset)
				}
			}
		})
	}
}

type testPing struct {
	_         struct{}     `wbxml:"Ping:Ping"`
	Heartbeat *int         `wbxml:"Ping:HeartbeatInterval"`
	Folders   *testFolders `wbxml:"Ping:Folders"`
}

type testFolders struct {
	Folder []testFolder `wbxml:"Ping:Folder"`
}

type testFolder struct {
	ID    string `wbxml:"Ping:Id"`
	Class string `wbxml:"Ping:Class"`
}

type testSync struct {
	_           struct{}         `wbxml:"AirSync:Sync"`
	Collections []testCollection `wbxml:"AirSync:Collections"`
}

type testCollection struct {
	SyncKey    string `wbxml:"AirSync:SyncKey"`
	GetChanges bool   `wbxml:"AirSync:GetChanges,empty"`
	More       bool   `wbxml:"AirSync:MoreAvailable,empty"`
	WindowSize uint16 `wbxml:"AirSync:WindowSize,omitempty"`
	Data       []byte `wbxml:"AirSyncBase:Data,opaque"`
	App        Raw    `wbxml:"AirSync:ApplicationData"`
}

type testEmail struct {
	Subject string `wbxml:"Email:Subject"`
	Read    bool   `wbxml:"Email:Read"`
}

func TestMarshalRoundTrip(t *testing.T) {
	hb := 480
	tests := []struct {
		name string
		v    any
		new  func() any
	}{
		{"ping", &testPing{Heartbeat: &hb, Folders: &testFolders{Folder: []testFolder{{"7", "Email"}, {"1", "Calendar"}}}}, func() any { return new(testPing) }},
		{"ping-empty", &testPing{}, func() any { return new(testPing) }},
		{"sync", &testSync{Collections: []testCollection{{SyncKey: "0", GetChanges: true, WindowSize: 25, Data: []byte{0, 1, 2},
			App: RawValue(&testEmail{Subject: "Grüße", Read: true})}}}, func() any { return new(testSync) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Marshal(tc.v)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			got := tc.new()
			if err := Unmarshal(b, got, nil); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			b2, err := Marshal(got)
			if err != nil {
				t.Fatalf("Marshal again: %v", err)
			}
			if !bytes.Equal(b, b2) {
				t.Errorf("Marshal(Unmarshal(b)) = % x, want % x", b2, b)
			}
			if s, ok := got.(*testSync); ok {
				var m testEmail
				if err := s.Collections[0].App.Decode(&m); err != nil {
					t.Fatal(err)
				}
				if want := (testEmail{Subject: "Grüße", Read: true}); m != want {
					t.Errorf("ApplicationData = %+v, want %+v", m, want)
				}
				var m2 testEmail
				if err := tc.v.(*testSync).Collections[0].App.Decode(&m2); err != nil || m2 != m {
					t.Errorf("RawValue.Decode = %+v, %v", m2, err)
				}
			}
			if p, ok := got.(*testPing); ok && p.Folders != nil && !reflect.DeepEqual(p, tc.v) {
				t.Errorf("Unmarshal = %+v, want %+v", p, tc.v)
			}
		})
	}
}

func TestUnmarshalWrongRoot(t *testing.T) {
	b, err := Marshal(&testPing{})
	if err != nil {
		t.Fatal(err)
	}
	var s testSync
	var se *SchemaError
	if err := Unmarshal(b, &s, nil); !errors.As(err, &se) {
		t.Errorf("Unmarshal(Ping into Sync) = %v, want *SchemaError", err)
	}
}

// TestChoiceKeepsOrder checks `wbxml:",choice"`: alternatives decode into
// one slice in document order and encode back in it.
func TestChoiceKeepsOrder(t *testing.T) {
	type op struct {
		Fetch *testFolder `wbxml:"ItemOperations:Fetch"`
		Move  *testFolder `wbxml:"ItemOperations:Move"`
	}
	type doc struct {
		_   struct{} `wbxml:"ItemOperations:ItemOperations"`
		Ops []op     `wbxml:",choice"`
	}
	in := &doc{Ops: []op{{Move: &testFolder{ID: "1"}}, {Fetch: &testFolder{ID: "2"}}, {Move: &testFolder{ID: "3"}}}}
	b, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out doc
	if err := Unmarshal(b, &out, nil); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&out, in) {
		t.Errorf("Unmarshal(Marshal(v)) = %+v, want %+v", out, in)
	}
	if _, err := Marshal(&doc{Ops: []op{{}}}); err == nil {
		t.Error("Marshal of a choice with no alternative set succeeded")
	}
}
