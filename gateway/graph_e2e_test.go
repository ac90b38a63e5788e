package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/internal/graphemu"
	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/graph"
	"github.com/easgate/easgate/statecache"
)

// The tests in this file hold whole device conversations through the
// gateway with the Microsoft Graph emulator behind it, issue 12: every
// change the phone sees was made in the emulator as another client or
// the mail system would, and every change the phone makes is read back
// through a Backend of its own.

// graphE2EEnv is the emulator and a gateway in front of it. The phone's
// password is a device password issued in the gateway's state; src is
// alice's mailbox seen through a second Backend.
type graphE2EEnv struct {
	g     *testserver.Graph
	b     *graph.Backend
	srv   *Server
	ts    *httptest.Server
	state *statecache.Store
	src   sources.Source
	// other is another client of the same app on the same mailbox, with
	// its own limits, which keeps Graph busy in the fault tests.
	other sources.Source
	upn   string
}

func graphE2EServer(t testing.TB, eo graphemu.Options, o graph.Options) *graphE2EEnv {
	t.Helper()
	e := &graphE2EEnv{g: testserver.StartGraph(t, eo), upn: convUser + "@" + testserver.GraphDomain}
	var err error
	if e.state, err = statecache.Open("", &statecache.Options{InMemory: true}); err != nil {
		t.Fatal(err)
	}
	// The device password the administrator issued (easgate user password).
	if err := e.state.SetUserPassword(context.Background(), e.upn, testserver.Users[convUser], time.Now()); err != nil {
		t.Fatal(err)
	}
	newBackend := func(budget int) *graph.Backend {
		o := o
		if budget > 0 {
			o.Budget = budget
		}
		o.GraphURL, o.AuthorityURL = e.g.URL, e.g.URL
		o.Tenant, o.ClientID, o.ClientSecret = e.g.Tenant, e.g.ClientID, e.g.Secret
		o.Passwords, o.MailDomain = e.state, testserver.GraphDomain
		if o.PollInterval == 0 {
			o.PollInterval = 100 * time.Millisecond
		}
		if o.MaxPollInterval == 0 {
			o.MaxPollInterval = 400 * time.Millisecond
		}
		b, err := graph.NewBackend(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}
	e.b = newBackend(0)
	e.srv, err = New(&Options{Backend: e2eBackend{e.b}, State: e.state, Directory: DirectoryOptions{Folder: o.Directory},
		Policy: Policy{Mode: PolicyAllow}, Limits: Limits{MinHeartbeat: time.Second}})
	if err != nil {
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
		e.state.Close()
	})
	if e.src, err = newBackend(0).Login(context.Background(), convUser, testserver.Users[convUser]); err != nil {
		t.Fatalf("Login(%s) on the emulator: %v", convUser, err)
	}
	// The busy client loops as fast as the machine lets it: no budget
	// may stop it before the test does.
	if e.other, err = newBackend(math.MaxInt32).Login(context.Background(), convUser, testserver.Users[convUser]); err != nil {
		t.Fatalf("Login(%s) on the emulator: %v", convUser, err)
	}
	return e
}

func (e *graphE2EEnv) conv(t *testing.T) *convEnv {
	return &convEnv{t: t, srv: e.srv, ts: e.ts, state: e.state}
}

// graphE2EItems returns every item of folder f as the emulator holds it.
func graphE2EItems(t *testing.T, e *graphE2EEnv, f sources.FolderID) []sources.Item {
	t.Helper()
	ctx := context.Background()
	var ids []sources.ItemID
	for since, more := sources.State(""), true; more; {
		d, err := e.src.Changes(ctx, f, since, 500)
		if err != nil {
			t.Fatalf("Changes(%s) on the emulator: %v", f, err)
		}
		ids = append(ids, d.Changed...)
		since, more = d.Next, d.More
	}
	if len(ids) == 0 {
		return nil
	}
	items, err := e.src.Get(ctx, f, ids, nil)
	if err != nil {
		t.Fatalf("Get(%s) on the emulator: %v", f, err)
	}
	return items
}

