package eas

import (
	"reflect"
	"testing"
)

func TestGetHierarchyRequestValidate(t *testing.T) {
	for _, v := range AllVersions {
		err := new(GetHierarchyRequest).Validate(v)
		if ok := v <= V121; (err == nil) != ok {
			t.Errorf("Validate(%v) = %v, want ok %v", v, err, ok)
		}
	}
}

// TestGetHierarchyResponseRoundTrip encodes a response, checks it against
// the bytes MS-ASWBXML gives (FolderHierarchy page 7: Folders 0x05,
// Folder 0x06, DisplayName 0x07, ServerId 0x08, Type 0x0A, ParentId 0x09)
// and decodes it back.
func TestGetHierarchyResponseRoundTrip(t *testing.T) {
	in := GetHierarchyResponse{Folder: []GetHierarchyFolder{
		{DisplayName: "Inbox", ServerID: "2", Type: FolderTypeInbox, ParentID: "0"},
	}}
	got, err := Marshal(&in)
	if err != nil {
		t.Fatal(err)
	}
	str := func(s string) []byte { return append(append([]byte{0x03}, s...), 0x00) }
	var want []byte
	want = append(want, 0x03, 0x01, 0x6A, 0x00, 0x00, 0x07, 0x45, 0x46, 0x47)
	want = append(append(want, str("Inbox")...), 0x01, 0x48)
	want = append(append(want, str("2")...), 0x01, 0x4A)
	want = append(append(want, str("2")...), 0x01, 0x49)
	want = append(append(want, str("0")...), 0x01, 0x01, 0x01)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Marshal(%+v) = % x, want % x", in, got, want)
	}
	var out GetHierarchyResponse
	if err := Unmarshal(got, &out, nil); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Errorf("Unmarshal(Marshal(v)) = %+v, want %+v", out, in)
	}
}
