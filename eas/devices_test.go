package eas_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/easgate/easgate/eas"
)

// deviceCaptures returns the real device and server captures in
// testdata/devices (see PROVENANCE.md there), by path relative to testdata.
func deviceCaptures(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/devices/*/*.wbxml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no captures in testdata/devices")
	}
	return files
}

// captureName is the test name of a capture: its path below testdata/devices.
func captureName(path string) string {
	rel, err := filepath.Rel("testdata/devices", path)
	if err != nil {
		return path
	}
	return filepath.ToSlash(rel)
}

// readTokens decodes a whole document into a slice of copied tokens.
func readTokens(data []byte) ([]eas.Token, error) {
	d := eas.NewDecoder(bytes.NewReader(data), nil)
	var toks []eas.Token
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return toks, nil
		}
		if err != nil {
			return toks, err
		}
		toks = append(toks, eas.CopyToken(tok))
	}
}

// writeTokens encodes toks as a whole document.
func writeTokens(toks []eas.Token) ([]byte, error) {
	var buf bytes.Buffer
	e := eas.NewEncoder(&buf)
	for _, tok := range toks {
		if err := e.EncodeToken(tok); err != nil {
			return nil, err
		}
	}
	if err := e.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// TestDeviceCapturesTokens decodes every capture token by token, encodes
// the tokens again and checks that the new document decodes to the same
// tokens.
func TestDeviceCapturesTokens(t *testing.T) {
	for _, path := range deviceCaptures(t) {
		t.Run(captureName(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			toks, err := readTokens(data)
			if err != nil {
				t.Fatalf("Token() = %v after %d tokens", err, len(toks))
			}
			if len(toks) == 0 {
				t.Fatal("no tokens")
			}
			again, err := writeTokens(toks)
			if err != nil {
				t.Fatalf("EncodeToken = %v", err)
			}
			toks2, err := readTokens(again)
			if err != nil {
				t.Fatalf("decoding re-encoded document: %v", err)
			}
			if !reflect.DeepEqual(toks2, toks) {
				t.Errorf("tokens after re-encoding differ\n got: %v\nwant: %v", toks2, toks)
			}
		})
	}
}

// nonCanonical lists the captures whose bytes our encoder does not write
// again, and why. Their XML must still encode to a document that decodes to
// the same tokens.
var nonCanonical = map[string]string{
	// TbSync switches back to the GetItemEstimate page after Options, right
	// before three END tokens. END carries no page, so our encoder, which
	// switches pages only in front of a tag, leaves out those two bytes.
	"thunderbird-tbsync/tbsync-14.0-getitemestimate-contacts.wbxml": "SWITCH_PAGE before END",
}

// TestDeviceCapturesXML renders every capture with DecodeXML and encodes
// the XML back with EncodeXML: the result must be the capture's bytes, or,
// for the captures in nonCanonical, the capture's tokens.
func TestDeviceCapturesXML(t *testing.T) {
	for _, path := range deviceCaptures(t) {
		name := captureName(path)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var xml bytes.Buffer
			if err := eas.DecodeXML(&xml, bytes.NewReader(data), nil); err != nil {
				t.Fatalf("DecodeXML = %v", err)
			}
			var again bytes.Buffer
			if err := eas.EncodeXML(&again, bytes.NewReader(xml.Bytes())); err != nil {
				t.Fatalf("EncodeXML = %v\n%s", err, xml.Bytes())
			}
			if bytes.Equal(again.Bytes(), data) {
				if why, ok := nonCanonical[name]; ok {
					t.Errorf("capture is listed in nonCanonical (%s) but encodes to the same bytes; remove it from the list", why)
				}
				return
			}
			if _, ok := nonCanonical[name]; !ok {
				t.Fatalf("EncodeXML(DecodeXML(capture)) = % x\nwant % x", again.Bytes(), data)
			}
			want, err := readTokens(data)
			if err != nil {
				t.Fatal(err)
			}
			got, err := readTokens(again.Bytes())
			if err != nil {
				t.Fatalf("decoding re-encoded document: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("tokens after the XML round trip differ\n got: %v\nwant: %v", got, want)
			}
		})
	}
}
