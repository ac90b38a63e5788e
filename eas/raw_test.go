package eas

import (
	"bytes"
	"reflect"
	"testing"
)

// rawFrom decodes a document whose root is ApplicationData into a Raw.
func rawFrom(t *testing.T, doc []byte) Raw {
	t.Helper()
	d := NewDecoder(bytes.NewReader(doc), nil)
	start, err := d.Token()
	if err != nil {
		t.Fatal(err)
	}
	var r Raw
	if err := r.UnmarshalWBXML(d, start.(StartTag)); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRawCanonical checks that a Raw holds the same bytes for the same
// tokens however they were encoded (string table, redundant or trailing
// page switches, long lengths), so that Raws compare equal.
func TestRawCanonical(t *testing.T) {
	subject, _ := tokenOf(Tag{PageEmail, "Subject"})
	convID, _ := tokenOf(Tag{PageEmail2, "ConversationId"})
	const app = 0x1D | tagContent // AirSync:ApplicationData
	plain := []byte{0x03, 0x01, 0x6A, 0x00, app,
		0x00, byte(PageEmail), subject | tagContent, tokStrI, 'H', 'i', 0x00, tokEnd,
		0x00, byte(PageEmail2), convID | tagContent, tokOpaque, 0x02, 'x', 'y', tokEnd,
		tokEnd}
	tests := []struct {
		name string
		doc  []byte
	}{
		{"string table", []byte{0x03, 0x01, 0x6A, 0x03, 'H', 'i', 0x00, app,
			0x00, byte(PageEmail), subject | tagContent, tokStrT, 0x00, tokEnd,
			0x00, byte(PageEmail2), convID | tagContent, tokOpaque, 0x02, 'x', 'y', tokEnd,
			tokEnd}},
		{"redundant switches", []byte{0x03, 0x01, 0x6A, 0x00, app,
			0x00, 0x01, 0x00, byte(PageEmail), subject | tagContent, tokStrI, 'H', 'i', 0x00, tokEnd,
			0x00, byte(PageEmail2), 0x00, byte(PageEmail2), convID | tagContent, tokOpaque, 0x80, 0x02, 'x', 'y', tokEnd,
			0x00, 0x00, tokEnd}},
	}
	want := rawFrom(t, plain)
	var wantMail Email
	if err := want.Decode(&wantMail); err != nil || wantMail.Subject != "Hi" {
		t.Fatalf("Decode(plain) = %+v, %v; want Subject Hi", wantMail, err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rawFrom(t, tt.doc)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Raw = % x, want % x", got.wbxml, want.wbxml)
			}
			var m Email
			if err := got.Decode(&m); err != nil || !reflect.DeepEqual(m, wantMail) {
				t.Errorf("Decode = %+v, %v; want %+v", m, err, wantMail)
			}
		})
	}
}

// TestRawElements checks Elements on a decoded Raw and on a RawValue.
func TestRawElements(t *testing.T) {
	type elem struct {
		tag     string
		content bool
	}
	v := &Email{Subject: "Hi", Flag: &Flag{}} // Flag sent as an empty tag
	want := []elem{{"Email:Subject", true}, {"Email:Flag", false}}
	decoded := rawOf(t, mustTokens(t, v))
	for name, r := range map[string]Raw{"decoded": decoded, "RawValue": RawValue(v)} {
		var got []elem
		if err := r.Elements(func(tag Tag, content bool) { got = append(got, elem{tag.String(), content}) }); err != nil {
			t.Fatalf("%s: Elements = %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Elements = %v, want %v", name, got, want)
		}
	}
	if n := allocated(func() { decoded.Elements(func(Tag, bool) {}) }); n > 512 {
		t.Errorf("Elements allocated %d bytes, want none but a pooled Decoder", n)
	}
}

// mustTokens returns the tokens of v's fields as ApplicationData content.
func mustTokens(t *testing.T, v any) []Token {
	t.Helper()
	r := rawOf(t, nil)
	r.val = v
	var b bytes.Buffer
	e := NewEncoder(&b)
	app := StartTag{Tag: Tag{PageAirSync, "ApplicationData"}}
	if err := r.MarshalWBXML(e, app); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	toks := tokens(t, b.Bytes())
	return toks[1 : len(toks)-1]
}
