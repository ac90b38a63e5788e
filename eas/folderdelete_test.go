package eas

import "testing"

func TestGoldenFolderDelete(t *testing.T) {
	t.Run("request", func(t *testing.T) {
		checkGolden(t, "folderdelete/request", func(Tag) any { return new(FolderDeleteRequest) })
	})
	t.Run("response", func(t *testing.T) {
		checkGolden(t, "folderdelete/response", func(Tag) any { return new(FolderDeleteResponse) })
	})
}

func TestFolderDeleteRequestValidate(t *testing.T) {
	tests := []struct {
		name string
		req  FolderDeleteRequest
		ok   bool
	}{
		{"delete", FolderDeleteRequest{SyncKey: "4", ServerID: "12"}, true},
		{"no server id", FolderDeleteRequest{SyncKey: "4"}, false},
		{"no sync key", FolderDeleteRequest{ServerID: "12"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.req.Validate(V141); (err == nil) != tt.ok {
				t.Errorf("Validate(14.1) = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func FuzzUnmarshalFolderDelete(f *testing.F) {
	addFuzzSeeds(f, "folderdelete")
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRoundTrip[FolderDeleteRequest](t, data)
		checkRoundTrip[FolderDeleteResponse](t, data)
	})
}
