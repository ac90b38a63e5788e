package eas

import "testing"

func TestGoldenFolderUpdate(t *testing.T) {
	t.Run("request", func(t *testing.T) {
		checkGolden(t, "folderupdate/request", func(Tag) any { return new(FolderUpdateRequest) })
	})
	t.Run("response", func(t *testing.T) {
		checkGolden(t, "folderupdate/response", func(Tag) any { return new(FolderUpdateResponse) })
	})
}

func TestFolderUpdateRequestValidate(t *testing.T) {
	tests := []struct {
		name string
		req  FolderUpdateRequest
		ok   bool
	}{
		{"move to root", FolderUpdateRequest{SyncKey: "4", ServerID: "12", ParentID: "0", DisplayName: "Old"}, true},
		{"no server id", FolderUpdateRequest{SyncKey: "4", ParentID: "0", DisplayName: "Old"}, false},
		{"no name", FolderUpdateRequest{SyncKey: "4", ServerID: "12", ParentID: "0"}, false},
		{"no sync key", FolderUpdateRequest{ServerID: "12", ParentID: "0", DisplayName: "Old"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.req.Validate(V141); (err == nil) != tt.ok {
				t.Errorf("Validate(14.1) = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func FuzzUnmarshalFolderUpdate(f *testing.F) {
	addFuzzSeeds(f, "folderupdate")
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRoundTrip[FolderUpdateRequest](t, data)
		checkRoundTrip[FolderUpdateResponse](t, data)
	})
}
