package eas

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// The cross-check against libwbxml: Debian's wbxml2xml (package
// libwbxml2-utils) is a decoder written without looking at ours, so where
// both agree on every element name and every byte of data, a bug would have
// to be shared.
//
// libwbxml writes its own XML: a default namespace per page instead of
// prefixes, some tag and page names of its own, and opaque data raw or in
// base64 depending on the tag. Both outputs are therefore reduced to the
// sequence of (namespace:name, data) of their elements, and our names are
// translated to libwbxml's through the tables of codepages_test.go
// (libwbxmlDiffs, libwbxmlPageNames), which TestCodePagesLibwbxml checks
// token by token.

// libwbxmlBase64 lists the tags whose data, text or OPAQUE, libwbxml 0.11.8
// prints in base64; for every other tag it prints OPAQUE data as raw bytes,
// escaped as text. Found by sending OPAQUE data in every tag through
// wbxml2xml.
var libwbxmlBase64 = map[Tag]bool{
	{PageAirSyncBase, "Content"}:           true,
	{PageComposeMail, "Mime"}:              true,
	{PageEmail2, "ConversationId"}:         true,
	{PageEmail2, "ConversationIndex"}:      true,
	{PageGAL, "Data"}:                      true,
	{PageItemOperations, "ConversationId"}: true,
	{PageResolveRecipients, "Data"}:        true,
	{PageSearch, "ConversationId"}:         true,
}

// flatElement is one element of a document, reduced for comparison.
type flatElement struct {
	Name string // "AirSync:SyncKey"
	Data string // its text or opaque bytes, white space kept
	// NSGuessed (libwbxml only) is set where libwbxml took the namespace
	// from an enclosing element it does not know, which carries an
	// arbitrary one.
	NSGuessed bool
}

func (e flatElement) String() string { return fmt.Sprintf("%s=%q", e.Name, e.Data) }

// lookWbxml2xml returns the path of wbxml2xml. It is required in CI.
func lookWbxml2xml(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("wbxml2xml")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("wbxml2xml (Debian package libwbxml2-utils, installed by scripts/test.sh) is required in CI: %v", err)
		}
		t.Skip("wbxml2xml not installed (Debian package libwbxml2-utils); scripts/test.sh installs it")
	}
	return bin
}

// TestLibwbxml compares DecodeXML with wbxml2xml on every .wbxml file in
// testdata: device captures and golden files alike.
func TestLibwbxml(t *testing.T) {
	bin := lookWbxml2xml(t)
	var files []string
	err := filepath.WalkDir("testdata", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "fuzz" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".wbxml") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no .wbxml files in testdata")
	}
	for _, path := range files {
		name, _ := filepath.Rel("testdata", path)
		t.Run(filepath.ToSlash(name), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			compareLibwbxml(t, bin, data)
		})
	}
}

