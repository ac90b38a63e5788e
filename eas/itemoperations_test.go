package eas

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestItemOperationsGolden(t *testing.T) {
	checkGolden(t, "itemoperations/request", func(Tag) any { return new(ItemOperationsRequest) })
	checkGolden(t, "itemoperations/response", func(Tag) any { return new(ItemOperationsResponse) })
}

// TestItemOperationsOrder checks that operations keep their document order,
// which the server must follow.
func TestItemOperationsOrder(t *testing.T) {
	var r ItemOperationsRequest
	if err := Unmarshal(readGolden(t, "itemoperations/request/mixed-order.wbxml"), &r, nil); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, op := range r.Operations {
		switch {
		case op.Fetch != nil:
			got = append(got, "Fetch "+op.Fetch.FileReference+op.Fetch.ServerID)
		case op.EmptyFolderContents != nil:
			got = append(got, "EmptyFolderContents "+op.EmptyFolderContents.CollectionID)
		case op.Move != nil:
			got = append(got, "Move "+op.Move.DstFldID)
		}
	}
	want := []string{"EmptyFolderContents 4", "Fetch 7%3a311%3a1", "Move 12", "Fetch 7:313"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Operations = %q, want %q", got, want)
	}
}

// TestFetchProperties checks both ways of filling FetchResult.Properties:
// decoding the generic file properties from a response, and encoding them
// with RawValue.
func TestFetchProperties(t *testing.T) {
	var resp ItemOperationsResponse
	if err := Unmarshal(readGolden(t, "itemoperations/response/fetch-document.wbxml"), &resp, nil); err != nil {
		t.Fatal(err)
	}
	var p FetchFileProperties
	if err := resp.Response.Results[0].Fetch.Properties.Decode(&p); err != nil {
		t.Fatal(err)
	}
	total := int64(2048)
	want := FetchFileProperties{Range: "0-9", Total: &total, Data: "UTEgcmVwb3J0Lg==", Version: "2024-02-29T17:05:00.000Z"}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("Decode(Properties) = %+v, want %+v", p, want)
	}

	multipart := ItemOperationsResponse{
		Status: ItemOperationsStatusSuccess,
		Response: &ItemOperationsResponseBody{Results: []ItemOperationResult{
			{Fetch: &FetchResult{Status: ItemOperationsStatusSuccess, FileReference: "7%3a311%3a0",
				Properties: RawValue(&FetchFileProperties{ContentType: "application/pdf", Part: 1})}},
			{Fetch: &FetchResult{Status: ItemOperationsStatusSuccess, FileReference: "7%3a311%3a1",
				Properties: RawValue(&FetchFileProperties{ContentType: "image/png", Part: 2})}},
		}},
	}
	got, err := Marshal(&multipart)
	if err != nil {
		t.Fatal(err)
	}
	if want := readGolden(t, "itemoperations/response/fetch-multipart.wbxml"); !bytes.Equal(got, want) {
		t.Errorf("Marshal(multipart) = % x, want % x", got, want)
	}
}

