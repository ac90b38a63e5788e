package eas

import "testing"

func TestGoldenFolderSync(t *testing.T) {
	t.Run("request", func(t *testing.T) {
		checkGolden(t, "foldersync/request", func(Tag) any { return new(FolderSyncRequest) })
	})
	t.Run("response", func(t *testing.T) {
		checkGolden(t, "foldersync/response", func(Tag) any { return new(FolderSyncResponse) })
	})
}

var folderSyncRequestCaptures = []string{
	"android/gmail-sm-m215f-foldersync-synckey0.wbxml",
	"unidentified-client/foldersync-guid-synckey.wbxml",
	"windows-mobile/wm61-foldersync.wbxml",
}

var folderSyncResponseCaptures = []string{
	"exchange-2007-responses/foldersync-initial-fr.wbxml",
	"exchange-2010plus-responses/foldersync-initial-32-folders.wbxml",
	"exchange-2010plus-responses/foldersync-count-0.wbxml",
}

func TestFolderSyncCaptures(t *testing.T) {
	for _, path := range folderSyncRequestCaptures {
		t.Run(path, func(t *testing.T) {
			checkCapture(t, path, V141, new(FolderSyncRequest))
		})
	}
	// Exchange's own answers: Count must match the changes listed, and
	// every added folder must have a type and a parent.
	for _, path := range folderSyncResponseCaptures {
		t.Run(path, func(t *testing.T) {
			var r FolderSyncResponse
			decodeCapture(t, path, &r)
			if r.Status != FolderSyncStatusSuccess || r.SyncKey == "" || r.Changes == nil {
				t.Fatalf("Unmarshal(%s) = %+v, want status 1, a SyncKey and Changes", path, r)
			}
			c := r.Changes
			if n := len(c.Add) + len(c.Update) + len(c.Delete); n != c.Count {
				t.Errorf("Unmarshal(%s): Count %d, %d changes", path, c.Count, n)
			}
			for _, f := range c.Add {
				if f.ServerID == "" || f.ParentID == "" || f.DisplayName == "" || f.Type < FolderTypeUserGeneric || f.Type > FolderTypeRecipientInfo {
					t.Errorf("Unmarshal(%s): folder %+v", path, f)
				}
			}
		})
	}
}

func TestFolderSyncCaptureFolders(t *testing.T) {
	var r FolderSyncResponse
	decodeCapture(t, "exchange-2010plus-responses/foldersync-initial-32-folders.wbxml", &r)
	types := map[string]FolderType{}
	for _, f := range r.Changes.Add {
		types[f.ServerID] = f.Type
	}
	// PROVENANCE.md: ServerId 1 is Calendar, 2 Contacts, 7 Inbox, RI the
	// recipient information cache.
	want := map[string]FolderType{"1": FolderTypeCalendar, "2": FolderTypeContacts, "7": FolderTypeInbox, "RI": FolderTypeRecipientInfo}
	for id, typ := range want {
		if types[id] != typ {
			t.Errorf("folder %s has type %d, want %d", id, types[id], typ)
		}
	}
}

func TestFolderSyncRequestValidate(t *testing.T) {
	tests := []struct {
		name string
		req  FolderSyncRequest
		ok   bool
	}{
		{"initial", FolderSyncRequest{SyncKey: "0"}, true},
		{"opaque key", FolderSyncRequest{SyncKey: "{39766599-af31-49fb-844d-ff68557012d8}1"}, true},
		{"no key", FolderSyncRequest{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, v := range AllVersions {
				if err := tt.req.Validate(v); (err == nil) != tt.ok {
					t.Errorf("Validate(%v) = %v, want ok %v", v, err, tt.ok)
				}
			}
		})
	}
}

func FuzzUnmarshalFolderSync(f *testing.F) {
	addFuzzSeeds(f, "foldersync", append(append([]string(nil), folderSyncRequestCaptures...), folderSyncResponseCaptures...)...)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkRoundTrip[FolderSyncRequest](t, data)
		checkRoundTrip[FolderSyncResponse](t, data)
	})
}