// TestLibwbxmlData runs the comparison on documents holding what the
// captures lack: OPAQUE data in a tag libwbxml prints raw and in one it
// prints in base64, bytes that are not UTF-8, and text with markup
// characters and surrounding white space.
func TestLibwbxmlData(t *testing.T) {
	bin := lookWbxml2xml(t)
	tests := []struct {
		name string
		toks []Token
	}{
		{"opaque raw", []Token{
			StartTag{Tag: Tag{PageAirSyncBase, "Body"}},
			StartTag{Tag: Tag{PageAirSyncBase, "Data"}}, Opaque("<a>\x00\xff&"), EndTag{Tag{PageAirSyncBase, "Data"}},
			EndTag{Tag{PageAirSyncBase, "Body"}},
		}},
		{"opaque base64", []Token{
			StartTag{Tag: Tag{PageComposeMail, "SendMail"}},
			StartTag{Tag: Tag{PageComposeMail, "Mime"}}, Opaque("Subject: x\r\n\r\n\xfe"), EndTag{Tag{PageComposeMail, "Mime"}},
			EndTag{Tag{PageComposeMail, "SendMail"}},
		}},
		{"text in a base64 tag", []Token{
			StartTag{Tag: Tag{PageComposeMail, "SendMail"}},
			StartTag{Tag: Tag{PageComposeMail, "Mime"}}, Text("Subject: y\r\n"), EndTag{Tag{PageComposeMail, "Mime"}},
			EndTag{Tag{PageComposeMail, "SendMail"}},
		}},
		{"text", []Token{
			StartTag{Tag: Tag{PageAirSync, "Sync"}},
			StartTag{Tag: Tag{PageAirSync, "SyncKey"}}, Text(" a < b & c\t\n"), EndTag{Tag{PageAirSync, "SyncKey"}},
			StartTag{Tag: Tag{PageAirSync, "GetChanges"}, Empty: true}, EndTag{Tag{PageAirSync, "GetChanges"}},
			EndTag{Tag{PageAirSync, "Sync"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			e := NewEncoder(&buf)
			for _, tok := range tt.toks {
				if err := e.EncodeToken(tok); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			compareLibwbxml(t, bin, buf.Bytes())
		})
	}
}

// compareLibwbxml decodes data with DecodeXML and with wbxml2xml and
// compares the elements.
func compareLibwbxml(t *testing.T, bin string, data []byte) {
	t.Helper()
	var out bytes.Buffer
	if err := DecodeXML(&out, bytes.NewReader(data), nil); err != nil {
		t.Fatalf("DecodeXML = %v", err)
	}
	ours, err := oursElements(out.Bytes())
	if err != nil {
		t.Fatalf("reading DecodeXML output: %v\n%s", err, out.Bytes())
	}

	dir := t.TempDir()
	in, outFile := filepath.Join(dir, "in.wbxml"), filepath.Join(dir, "out.xml")
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// -m 0: no indentation added; -k: keep white space in text.
	cmd := exec.Command(bin, "-l", "ACTIVESYNC", "-m", "0", "-k", "-o", outFile, in)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wbxml2xml: %v\n%s", err, msg)
	}
	lib, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := libwbxmlElements(lib)
	if err != nil {
		t.Fatalf("reading wbxml2xml output: %v\n%s", err, lib)
	}

	if len(theirs) != len(ours) {
		t.Fatalf("DecodeXML has %d elements, wbxml2xml %d\n  ours: %v\ntheirs: %v", len(ours), len(theirs), ours, theirs)
	}
	for j, o := range ours {
		if err := sameElement(o, theirs[j]); err != nil {
			t.Errorf("element %d: %v", j, err)
		}
	}
}

// sameElement reports how theirs (from wbxml2xml) differs from ours.
func sameElement(ours, theirs flatElement) error {
	want, err := libwbxmlName(ours.Name)
	if err != nil {
		return err
	}
	got := theirs.Name
	if strings.HasSuffix(want, ":unknown") || theirs.NSGuessed {
		// Compare the names only.
		_, got, _ = strings.Cut(got, ":")
		_, want, _ = strings.Cut(want, ":")
	}
	if got != want {
		return fmt.Errorf("wbxml2xml names it %s, want %s for our %s", theirs.Name, want, ours.Name)
	}
	data := theirs.Data
	if tag, _ := parseTagName(ours.Name); libwbxmlBase64[tag] {
		b, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return fmt.Errorf("%s: wbxml2xml's base64: %v", ours.Name, err)
		}
		data = string(b)
	}
	if data != ours.Data {
		return fmt.Errorf("%s: wbxml2xml has %q, DecodeXML %q", ours.Name, data, ours.Data)
	}
	return nil
}

// parseTagName parses "AirSync:SyncKey".
func parseTagName(s string) (Tag, error) {
	page, name, _ := strings.Cut(s, ":")
	for p := range Page(numPages) {
		if codePages[p].name == page {
			t := Tag{p, name}
			if !KnownTag(t) {
				return t, fmt.Errorf("DecodeXML wrote unknown tag %s", s)
			}
			return t, nil
		}
	}
	return Tag{}, fmt.Errorf("DecodeXML wrote unknown page in %s", s)
}

// libwbxmlName returns the "namespace:name" wbxml2xml prints for our tag
// name; the name is "unknown" for a token libwbxml does not know, and the
// namespace is then meaningless.
func libwbxmlName(ours string) (string, error) {
	t, err := parseTagName(ours)
	if err != nil {
		return "", err
	}
	tok, _ := tokenOf(t)
	ns, renamed := libwbxmlPageNames[t.Page]
	if !renamed {
		ns = t.Page.String()
	}
	name := t.Name
	if n, ok := libwbxmlDiffs[libwbxmlKey{t.Page, tok}]; ok {
		name = n
	}
	if ns == "" {
		name = "unknown"
	}
	return ns + ":" + name, nil
}

// oursElements reduces DecodeXML's output: names from the namespace URI
// ("AirSync:") and local name, data base64-decoded where an attribute says
// so.
func oursElements(doc []byte) ([]flatElement, error) {
	d := xml.NewDecoder(bytes.NewReader(doc))
	var els []flatElement
	var open []int // index in els of each open element
	var hasChild []bool
	var base64Data []bool
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch v := tok.(type) {
		case xml.StartElement:
			if len(open) > 0 {
				hasChild[len(hasChild)-1] = true
			}
			e := flatElement{Name: strings.TrimSuffix(v.Name.Space, ":") + ":" + v.Name.Local}
			b64 := false
			for _, a := range v.Attr {
				switch {
				case a.Name.Local == "opaque" && a.Value == "base64",
					a.Name.Local == "encoding" && a.Value == "base64":
					b64 = true
				}
			}
			els = append(els, e)
			open = append(open, len(els)-1)
			hasChild = append(hasChild, false)
			base64Data = append(base64Data, b64)
		case xml.CharData:
			if len(open) > 0 {
				els[open[len(open)-1]].Data += string(v)
			}
		case xml.EndElement:
			i, n := open[len(open)-1], len(open)-1
			if err := finishElement(&els[i], hasChild[n], base64Data[n]); err != nil {
				return nil, err
			}
			open, hasChild, base64Data = open[:n], hasChild[:n], base64Data[:n]
		}
	}
	return els, nil
}