func TestItemOperationsValidate(t *testing.T) {
	fetch := func(f Fetch) *ItemOperationsRequest {
		return &ItemOperationsRequest{Operations: []ItemOperation{{Fetch: &f}}}
	}
	conv := []byte{1, 2, 3}
	tests := []struct {
		name string
		v    ProtocolVersion
		r    *ItemOperationsRequest
		ok   bool
	}{
		{"fetch by server id", V120, fetch(Fetch{Store: "Mailbox", CollectionID: "1", ServerID: "1:1"}), true},
		{"store case ignored", V140, fetch(Fetch{Store: "mailbox", FileReference: "a"}), true},
		{"command before 12.0", V25, fetch(Fetch{Store: "Mailbox", FileReference: "a"}), false},
		{"server id without collection", V141, fetch(Fetch{Store: "Mailbox", ServerID: "1:1"}), false},
		{"long id with collection", V141, fetch(Fetch{Store: "Mailbox", LongID: "x", CollectionID: "1"}), false},
		{"long id at 12.1", V121, fetch(Fetch{Store: "Mailbox", LongID: "x"}), true},
		{"long id at 12.0", V120, fetch(Fetch{Store: "Mailbox", LongID: "x"}), true}, // MS-ASCMD 2.2.3.98.1
		{"no item named", V141, fetch(Fetch{Store: "Mailbox"}), false},
		{"link id in mailbox", V141, fetch(Fetch{Store: "Mailbox", FileReference: "a", LinkID: `\\h\s`}), false},
		{"document library", V121, fetch(Fetch{Store: "DocumentLibrary", LinkID: `\\h\s\f`}), true},
		{"document library without link", V121, fetch(Fetch{Store: "DocumentLibrary", FileReference: "a"}), false},
		{"unknown store", V141, fetch(Fetch{Store: "Archive", FileReference: "a"}), false},
		{"remove protection at 14.0", V140, fetch(Fetch{Store: "Mailbox", FileReference: "a", RemoveRightsManagementProtection: true}), false},
		{"byte range", V141, fetch(Fetch{Store: "Mailbox", FileReference: "a", Options: &FetchOptions{Range: "0-999999999"}}), true},
		{"byte range too long", V141, fetch(Fetch{Store: "Mailbox", FileReference: "a", Options: &FetchOptions{Range: "0-1000000000"}}), false},
		{"byte range reversed", V141, fetch(Fetch{Store: "Mailbox", FileReference: "a", Options: &FetchOptions{Range: "10-9"}}), false},
		{"user name at 12.0", V120, fetch(Fetch{Store: "DocumentLibrary", LinkID: "l", Options: &FetchOptions{UserName: "u"}}), false},
		{"password too long", V141, fetch(Fetch{Store: "DocumentLibrary", LinkID: "l", Options: &FetchOptions{Password: strings.Repeat("p", 257)}}), false},
		{"mime support 3", V141, fetch(Fetch{Store: "Mailbox", FileReference: "a", Options: &FetchOptions{MIMESupport: 3}}), false},
		{"body type 5", V141, fetch(Fetch{Store: "Mailbox", FileReference: "a", Options: &FetchOptions{BodyPreference: []BodyPreference{{Type: 5}}}}), false},
		{"body part at 14.0", V140, fetch(Fetch{Store: "Mailbox", FileReference: "a", Options: &FetchOptions{BodyPartPreference: []BodyPartPreference{{Type: 2}}}}), false},
		{"rights management at 14.1", V141, fetch(Fetch{Store: "Mailbox", FileReference: "a", Options: &FetchOptions{RightsManagementSupport: true}}), true},
		{"empty folder", V120, &ItemOperationsRequest{Operations: []ItemOperation{{EmptyFolderContents: &EmptyFolderContents{CollectionID: "4"}}}}, true},
		{"empty folder without id", V141, &ItemOperationsRequest{Operations: []ItemOperation{{EmptyFolderContents: &EmptyFolderContents{}}}}, false},
		{"move at 14.0", V140, &ItemOperationsRequest{Operations: []ItemOperation{{Move: &MoveConversation{ConversationID: conv, DstFldID: "5"}}}}, true},
		{"move without destination", V141, &ItemOperationsRequest{Operations: []ItemOperation{{Move: &MoveConversation{ConversationID: conv}}}}, false},
		{"move without conversation", V141, &ItemOperationsRequest{Operations: []ItemOperation{{Move: &MoveConversation{DstFldID: "5"}}}}, false},
		{"two kinds in one operation", V141, &ItemOperationsRequest{Operations: []ItemOperation{{
			Fetch: &Fetch{Store: "Mailbox", FileReference: "a"}, EmptyFolderContents: &EmptyFolderContents{CollectionID: "4"}}}}, false},
		{"no operation", V141, &ItemOperationsRequest{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkValidate(t, "ItemOperations", tt.r.Validate(tt.v), tt.ok)
		})
	}
}

// checkValidate checks a Validate result: nil when ok, otherwise a
// *SchemaError for cmd.
func checkValidate(t *testing.T, cmd string, err error, ok bool) {
	t.Helper()
	if ok {
		if err != nil {
			t.Errorf("Validate = %v, want nil", err)
		}
		return
	}
	var se *SchemaError
	if !errors.As(err, &se) || se.Command != cmd {
		t.Errorf("Validate = %v, want a %s *SchemaError", err, cmd)
	}
}

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzUnmarshalItemOperations(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRemarshal(t, data, func() any { return new(ItemOperationsRequest) })
		fuzzRemarshal(t, data, func() any { return new(ItemOperationsResponse) })
	})
}

// fuzzRemarshal unmarshals data into newV(); if that succeeds, the value
// must marshal, and unmarshal again to an equal value. Text holding NUL
// (WBXML ENTITY 0) cannot be re-encoded as STR_I and is let go.
func fuzzRemarshal(t *testing.T, data []byte, newV func() any) {
	v := newV()
	if err := Unmarshal(data, v, &DecoderOptions{MaxDepth: 24, MaxTokens: 10000, MaxStringSize: 1 << 16, MaxOpaqueSize: 1 << 16}); err != nil {
		return
	}
	b, err := Marshal(v)
	if err != nil {
		if strings.Contains(err.Error(), "NUL byte") {
			return
		}
		t.Fatalf("Marshal(%#v) = %v", v, err)
	}
	w := newV()
	if err := Unmarshal(b, w, nil); err != nil {
		t.Fatalf("Unmarshal(Marshal(v)) = %v\n% x", err, b)
	}
	nilEmptyBytes(reflect.ValueOf(v))
	nilEmptyBytes(reflect.ValueOf(w))
	if !reflect.DeepEqual(v, w) {
		t.Fatalf("Unmarshal(Marshal(v)) =\n%#v\nwant\n%#v", w, v)
	}
}

// nilEmptyBytes sets every empty []byte reachable through exported fields
// to nil. The codec decodes <X/> to nil but <X></X> holding an empty
// string or OPAQUE to []byte{}, and encodes both as <X/>: the same content.
func nilEmptyBytes(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			nilEmptyBytes(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				nilEmptyBytes(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			if v.Len() == 0 && !v.IsNil() && v.CanSet() {
				v.SetBytes(nil)
			}
			return
		}
		for i := range v.Len() {
			nilEmptyBytes(v.Index(i))
		}
	}
}