// graphE2EFolders runs FolderSync 0 and returns the folders by type, the
// user folder Archive under type 0.
func graphE2EFolders(t *testing.T, e *graphE2EEnv, d *convDevice, types ...eas.FolderType) map[eas.FolderType]*convFolder {
	t.Helper()
	fs := d.folderSync("0")
	classes := map[eas.FolderType]string{eas.FolderTypeCalendar: "Calendar", eas.FolderTypeContacts: "Contacts", eas.FolderTypeTasks: "Tasks"}
	out := make(map[eas.FolderType]*convFolder)
	for _, f := range fs.Changes.Add {
		ty := f.Type
		if f.DisplayName == "Archive" {
			ty = 0
		}
		if _, dup := out[ty]; dup && ty != eas.FolderTypeUserMail {
			t.Errorf("FolderSync at %s: two folders of type %d", d.v, ty)
		}
		class := classes[ty]
		if class == "" {
			class = "Email"
		}
		id, err := e.state.FolderID(context.Background(), d.account(), f.ServerID)
		if err != nil {
			t.Fatal(err)
		}
		out[ty] = &convFolder{id: sources.FolderID(id), class: class, cid: f.ServerID, items: make(map[string]eas.Raw)}
	}
	for _, ty := range types {
		if out[ty] == nil {
			t.Fatalf("FolderSync at %s has no folder of type %d: %+v", d.v, ty, fs.Changes.Add)
		}
	}
	return out
}

func graphE2EMail(subject, text string) []byte {
	return []byte("From: Carol <carol@example.org>\r\nTo: alice@example.com\r\nSubject: " + subject +
		"\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\nMessage-ID: <" + fmt.Sprint(time.Now().UnixNano()) +
		"@e2e.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n")
}

// TestGraphConversation holds one phone's conversation at 14.1, 16.1 and
// 12.1 with the Graph emulator behind the gateway.
func TestGraphConversation(t *testing.T) {
	// The series of imapE2ECheckSeries is in March 2026: the calendar
	// window reaches back past it.
	e := graphE2EServer(t, graphemu.Options{}, graph.Options{CalendarPast: 400 * 24 * time.Hour, Directory: "Directory"})
	for _, v := range []eas.ProtocolVersion{eas.V141, eas.V161, eas.V121} {
		t.Run(v.String(), func(t *testing.T) { graphE2EConversation(t, e, v) })
	}
}

