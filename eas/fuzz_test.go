package eas

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// addSeeds adds every .wbxml file under testdata as a fuzz seed.
func addSeeds(f *testing.F) {
	filepath.WalkDir("testdata", func(p string, de os.DirEntry, err error) error {
		if err == nil && filepath.Ext(p) == ".wbxml" {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
		return nil
	})
}

// FuzzDecoderToken checks that the token decoder terminates within its
// limits on any input, and that whatever it accepts survives re-encoding
// and the XML form unchanged.
func FuzzDecoderToken(f *testing.F) {
	addSeeds(f)
	f.Add([]byte{0x03, 0x01, 0x6A, 0x00, 0x45, 0x01})
	opts := &DecoderOptions{MaxDepth: 20, MaxTokens: 5000, MaxStringSize: 1 << 16, MaxOpaqueSize: 1 << 16, MaxSize: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDecoder(bytes.NewReader(data), opts)
		var toks []Token
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
			if d.Depth() > opts.MaxDepth {
				t.Fatalf("depth %d past MaxDepth", d.Depth())
			}
			if len(toks) > 2*opts.MaxTokens {
				t.Fatalf("%d tokens past MaxTokens", len(toks))
			}
			toks = append(toks, CopyToken(tok))
		}
		var b bytes.Buffer
		e := NewEncoder(&b)
		for _, tok := range toks {
			if err := e.EncodeToken(tok); err != nil {
				t.Fatalf("EncodeToken(%#v): %v", tok, err)
			}
		}
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		again := tokens(t, b.Bytes())
		if !reflect.DeepEqual(normalize(again), normalize(toks)) {
			t.Fatalf("re-encoded tokens differ:\n%#v\nwant\n%#v", again, toks)
		}
		if !xmlRoundTrips(toks) {
			return
		}
		var x, back bytes.Buffer
		if err := DecodeXML(&x, bytes.NewReader(b.Bytes()), nil); err != nil {
			t.Fatalf("DecodeXML: %v", err)
		}
		if err := EncodeXML(&back, &x); err != nil {
			t.Fatalf("EncodeXML: %v\n%s", err, x.Bytes())
		}
		if !bytes.Equal(back.Bytes(), b.Bytes()) {
			t.Fatalf("XML round trip = % x, want % x\n%s", back.Bytes(), b.Bytes(), x.Bytes())
		}
	})
}

// normalize maps empty Text and Opaque to a comparable form.
func normalize(toks []Token) []Token {
	out := make([]Token, len(toks))
	for i, t := range toks {
		switch v := t.(type) {
		case Text:
			out[i] = "T" + string(v)
		case Opaque:
			out[i] = "O" + string(v)
		default:
			out[i] = t
		}
	}
	return out
}

// xmlRoundTrips reports whether the XML form can carry toks exactly: no
// element mixes data with child elements or holds more than one piece of
// data.
func xmlRoundTrips(toks []Token) bool {
	data, child := []int{0}, []bool{false}
	for _, t := range toks {
		n := len(data) - 1
		switch t.(type) {
		case StartTag:
			if data[n] > 0 {
				return false
			}
			child[n] = true
			data, child = append(data, 0), append(child, false)
		case EndTag:
			data, child = data[:n], child[:n]
		default:
			if child[n] || data[n] > 0 {
				return false
			}
			data[n]++
		}
	}
	return true
}