// finishElement drops the indentation between child elements and decodes
// base64 data.
func finishElement(e *flatElement, hasChild, b64 bool) error {
	if hasChild && strings.TrimSpace(e.Data) == "" {
		e.Data = ""
	}
	if b64 {
		b, err := base64.StdEncoding.DecodeString(e.Data)
		if err != nil {
			return fmt.Errorf("%s: %v", e.Name, err)
		}
		e.Data = string(b)
	}
	return nil
}

// libwbxmlElements reduces wbxml2xml's compact output, naming elements
// with libwbxml's namespace (without the colon) and name. It is read by hand,
// not with encoding/xml, because libwbxml writes OPAQUE data as raw bytes,
// which need not be UTF-8 or even characters XML allows. Its output is
// regular: an XML declaration, a DOCTYPE, then tags whose only attribute
// is xmlns, and text escaped with the five predefined entities.
func libwbxmlElements(doc []byte) ([]flatElement, error) {
	var els []flatElement
	type frame struct {
		el        int
		ns        string
		nsGuessed bool // ns came from an <unknown> element
		hasChild  bool
	}
	var open []frame
	for len(doc) > 0 {
		if doc[0] != '<' {
			i := bytes.IndexByte(doc, '<')
			if i < 0 {
				i = len(doc)
			}
			if len(open) > 0 {
				text, err := unescapeLibwbxml(doc[:i])
				if err != nil {
					return nil, err
				}
				els[open[len(open)-1].el].Data += text
			} else if len(bytes.TrimSpace(doc[:i])) > 0 {
				return nil, fmt.Errorf("text outside the root: %q", doc[:i])
			}
			doc = doc[i:]
			continue
		}
		end := bytes.IndexByte(doc, '>')
		if end < 0 {
			return nil, fmt.Errorf("unterminated tag %q", doc)
		}
		tag := string(doc[1:end])
		doc = doc[end+1:]
		switch {
		case strings.HasPrefix(tag, "?"), strings.HasPrefix(tag, "!"):
			// declaration, DOCTYPE
		case strings.HasPrefix(tag, "/"):
			if len(open) == 0 {
				return nil, fmt.Errorf("unbalanced </%s>", tag[1:])
			}
			f := open[len(open)-1]
			if err := finishElement(&els[f.el], f.hasChild, false); err != nil {
				return nil, err
			}
			open = open[:len(open)-1]
		default:
			selfClosing := strings.HasSuffix(tag, "/")
			tag = strings.TrimSuffix(tag, "/")
			local, attrs, _ := strings.Cut(tag, " ")
			f := frame{el: len(els)}
			if len(open) > 0 {
				parent := &open[len(open)-1]
				f.ns, f.nsGuessed = parent.ns, parent.nsGuessed
				parent.hasChild = true
			}
			if v, ok := strings.CutPrefix(strings.TrimSpace(attrs), `xmlns="`); ok {
				f.ns = strings.TrimSuffix(strings.TrimSuffix(v, `"`), ":")
				f.nsGuessed = false
			} else if strings.TrimSpace(attrs) != "" {
				return nil, fmt.Errorf("unexpected attributes in <%s>", tag)
			}
			els = append(els, flatElement{Name: f.ns + ":" + local, NSGuessed: f.nsGuessed})
			if local == "unknown" {
				f.nsGuessed = true
			}
			if !selfClosing {
				open = append(open, f)
			}
		}
	}
	if len(open) > 0 {
		return nil, fmt.Errorf("%d elements left open", len(open))
	}
	return els, nil
}