func graphE2EConversation(t *testing.T, e *graphE2EEnv, v eas.ProtocolVersion) {
	tag := strings.ReplaceAll(v.String(), ".", "")
	d := e.conv(t).device("graphe2e"+tag, "E2EPhone", v)
	welcome := "Welcome aboard " + tag
	if _, err := e.g.Emu.DeliverMail(e.upn, "inbox", graphE2EMail(welcome, "Hello from Carol.")); err != nil {
		t.Fatal(err)
	}

	// A contact, a task and imapE2ECheckSeries' weekly series in Berlin
	// time with its moved instance, made by another client.
	if _, err := e.g.Emu.AddContact(e.upn, "", map[string]any{"givenName": "Dora", "surname": "Card" + tag,
		"emailAddresses": []any{map[string]any{"address": "dora" + tag + "@example.org"}}, "mobilePhone": "+49 170 555" + tag}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.g.Emu.AddTask(e.upn, "", map[string]any{"title": "Errand " + tag, "status": "notStarted",
		"importance": "high"}); err != nil {
		t.Fatal(err)
	}
	weekly := "Weekly " + tag
	series, err := e.g.Emu.AddEvent(e.upn, "", map[string]any{"subject": weekly,
		"start": map[string]any{"dateTime": "2026-03-02T09:00:00.0000000", "timeZone": "W. Europe Standard Time"},
		"end":   map[string]any{"dateTime": "2026-03-02T10:00:00.0000000", "timeZone": "W. Europe Standard Time"},
		"recurrence": map[string]any{
			"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []any{"monday"}, "firstDayOfWeek": "monday"},
			"range":   map[string]any{"type": "numbered", "startDate": "2026-03-02", "numberOfOccurrences": 12}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.g.Emu.UpdateItem(e.upn, series+"_20260330T070000", map[string]any{"subject": weekly + " moved",
		"start": map[string]any{"dateTime": "2026-03-30T11:00:00.0000000", "timeZone": "W. Europe Standard Time"},
		"end":   map[string]any{"dateTime": "2026-03-30T12:00:00.0000000", "timeZone": "W. Europe Standard Time"}}); err != nil {
		t.Fatal(err)
	}

	byType := graphE2EFolders(t, e, d, eas.FolderTypeInbox, eas.FolderTypeDrafts, eas.FolderTypeDeletedItems,
		eas.FolderTypeSentItems, eas.FolderTypeOutbox, eas.FolderTypeCalendar, eas.FolderTypeContacts, eas.FolderTypeTasks, 0)
	inbox, archive, sent := byType[eas.FolderTypeInbox], byType[0], byType[eas.FolderTypeSentItems]
	calendar, contacts, tasks := byType[eas.FolderTypeCalendar], byType[eas.FolderTypeContacts], byType[eas.FolderTypeTasks]
	folders := []*convFolder{inbox, archive, calendar, contacts, tasks}
	imapE2ESyncStart(t, d, folders...)
	for _, f := range folders {
		if want := len(graphE2EItems(t, e, f.id)); len(f.items) != want {
			t.Errorf("after the initial sync the device has %d items of %s, the emulator %d", len(f.items), f.id, want)
		}
	}
	if sid, _ := imapE2EFind(inbox, welcome, imapE2EMailSubject); sid == "" {
		t.Errorf("the Inbox lacks the delivered mail %q", welcome)
	}
	if sid, c := imapE2EFind(contacts, "Card"+tag, func(c *eas.Contact) string { return c.LastName }); sid == "" || c.Email1Address == "" || c.MobilePhoneNumber == "" {
		t.Errorf("Contacts lack Dora Card%s with her mail and mobile: %+v", tag, c)
	}
	if sid, _ := imapE2EFind(tasks, "Errand "+tag, func(c *eas.Task) string { return c.Subject }); sid == "" {
		t.Errorf("Tasks lack the To Do task Errand %s", tag)
	}
	event, ev := imapE2EFind(calendar, weekly, imapE2EEventSubject)
	if ev == nil {
		t.Fatalf("the Calendar lacks the series %q", weekly)
	}
	imapE2ECheckSeries(t, ev, weekly)

	// The phone renames the series: Graph's master has the new subject,
	// the moved instance stays an exception.
	renamed := "Renamed " + tag
	change := *ev
	change.Subject = renamed
	change.Body, change.Body25, change.BodyTruncated25, change.Rtf25, change.NativeBodyType = nil, nil, nil, "", nil
	res := d.sync(eas.SyncCollection{SyncKey: calendar.key, CollectionID: calendar.cid, Commands: &eas.SyncCommands{
		Change: []eas.SyncChange{{ServerID: event, ApplicationData: eas.RawValue(&change)}}}})
	if c := res[calendar.cid]; c.Status != eas.SyncStatusSuccess || c.Responses != nil && len(c.Responses.Change) != 0 {
		t.Fatalf("Sync of the renamed series = %+v, want status 1", c)
	} else {
		calendar.key = c.SyncKey
	}
	calendar.items[event] = eas.RawValue(&change)
	if it := e2eItem(t, e.state, e.src, d, calendar, event); it == nil || it.Event == nil || it.Event.Summary != renamed ||
		len(it.Event.Exceptions) != 1 || it.Event.Exceptions[0].Override == nil || it.Event.Exceptions[0].Override.Summary != weekly+" moved" {
		t.Errorf("the series in the emulator after the phone renamed it: %+v", it)
	}
	convSyncAll(t, d, calendar)
	if _, again := imapE2EFind(calendar, renamed, imapE2EEventSubject); again == nil {
		t.Errorf("the phone lost the renamed series")
	} else {
		imapE2ECheckSeries(t, again, weekly)
	}

	// Push: a delivery wakes the Ping through the mailbox's poller.
	pinged := "Pinged by delivery " + tag
	got, took := e2ePing(t, d, func() {
		if _, err := e.g.Emu.DeliverMail(e.upn, "inbox", graphE2EMail(pinged, "Delivered.")); err != nil {
			t.Error(err)
		}
	}, inbox, archive, calendar, contacts, tasks)
	if !slices.Equal(got, []string{inbox.cid}) {
		t.Errorf("Ping after the delivery names %v, want [%s]", got, inbox.cid)
	}
	t.Logf("Ping answered %v after the delivery", took)
	if added := convSyncAll(t, d, inbox); len(added[inbox.cid]) != 1 {
		t.Errorf("Sync after the delivery added %v, want one mail", added)
	}

	// Client edit: mark the welcome mail read (PATCH isRead).
	read, _ := imapE2EFind(inbox, welcome, imapE2EMailSubject)
	res = d.sync(eas.SyncCollection{SyncKey: inbox.key, CollectionID: inbox.cid, Commands: &eas.SyncCommands{
		Change: []eas.SyncChange{{ServerID: read, ApplicationData: eas.RawValue(&eas.Email{Read: ptr(true)})}}}})
	if c := res[inbox.cid]; c.Status != eas.SyncStatusSuccess || c.Responses != nil && len(c.Responses.Change) != 0 {
		t.Fatalf("Sync of the read flag = %+v, want status 1", c)
	} else {
		inbox.key = c.SyncKey
	}
	if it := e2eItem(t, e.state, e.src, d, inbox, read); it == nil || it.Mail == nil || !it.Mail.Read {
		t.Errorf("mail %s in the emulator after the phone read it: %+v", read, it)
	}
	if added := convSyncAll(t, d, inbox); len(added) != 0 {
		t.Errorf("Sync after the client's edit adds %v, want nothing", added)
	}

	// SendMail: Graph files the copy in Sent Items itself.
	subject := "Sent from the phone " + tag
	imapE2ESend(t, d, []byte("From: alice@example.com\r\nTo: Bob <bob@example.com>\r\nSubject: "+subject+
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nLunch?\r\n"))
	found := false
	for _, it := range graphE2EItems(t, e, sent.id) {
		found = found || it.Mail != nil && it.Mail.Subject == subject
	}
	if !found {
		t.Errorf("Sent Items has no copy of %q", subject)
	}

	// MoveItems keeps the id (immutable ids): the DstMsgId is new to the
	// device, the item in Graph the same.
	var mv eas.MoveItemsResponse
	d.do("MoveItems", &eas.MoveItemsRequest{Move: []eas.MoveItem{{SrcMsgID: read, SrcFldID: inbox.cid, DstFldID: archive.cid}}}, &mv)
	if len(mv.Response) != 1 || mv.Response[0].Status != eas.MoveItemsStatusSuccess || mv.Response[0].DstMsgID == "" {
		t.Fatalf("MoveItems = %+v, want status 3 with a DstMsgId", mv)
	}
	archive.items[mv.Response[0].DstMsgID] = inbox.items[read]
	delete(inbox.items, read)
	inbox.moved = map[string]bool{read: true}
	if it := e2eItem(t, e.state, e.src, d, archive, mv.Response[0].DstMsgID); it == nil || it.Mail == nil || it.Mail.Subject != welcome {
		t.Errorf("the moved mail is not in Archive in the emulator: %+v", it)
	}
	convSyncAll(t, d, inbox, archive)
	for _, f := range []*convFolder{inbox, archive} {
		if want := len(graphE2EItems(t, e, f.id)); len(f.items) != want {
			t.Errorf("after the move the device has %d items in %s, the emulator %d", len(f.items), f.id, want)
		}
	}

	// Fetch and Search ($search).
	convFetch(t, d, archive, mv.Response[0].DstMsgID)
	convSearch(t, d, inbox)

	// GAL: the tenant's users, from /users.
	var gal eas.SearchResponse
	d.do("Search", galSearch("bob", "", nil), &gal)
	if gal.Status != eas.SearchStatusSuccess || gal.Response == nil {
		t.Fatalf("GAL search = %+v", gal)
	}
	if got := galEmails(galResults(t, &gal.Response.Store)); !slices.Equal(got, []string{"bob@" + testserver.GraphDomain}) {
		t.Errorf("GAL search for bob = %v", got)
	}
}

// TestGraphFaults: expired delta links (evicted, and the documented
// reset) and a storm of 429s reach the phone as nothing but the changes
// made meanwhile; a throttled store it cannot wait out gives a retryable
// answer, never one that makes the phone drop the account.
func TestGraphFaults(t *testing.T) {
	// The emulator's request budget is lifted: the busy client below sends
	// as many requests as the machine allows, and a fast machine would spend
	// it (the budget has tests of its own in graphemu).
	e := graphE2EServer(t, graphemu.Options{RetryAfter: 1, Budget: 1 << 30}, graph.Options{PageSize: 7})
	d := e.conv(t).device("graphfaults", "E2EPhone", eas.V161)
	var ids []string
	for i := range 30 {
		id, err := e.g.Emu.DeliverMail(e.upn, "inbox", graphE2EMail(fmt.Sprint("Fault test ", i), "Body."))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	byType := graphE2EFolders(t, e, d, eas.FolderTypeInbox)
	inbox := byType[eas.FolderTypeInbox]
	imapE2ESyncStart(t, d, inbox)
	check := func(when string) {
		t.Helper()
		if want := len(graphE2EItems(t, e, inbox.id)); len(inbox.items) != want {
			t.Errorf("%s the phone has %d mails, the emulator %d", when, len(inbox.items), want)
		}
	}
	check("after the initial sync")

	for i, expire := range []func(){e.g.Emu.ExpireTokens, func() { e.g.Emu.ForceReset(e.upn) }} {
		e.g.Emu.DeliverMail(e.upn, "inbox", graphE2EMail(fmt.Sprint("After expiry ", i), "New."))
		e.g.Emu.UpdateItem(e.upn, ids[2*i], map[string]any{"isRead": true})
		e.g.Emu.DeleteItem(e.upn, ids[2*i+1])
		expire()
		// convSyncAll fails on status 3, a duplicate Add or a Delete of
		// what the phone does not have.
		added := convSyncAll(t, d, inbox)
		if len(added[inbox.cid]) != 1 {
			t.Errorf("after expiry %d the phone got %v added, want the one new mail", i, added)
		}
		check(fmt.Sprintf("after expiry %d", i))
	}

	// The storm: Graph allows one request at a time on the mailbox while
	// another client of the same app keeps it busy; the adapter waits out
	// each Retry-After.
	e.g.Emu.SetConcurrency(1)
	stop := make(chan struct{})
	var busy sync.WaitGroup
	busy.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			e.other.Folders(context.Background(), "")
		}
	})
	for i := range 5 {
		e.g.Emu.DeliverMail(e.upn, "inbox", graphE2EMail(fmt.Sprint("In the storm ", i), "Storm."))
	}
	// Graph may keep the phone's requests out for longer than the adapter
	// retries; the phone is then told to come back, and does.
	d.retries = 10
	added := convSyncAll(t, d, inbox)
	d.retries = 0
	close(stop)
	busy.Wait()
	if len(added[inbox.cid]) != 5 {
		t.Errorf("in the storm the phone got %v added, want 5", added)
	}
	check("after the storm")

	// A 429 whose Retry-After is longer than the adapter waits: the
	// phone is told to retry.
	// The other client holds all three slots (its own limit is three),
	// with reads that do not wait for each other in the adapter (its
	// folder listings would: they share one journal).
	e.g.Emu.SetConcurrency(3)
	release := e.g.Emu.Stall()
	t.Cleanup(release)
	for i := range 3 {
		busy.Go(func() {
			e.other.Get(context.Background(), sources.FolderID(inbox.id), []sources.ItemID{sources.ItemID(ids[10+i])}, nil)
		})
	}
	for deadline := time.Now().Add(30 * time.Second); e.g.Emu.Active(e.upn) < 3; {
		if time.Now().After(deadline) {
			t.Fatal("3 requests not in flight after 30 s")
		}
		time.Sleep(time.Millisecond)
	}
	e.g.Emu.DeliverMail(e.upn, "inbox", graphE2EMail("Behind the stall", "Later."))
	e.g.Emu.SetRetryAfter(60)
	imapE2ERetryable(t, d, inbox, "Graph throttling for a minute")
	release()
	busy.Wait()
	e.g.Emu.SetRetryAfter(1)
}

// TestGraphDevicePassword: the administrator issues and revokes device
// passwords through the admin API; a running server stops taking the old
// one at once, though it remembers passwords that checked.
func TestGraphDevicePassword(t *testing.T) {
	e := graphE2EServer(t, graphemu.Options{}, graph.Options{})
	api := httptest.NewServer(e.srv.AdminAPI(AdminOptions{Trusted: true}))
	defer api.Close()
	login := func(pw string) int {
		r, _ := http.NewRequest("POST", e.ts.URL+Path+"?Cmd=FolderSync&User="+convUser+"&DeviceId=pwtest&DeviceType=E2EPhone",
			bytes.NewReader(mustMarshal(t, &eas.FolderSyncRequest{SyncKey: "0"})))
		r.SetBasicAuth(convUser, pw)
		r.Header.Set("MS-ASProtocolVersion", "16.1")
		r.Header.Set("Content-Type", wbxmlType)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	admin := func(method string) map[string]string {
		r, _ := http.NewRequest(method, api.URL+AdminPrefix+"users/"+e.upn+"/password", nil)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]string
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != 200 {
			t.Fatalf("%s password = %d %v", method, resp.StatusCode, out)
		}
		return out
	}
	old := testserver.Users[convUser]
	if code := login(old); code != 200 {
		t.Fatalf("login with the first password = %d", code)
	}
	pw := admin("POST")["password"]
	if code := login(old); code != 401 {
		t.Errorf("login with the replaced password = %d, want 401", code)
	}
	if code := login(pw); code != 200 {
		t.Errorf("login with the issued password = %d, want 200", code)
	}
	admin("DELETE")
	if code := login(pw); code != 401 {
		t.Errorf("login with a revoked password = %d, want 401", code)
	}
}
