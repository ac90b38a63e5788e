package gateway

import (
	"context"
	"net/http"
	"testing"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

// TestGetHierarchy checks, at every version that has the command, that
// GetHierarchy lists the mail folders under the CollectionIds FolderSync
// gave, with the six GetHierarchy types, and leaves out the rest; at 14.0
// and later the command does not exist.
func TestGetHierarchy(t *testing.T) {
	for _, v := range []string{"2.5", "12.0", "12.1"} {
		t.Run(v, func(t *testing.T) {
			e := newFolderSyncEnv(t, v)
			ctx := context.Background()
			projects, err := e.src.CreateFolder(ctx, "inbox", "Projects", sources.KindUserMail)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.src.CreateFolder(ctx, "", "Birthdays", sources.KindUserCalendar); err != nil {
				t.Fatal(err)
			}
			fs := e.mustFolderSync("0")
			byName := map[string]eas.FolderSyncFolder{}
			for _, f := range fs.Changes.Add {
				byName[f.DisplayName] = f
			}
			var got eas.GetHierarchyResponse
			if err := eas.Unmarshal(e.postRaw("GetHierarchy", nil), &got, nil); err != nil {
				t.Fatal(err)
			}
			want := map[string]eas.FolderType{}
			for name, f := range byName {
				switch {
				case f.Type >= eas.FolderTypeInbox && f.Type <= eas.FolderTypeOutbox:
					want[name] = f.Type
				case f.Type == eas.FolderTypeUserMail:
					want[name] = eas.FolderTypeUserGeneric
				}
			}
			if len(got.Folder) != len(want) {
				t.Errorf("GetHierarchy lists %d folders, want the %d mail folders: %+v", len(got.Folder), len(want), got.Folder)
			}
			for _, f := range got.Folder {
				fsf, ok := byName[f.DisplayName]
				switch {
				case !ok || want[f.DisplayName] == 0:
					t.Errorf("GetHierarchy lists %+v, which is not a mail folder", f)
				case f.ServerID != fsf.ServerID || f.ParentID != fsf.ParentID || f.Type != want[f.DisplayName]:
					t.Errorf("GetHierarchy folder %+v, want ServerId %s, ParentId %s, Type %d as FolderSync said",
						f, fsf.ServerID, fsf.ParentID, want[f.DisplayName])
				}
			}
			if p := byName["Projects"]; p.ServerID == "" || p.ParentID != byName["Inbox"].ServerID {
				t.Errorf("FolderSync Projects = %+v (store id %s), want it under the Inbox", p, projects)
			}
		})
	}
	e := newFolderSyncEnv(t, "14.1")
	if w := post(e.s, Path+plainQuery+"GetHierarchy", nil, "MS-ASProtocolVersion", "14.1"); w.Code == http.StatusOK {
		t.Errorf("GetHierarchy at 14.1 = HTTP 200, want an error: the command ends with 12.1")
	}
}
