package eas

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"testing/iotest"
)

// requestTypes are the request bodies the gateway decodes, by root tag.
var requestTypes = func() map[Tag]reflect.Type {
	m := map[Tag]reflect.Type{}
	for _, v := range []any{
		FindRequest{}, FolderCreateRequest{}, FolderDeleteRequest{}, FolderSyncRequest{},
		FolderUpdateRequest{}, GetItemEstimateRequest{}, ItemOperationsRequest{},
		MeetingResponseRequest{}, MoveItemsRequest{}, PingRequest{}, ProvisionRequest{},
		ResolveRecipientsRequest{}, SearchRequest{}, SendMailRequest{}, SettingsRequest{},
		SmartForwardRequest{}, SmartReplyRequest{}, SyncRequest{}, ValidateCertRequest{},
	} {
		t := reflect.TypeOf(v)
		ti, err := getTypeInfo(t)
		if err != nil || ti.root == nil {
			panic(t.String() + " names no root")
		}
		m[*ti.root] = t
	}
	return m
}()

// rootOf returns the root tag of a WBXML document.
func rootOf(doc []byte) (Tag, bool) {
	d := newBytesDecoder(doc, nil)
	if k, err := d.next(); err != nil || k != kindStart {
		return Tag{}, false
	}
	return d.tag(), true
}

// classes are the values a Raw is decoded into, one of each, allocated
// ahead so that decoding into them measures the decoder alone.
type classes struct {
	email    Email
	calendar Calendar
	contact  Contact
	task     Task
	note     Note
}

// decode decodes r into the i-th class, in turn.
func (c *classes) decode(r Raw, i int) error {
	switch i % 5 {
	case 0:
		c.email = Email{}
		return r.Decode(&c.email)
	case 1:
		c.calendar = Calendar{}
		return r.Decode(&c.calendar)
	case 2:
		c.contact = Contact{}
		return r.Decode(&c.contact)
	case 3:
		c.task = Task{}
		return r.Decode(&c.task)
	}
	c.note = Note{}
	return r.Decode(&c.note)
}

// raws appends every decoded Raw inside v.
func raws(v reflect.Value, out []Raw) []Raw {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			out = raws(v.Elem(), out)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.Uint8 {
			for i := 0; i < v.Len(); i++ {
				out = raws(v.Index(i), out)
			}
		}
	case reflect.Struct:
		if v.Type() == rawType {
			if r := v.Interface().(Raw); r.wbxml != nil {
				out = append(out, r)
			}
			return out
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				out = raws(v.Field(i), out)
			}
		}
	}
	return out
}

// requestAlloc decodes doc as the gateway does, from a reader into the
// request type its root names, then each Raw in it once into a class. It
// returns the bytes allocated for both, the bytes the request's Decoder
// charged, and the first error. It does not count the request and class
// values themselves, which are the caller's.
func requestAlloc(doc []byte, o *DecoderOptions) (alloc, charged uint64, err error) {
	root, ok := rootOf(doc)
	t := requestTypes[root]
	if !ok || t == nil {
		t = reflect.TypeFor[SyncRequest]()
	}
	v := reflect.New(t)
	p := v.Interface()
	var c classes
	d := NewDecoder(bytes.NewReader(doc), o)
	alloc = allocated(func() { err = d.Decode(p) })
	if err != nil {
		return alloc, uint64(d.charged), err
	}
	rs := raws(v, nil)
	alloc += allocated(func() {
		for i, r := range rs {
			if e := c.decode(r, i); e != nil && err == nil {
				err = e
			}
		}
	})
	return alloc, uint64(d.charged), err
}

// allocBound is the allocation bound docs/OPERATIONS.md states for
// decoding an n-byte request with the default limits, then each Raw in it
// once: 2k·n + k·16 KiB for the decoded values (k = MaxAllocPerByte = 16),
// and at most 6n + 16 KiB for the Decoder's own buffers.
func allocBound(n int) uint64 { return 40*uint64(n) + 512<<10 }

// checkAlloc fails t when decoding doc allocates past allocBound, or when
// the request's own decode allocates more than 6n + 32 KiB beyond what it
// charged, which would be an allocation MaxAllocPerByte does not see. A
// first measurement over the bound is taken again, once, so that a type
// seen for the first time (its field table is built once per process) or
// a sync.Pool emptied by the GC does not count.
func checkAlloc(t *testing.T, name string, doc []byte) {
	t.Helper()
	n := uint64(len(doc))
	over := func() (string, bool) {
		alloc, charged, err := requestAlloc(doc, nil)
		switch {
		case alloc > allocBound(len(doc)):
			return fmt.Sprintf("decoding %s (%d bytes) allocated %d bytes, past the bound %d (err %v)", name, n, alloc, allocBound(len(doc)), err), true
		case alloc > charged+6*n+32<<10:
			return fmt.Sprintf("decoding %s (%d bytes) allocated %d bytes, of which %d charged (err %v)", name, n, alloc, charged, err), true
		}
		return "", false
	}
	if _, bad := over(); !bad {
		return
	}
	if msg, bad := over(); bad {
		t.Error(msg)
	}
}

// TestDecodeAllocBound checks the bound on every shape we know to be
// costly, at several sizes, and on every document in testdata.
func TestDecodeAllocBound(t *testing.T) {
	for _, sh := range decodeShapes {
		for _, n := range []int{100, 16 << 10, 1 << 20} {
			checkAlloc(t, fmt.Sprintf("%s/%d", sh.name, n), sh.build(n))
		}
	}
	filepath.WalkDir("testdata", func(p string, de os.DirEntry, err error) error {
		if err == nil && filepath.Ext(p) == ".wbxml" {
			if b, err := os.ReadFile(p); err == nil {
				checkAlloc(t, p, b)
			}
		}
		return nil
	})
}

