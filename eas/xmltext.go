package eas

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// DecodeXML renders the WBXML document read from r as readable XML: one
// element per line, each prefixed with its MS-ASWBXML page name, which the
// root declares as a namespace "<Page>:" (as MS-ASCMD's examples do). An
// element sent without content is written <P:X/>; leaf text is written
// literally (escaped); opaque data, and text that XML cannot carry, is
// base64 in an element marked opaque="base64" or encoding="base64".
// EncodeXML turns the output back into the same bytes.
func DecodeXML(w io.Writer, r io.Reader, o *DecoderOptions) error {
	d := NewDecoder(r, o)
	var toks []Token
	var used [numPages]bool
	for {
		t, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if s, ok := t.(StartTag); ok {
			used[s.Tag.Page] = true
		}
		toks = append(toks, CopyToken(t))
	}
	bw := bufio.NewWriter(w)
	bw.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	renderXML(bw, toks, used)
	return bw.Flush()
}

func renderXML(w *bufio.Writer, toks []Token, used [numPages]bool) {
	depth := 0
	root := true
	for i := 0; i < len(toks); i++ {
		switch t := toks[i].(type) {
		case StartTag:
			w.WriteString(strings.Repeat("  ", depth))
			w.WriteString("<" + t.Tag.String())
			if root {
				root = false
				for p := range used {
					if used[p] {
						fmt.Fprintf(w, ` xmlns:%s="%s:"`, Page(p), Page(p))
					}
				}
			}
			if t.Empty {
				w.WriteString("/>\n")
				i++ // its EndTag
				continue
			}
			// A leaf: only data up to the EndTag.
			j := i + 1
			for j < len(toks) {
				if _, ok := toks[j].(Text); ok {
					j++
				} else if _, ok := toks[j].(Opaque); ok {
					j++
				} else {
					break
				}
			}
			if _, ok := toks[j].(EndTag); ok {
				writeLeaf(w, toks[i+1:j])
				w.WriteString("</" + t.Tag.String() + ">\n")
				i = j
				continue
			}
			w.WriteString(">\n")
			depth++
		case EndTag:
			depth--
			w.WriteString(strings.Repeat("  ", depth) + "</" + t.Tag.String() + ">\n")
		case Text, Opaque:
			// Data beside child elements: EAS never sends it, but show it.
			w.WriteString(strings.Repeat("  ", depth))
			writeLeaf(w, []Token{t})
			w.WriteString("\n")
		}
	}
}

// writeLeaf writes the end of a start tag and the element's data.
func writeLeaf(w *bufio.Writer, data []Token) {
	var all []byte
	opaque := false
	for _, t := range data {
		switch v := t.(type) {
		case Text:
			all = append(all, v...)
		case Opaque:
			all = append(all, v...)
			opaque = true
		}
	}
	switch {
	case opaque:
		w.WriteString(` opaque="base64">` + base64.StdEncoding.EncodeToString(all))
	case !xmlSafe(all) || len(data) > 0 && len(all) == 0:
		// An empty STR_I is kept apart from no data at all this way.
		w.WriteString(` encoding="base64">` + base64.StdEncoding.EncodeToString(all))
	default:
		w.WriteString(">")
		escapeText(w, all)
	}
}

// xmlSafe reports whether b is UTF-8 made only of characters XML 1.0
// carries unchanged through a parser.
func xmlSafe(b []byte) bool {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			return false
		}
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF {
			return false
		}
		b = b[n:]
	}
	return true
}

func escapeText(w *bufio.Writer, b []byte) {
	last := 0
	for i, c := range b {
		var esc string
		switch c {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '\r': // parsers turn CR LF into LF
			esc = "&#xD;"
		default:
			continue
		}
		w.Write(b[last:i])
		w.WriteString(esc)
		last = i + 1
	}
	w.Write(b[last:])
}

// EncodeXML reads XML in the form DecodeXML writes and writes the WBXML
// document. Elements are found by namespace: "AirSync:" or "AirSync"
// names the page, whatever the prefix, so the examples of MS-ASCMD
// (default namespaces, lower-case prefixes) are accepted too.
func EncodeXML(w io.Writer, r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	xd := xml.NewDecoder(bytes.NewReader(data))
	e := NewEncoder(w)
	type frame struct {
		tag      Tag
		empty    bool
		text     []byte
		children bool
		opaque   bool
		b64      bool
	}
	var stack []*frame
	for {
		t, err := xd.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("eas: xml: %w", err)
		}
		switch t := t.(type) {
		case xml.StartElement:
			off := xd.InputOffset()
			tag, err := xmlTag(t.Name)
			if err != nil {
				return fmt.Errorf("eas: xml at offset %d: %w", off, err)
			}
			if n := len(stack); n > 0 {
				p := stack[n-1]
				if len(bytes.TrimSpace(p.text)) > 0 {
					return fmt.Errorf("eas: xml at offset %d: text beside child elements in %s", off, p.tag)
				}
				p.text, p.children = nil, true
			}
			f := &frame{tag: tag, empty: off >= 2 && string(data[off-2:off]) == "/>"}
			for _, a := range t.Attr {
				switch {
				case a.Name.Local == "opaque" && a.Value == "base64":
					f.opaque = true
				case a.Name.Local == "encoding" && a.Value == "base64":
					f.b64 = true
				}
			}
			stack = append(stack, f)
			if err := e.writeStart(tag, f.empty); err != nil {
				return err
			}
		case xml.CharData:
			if n := len(stack); n > 0 {
				stack[n-1].text = append(stack[n-1].text, t...)
			}
		case xml.EndElement:
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if !f.children && !f.empty && (len(f.text) > 0 || f.opaque || f.b64) {
				b := f.text
				if f.opaque || f.b64 {
					b, err = base64.StdEncoding.DecodeString(strings.TrimSpace(string(f.text)))
					if err != nil {
						return fmt.Errorf("eas: xml: base64 in %s: %w", f.tag, err)
					}
				}
				if f.opaque {
					err = e.writeOpaque(b)
				} else {
					err = e.writeText(b, nil)
				}
				if err != nil {
					return err
				}
			}
			if err := e.writeEnd(f.tag); err != nil {
				return err
			}
		}
	}
	if len(stack) > 0 || !e.started {
		return errors.New("eas: xml: no complete root element")
	}
	return e.Close()
}

func xmlTag(n xml.Name) (Tag, error) {
	ns := strings.TrimSuffix(n.Space, ":")
	for p := range codePages {
		if strings.EqualFold(codePages[p].name, ns) {
			t := Tag{Page(p), n.Local}
			if !KnownTag(t) {
				return Tag{}, fmt.Errorf("unknown element %s", t)
			}
			return t, nil
		}
	}
	return Tag{}, fmt.Errorf("element %s: namespace %q is no code page", n.Local, n.Space)
}
