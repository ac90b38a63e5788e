package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/internal/demo"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/memory"
	"github.com/easgate/easgate/statecache"
)

// convUser and convPassword are the one account of the conversation and
// device-capture tests.
const (
	convUser     = "alice"
	convPassword = "alice-conv-pw"
)

// convBackend opens the memory store's user for convPassword.
type convBackend struct{ store *memory.Store }

func (b convBackend) Login(_ context.Context, user, password string) (sources.Source, error) {
	if password != convPassword {
		return nil, fmt.Errorf("bad password: %w", sources.ErrAuth)
	}
	return b.store.User(user), nil
}

// convEnv is a Server on real loopback TCP, served through its Listener,
// with a memory store and an in-memory statecache.
type convEnv struct {
	t     *testing.T
	srv   *Server
	ts    *httptest.Server
	store *memory.Store
	src   *memory.Source
	state *statecache.Store
}

// convServer starts a Server with options o, whose Backend and State it
// sets.
func convServer(t *testing.T, o Options) *convEnv {
	t.Helper()
	st, err := statecache.Open("", &statecache.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	e := &convEnv{t: t, store: memory.New(nil), state: st}
	e.src = e.store.User(convUser)
	o.Backend, o.State = convBackend{e.store}, st
	if e.srv, err = New(&o); err != nil {
		t.Fatal(err)
	}
	e.ts = httptest.NewUnstartedServer(e.srv)
	e.ts.Listener = e.srv.Listen(e.ts.Listener)
	e.ts.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		e.ts.Close()
		st.Close()
	})
	return e
}

// convDevice is one phone of convUser speaking one protocol version.
type convDevice struct {
	e         *convEnv
	id, typ   string
	v         eas.ProtocolVersion
	policyKey uint32 // sent as X-MS-PolicyKey when not 0
	// retries is how many collection status 5 answers (a store asking
	// to be called again later) convSyncAll takes, resending the same
	// SyncKey as a phone does; 0 makes any of them fail the test.
	retries int
}

func (e *convEnv) device(id, typ string, v eas.ProtocolVersion) *convDevice {
	return &convDevice{e: e, id: id, typ: typ, v: v}
}

// account is the device's statecache account.
func (d *convDevice) account() statecache.Account {
	return statecache.Account{User: convUser, Device: d.id}
}

