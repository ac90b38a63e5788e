package gateway

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

// pagingEchoItems is how many items the store holds before the device
// syncs, in windows of pagingEchoWindow: several windows, so that the
// client's Add arrives while the server is still paging.
const (
	pagingEchoItems  = 23
	pagingEchoWindow = 8
)

// pagingEcho: a client Add sent while the server is still paging
// (MoreAvailable) is not sent back to the client in a later window
// (issue 10: it came back as a Change), but a change another client makes
// to that item afterwards is. It runs for Contacts and Calendar on env,
// whose store wr writes.
func pagingEcho(t *testing.T, env *convEnv, wr sources.Writer, devID string) {
	for _, c := range []struct {
		class string
		typ   eas.FolderType
		item  func(n int) *sources.Item
		add   func() eas.Raw
		edit  func(it *sources.Item)
	}{
		{"Contacts", eas.FolderTypeContacts,
			func(n int) *sources.Item {
				return &sources.Item{Contact: &sources.Contact{UID: fmt.Sprintf("%s-c%d", devID, n), FirstName: "Paged", LastName: fmt.Sprintf("Contact%02d", n)}}
			},
			func() eas.Raw {
				return eas.RawValue(&eas.Contact{FirstName: "Added", LastName: "While Paging", FileAs: "While Paging, Added"})
			},
			func(it *sources.Item) { it.Contact.JobTitle = "Edited elsewhere" }},
		{"Calendar", eas.FolderTypeCalendar,
			func(n int) *sources.Item {
				start := time.Date(2026, 5, 1+n, 9, 0, 0, 0, time.UTC)
				return &sources.Item{Event: &sources.Event{UID: fmt.Sprintf("%s-e%d", devID, n), Summary: fmt.Sprintf("Paged event %02d", n), Start: start, End: start.Add(time.Hour)}}
			},
			func() eas.Raw {
				start := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
				return eas.RawValue(&eas.Calendar{Subject: "Added while paging", StartTime: dateTime(start, eas.DateTimeCompact),
					EndTime: dateTime(start.Add(time.Hour), eas.DateTimeCompact), TimeZone: &eas.TimeZone{}, AllDayEvent: ptr(false)})
			},
			func(it *sources.Item) { it.Event.Location = "Edited elsewhere" }},
	} {
		t.Run(c.class, func(t *testing.T) {
			env.t = t
			ctx := context.Background()
			d := env.device(devID+c.class, "EchoPhone", eas.V161)
			var f *convFolder
			for _, fo := range d.folderSync("0").Changes.Add {
				if fo.Type == c.typ {
					id, err := env.state.FolderID(ctx, d.account(), fo.ServerID)
					if err != nil {
						t.Fatal(err)
					}
					f = &convFolder{id: sources.FolderID(id), class: c.class, cid: fo.ServerID, items: make(map[string]eas.Raw)}
				}
			}
			if f == nil {
				t.Fatalf("no folder of type %d", c.typ)
			}
			for n := range pagingEchoItems {
				if _, _, err := wr.Put(ctx, f.id, c.item(n), ""); err != nil {
					t.Fatalf("Put %d: %v", n, err)
				}
			}
			r := d.sync(eas.SyncCollection{SyncKey: "0", CollectionID: f.cid})[f.cid]
			if r.Status != eas.SyncStatusSuccess {
				t.Fatalf("Sync 0 = %+v", r)
			}
			f.key = r.SyncKey

			// window sends one Sync with cmds and counts what comes back.
			var added, edited string // the client's items; edited is changed elsewhere while paging
			seen := map[string]int{}
			editedChanges := 0
			window := func(cmds *eas.SyncCommands) eas.SyncResponseCollection {
				t.Helper()
				r := d.sync(eas.SyncCollection{SyncKey: f.key, CollectionID: f.cid, WindowSize: pagingEchoWindow, GetChanges: ptr(true), Commands: cmds})[f.cid]
				if r.Status != eas.SyncStatusSuccess {
					t.Fatalf("Sync = %+v", r)
				}
				f.key = r.SyncKey
				if r.Commands != nil {
					for _, a := range r.Commands.Add {
						seen[a.ServerID]++
						if a.ServerID == added {
							t.Errorf("the client's own Add %s came back as an Add", added)
						}
					}
					for _, ch := range r.Commands.Change {
						if ch.ServerID == added {
							t.Errorf("the client's own Add %s came back as a Change", added)
						}
						if ch.ServerID == edited {
							editedChanges++
						}
					}
				}
				return r
			}
			// editElsewhere changes the client's item sid in the store.
			editElsewhere := func(sid string) {
				t.Helper()
				id, err := env.state.MapID(ctx, statecache.CollectionKey{Account: d.account(), Collection: f.cid}, sid)
				if err != nil {
					t.Fatal(err)
				}
				its, err := wr.(sources.Source).Get(ctx, f.id, []sources.ItemID{sources.ItemID(id)}, nil)
				if err != nil || len(its) != 1 {
					t.Fatalf("Get of the client's item: %v, %d items", err, len(its))
				}
				c.edit(&its[0])
				if _, _, err := wr.Put(ctx, f.id, &its[0], ""); err != nil {
					t.Fatal(err)
				}
			}
			if r := window(nil); !r.MoreAvailable {
				t.Fatalf("first window of %d items in windows of %d: no MoreAvailable", pagingEchoItems, pagingEchoWindow)
			}
			r = window(&eas.SyncCommands{Add: []eas.SyncAdd{{ClientID: "echo-1", ApplicationData: c.add()}, {ClientID: "echo-2", ApplicationData: c.add()}}})
			if r.Responses == nil || len(r.Responses.Add) != 2 || r.Responses.Add[0].Status != eas.SyncStatusSuccess || r.Responses.Add[1].Status != eas.SyncStatusSuccess {
				t.Fatalf("client Adds while paging = %+v", r.Responses)
			}
			added, edited = r.Responses.Add[0].ServerID, r.Responses.Add[1].ServerID
			editElsewhere(edited)
			if !r.MoreAvailable {
				t.Fatalf("window with the client's Add ends the paging; the test needs more items")
			}
			for round := 0; r.MoreAvailable; round++ {
				if round > pagingEchoItems {
					t.Fatal("MoreAvailable does not end")
				}
				r = window(nil)
			}
			if len(seen) != pagingEchoItems {
				t.Errorf("the device got %d items, want the %d of the store", len(seen), pagingEchoItems)
			}
			for sid, n := range seen {
				if n != 1 {
					t.Errorf("item %s sent %d times", sid, n)
				}
			}

			// The next listing: a DAV store hands out the position its
			// paging began at, so the writes made while paging come
			// again (and the change made elsewhere only now).
			r = window(nil)
			if editedChanges != 1 {
				t.Errorf("the client's item %s, changed elsewhere while paging, came back as %d Changes, want 1", edited, editedChanges)
			}

			// A change made elsewhere to the client's item after paging
			// comes too.
			sid := added
			editElsewhere(sid)
			changed := false
			for round, more := 0, true; more && !changed; round++ {
				if round > pagingEchoItems {
					t.Fatal("MoreAvailable does not end")
				}
				r := d.sync(eas.SyncCollection{SyncKey: f.key, CollectionID: f.cid, WindowSize: pagingEchoWindow, GetChanges: ptr(true)})[f.cid]
				f.key, more = r.SyncKey, r.MoreAvailable
				if r.Commands != nil {
					for _, ch := range r.Commands.Change {
						changed = changed || ch.ServerID == sid
					}
				}
			}
			if !changed {
				t.Errorf("a change made elsewhere to the client's item %s never reached the client", sid)
			}
		})
	}
}

// TestSyncPagingEchoMemory runs pagingEcho on the memory store.
func TestSyncPagingEchoMemory(t *testing.T) {
	env := convServer(t, Options{Policy: Policy{Mode: PolicyAllow}})
	pagingEcho(t, env, env.src, "echomem")
}

// TestSyncPagingEchoRadicale runs pagingEcho with Radicale behind the
// IMAP+DAV adapter.
func TestSyncPagingEchoRadicale(t *testing.T) {
	e := imapE2EServer(t, "radicale")
	pagingEcho(t, e.conv(t), e.src.(sources.Writer), "echorad")
}