var xmlEntities = map[string]string{"amp": "&", "lt": "<", "gt": ">", "quot": `"`, "apos": "'"}

// unescapeLibwbxml replaces the predefined entities and character references.
func unescapeLibwbxml(b []byte) (string, error) {
	var sb strings.Builder
	for len(b) > 0 {
		i := bytes.IndexByte(b, '&')
		if i < 0 {
			sb.Write(b)
			break
		}
		sb.Write(b[:i])
		b = b[i:]
		j := bytes.IndexByte(b, ';')
		if j < 0 {
			return "", fmt.Errorf("unterminated entity in %q", b)
		}
		name := string(b[1:j])
		b = b[j+1:]
		if s, ok := xmlEntities[name]; ok {
			sb.WriteString(s)
			continue
		}
		var n uint64
		var err error
		switch {
		case strings.HasPrefix(name, "#x"):
			n, err = strconv.ParseUint(name[2:], 16, 32)
		case strings.HasPrefix(name, "#"):
			n, err = strconv.ParseUint(name[1:], 10, 32)
		default:
			err = errors.New("unknown entity")
		}
		if err != nil {
			return "", fmt.Errorf("&%s;: %v", name, err)
		}
		sb.WriteRune(rune(n))
	}
	return sb.String(), nil
}

// TestLibwbxmlReaders checks the two reducers on small documents, so that a
// bug in them cannot hide a difference.
func TestLibwbxmlReaders(t *testing.T) {
	tests := []struct {
		name string
		read func([]byte) ([]flatElement, error)
		doc  string
		want []flatElement
	}{
		{
			name: "ours",
			read: oursElements,
			doc: `<?xml version="1.0" encoding="utf-8"?>
<AirSync:Sync xmlns:AirSync="AirSync:" xmlns:AirSyncBase="AirSyncBase:">
  <AirSync:SyncKey> a&amp;b&#xD;</AirSync:SyncKey>
  <AirSync:GetChanges/>
  <AirSyncBase:Data opaque="base64">AP8=</AirSyncBase:Data>
  <AirSync:Class encoding="base64">AQ==</AirSync:Class>
</AirSync:Sync>
`,
			want: []flatElement{
				{Name: "AirSync:Sync"},
				{Name: "AirSync:SyncKey", Data: " a&b\r"},
				{Name: "AirSync:GetChanges"},
				{Name: "AirSyncBase:Data", Data: "\x00\xff"},
				{Name: "AirSync:Class", Data: "\x01"},
			},
		},
		{
			name: "libwbxml",
			read: libwbxmlElements,
			doc: `<?xml version="1.0"?><!DOCTYPE ActiveSync PUBLIC "-//MICROSOFT//DTD ActiveSync//EN" "http://www.microsoft.com/">` +
				`<Sync xmlns="AirSync:"><SyncKey> a&amp;b&lt;</SyncKey><Options><Data xmlns="Gal:">` + "\x00\xff" + `</Data>` +
				`<Class/></Options><unknown xmlns="FolderHierarchy:"><Status>1</Status></unknown></Sync>`,
			want: []flatElement{
				{Name: "AirSync:Sync"},
				{Name: "AirSync:SyncKey", Data: " a&b<"},
				{Name: "AirSync:Options"},
				{Name: "Gal:Data", Data: "\x00\xff"},
				{Name: "AirSync:Class"},
				{Name: "FolderHierarchy:unknown"},
				{Name: "FolderHierarchy:Status", Data: "1", NSGuessed: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.read([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("read = %v\nwant %v", got, tt.want)
			}
		})
	}
}
