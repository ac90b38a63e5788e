package gateway

import (
	"context"
	"reflect"
	"testing"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

// estimateRequest builds a GetItemEstimate in the layout of version v:
// Class and FilterType in the collection up to 12.1, Options from 14.0.
func estimateRequest(v string, keys map[string]string, order []string) *eas.GetItemEstimateRequest {
	cs := &eas.GetItemEstimateCollections{}
	for _, cid := range order {
		c := eas.GetItemEstimateCollection{SyncKey: keys[cid], CollectionID: cid}
		if pv, _ := eas.ParseVersion(v); pv < eas.V140 { // Options came with 14.0
			c.Class, c.FilterType = "Email", eas.FilterNone
		} else {
			c.Options = []eas.GetItemEstimateOptions{{FilterType: eas.FilterNone}}
		}
		cs.Collection = append(cs.Collection, c)
	}
	return &eas.GetItemEstimateRequest{Collections: cs}
}

// estimates sends a GetItemEstimate and returns the status and estimate of
// each collection, in order.
func (e *folderSyncEnv) estimates(keys map[string]string, order []string) [][2]int {
	e.t.Helper()
	var resp eas.GetItemEstimateResponse
	e.do("GetItemEstimate", estimateRequest(e.version, keys, order), &resp)
	var out [][2]int
	for i, r := range resp.Response {
		if r.Collection == nil || r.Collection.CollectionID != order[i] {
			e.t.Fatalf("Response %d = %+v, want collection %q", i, r, order[i])
		}
		if pv, _ := eas.ParseVersion(e.version); pv >= eas.V140 {
			if r.Collection.Class != "" {
				e.t.Errorf("Response %d has Class %q at %s", i, r.Collection.Class, e.version)
			}
		}
		out = append(out, [2]int{int(r.Status), r.Collection.Estimate})
	}
	return out
}

func TestGetItemEstimate(t *testing.T) {
	ctx := context.Background()
	for _, v := range folderSyncVersions {
		t.Run(v, func(t *testing.T) {
			e := newFolderSyncEnv(t, v)
			byName := folderSyncByName(e.mustFolderSync("0").Changes.Add)
			inbox, sent, trash := byName["Inbox"].ServerID, byName["Sent Items"].ServerID, byName["Deleted Items"].ServerID
			old := e.addMail("inbox", 3)
			e.addMail("sent", 2)
			e.primeCollection(trash, nil)
			ck := statecache.CollectionKey{Account: e.account(), Collection: inbox}

			// Before any Sync: nothing primed, an unknown folder.
			order := []string{inbox, sent, "999"}
			keys := map[string]string{inbox: "0", sent: "{9e1d3c55-8a77-4f0e-b3a2-7c6d5e4f3a21}1", "999": "0"}
			if got, want := e.estimates(keys, order), [][2]int{{3, 0}, {3, 0}, {2, 0}}; !reflect.DeepEqual(got, want) {
				t.Errorf("estimates before Sync = %v, want %v", got, want)
			}

			// After Sync 0: the first download is everything.
			k1, err := e.state.Advance(ctx, ck, statecache.InitialKey, statecache.SyncState{})
			if err != nil {
				t.Fatal(err)
			}
			keys = map[string]string{inbox: string(k1), trash: "{9e1d3c55-8a77-4f0e-b3a2-7c6d5e4f3a21}1"}
			order = []string{inbox, trash}
			if got, want := e.estimates(keys, order), [][2]int{{1, 3}, {4, 0}}; !reflect.DeepEqual(got, want) {
				t.Errorf("estimates after Sync 0 = %v, want %v", got, want)
			}

			// Downloaded: nothing waits until the store changes.
			ids := []string{string(old[0]), string(old[1]), string(old[2])}
			if _, err := e.state.ServerIDs(ctx, ck, ids); err != nil {
				t.Fatal(err)
			}
			st, err := e.src.State(ctx, "inbox")
			if err != nil {
				t.Fatal(err)
			}
			k2, err := e.state.Advance(ctx, ck, k1, statecache.SyncState{State: string(st)})
			if err != nil {
				t.Fatal(err)
			}
			order = []string{inbox}
			keys = map[string]string{inbox: string(k2)}
			if got, want := e.estimates(keys, order), [][2]int{{1, 0}}; !reflect.DeepEqual(got, want) {
				t.Errorf("estimates after the download = %v, want %v", got, want)
			}

			// Two new messages, one deleted that the device has and one it
			// never saw: three changes to sync.
			fresh := e.addMail("inbox", 3)
			wr := sources.Writer(e.src)
			if err := wr.Delete(ctx, "inbox", old[0]); err != nil {
				t.Fatal(err)
			}
			if err := wr.Delete(ctx, "inbox", fresh[2]); err != nil {
				t.Fatal(err)
			}
			if got, want := e.estimates(keys, order), [][2]int{{1, 3}}; !reflect.DeepEqual(got, want) {
				t.Errorf("estimates after changes = %v, want %v", got, want)
			}
			keys[inbox] = string(k1) // the previous key: the window is empty
			if got, want := e.estimates(keys, order), [][2]int{{1, 3}}; !reflect.DeepEqual(got, want) {
				t.Errorf("estimates for the previous key = %v, want %v", got, want)
			}
			e.src.ExpireStates()
			keys[inbox] = string(k2)
			if got, want := e.estimates(keys, order), [][2]int{{4, 0}}; !reflect.DeepEqual(got, want) {
				t.Errorf("estimates once the store state expired = %v, want %v", got, want)
			}
		})
	}
}

// TestGetItemEstimateDeviceCapture replays TbSync's 14.0 request
// (eas/testdata/devices/PROVENANCE.md): its CollectionId 16 is unknown
// to a device that has heard of ten folders.
func TestGetItemEstimateDeviceCapture(t *testing.T) {
	e := newFolderSyncEnv(t, "14.0")
	e.mustFolderSync("0")
	body := e.postRaw("GetItemEstimate", folderSyncCapture(t, "thunderbird-tbsync/tbsync-14.0-getitemestimate-contacts.wbxml"))
	var resp eas.GetItemEstimateResponse
	if err := eas.Unmarshal(body, &resp, nil); err != nil {
		t.Fatal(err)
	}
	if len(resp.Response) != 1 || resp.Response[0].Status != eas.GetItemEstimateStatusInvalidCollection {
		t.Errorf("GetItemEstimate(TbSync) = %+v, want one Response with status 2", resp)
	}
}
