package gateway

import (
	"context"
	"reflect"
	"testing"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

func (e *folderSyncEnv) folderUpdate(key, id, parent, name string) *eas.FolderUpdateResponse {
	e.t.Helper()
	var resp eas.FolderUpdateResponse
	e.do("FolderUpdate", &eas.FolderUpdateRequest{SyncKey: key, ServerID: id, ParentID: parent, DisplayName: name}, &resp)
	return &resp
}

// TestFolderUpdate renames and moves a folder from the device, checks the
// store and that FolderSync does not echo it, then renames it elsewhere.
func TestFolderUpdate(t *testing.T) {
	ctx := context.Background()
	for _, v := range folderSyncVersions {
		t.Run(v, func(t *testing.T) {
			e := newFolderSyncEnv(t, v)
			if _, err := e.src.CreateFolder(ctx, "", "Work", sources.KindUserMail); err != nil {
				t.Fatal(err)
			}
			first := e.mustFolderSync("0")
			byName := folderSyncByName(first.Changes.Add)
			work, inbox := byName["Work"].ServerID, byName["Inbox"].ServerID

			up := e.folderUpdate(first.SyncKey, work, inbox, "Work 2")
			if up.Status != eas.FolderUpdateStatusSuccess || up.SyncKey == "" || up.SyncKey == first.SyncKey {
				t.Fatalf("FolderUpdate = %+v, want status 1 and a new key", up)
			}
			id, err := e.state.FolderID(ctx, e.account(), work)
			if err != nil {
				t.Fatal(err)
			}
			fs, _ := e.src.Folders(ctx, "")
			for _, f := range fs.Changed {
				if f.ID == sources.FolderID(id) && (f.Name != "Work 2" || f.ParentID != "inbox") {
					t.Errorf("store folder after FolderUpdate = %+v, want Work 2 under inbox", f)
				}
			}
			// Lost response, same request again.
			if again := e.folderUpdate(first.SyncKey, work, inbox, "Work 2"); !reflect.DeepEqual(again, up) {
				t.Errorf("repeated FolderUpdate = %+v, want %+v", again, up)
			}
			quiet := e.mustFolderSync(up.SyncKey)
			if quiet.Changes.Count != 0 {
				t.Errorf("FolderSync after the device's own FolderUpdate = %+v, want no changes", quiet.Changes)
			}

			if err := e.src.RenameFolder(ctx, sources.FolderID(id), "", "Work 3"); err != nil {
				t.Fatal(err)
			}
			got := e.mustFolderSync(quiet.SyncKey)
			want := []eas.FolderSyncFolder{{ServerID: work, ParentID: rootID, DisplayName: "Work 3", Type: eas.FolderTypeUserMail}}
			if !reflect.DeepEqual(got.Changes.Update, want) || got.Changes.Count != 1 {
				t.Errorf("FolderSync after a rename elsewhere = %+v, want Update %+v", got.Changes, want)
			}

			tests := []struct {
				name, id, parent, display string
				want                      eas.FolderUpdateStatus
			}{
				{"special", inbox, rootID, "Post", eas.FolderUpdateStatusExists},
				{"unknown", "999", rootID, "X", eas.FolderUpdateStatusNotFound},
				{"parent-unknown", work, "999", "X", eas.FolderUpdateStatusParentNotFound},
				{"name-taken", work, rootID, "Inbox", eas.FolderUpdateStatusExists},
			}
			for _, tt := range tests {
				if r := e.folderUpdate(got.SyncKey, tt.id, tt.parent, tt.display); r.Status != tt.want {
					t.Errorf("%s: FolderUpdate = %+v, want status %d", tt.name, r, tt.want)
				}
			}
			if r := e.folderUpdate(first.SyncKey, work, rootID, "Y"); r.Status != eas.FolderUpdateStatusInvalidSyncKey {
				t.Errorf("FolderUpdate with a stale key = %+v, want status 9", r)
			}
		})
	}
}
