package gateway

import (
	"context"
	"reflect"
	"testing"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

func (e *folderSyncEnv) folderDelete(key, id string) *eas.FolderDeleteResponse {
	e.t.Helper()
	var resp eas.FolderDeleteResponse
	e.do("FolderDelete", &eas.FolderDeleteRequest{SyncKey: key, ServerID: id}, &resp)
	return &resp
}

// TestFolderDelete deletes a folder with a subfolder from the device and
// checks the store, the absence of an echo, the refusals and that the
// deleted CollectionIds are dropped once the device moves on.
func TestFolderDelete(t *testing.T) {
	ctx := context.Background()
	for _, v := range folderSyncVersions {
		t.Run(v, func(t *testing.T) {
			e := newFolderSyncEnv(t, v)
			old, err := e.src.CreateFolder(ctx, "", "Old", sources.KindUserMail)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.src.CreateFolder(ctx, old, "Older", sources.KindUserMail); err != nil {
				t.Fatal(err)
			}
			first := e.mustFolderSync("0")
			byName := folderSyncByName(first.Changes.Add)

			tests := []struct {
				name, key, id string
				want          eas.FolderDeleteStatus
			}{
				{"special", first.SyncKey, byName["Inbox"].ServerID, eas.FolderDeleteStatusSpecialFolder},
				{"unknown", first.SyncKey, "999", eas.FolderDeleteStatusNotFound},
				{"root", first.SyncKey, rootID, eas.FolderDeleteStatusNotFound},
				{"key-zero", "0", byName["Old"].ServerID, eas.FolderDeleteStatusInvalidSyncKey},
			}
			for _, tt := range tests {
				if r := e.folderDelete(tt.key, tt.id); r.Status != tt.want {
					t.Errorf("%s: FolderDelete = %+v, want status %d", tt.name, r, tt.want)
				}
			}

			del := e.folderDelete(first.SyncKey, byName["Old"].ServerID)
			if del.Status != eas.FolderDeleteStatusSuccess || del.SyncKey == "" || del.SyncKey == first.SyncKey {
				t.Fatalf("FolderDelete = %+v, want status 1 and a new key", del)
			}
			fs, _ := e.src.Folders(ctx, "")
			for _, f := range fs.Changed {
				if f.Name == "Old" || f.Name == "Older" {
					t.Errorf("store still has %+v after FolderDelete", f)
				}
			}
			if again := e.folderDelete(first.SyncKey, byName["Old"].ServerID); !reflect.DeepEqual(again, del) {
				t.Errorf("repeated FolderDelete = %+v, want %+v", again, del)
			}
			// Lost response, and the device synchronizes with the old key:
			// it hears of the deletions.
			lost := e.mustFolderSync(first.SyncKey)
			want := []eas.FolderSyncDelete{{ServerID: byName["Old"].ServerID}, {ServerID: byName["Older"].ServerID}}
			if !reflect.DeepEqual(lost.Changes.Delete, want) || lost.SyncKey != del.SyncKey {
				t.Errorf("FolderSync(previous key) = %+v, want Deletes %+v with %q", lost, want, del.SyncKey)
			}

			next := e.mustFolderSync(del.SyncKey)
			if next.Changes.Count != 0 {
				t.Errorf("FolderSync after the device's own FolderDelete = %+v, want no changes", next.Changes)
			}
			for _, d := range want {
				if _, err := e.state.FolderID(ctx, e.account(), d.ServerID); err == nil {
					t.Errorf("deleted folder %q still mapped after the device moved on", d.ServerID)
				}
			}
			if r := e.folderDelete(del.SyncKey, byName["Old"].ServerID); r.Status != eas.FolderDeleteStatusInvalidSyncKey {
				t.Errorf("FolderDelete with a stale key = %+v, want status 9", r)
			}
		})
	}
}
