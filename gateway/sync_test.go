package gateway

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/memory"
	"github.com/easgate/easgate/statecache"
)

// syncBackend serves the users of a memory store, with the user name as
// password.
type syncBackend struct{ st *memory.Store }

func (b syncBackend) Login(_ context.Context, user, password string) (sources.Source, error) {
	if password != user+"-pw" {
		return nil, fmt.Errorf("bad password: %w", sources.ErrAuth)
	}
	return b.st.User(user), nil
}

// syncEnv is a Server on a memory store and an in-memory statecache, with
// the hierarchy of "alice" on device "phone1" already synced.
type syncEnv struct {
	t     *testing.T
	srv   *Server
	store *memory.Store
	src   *memory.Source
	state *statecache.Store
	ids   map[sources.FolderID]string // folder → CollectionId
	ver   string
}

func newSyncEnv(t *testing.T, ver string) *syncEnv {
	t.Helper()
	st, err := statecache.Open("", &statecache.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	store := memory.New(nil)
	srv, err := New(&Options{Backend: syncBackend{store}, State: st,
		Limits: Limits{MinHeartbeat: time.Second, KeepAlive: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	e := &syncEnv{t: t, srv: srv, store: store, src: store.User("alice"), state: st, ver: ver,
		ids: make(map[sources.FolderID]string)}
	// The hierarchy as a FolderSync leaves it.
	ctx := context.Background()
	a := statecache.Account{User: "alice", Device: "phone1"}
	if _, err := st.AdvanceHierarchy(ctx, a, statecache.InitialKey, statecache.SyncState{}); err != nil {
		t.Fatal(err)
	}
	d, err := e.src.Folders(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var fids []string
	for _, f := range d.Changed {
		fids = append(fids, string(f.ID))
	}
	cids, err := st.CollectionIDs(ctx, a, fids)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range fids {
		e.ids[sources.FolderID(f)] = cids[i]
	}
	return e
}

// post sends a Sync request and decodes the answer; an empty body gives a
// nil response.
func (e *syncEnv) post(req *eas.SyncRequest) *eas.SyncResponse {
	e.t.Helper()
	var body []byte
	if req != nil {
		var err error
		if body, err = eas.Marshal(req); err != nil {
			e.t.Fatal(err)
		}
	}
	hr := httptest.NewRequest("POST", Path+"?Cmd=Sync&User=alice&DeviceId=phone1&DeviceType=TestPhone", bytes.NewReader(body))
	hr.SetBasicAuth("alice", "alice-pw")
	hr.Header.Set("MS-ASProtocolVersion", e.ver)
	hr.Header.Set("Content-Type", wbxmlType)
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, hr)
	if w.Code != http.StatusOK {
		e.t.Fatalf("Sync = HTTP %d", w.Code)
	}
	if w.Body.Len() == 0 {
		return nil
	}
	var resp eas.SyncResponse
	if err := eas.Unmarshal(w.Body.Bytes(), &resp, nil); err != nil {
		e.t.Fatalf("decoding the Sync response: %v", err)
	}
	return &resp
}

// sync1 syncs one collection and returns its response collection.
func (e *syncEnv) sync1(c eas.SyncCollection) eas.SyncResponseCollection {
	e.t.Helper()
	resp := e.post(&eas.SyncRequest{Collections: &eas.SyncCollections{Collection: []eas.SyncCollection{c}}})
	if resp == nil || resp.Collections == nil || len(resp.Collections.Collection) != 1 {
		e.t.Fatalf("Sync of %s answered %+v, want one collection", c.CollectionID, resp)
	}
	return resp.Collections.Collection[0]
}

func (e *syncEnv) addMail(folder sources.FolderID, n int) []sources.ItemID {
	e.t.Helper()
	var ids []sources.ItemID
	for i := 0; i < n; i++ {
		raw := fmt.Sprintf("From: Bob <bob@example.net>\r\nTo: alice@example.org\r\nSubject: Message %d\r\n"+
			"Date: Mon, 30 Nov 2026 09:%02d:00 +0000\r\nMessage-ID: <m%d@example.net>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBody of message %d.\r\n",
			i, i%60, i, i)
		id, err := e.src.AddMessage(context.Background(), folder, []byte(raw))
		if err != nil {
			e.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

var syncVersions = []string{"2.5", "12.1", "14.1", "16.1"}

func TestSyncInitialWindows(t *testing.T) {
	for _, ver := range syncVersions {
		t.Run(ver, func(t *testing.T) {
			e := newSyncEnv(t, ver)
			e.addMail("inbox", 12)
			inbox := e.ids["inbox"]
			first := e.sync1(eas.SyncCollection{SyncKey: "0", CollectionID: inbox})
			if first.Status != eas.SyncStatusSuccess || first.SyncKey == "0" || first.Commands != nil {
				t.Fatalf("SyncKey 0 = %+v, want a new key and no commands", first)
			}
			key := first.SyncKey
			seen := map[string]bool{}
			for round := 0; ; round++ {
				c := e.sync1(eas.SyncCollection{SyncKey: key, CollectionID: inbox, WindowSize: 5})
				if c.Status != eas.SyncStatusSuccess {
					t.Fatalf("round %d: status %d", round, c.Status)
				}
				if c.Commands == nil {
					t.Fatalf("round %d: no commands", round)
				}
				if len(c.Commands.Add) > 5 {
					t.Fatalf("round %d: %d adds past WindowSize 5", round, len(c.Commands.Add))
				}
				for _, a := range c.Commands.Add {
					if seen[a.ServerID] {
						t.Fatalf("ServerId %s sent twice", a.ServerID)
					}
					seen[a.ServerID] = true
					var m eas.Email
					if err := a.ApplicationData.Decode(&m); err != nil {
						t.Fatal(err)
					}
					if !strings.HasPrefix(m.Subject, "Message ") {
						t.Errorf("Subject = %q", m.Subject)
					}
					if err := m.Validate(eas.ProtocolVersion(mustVersion(t, ver))); err != nil {
						t.Errorf("payload invalid at %s: %v", ver, err)
					}
				}
				key = c.SyncKey
				if !c.MoreAvailable {
					break
				}
				if round > 5 {
					t.Fatal("MoreAvailable never ends")
				}
			}
			if len(seen) != 12 {
				t.Errorf("got %d distinct items, want 12", len(seen))
			}
			// Nothing new: the same key comes back with no commands.
			c := e.sync1(eas.SyncCollection{SyncKey: key, CollectionID: inbox})
			if c.Commands != nil || c.SyncKey != key {
				t.Errorf("no-change Sync = %+v, want key %s and no commands", c, key)
			}
		})
	}
}

func mustVersion(t *testing.T, s string) eas.ProtocolVersion {
	v, err := eas.ParseVersion(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// primed returns a key for folder after the initial windows.
func (e *syncEnv) primed(folder sources.FolderID) string {
	e.t.Helper()
	cid := e.ids[folder]
	key := e.sync1(eas.SyncCollection{SyncKey: "0", CollectionID: cid}).SyncKey
	for {
		c := e.sync1(eas.SyncCollection{SyncKey: key, CollectionID: cid, WindowSize: 100})
		key = c.SyncKey
		if !c.MoreAvailable {
			return key
		}
	}
}

func TestSyncLostResponseResendsWindow(t *testing.T) {
	e := newSyncEnv(t, "14.1")
	e.addMail("inbox", 3)
	inbox := e.ids["inbox"]
	key0 := e.sync1(eas.SyncCollection{SyncKey: "0", CollectionID: inbox}).SyncKey
	first := e.sync1(eas.SyncCollection{SyncKey: key0, CollectionID: inbox})
	// The phone never got first: it asks again with key0, while a new
	// message arrives.
	e.addMail("inbox", 1)
	again := e.sync1(eas.SyncCollection{SyncKey: key0, CollectionID: inbox})
	if again.SyncKey != first.SyncKey {
		t.Errorf("resent key = %s, want %s", again.SyncKey, first.SyncKey)
	}
	if got, want := serverIDs(again), serverIDs(first); !slices.Equal(got, want) {
		t.Errorf("resent window = %v, want %v", got, want)
	}
	// The phone goes on: the new message comes, nothing else.
	next := e.sync1(eas.SyncCollection{SyncKey: again.SyncKey, CollectionID: inbox})
	if n := len(serverIDs(next)); n != 1 {
		t.Errorf("after the resend, %d adds, want 1", n)
	}
	// A key from before is refused.
	if c := e.sync1(eas.SyncCollection{SyncKey: key0, CollectionID: inbox}); c.Status != eas.SyncStatusInvalidSyncKey {
		t.Errorf("stale key: status %d, want 3", c.Status)
	}
}

func serverIDs(c eas.SyncResponseCollection) []string {
	var ids []string
	if c.Commands != nil {
		for _, a := range c.Commands.Add {
			ids = append(ids, a.ServerID)
		}
	}
	sort.Strings(ids)
	return ids
}

func TestSyncStoreChangesAndClientEdits(t *testing.T) {
	e := newSyncEnv(t, "16.1")
	ctx := context.Background()
	ids := e.addMail("inbox", 2)
	inbox := e.ids["inbox"]
	key := e.primed("inbox")

	// A change elsewhere arrives as Change, a removal as Delete.
	read := true
	if err := e.src.UpdateFlags(ctx, "inbox", ids[0], sources.FlagUpdate{Read: &read}); err != nil {
		t.Fatal(err)
	}
	if err := e.src.Delete(ctx, "inbox", ids[1]); err != nil {
		t.Fatal(err)
	}
	c := e.sync1(eas.SyncCollection{SyncKey: key, CollectionID: inbox})
	if c.Commands == nil || len(c.Commands.Change) != 1 || len(c.Commands.Delete) != 1 {
		t.Fatalf("after a change and a delete: %+v", c.Commands)
	}
	var m eas.Email
	if err := c.Commands.Change[0].ApplicationData.Decode(&m); err != nil || m.Read == nil || !*m.Read {
		t.Errorf("Change = %+v, %v; want Read", m, err)
	}
	sid := c.Commands.Change[0].ServerID
	key = c.SyncKey

	// The phone marks it unread: no response, no echo, and the store has it.
	unread := false
	change := eas.SyncChange{ServerID: sid, ApplicationData: eas.RawValue(&eas.Email{Read: &unread})}
	c = e.sync1(eas.SyncCollection{SyncKey: key, CollectionID: inbox, Commands: &eas.SyncCommands{Change: []eas.SyncChange{change}}})
	if c.Status != eas.SyncStatusSuccess || c.Responses != nil || c.Commands != nil {
		t.Fatalf("client Change answered %+v", c)
	}
	its, err := e.src.Get(ctx, "inbox", []sources.ItemID{ids[0]}, nil)
	if err != nil || len(its) != 1 || its[0].Mail.Read {
		t.Fatalf("store after the client's change: %+v, %v", its, err)
	}
	key = c.SyncKey
	if c := e.sync1(eas.SyncCollection{SyncKey: key, CollectionID: inbox}); c.Commands != nil {
		t.Errorf("the client's own change came back: %+v", c.Commands)
	}

	// The phone deletes it: moved to Deleted Items, not sent back.
	c = e.sync1(eas.SyncCollection{SyncKey: key, CollectionID: inbox, Commands: &eas.SyncCommands{Delete: []eas.SyncDelete{{ServerID: sid}}}})
	if c.Status != eas.SyncStatusSuccess || c.Responses != nil || c.Commands != nil {
		t.Fatalf("client Delete answered %+v", c)
	}
	d, err := e.src.Changes(ctx, "trash", "", 0)
	if err != nil || len(d.Changed) != 1 {
		t.Errorf("Deleted Items holds %v, %v; want the message", d.Changed, err)
	}

	// An unknown ServerId is item status 8.
	c = e.sync1(eas.SyncCollection{SyncKey: c.SyncKey, CollectionID: inbox, Commands: &eas.SyncCommands{Delete: []eas.SyncDelete{{ServerID: inbox + ":999"}}}})
	if c.Responses == nil || len(c.Responses.Delete) != 1 || c.Responses.Delete[0].Status != eas.SyncStatusObjectNotFound {
		t.Errorf("delete of an unknown item: %+v", c.Responses)
	}
}

func TestSyncClientAddOnce(t *testing.T) {
	for _, ver := range syncVersions {
		t.Run(ver, func(t *testing.T) {
			e := newSyncEnv(t, ver)
			ctx := context.Background()
			contacts := e.ids["contacts"]
			key := e.primed("contacts")
			add := eas.SyncAdd{ClientID: "c-1", ApplicationData: eas.RawValue(&eas.Contact{FirstName: "Ada", LastName: "Lovelace"})}
			req := eas.SyncCollection{SyncKey: key, CollectionID: contacts, Commands: &eas.SyncCommands{Add: []eas.SyncAdd{add}}}
			c := e.sync1(req)
			if c.Responses == nil || len(c.Responses.Add) != 1 || c.Responses.Add[0].Status != eas.SyncStatusSuccess {
				t.Fatalf("client Add answered %+v", c.Responses)
			}
			sid := c.Responses.Add[0].ServerID
			// The answer was lost: the same request again.
			again := e.sync1(req)
			if again.Responses == nil || len(again.Responses.Add) != 1 || again.Responses.Add[0].ServerID != sid {
				t.Fatalf("resent Add answered %+v, want ServerId %s", again.Responses, sid)
			}
			d, err := e.src.Changes(ctx, "contacts", "", 0)
			if err != nil || len(d.Changed) != 1 {
				t.Fatalf("store holds %d contacts, %v; want 1", len(d.Changed), err)
			}
			// Nothing comes back to the phone.
			if c := e.sync1(eas.SyncCollection{SyncKey: again.SyncKey, CollectionID: contacts}); c.Commands != nil {
				t.Errorf("the client's own Add came back: %+v", c.Commands)
			}
			// Fetch returns it.
			c = e.sync1(eas.SyncCollection{SyncKey: again.SyncKey, CollectionID: contacts,
				Commands: &eas.SyncCommands{Fetch: []eas.SyncFetch{{ServerID: sid}}}})
			if c.Responses == nil || len(c.Responses.Fetch) != 1 {
				t.Fatalf("Fetch answered %+v", c.Responses)
			}
			var got eas.Contact
			if err := c.Responses.Fetch[0].ApplicationData.Decode(&got); err != nil || got.FirstName != "Ada" {
				t.Errorf("fetched %+v, %v", got, err)
			}
		})
	}
}

func TestSyncErrors(t *testing.T) {
	e := newSyncEnv(t, "14.1")
	inbox := e.ids["inbox"]
	tests := []struct {
		name string
		c    eas.SyncCollection
		want eas.SyncStatus
	}{
		{"unknown-key", eas.SyncCollection{SyncKey: "{00000000-0000-4000-8000-000000000000}7", CollectionID: inbox}, eas.SyncStatusInvalidSyncKey},
		{"unknown-collection", eas.SyncCollection{SyncKey: "0", CollectionID: "999"}, eas.SyncStatusFolderHierarchyChanged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if c := e.sync1(tt.c); c.Status != tt.want {
				t.Errorf("status %d, want %d", c.Status, tt.want)
			}
		})
	}
	t.Run("empty-without-cache", func(t *testing.T) {
		e := newSyncEnv(t, "14.1")
		resp := e.post(nil)
		if resp == nil || resp.Status != eas.SyncStatusIncompleteRequest {
			t.Errorf("empty Sync without a cached one = %+v, want status 13", resp)
		}
	})
	t.Run("too-many-collections", func(t *testing.T) {
		e := newSyncEnv(t, "14.1")
		var cs []eas.SyncCollection
		for i := 0; i < 301; i++ {
			cs = append(cs, eas.SyncCollection{SyncKey: "0", CollectionID: fmt.Sprint(i + 1)})
		}
		resp := e.post(&eas.SyncRequest{Collections: &eas.SyncCollections{Collection: cs}})
		if resp == nil || resp.Status != eas.SyncStatusTooManyCollections || resp.Limit != 300 {
			t.Errorf("301 collections = %+v, want status 15, limit 300", resp)
		}
	})
}

func TestSyncEmptyRequestAndWait(t *testing.T) {
	e := newSyncEnv(t, "14.1")
	inbox := e.ids["inbox"]
	key := e.primed("inbox")
	e.sync1(eas.SyncCollection{SyncKey: key, CollectionID: inbox})
	// The empty request repeats the cached one with its new key.
	e.addMail("inbox", 1)
	resp := e.post(nil)
	if resp == nil || resp.Collections == nil || len(serverIDs(resp.Collections.Collection[0])) != 1 {
		t.Fatalf("empty Sync = %+v, want the new message", resp)
	}
	// A hanging Sync: woken by a change.
	go func() {
		time.Sleep(100 * time.Millisecond)
		e.addMail("inbox", 1)
	}()
	start := time.Now()
	resp = e.post(&eas.SyncRequest{Partial: true, HeartbeatInterval: 5})
	if resp == nil || len(serverIDs(resp.Collections.Collection[0])) != 1 {
		t.Fatalf("hanging Sync = %+v, want the new message", resp)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("hanging Sync answered after %v, want at the change", d)
	}
	// Nothing happens: an empty answer when the interval ends.
	if resp := e.post(&eas.SyncRequest{Partial: true, HeartbeatInterval: 1}); resp != nil {
		t.Errorf("hanging Sync without a change = %+v, want an empty response", resp)
	}
}

func TestSyncClasses(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	items := []struct {
		folder sources.FolderID
		item   sources.Item
		minVer eas.ProtocolVersion
	}{
		{"calendar", sources.Item{Event: &sources.Event{UID: "ev-1", Summary: "Standup", Start: start, End: start.Add(15 * time.Minute), TimeZone: "Europe/Berlin"}}, eas.V25},
		{"contacts", sources.Item{Contact: &sources.Contact{FirstName: "Grace", LastName: "Hopper"}}, eas.V25},
		{"tasks", sources.Item{Task: &sources.Task{Subject: "File taxes"}}, eas.V25},
		{"notes", sources.Item{Note: &sources.Note{Subject: "Groceries", Body: "milk"}}, eas.V140},
	}
	for _, ver := range syncVersions {
		for _, tt := range items {
			t.Run(ver+"/"+string(tt.folder), func(t *testing.T) {
				e := newSyncEnv(t, ver)
				it := tt.item
				if _, _, err := e.src.Put(ctx, tt.folder, &it, ""); err != nil {
					t.Fatal(err)
				}
				cid := e.ids[tt.folder]
				key := e.sync1(eas.SyncCollection{SyncKey: "0", CollectionID: cid}).SyncKey
				c := e.sync1(eas.SyncCollection{SyncKey: key, CollectionID: cid})
				v := mustVersion(t, ver)
				if v < tt.minVer {
					if c.Commands != nil && len(c.Commands.Add) > 0 {
						t.Errorf("%s sent to a %s client", tt.folder, ver)
					}
					return
				}
				if c.Commands == nil || len(c.Commands.Add) != 1 {
					t.Fatalf("Sync of %s = %+v, want one Add", tt.folder, c)
				}
				raw := c.Commands.Add[0].ApplicationData
				var err error
				switch tt.folder {
				case "calendar":
					var p eas.Calendar
					if err = raw.Decode(&p); err == nil {
						err = p.Validate(v)
						if p.Subject != "Standup" {
							t.Errorf("Subject = %q", p.Subject)
						}
					}
				case "contacts":
					var p eas.Contact
					if err = raw.Decode(&p); err == nil {
						err = p.Validate(v)
						if p.LastName != "Hopper" {
							t.Errorf("LastName = %q", p.LastName)
						}
					}
				case "tasks":
					var p eas.Task
					if err = raw.Decode(&p); err == nil {
						err = p.Validate(v)
						if p.Subject != "File taxes" {
							t.Errorf("Subject = %q", p.Subject)
						}
					}
				case "notes":
					var p eas.Note
					if err = raw.Decode(&p); err == nil {
						err = p.Validate(v)
						if p.Subject != "Groceries" {
							t.Errorf("Subject = %q", p.Subject)
						}
					}
				}
				if err != nil {
					t.Errorf("payload: %v", err)
				}
				if v < eas.V140 && c.Class == "" {
					t.Errorf("no Class in a %s response", ver)
				}
			})
		}
	}
}

// TestSyncHangingParked runs a hanging Sync over a real connection, where
// it waits parked like Ping: woken by a change, and empty at the interval.
func TestSyncHangingParked(t *testing.T) {
	e := pingTestServer(t, Limits{})
	ids := e.pingSync(t, "alice", "dev1")
	inbox := ids["inbox"]
	post := func(req *eas.SyncRequest) (*eas.SyncResponse, int) {
		t.Helper()
		body, err := eas.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		r, err := http.NewRequest("POST", e.ts.URL+Path+"?Cmd=Sync&User=alice&DeviceId=dev1&DeviceType=TestPhone", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.SetBasicAuth("alice", pingPassword)
		r.Header.Set("MS-ASProtocolVersion", "14.1")
		r.Header.Set("Content-Type", wbxmlType)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		if resp.StatusCode != 200 || buf.Len() == 0 {
			return nil, resp.StatusCode
		}
		var out eas.SyncResponse
		if err := eas.Unmarshal(buf.Bytes(), &out, nil); err != nil {
			t.Fatal(err)
		}
		return &out, resp.StatusCode
	}
	one := func(key string) *eas.SyncRequest {
		return &eas.SyncRequest{Collections: &eas.SyncCollections{Collection: []eas.SyncCollection{{SyncKey: key, CollectionID: inbox}}}}
	}
	r0, _ := post(one("0"))
	key := r0.Collections.Collection[0].SyncKey
	r1, _ := post(one(key))
	key = r1.Collections.Collection[0].SyncKey

	go func() {
		time.Sleep(300 * time.Millisecond)
		e.pingAddMail(t, "alice", "inbox")
	}()
	req := one(key)
	req.HeartbeatInterval = 5
	start := time.Now()
	r2, code := post(req)
	if r2 == nil {
		t.Fatalf("hanging Sync woken by a change = HTTP %d with no body", code)
	}
	c := r2.Collections.Collection[0]
	if len(serverIDs(c)) != 1 || c.SyncKey == key {
		t.Fatalf("hanging Sync = %+v, want one Add and a new key", c)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("woken after %v", d)
	}
	req = one(c.SyncKey)
	req.HeartbeatInterval = 1
	if r3, code := post(req); r3 != nil || code != 200 {
		t.Errorf("hanging Sync without a change = %+v, HTTP %d; want an empty 200", r3, code)
	}
}

func TestSyncResendKeepsMoreAvailable(t *testing.T) {
	e := newSyncEnv(t, "14.1")
	e.addMail("inbox", 12)
	inbox := e.ids["inbox"]
	key0 := e.sync1(eas.SyncCollection{SyncKey: "0", CollectionID: inbox}).SyncKey
	first := e.sync1(eas.SyncCollection{SyncKey: key0, CollectionID: inbox, WindowSize: 5})
	again := e.sync1(eas.SyncCollection{SyncKey: key0, CollectionID: inbox, WindowSize: 5})
	if !first.MoreAvailable || !again.MoreAvailable {
		t.Errorf("MoreAvailable first %v, resent %v; want both", first.MoreAvailable, again.MoreAvailable)
	}
	if !slices.Equal(serverIDs(first), serverIDs(again)) {
		t.Errorf("resent window %v, want %v", serverIDs(again), serverIDs(first))
	}
}

func TestWindowBuilder(t *testing.T) {
	add := func(id string) statecache.Change { return statecache.Change{Op: statecache.OpAdd, ItemID: id} }
	chg := func(id, sid string) statecache.Change {
		return statecache.Change{Op: statecache.OpChange, ItemID: id, ServerID: sid}
	}
	del := func(id, sid string) statecache.Change {
		return statecache.Change{Op: statecache.OpDelete, ItemID: id, ServerID: sid}
	}
	soft := func(id, sid string) statecache.Change {
		return statecache.Change{Op: statecache.OpSoftDelete, ItemID: id, ServerID: sid}
	}
	tests := []struct {
		name string
		in   []statecache.Change
		want []statecache.Change
	}{
		{"distinct", []statecache.Change{add("a"), chg("b", "1:2"), del("c", "1:3")}, []statecache.Change{add("a"), chg("b", "1:2"), del("c", "1:3")}},
		{"unknown-delete-dropped", []statecache.Change{del("x", "")}, []statecache.Change{}},
		{"add-then-change-stays-add", []statecache.Change{add("a"), add("a")}, []statecache.Change{add("a")}},
		{"add-then-delete-dropped", []statecache.Change{add("a"), del("a", "")}, []statecache.Change{}},
		{"add-then-filtered-dropped", []statecache.Change{add("a"), soft("a", "")}, []statecache.Change{}},
		{"dropped-then-added", []statecache.Change{add("a"), del("a", ""), add("a")}, []statecache.Change{add("a")}},
		{"change-then-delete", []statecache.Change{chg("b", "1:2"), del("b", "1:2")}, []statecache.Change{del("b", "1:2")}},
		{"change-twice", []statecache.Change{chg("b", "1:2"), chg("b", "1:2")}, []statecache.Change{chg("b", "1:2")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := windowBuilder{at: make(map[string]int)}
			for _, c := range tt.in {
				w.put(c)
			}
			if got := w.window(); !slices.Equal(got, tt.want) || w.n != len(tt.want) {
				t.Errorf("window = %+v (n %d), want %+v", got, w.n, tt.want)
			}
		})
	}
}
