package gateway

import (
	"context"
	"testing"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

func (e *folderSyncEnv) folderCreate(key, parent, name string, typ eas.FolderType) *eas.FolderCreateResponse {
	e.t.Helper()
	var resp eas.FolderCreateResponse
	e.do("FolderCreate", &eas.FolderCreateRequest{SyncKey: key, ParentID: parent, DisplayName: name, Type: typ}, &resp)
	return &resp
}

// TestFolderCreateNotEchoed creates a folder on the device and checks that
// the next FolderSync does not report it back, while a folder created in
// the store at the same time is reported.
func TestFolderCreateNotEchoed(t *testing.T) {
	ctx := context.Background()
	for _, v := range folderSyncVersions {
		t.Run(v, func(t *testing.T) {
			e := newFolderSyncEnv(t, v)
			first := e.mustFolderSync("0")
			inbox := folderSyncByName(first.Changes.Add)["Inbox"].ServerID

			created := e.folderCreate(first.SyncKey, inbox, "Receipts", eas.FolderTypeUserMail)
			if created.Status != eas.FolderCreateStatusSuccess || created.ServerID == "" ||
				created.SyncKey == "" || created.SyncKey == first.SyncKey {
				t.Fatalf("FolderCreate = %+v, want status 1, a ServerId and a new key", created)
			}
			id, err := e.state.FolderID(ctx, e.account(), created.ServerID)
			if err != nil {
				t.Fatal(err)
			}
			fs, err := e.src.Folders(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, f := range fs.Changed {
				found = found || f.ID == sources.FolderID(id) && f.Name == "Receipts" && f.ParentID == "inbox"
			}
			if !found {
				t.Fatalf("store has no Receipts folder %q under inbox: %+v", id, fs.Changed)
			}

			quiet := e.mustFolderSync(created.SyncKey)
			if quiet.Changes.Count != 0 {
				t.Errorf("FolderSync after the device's own FolderCreate = %+v, want no changes", quiet.Changes)
			}

			// The device's folder and one made elsewhere, before one sync.
			mine := e.folderCreate(quiet.SyncKey, rootID, "Mine", eas.FolderTypeUserGeneric)
			if mine.Status != eas.FolderCreateStatusSuccess {
				t.Fatalf("FolderCreate Mine = %+v", mine)
			}
			if _, err := e.src.CreateFolder(ctx, "", "Theirs", sources.KindUserContacts); err != nil {
				t.Fatal(err)
			}
			got := e.mustFolderSync(mine.SyncKey)
			if len(got.Changes.Add) != 1 || got.Changes.Add[0].DisplayName != "Theirs" ||
				got.Changes.Add[0].Type != eas.FolderTypeUserContacts || got.Changes.Count != 1 {
				t.Errorf("FolderSync = %+v, want only the Add of Theirs", got.Changes)
			}
		})
	}
}

// TestFolderCreateStatuses checks each refusal of MS-ASCMD 2.2.3.177.3.
func TestFolderCreateStatuses(t *testing.T) {
	for _, v := range folderSyncVersions {
		t.Run(v, func(t *testing.T) {
			e := newFolderSyncEnv(t, v)
			first := e.mustFolderSync("0")
			ok := e.folderCreate(first.SyncKey, rootID, "Archive", eas.FolderTypeUserMail)
			if ok.Status != eas.FolderCreateStatusSuccess {
				t.Fatalf("FolderCreate = %+v", ok)
			}
			tests := []struct {
				name, key, parent, display string
				want                       eas.FolderCreateStatus
			}{
				{"exists", ok.SyncKey, rootID, "Archive", eas.FolderCreateStatusExists},
				{"parent-unknown", ok.SyncKey, "999", "X", eas.FolderCreateStatusParentNotFound},
				{"key-zero", "0", rootID, "X", eas.FolderCreateStatusInvalidSyncKey},
				{"key-unknown", "{0f0e0d0c-0b0a-4908-8706-050403020100}5", rootID, "X", eas.FolderCreateStatusInvalidSyncKey},
				{"key-previous-other-folder", first.SyncKey, rootID, "Other", eas.FolderCreateStatusInvalidSyncKey},
			}
			for _, tt := range tests {
				if got := e.folderCreate(tt.key, tt.parent, tt.display, eas.FolderTypeUserMail); got.Status != tt.want {
					t.Errorf("%s: FolderCreate = %+v, want status %d", tt.name, got, tt.want)
				}
			}
			// The response was lost and the device asks again: the same
			// answer, not status 2 for its own folder.
			if again := e.folderCreate(first.SyncKey, rootID, "Archive", eas.FolderTypeUserMail); *again != *ok {
				t.Errorf("repeated FolderCreate = %+v, want %+v", again, ok)
			}
		})
	}
}