// TestEmptyTagBody checks issue 9's floor: the 3 MB body of empty tags
// allocates less than 32 MB, and is refused as past a limit.
func TestEmptyTagBody(t *testing.T) {
	doc := decodeShapes[0].build(3 << 20)
	alloc, _, err := requestAlloc(doc, nil)
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != "MaxAllocPerByte" {
		t.Errorf("Decode(3 MB of empty tags) = %v, want a MaxAllocPerByte LimitError", err)
	}
	if alloc >= 32<<20 {
		t.Errorf("Decode(3 MB of empty tags) allocated %d bytes, want < 32 MB", alloc)
	}
}

// FuzzDecodeAlloc checks the stated allocation bound on any input.
func FuzzDecodeAlloc(f *testing.F) {
	addSeeds(f)
	for _, sh := range decodeShapes {
		f.Add(sh.build(4 << 10))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		checkAlloc(t, "input", doc)
	})
}

// TestStreamDecode checks that decoding from readers that return the
// document in pieces of every size gives what decoding it whole does: a
// text or a Raw that straddles two reads must come out intact.
func TestStreamDecode(t *testing.T) {
	docs := map[string][]byte{}
	filepath.WalkDir("testdata", func(p string, de os.DirEntry, err error) error {
		if err == nil && filepath.Ext(p) == ".wbxml" {
			if b, err := os.ReadFile(p); err == nil {
				docs[p] = b
			}
		}
		return nil
	})
	var cs []SyncCollection
	for i := range 3000 {
		cs = append(cs, SyncCollection{SyncKey: "{5d1c3c7e-9a3b-4a53-8d4c-2f3f1c0e6a11}2", CollectionID: strconv.Itoa(i + 1)})
	}
	big, err := Marshal(&SyncRequest{Collections: &SyncCollections{Collection: cs}})
	if err != nil {
		t.Fatal(err)
	}
	docs["3000 collections"] = big
	docs["Sync response"] = encodeTokens(t, syncResponseTokens(20))
	readers := map[string]func([]byte) io.Reader{
		"whole":    func(b []byte) io.Reader { return bytes.NewReader(b) },
		"one byte": func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
		"half":     func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) },
		"data+err": func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) },
	}
	for name, doc := range docs {
		root, _ := rootOf(doc)
		typ := requestTypes[root]
		if typ == nil {
			typ = reflect.TypeFor[SyncResponse]()
		}
		want := reflect.New(typ)
		wantErr := Unmarshal(doc, want.Interface(), nil)
		for rname, r := range readers {
			got := reflect.New(typ)
			err := NewDecoder(r(doc), nil).Decode(got.Interface())
			if (err == nil) != (wantErr == nil) {
				t.Errorf("Decode(%s, %s) = %v, want %v", name, rname, err, wantErr)
				continue
			}
			if err == nil && !reflect.DeepEqual(got.Interface(), want.Interface()) {
				t.Errorf("Decode(%s, %s) differs from Unmarshal", name, rname)
			}
		}
	}
}

// TestRawAllowance checks how a Raw's content is charged: under the
// MaxAllocPerByte of the document it came from, and credited all its
// bytes from the start, so that a 16.0 Exception naming its Location
// before its ExceptionStartTime is accepted as the other order is.
func TestRawAllowance(t *testing.T) {
	var buf bytes.Buffer
	e := NewEncoder(&buf)
	start := func(page Page, name string) StartTag { return StartTag{Tag: Tag{page, name}} }
	end := func(page Page, name string) EndTag { return EndTag{Tag: Tag{page, name}} }
	for _, tok := range []Token{
		start(PageAirSync, "Sync"), start(PageAirSync, "ApplicationData"),
		start(PageCalendar, "Exceptions"), start(PageCalendar, "Exception"),
		StartTag{Tag: Tag{PageAirSyncBase, "Location"}, Empty: true}, end(PageAirSyncBase, "Location"),
		start(PageCalendar, "ExceptionStartTime"), Text("20261207T090000Z"), end(PageCalendar, "ExceptionStartTime"),
		end(PageCalendar, "Exception"), end(PageCalendar, "Exceptions"),
		end(PageAirSync, "ApplicationData"), end(PageAirSync, "Sync"),
	} {
		if err := e.EncodeToken(tok); err != nil {
			t.Fatalf("EncodeToken(%v) = %v", tok, err)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		perByte int
		ok      bool
	}{{0, true}, {16, true}, {2, false}} {
		var doc appDataDoc
		if err := Unmarshal(buf.Bytes(), &doc, &DecoderOptions{MaxAllocPerByte: tc.perByte}); err != nil {
			t.Fatalf("MaxAllocPerByte %d: Unmarshal = %v", tc.perByte, err)
		}
		var c Calendar
		err := doc.Data.Decode(&c)
		var le *LimitError
		switch {
		case tc.ok && err != nil:
			t.Errorf("MaxAllocPerByte %d: Decode = %v, want nil", tc.perByte, err)
		case tc.ok && (c.Exceptions == nil || len(c.Exceptions.Exception) != 1 || c.Exceptions.Exception[0].Location == nil):
			t.Errorf("MaxAllocPerByte %d: Decode gave %+v, want one Exception with a Location", tc.perByte, c.Exceptions)
		case !tc.ok && (!errors.As(err, &le) || le.Limit != "MaxAllocPerByte"):
			t.Errorf("MaxAllocPerByte %d: Decode = %v, want a MaxAllocPerByte LimitError", tc.perByte, err)
		}
	}
}