// send sends body as command cmd and returns the HTTP status and body. It
// does not fail the test, so a goroutine may call it. A request that takes
// more than 30 s fails.
func (d *convDevice) send(cmd string, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, "POST",
		d.e.ts.URL+Path+"?Cmd="+cmd+"&User="+convUser+"&DeviceId="+d.id+"&DeviceType="+d.typ, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	r.SetBasicAuth(convUser, convPassword)
	r.Header.Set("MS-ASProtocolVersion", d.v.String())
	r.Header.Set("Content-Type", wbxmlType)
	r.Header.Set("User-Agent", d.typ+"/1.0")
	if d.policyKey != 0 {
		r.Header.Set("X-MS-PolicyKey", strconv.FormatUint(uint64(d.policyKey), 10))
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// post is send that fails the test on a transport error.
func (d *convDevice) post(cmd string, body []byte) (int, []byte) {
	d.e.t.Helper()
	code, b, err := d.send(cmd, body)
	if err != nil {
		d.e.t.Fatalf("%s at %s: %v", cmd, d.v, err)
	}
	return code, b
}

// do sends req as command cmd, which must be answered HTTP 200 with a
// document, and decodes the answer into resp.
func (d *convDevice) do(cmd string, req, resp any) {
	t := d.e.t
	t.Helper()
	code, body := d.post(cmd, mustMarshal(t, req))
	if code != http.StatusOK {
		t.Fatalf("%s at %s = HTTP %d, want 200", cmd, d.v, code)
	}
	if err := eas.Unmarshal(body, resp, nil); err != nil {
		t.Fatalf("%s at %s: decoding % x: %v", cmd, d.v, body, err)
	}
}

// folderSync runs FolderSync with key, which must succeed.
func (d *convDevice) folderSync(key string) *eas.FolderSyncResponse {
	t := d.e.t
	t.Helper()
	var resp eas.FolderSyncResponse
	d.do("FolderSync", &eas.FolderSyncRequest{SyncKey: key}, &resp)
	if resp.Status != eas.FolderSyncStatusSuccess || resp.SyncKey == "" || resp.Changes == nil {
		t.Fatalf("FolderSync(%q) at %s = %+v, want status 1 with a key and Changes", key, d.v, resp)
	}
	if c := resp.Changes; c.Count != len(c.Add)+len(c.Update)+len(c.Delete) {
		t.Errorf("FolderSync(%q) at %s: Count %d for %d changes", key, d.v, c.Count, len(c.Add)+len(c.Update)+len(c.Delete))
	}
	return &resp
}

// sync sends a Sync of collections and returns the answered collections by
// CollectionId; each must be answered exactly once.
func (d *convDevice) sync(cs ...eas.SyncCollection) map[string]eas.SyncResponseCollection {
	t := d.e.t
	t.Helper()
	var resp eas.SyncResponse
	d.do("Sync", &eas.SyncRequest{Collections: &eas.SyncCollections{Collection: cs}}, &resp)
	if resp.Collections == nil {
		t.Fatalf("Sync at %s = %+v, want Collections", d.v, resp)
	}
	got := make(map[string]eas.SyncResponseCollection)
	for _, c := range resp.Collections.Collection {
		if _, dup := got[c.CollectionID]; dup {
			t.Errorf("Sync at %s answers collection %s twice", d.v, c.CollectionID)
		}
		got[c.CollectionID] = c
	}
	for _, c := range cs {
		if _, ok := got[c.CollectionID]; !ok {
			t.Fatalf("Sync at %s: collection %s not answered (got %+v)", d.v, c.CollectionID, resp)
		}
	}
	return got
}

// convVersions are the versions a device conversation is held at.
var convVersions = []eas.ProtocolVersion{eas.V25, eas.V120, eas.V121, eas.V140, eas.V141, eas.V160, eas.V161}

// convFolder is one folder the conversation syncs: its store id, class
// and the device's view of it, ServerId → ApplicationData.
type convFolder struct {
	id    sources.FolderID
	class string
	cid   string
	key   string
	items map[string]eas.Raw

	// moved holds the items the device moved away with MoveItems: MS-ASCMD
	// 2.2.1.12 has the next Sync delete them, which the device has done.
	moved map[string]bool
}

// TestConversation holds, at each version, one device's conversation from
// first contact to steady state against the demo mailbox: discovery,
// provisioning, the hierarchy, every class's items, push, client edits,
// estimates, a move, a fetch and a search.
func TestConversation(t *testing.T) {
	for _, v := range convVersions {
		t.Run(v.String(), func(t *testing.T) { convConversation(t, v) })
	}
}

func convConversation(t *testing.T, v eas.ProtocolVersion) {
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	e := convServer(t, Options{Policy: Policy{Mode: PolicyAllow}, Limits: Limits{MinHeartbeat: time.Second}})
	if err := demo.Populate(ctx, e.store, convUser, now, 7); err != nil {
		t.Fatal(err)
	}
	d := e.device("conv"+strings.ReplaceAll(v.String(), ".", ""), "ConvPhone", v)

	// Discovery, MS-ASHTTP 2.2.4: the version and the commands used below
	// are advertised.
	r, err := http.NewRequest("OPTIONS", e.ts.URL+Path, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.SetBasicAuth(convUser, convPassword)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cmds := strings.Split(resp.Header.Get("MS-ASProtocolCommands"), ",")
	if resp.StatusCode != http.StatusOK || !slices.Contains(strings.Split(resp.Header.Get("MS-ASProtocolVersions"), ","), v.String()) {
		t.Fatalf("OPTIONS = HTTP %d, versions %q; want 200 listing %s", resp.StatusCode, resp.Header.Get("MS-ASProtocolVersions"), v)
	}
	for _, c := range []string{"Provision", "FolderSync", "Sync", "Ping", "GetItemEstimate", "MoveItems", "Search"} {
		if !slices.Contains(cmds, c) {
			t.Errorf("OPTIONS does not advertise %s: %q", c, cmds)
		}
	}

	// Provision, MS-ASPROV 3.1.5.1: phase 1 fetches the policy and a
	// temporary key, phase 2 acknowledges it for the final key.
	p1 := &eas.ProvisionRequest{Policies: &eas.ProvisionPolicies{Policy: &eas.ProvisionPolicy{PolicyType: eas.PolicyTypeFor(v)}}}
	if v >= eas.V141 {
		p1.DeviceInformation = &eas.DeviceInformation{Set: &eas.DeviceInformationSet{Model: "ConvPhone", OS: "Conv OS 1", UserAgent: "ConvPhone/1.0"}}
	}
	var pr eas.ProvisionResponse
	d.do("Provision", p1, &pr)
	if pr.Status != eas.ProvisionSuccess || pr.Policies == nil || pr.Policies.Policy == nil || pr.Policies.Policy.Status != eas.PolicySuccess || pr.Policies.Policy.Data == nil {
		t.Fatalf("Provision phase 1 = %+v, want the policy", pr)
	}
	if data := pr.Policies.Policy.Data; v < eas.V120 {
		if _, err := eas.ParseWAPProvisioningDoc(data.WAPXML); err != nil {
			t.Errorf("2.5 policy document %q: %v", data.WAPXML, err)
		}
	} else if data.EASProvisionDoc == nil {
		t.Errorf("phase 1 at %s has no EASProvisionDoc", v)
	}
	if v >= eas.V141 && (pr.DeviceInformation == nil || pr.DeviceInformation.Status != eas.SettingsSuccess) {
		t.Errorf("Provision DeviceInformation = %+v, want status 1", pr.DeviceInformation)
	}
	var pr2 eas.ProvisionResponse
	d.do("Provision", &eas.ProvisionRequest{Policies: &eas.ProvisionPolicies{Policy: &eas.ProvisionPolicy{
		PolicyType: eas.PolicyTypeFor(v), PolicyKey: pr.Policies.Policy.PolicyKey, Status: eas.PolicyAckApplied}}}, &pr2)
	if pr2.Status != eas.ProvisionSuccess || pr2.Policies == nil || pr2.Policies.Policy == nil || pr2.Policies.Policy.Status != eas.PolicySuccess {
		t.Fatalf("Provision phase 2 = %+v, want the final key", pr2)
	}
	final, err := strconv.ParseUint(pr2.Policies.Policy.PolicyKey, 10, 32)
	if err != nil || final == 0 || pr2.Policies.Policy.PolicyKey == pr.Policies.Policy.PolicyKey {
		t.Fatalf("final policy key %q after temporary %q", pr2.Policies.Policy.PolicyKey, pr.Policies.Policy.PolicyKey)
	}
	d.policyKey = uint32(final)

	// FolderSync 0: the whole hierarchy.
	fs := d.folderSync("0")
	byType := make(map[eas.FolderType]string)
	seen := make(map[string]bool)
	for _, f := range fs.Changes.Add {
		if seen[f.ServerID] {
			t.Errorf("FolderSync: ServerId %s twice", f.ServerID)
		}
		seen[f.ServerID] = true
		if _, ok := byType[f.Type]; !ok {
			byType[f.Type] = f.ServerID
		}
	}
	folders := []*convFolder{
		{id: "inbox", class: "Email", cid: byType[eas.FolderTypeInbox]},
		{id: "calendar", class: "Calendar", cid: byType[eas.FolderTypeCalendar]},
		{id: "contacts", class: "Contacts", cid: byType[eas.FolderTypeContacts]},
		{id: "tasks", class: "Tasks", cid: byType[eas.FolderTypeTasks]},
	}
	if v >= eas.V140 {
		folders = append(folders, &convFolder{id: "notes", class: "Notes", cid: byType[eas.FolderTypeNotes]})
	}
	archive := &convFolder{class: "Email"}
	for _, f := range fs.Changes.Add {
		if f.DisplayName == "Archive" {
			archive.cid = f.ServerID
		}
	}
	folders = append(folders, archive)
	for _, f := range folders {
		if f.cid == "" {
			t.Fatalf("FolderSync = %+v: no %s folder", fs.Changes.Add, f.class)
		}
		if f == archive {
			id, err := e.state.FolderID(ctx, d.account(), f.cid)
			if err != nil {
				t.Fatal(err)
			}
			f.id = sources.FolderID(id)
		}
		f.items = make(map[string]eas.Raw)
	}
	get := func(id sources.FolderID) *convFolder {
		for _, f := range folders {
			if f.id == id {
				return f
			}
		}
		t.Fatalf("no folder %s", id)
		return nil
	}
	inbox, calendar, contacts, tasks := get("inbox"), get("calendar"), get("contacts"), get("tasks")

	// Sync 0 of every collection: new keys, no items yet.
	var cs []eas.SyncCollection
	for _, f := range folders {
		cs = append(cs, eas.SyncCollection{SyncKey: "0", CollectionID: f.cid})
	}
	for cid, c := range d.sync(cs...) {
		if c.Status != eas.SyncStatusSuccess || c.SyncKey == "" || c.SyncKey == "0" || c.Commands != nil {
			t.Errorf("Sync 0 of %s = %+v, want a new key and no commands", cid, c)
		}
		if v >= eas.V140 && c.Class != "" {
			t.Errorf("Sync 0 of %s at %s carries Class %q, which ended with 12.1", cid, v, c.Class)
		}
		convByCID(t, folders, cid).key = c.SyncKey
	}

	// Sync with the keys until nothing is left: every item of every
	// class arrives once, valid at v.
	convSyncAll(t, d, folders...)
	for _, f := range folders {
		if want := convCount(t, e, f.id); len(f.items) != want || want == 0 {
			t.Errorf("after the initial sync the device has %d items of %s, the store %d; want the same, not 0", len(f.items), f.id, want)
		}
	}

	// Push: Ping waits on the synced folders and wakes with status 2
	// naming the Inbox when mail arrives.
	pingBody := mustMarshal(t, &eas.PingRequest{HeartbeatInterval: 30, Folders: &eas.PingFolders{Folder: []eas.PingFolder{
		{ID: inbox.cid, Class: "Email"}, {ID: calendar.cid, Class: "Calendar"}, {ID: contacts.cid, Class: "Contacts"}, {ID: tasks.cid, Class: "Tasks"},
	}}})
	type answer struct {
		code int
		body []byte
		err  error
	}
	pinged := make(chan answer, 1)
	go func() {
		code, body, err := d.send("Ping", pingBody)
		pinged <- answer{code, body, err}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for e.srv.waiters.count() != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if e.srv.waiters.count() != 1 {
		t.Errorf("Ping at %s is not waiting after 5 s", v)
	}
	if err := demo.Deliver(ctx, e.store, convUser, now.Add(time.Minute), 1); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-pinged:
		var ping eas.PingResponse
		if a.err != nil || a.code != http.StatusOK {
			t.Errorf("Ping = HTTP %d, %v", a.code, a.err)
		} else if err := eas.Unmarshal(a.body, &ping, nil); err != nil {
			t.Errorf("decoding the Ping response % x: %v", a.body, err)
		} else if ping.Status != eas.PingStatusChanges || ping.Folders == nil || !slices.Equal(ping.Folders.Folder, []string{inbox.cid}) {
			t.Errorf("Ping = %+v, want status 2 naming %s", ping, inbox.cid)
		}
	case <-time.After(15 * time.Second):
		t.Errorf("Ping did not answer new mail within 15 s")
	}

	// The next Sync brings the new mail, and only it.
	before := len(inbox.items)
	if added := convSyncAll(t, d, inbox); len(added[inbox.cid]) != 1 || len(inbox.items) != before+1 {
		t.Errorf("Sync after the new mail added %v, want one item", added)
	}

	// Client edits: mark a mail read, add a contact, rename an event,
	// delete a task.
	unread, event, task := "", "", ""
	for sid, raw := range inbox.items {
		var m eas.Email
		if err := raw.Decode(&m); err == nil && m.Read != nil && !*m.Read {
			unread = sid
			break
		}
	}
	var ev eas.Calendar
	for sid, raw := range calendar.items {
		if err := raw.Decode(&ev); err == nil && ev.Subject != "" {
			event = sid
			break
		}
	}
	for sid := range tasks.items {
		task = sid
		break
	}
	if unread == "" || event == "" || task == "" {
		t.Fatalf("no unread mail (%q), event (%q) or task (%q) to edit", unread, event, task)
	}
	oldStart := ev.StartTime
	ev.Subject = "Renamed by the conversation"
	ev.Body, ev.Body25, ev.BodyTruncated25, ev.Rtf25, ev.NativeBodyType = nil, nil, nil, "", nil
	newContact := &eas.Contact{FirstName: "Zoe", LastName: "Conversation", FileAs: "Conversation, Zoe", Email1Address: "zoe@conversation.example"}
	got := d.sync(
		eas.SyncCollection{SyncKey: inbox.key, CollectionID: inbox.cid, Commands: &eas.SyncCommands{
			Change: []eas.SyncChange{{ServerID: unread, ApplicationData: eas.RawValue(&eas.Email{Read: ptr(true)})}}}},
		eas.SyncCollection{SyncKey: contacts.key, CollectionID: contacts.cid, Commands: &eas.SyncCommands{
			Add: []eas.SyncAdd{{ClientID: "conv-1", ApplicationData: eas.RawValue(newContact)}}}},
		eas.SyncCollection{SyncKey: calendar.key, CollectionID: calendar.cid, Commands: &eas.SyncCommands{
			Change: []eas.SyncChange{{ServerID: event, ApplicationData: eas.RawValue(&ev)}}}},
		eas.SyncCollection{SyncKey: tasks.key, CollectionID: tasks.cid, Commands: &eas.SyncCommands{
			Delete: []eas.SyncDelete{{ServerID: task}}}},
	)
	contactID := ""
	for cid, c := range got {
		f := convByCID(t, folders, cid)
		if c.Status != eas.SyncStatusSuccess || c.SyncKey == "" {
			t.Errorf("Sync of the client's edits to %s = %+v, want status 1", f.id, c)
			continue
		}
		f.key = c.SyncKey
		if c.Commands != nil {
			t.Errorf("Sync of the client's edits to %s echoes commands %+v", f.id, c.Commands)
		}
		if r := c.Responses; r != nil {
			if len(r.Change)+len(r.Delete) != 0 {
				t.Errorf("Sync of the client's edits to %s: failures %+v", f.id, r)
			}
			for _, a := range r.Add {
				if a.ClientID != "conv-1" || a.Status != eas.SyncStatusSuccess || a.ServerID == "" {
					t.Errorf("client Add answered %+v, want status 1 with a ServerId", a)
				}
				contactID = a.ServerID
			}
		}
	}
	if contactID == "" {
		t.Fatal("the client's contact got no ServerId")
	}
	contacts.items[contactID] = eas.RawValue(newContact)
	delete(tasks.items, task)

	// The store shows the edits.
	if it := convItem(t, e, d, inbox, unread); it == nil || it.Mail == nil || !it.Mail.Read {
		t.Errorf("mail %s after the client read it: %+v", unread, it)
	}
	if it := convItem(t, e, d, contacts, contactID); it == nil || it.Contact == nil || it.Contact.FirstName != "Zoe" {
		t.Errorf("contact %s the client added: %+v", contactID, it)
	}
	if it := convItem(t, e, d, calendar, event); it == nil || it.Event == nil || it.Event.Summary != ev.Subject ||
		oldStart == nil || !it.Event.Start.Equal(oldStart.Time) {
		t.Errorf("event %s after the client renamed it: %+v", event, it)
	}
	if convCount(t, e, tasks.id) != len(tasks.items) {
		t.Errorf("the store has %d tasks after the client deleted one, the device %d", convCount(t, e, tasks.id), len(tasks.items))
	}

	// Nothing is pending: every estimate is 0.
	gie := &eas.GetItemEstimateRequest{Collections: &eas.GetItemEstimateCollections{}}
	for _, f := range folders {
		c := eas.GetItemEstimateCollection{SyncKey: f.key, CollectionID: f.cid}
		if v < eas.V140 {
			c.Class = f.class
		} else {
			c.Options = []eas.GetItemEstimateOptions{{Class: f.class}}
		}
		gie.Collections.Collection = append(gie.Collections.Collection, c)
	}
	var est eas.GetItemEstimateResponse
	d.do("GetItemEstimate", gie, &est)
	if len(est.Response) != len(folders) {
		t.Errorf("GetItemEstimate answered %d collections, want %d", len(est.Response), len(folders))
	}
	for _, r := range est.Response {
		if r.Status != eas.GetItemEstimateStatusSuccess || r.Collection == nil || r.Collection.Estimate != 0 {
			t.Errorf("GetItemEstimate in steady state = %+v (collection %+v), want status 1 and 0", r, r.Collection)
		}
	}

	// MoveItems a mail to Archive; the next Sync of both folders neither
	// sends it back to the Inbox nor adds it to Archive a second time.
	moved := ""
	for sid := range inbox.items {
		if sid != unread {
			moved = sid
			break
		}
	}
	var mv eas.MoveItemsResponse
	d.do("MoveItems", &eas.MoveItemsRequest{Move: []eas.MoveItem{{SrcMsgID: moved, SrcFldID: inbox.cid, DstFldID: archive.cid}}}, &mv)
	if len(mv.Response) != 1 || mv.Response[0].Status != eas.MoveItemsStatusSuccess || mv.Response[0].DstMsgID == "" {
		t.Fatalf("MoveItems = %+v, want status 3 with a DstMsgId", mv)
	}
	archive.items[mv.Response[0].DstMsgID] = inbox.items[moved]
	delete(inbox.items, moved)
	inbox.moved = map[string]bool{moved: true}
	convSyncAll(t, d, inbox, archive)
	for _, f := range []*convFolder{inbox, archive} {
		if want := convCount(t, e, f.id); len(f.items) != want {
			t.Errorf("after the move the device has %d items in %s, the store %d", len(f.items), f.id, want)
		}
	}
	if it := convItem(t, e, d, archive, mv.Response[0].DstMsgID); it == nil || it.Mail == nil {
		t.Errorf("the moved mail %s is not in Archive: %+v", mv.Response[0].DstMsgID, it)
	}

	// ItemOperations (12.0 and later) fetches a whole mail body.
	if eas.CmdItemOperations.Supports(v) {
		convFetch(t, d, inbox, unread)
	}

	// Search (mailbox, 12.1 and later) finds the mail that arrived.
	if v >= eas.V121 {
		convSearch(t, d, inbox)
	}
}

// convByCID returns the folder of CollectionId cid.
func convByCID(t *testing.T, folders []*convFolder, cid string) *convFolder {
	t.Helper()
	for _, f := range folders {
		if f.cid == cid {
			return f
		}
	}
	t.Fatalf("no folder has CollectionId %s", cid)
	return nil
}

// convValidate decodes an item of class and validates it at v.
func convValidate(raw eas.Raw, class string, v eas.ProtocolVersion) error {
	var item interface {
		Validate(eas.ProtocolVersion) error
	}
	switch class {
	case "Email":
		item = new(eas.Email)
	case "Calendar":
		item = new(eas.Calendar)
	case "Contacts":
		item = new(eas.Contact)
	case "Tasks":
		item = new(eas.Task)
	case "Notes":
		item = new(eas.Note)
	default:
		return fmt.Errorf("unknown class %q", class)
	}
	if err := raw.Decode(item); err != nil {
		return err
	}
	return item.Validate(v)
}

// convSyncAll syncs folders with their keys, in windows of 100, until no
// more is available, applying the server's commands to the device's view.
// It fails on an Add of an item the device already has, a Change or
// Delete of one it does not, and a payload invalid at the device's
// version. It returns the ServerIds added per CollectionId.
func convSyncAll(t *testing.T, d *convDevice, folders ...*convFolder) map[string][]string {
	t.Helper()
	added := make(map[string][]string)
	pending := folders
	for round := 0; len(pending) > 0; round++ {
		if round > 20+d.retries {
			t.Fatalf("MoreAvailable after %d rounds", round)
		}
		var cs []eas.SyncCollection
		for _, f := range pending {
			c := eas.SyncCollection{SyncKey: f.key, CollectionID: f.cid, WindowSize: 100}
			if d.v < eas.V120 {
				c.Options = []eas.SyncOptions{{Truncation: ptr(4), MIMESupport: 0}}
			} else {
				c.Options = []eas.SyncOptions{{BodyPreference: []eas.BodyPreference{{Type: int(eas.BodyPlainText), TruncationSize: ptr(uint32(2048))}}}}
			}
			cs = append(cs, c)
		}
		got := d.sync(cs...)
		var next []*convFolder
		for _, f := range pending {
			c := got[f.cid]
			if c.Status == eas.SyncStatusServerError && d.retries > 0 {
				d.retries--
				next = append(next, f)
				continue
			}
			if c.Status != eas.SyncStatusSuccess || c.SyncKey == "" {
				t.Fatalf("Sync of %s at %s = %+v, want status 1", f.id, d.v, c)
			}
			f.key = c.SyncKey
			if c.MoreAvailable {
				next = append(next, f)
			}
			if c.Commands == nil {
				continue
			}
			for _, a := range c.Commands.Add {
				if _, dup := f.items[a.ServerID]; dup || a.ServerID == "" {
					t.Errorf("Sync of %s adds %q, which the device already has", f.id, a.ServerID)
				}
				if err := convValidate(a.ApplicationData, f.class, d.v); err != nil {
					t.Errorf("%s item %s is invalid at %s: %v", f.class, a.ServerID, d.v, err)
				}
				f.items[a.ServerID] = a.ApplicationData
				added[f.cid] = append(added[f.cid], a.ServerID)
			}
			for _, ch := range c.Commands.Change {
				if _, ok := f.items[ch.ServerID]; !ok {
					t.Errorf("Sync of %s changes %q, which the device does not have", f.id, ch.ServerID)
				}
				if err := convValidate(ch.ApplicationData, f.class, d.v); err != nil {
					t.Errorf("%s change of %s is invalid at %s: %v", f.class, ch.ServerID, d.v, err)
				}
			}
			for _, del := range c.Commands.Delete {
				if _, ok := f.items[del.ServerID]; !ok && !f.moved[del.ServerID] {
					t.Errorf("Sync of %s deletes %q, which the device does not have", f.id, del.ServerID)
				}
				delete(f.items, del.ServerID)
			}
			for _, del := range c.Commands.SoftDelete {
				delete(f.items, del.ServerID)
			}
		}
		pending = next
	}
	return added
}

// convCount returns the number of items in store folder f.
func convCount(t *testing.T, e *convEnv, f sources.FolderID) int {
	t.Helper()
	delta, err := e.src.Changes(context.Background(), f, "", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return len(delta.Changed)
}

// convItem returns the store item the device knows as sid in f, or nil
// if it is gone.
func convItem(t *testing.T, e *convEnv, d *convDevice, f *convFolder, sid string) *sources.Item {
	t.Helper()
	ctx := context.Background()
	id, err := e.state.MapID(ctx, statecache.CollectionKey{Account: d.account(), Collection: f.cid}, sid)
	if err != nil {
		t.Errorf("MapID(%s, %s): %v", f.cid, sid, err)
		return nil
	}
	items, err := e.src.Get(ctx, f.id, []sources.ItemID{sources.ItemID(id)}, nil)
	if err != nil || len(items) != 1 {
		return nil
	}
	return &items[0]
}

// convFetch fetches mail sid of f with ItemOperations and checks that the
// whole plain-text body arrives.
func convFetch(t *testing.T, d *convDevice, f *convFolder, sid string) {
	t.Helper()
	code, body := d.post("ItemOperations", mustMarshal(t, &eas.ItemOperationsRequest{Operations: []eas.ItemOperation{{Fetch: &eas.Fetch{
		Store: "Mailbox", CollectionID: f.cid, ServerID: sid,
		Options: &eas.FetchOptions{BodyPreference: []eas.BodyPreference{{Type: int(eas.BodyPlainText)}}},
	}}}}))
	var resp eas.ItemOperationsResponse
	if err := eas.Unmarshal(body, &resp, nil); code != http.StatusOK || err != nil {
		t.Fatalf("ItemOperations = HTTP %d, %v", code, err)
	}
	if resp.Status != eas.ItemOperationsStatusSuccess || resp.Response == nil || len(resp.Response.Results) != 1 || resp.Response.Results[0].Fetch == nil {
		t.Fatalf("ItemOperations = %+v, want status 1 and one Fetch", resp)
	}
	fr := resp.Response.Results[0].Fetch
	var m eas.Email
	if err := fr.Properties.Decode(&m); err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(d.v); err != nil {
		t.Errorf("fetched mail is invalid at %s: %v", d.v, err)
	}
	b := m.Body
	if fr.Status != eas.ItemOperationsStatusSuccess || fr.ServerID != sid || b == nil || b.Type != eas.BodyPlainText ||
		b.Data == nil || *b.Data == "" || (b.Truncated != nil && *b.Truncated) ||
		(b.EstimatedDataSize != nil && int(*b.EstimatedDataSize) != len(*b.Data)) {
		t.Errorf("Fetch of %s = %+v with body %+v, want the whole plain-text body", sid, fr, b)
	}
}

// convSearch searches the mailbox for the longest word of the subject of
// a mail in f and expects to find that mail.
func convSearch(t *testing.T, d *convDevice, f *convFolder) {
	t.Helper()
	subject, word := "", ""
	for _, raw := range f.items {
		var m eas.Email
		if raw.Decode(&m) != nil {
			continue
		}
		for _, w := range strings.Fields(m.Subject) {
			if len(w) > len(word) && strings.Trim(w, ".,:;!?()[]\"'") == w {
				subject, word = m.Subject, w
			}
		}
	}
	if word == "" {
		t.Fatal("no subject to search for")
	}
	var resp eas.SearchResponse
	d.do("Search", &eas.SearchRequest{Store: eas.SearchStore{Name: eas.SearchStoreMailbox,
		Query:   &eas.SearchQuery{And: &eas.SearchQuery{Class: []string{"Email"}, CollectionID: []string{f.cid}, FreeText: word}},
		Options: &eas.SearchOptions{Range: "0-99", RebuildResults: true, DeepTraversal: true}}}, &resp)
	if resp.Status != eas.SearchStatusSuccess || resp.Response == nil || resp.Response.Store.Status != eas.SearchStatusSuccess {
		t.Fatalf("Search for %q = %+v, want status 1", word, resp)
	}
	for _, r := range resp.Response.Store.Result {
		var m eas.Email
		if err := r.Properties.Decode(&m); err != nil {
			t.Fatal(err)
		}
		if err := m.Validate(d.v); err != nil {
			t.Errorf("search result %s is invalid at %s: %v", r.LongID, d.v, err)
		}
		if m.Subject == subject && r.LongID != "" && r.CollectionID == f.cid {
			return
		}
	}
	t.Errorf("Search for %q found %d results, none the mail %q of %s", word, len(resp.Response.Store.Result), subject, f.cid)
}
