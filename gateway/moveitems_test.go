package gateway

import (
	"context"
	"fmt"
	"testing"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

// addMail files n messages in folder f of the store.
func (e *folderSyncEnv) addMail(f sources.FolderID, n int) []sources.ItemID {
	e.t.Helper()
	var ids []sources.ItemID
	for i := range n {
		raw := fmt.Sprintf("From: bob@example.com\r\nTo: alice@example.com\r\nSubject: note %d\r\n"+
			"Date: Mon, 2 Jun 2025 10:00:00 +0000\r\nMessage-ID: <%d.%s@example.com>\r\n\r\nHello.\r\n", i, i, f)
		id, err := e.src.AddMessage(context.Background(), f, []byte(raw))
		if err != nil {
			e.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// primeCollection gives collection cid a sync state holding items, as a
// Sync from SyncKey 0 and a first download would, and returns the key and
// the items' ServerIds.
func (e *folderSyncEnv) primeCollection(cid string, items []sources.ItemID) (statecache.SyncKey, []string) {
	e.t.Helper()
	ctx := context.Background()
	ck := statecache.CollectionKey{Account: e.account(), Collection: cid}
	key, err := e.state.Advance(ctx, ck, statecache.InitialKey, statecache.SyncState{})
	if err != nil {
		e.t.Fatal(err)
	}
	ids := make([]string, len(items))
	for i, id := range items {
		ids[i] = string(id)
	}
	sids, err := e.state.ServerIDs(ctx, ck, ids)
	if err != nil {
		e.t.Fatal(err)
	}
	return key, sids
}

func TestMoveItems(t *testing.T) {
	ctx := context.Background()
	for _, v := range folderSyncVersions {
		t.Run(v, func(t *testing.T) {
			e := newFolderSyncEnv(t, v)
			if _, err := e.src.CreateFolder(ctx, "", "Archive", sources.KindUserMail); err != nil {
				t.Fatal(err)
			}
			byName := folderSyncByName(e.mustFolderSync("0").Changes.Add)
			inbox, trash, archive := byName["Inbox"].ServerID, byName["Deleted Items"].ServerID, byName["Archive"].ServerID
			items := e.addMail("inbox", 3)
			_, sids := e.primeCollection(inbox, items)
			e.primeCollection(trash, nil) // Archive was never synced

			req := &eas.MoveItemsRequest{Move: []eas.MoveItem{
				{SrcMsgID: sids[0], SrcFldID: inbox, DstFldID: trash},
				{SrcMsgID: sids[1], SrcFldID: inbox, DstFldID: archive},
				{SrcMsgID: sids[2], SrcFldID: inbox, DstFldID: trash},
				{SrcMsgID: inbox + ":999", SrcFldID: inbox, DstFldID: trash},
				{SrcMsgID: sids[2], SrcFldID: "999", DstFldID: trash},
				{SrcMsgID: sids[2], SrcFldID: inbox, DstFldID: inbox},
				{SrcMsgID: sids[2], SrcFldID: inbox, DstFldID: "999"},
			}}
			var resp eas.MoveItemsResponse
			e.do("MoveItems", req, &resp)
			want := []eas.MoveItemsStatus{3, 3, 3, 1, 1, 4, 2}
			if len(resp.Response) != len(want) {
				t.Fatalf("MoveItems answered %d moves, want %d: %+v", len(resp.Response), len(want), resp)
			}
			dst := []string{trash, archive, trash}
			for i, r := range resp.Response {
				if r.SrcMsgID != req.Move[i].SrcMsgID || r.Status != want[i] {
					t.Errorf("move %d = %+v, want SrcMsgId %q, status %d", i, r, req.Move[i].SrcMsgID, want[i])
				}
				if r.Status != eas.MoveItemsStatusSuccess {
					if r.DstMsgID != "" {
						t.Errorf("move %d failed with DstMsgId %q", i, r.DstMsgID)
					}
					continue
				}
				// The new ServerId names the item in the destination.
				id, err := e.state.MapID(ctx, statecache.CollectionKey{Account: e.account(), Collection: dst[i]}, r.DstMsgID)
				if err != nil {
					t.Errorf("move %d: DstMsgId %q: %v", i, r.DstMsgID, err)
					continue
				}
				folder, _ := e.state.FolderID(ctx, e.account(), dst[i])
				got, err := e.src.Get(ctx, sources.FolderID(folder), []sources.ItemID{sources.ItemID(id)}, nil)
				if err != nil || len(got) != 1 {
					t.Errorf("move %d: item %q not in %q: %v", i, id, folder, err)
				}
			}
			left, err := e.src.Changes(ctx, "inbox", "", 0)
			if err != nil || len(left.Changed) != 0 {
				t.Errorf("inbox after the moves holds %v (%v), want nothing", left.Changed, err)
			}

			// The item is gone from the inbox now.
			var again eas.MoveItemsResponse
			e.do("MoveItems", &eas.MoveItemsRequest{Move: req.Move[:1]}, &again)
			if len(again.Response) != 1 || again.Response[0].Status != eas.MoveItemsStatusInvalidSource {
				t.Errorf("moving a moved item = %+v, want status 1", again)
			}
		})
	}
}
