package eas

import "testing"

func TestGoldenFolderCreate(t *testing.T) {
	t.Run("request", func(t *testing.T) {
		checkGolden(t, "foldercreate/request", func(Tag) any { return new(FolderCreateRequest) })
	})
	t.Run("response", func(t *testing.T) {
		checkGolden(t, "foldercreate/response", func(Tag) any { return new(FolderCreateResponse) })
	})
}

func TestFolderCreateRequestValidate(t *testing.T) {
	ok := FolderCreateRequest{SyncKey: "3", ParentID: "0", DisplayName: "Projects", Type: FolderTypeUserMail}
	with := func(f func(*FolderCreateRequest)) FolderCreateRequest {
		r := ok
		f(&r)
		return r
	}
	tests := []struct {
		name string
		req  FolderCreateRequest
		ok   bool
	}{
		{"mail folder", ok, true},
		{"user notes", with(func(r *FolderCreateRequest) { r.Type = FolderTypeUserNotes }), true},
		{"generic", with(func(r *FolderCreateRequest) { r.Type = FolderTypeUserGeneric }), true},
		{"default calendar", with(func(r *FolderCreateRequest) { r.Type = FolderTypeCalendar }), false},
		{"recipient info", with(func(r *FolderCreateRequest) { r.Type = FolderTypeRecipientInfo }), false},
		{"no type", with(func(r *FolderCreateRequest) { r.Type = 0 }), false},
		{"no sync key", with(func(r *FolderCreateRequest) { r.SyncKey = "" }), false},
		{"no parent", with(func(r *FolderCreateRequest) { r.ParentID = "" }), false},
		{"no name", with(func(r *FolderCreateRequest) { r.DisplayName = "" }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.req.Validate(V141); (err == nil) != tt.ok {
				t.Errorf("Validate(14.1) = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func FuzzUnmarshalFolderCreate(f *testing.F) {
	addFuzzSeeds(f, "foldercreate")
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRoundTrip[FolderCreateRequest](t, data)
		checkRoundTrip[FolderCreateResponse](t, data)
	})
}
