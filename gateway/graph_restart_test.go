package gateway

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/internal/graphemu"
	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources/graph"
	"github.com/easgate/easgate/statecache"
)

// graphRestartStart starts a gateway, a Graph Backend and a statecache
// on dir in front of emulator g, as easgate serve does, and returns it
// with the function that stops it all.
func graphRestartStart(t *testing.T, g *testserver.Graph, dir string) (*graphE2EEnv, func()) {
	t.Helper()
	e := &graphE2EEnv{g: g, upn: convUser + "@" + testserver.GraphDomain}
	var err error
	if e.state, err = statecache.Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.state.SetUserPassword(context.Background(), e.upn, testserver.Users[convUser], time.Now()); err != nil {
		t.Fatal(err)
	}
	o := graph.Options{GraphURL: g.URL, AuthorityURL: g.URL, Tenant: g.Tenant, ClientID: g.ClientID, ClientSecret: g.Secret,
		Passwords: e.state, Journals: e.state, MailDomain: testserver.GraphDomain,
		PollInterval: 100 * time.Millisecond, MaxPollInterval: 400 * time.Millisecond}
	if e.b, err = graph.NewBackend(o); err != nil {
		t.Fatal(err)
	}
	if e.srv, err = New(&Options{Backend: e2eBackend{e.b}, State: e.state, Policy: Policy{Mode: PolicyAllow}}); err != nil {
		t.Fatal(err)
	}
	e.ts = httptest.NewUnstartedServer(e.srv)
	e.ts.Listener = e.srv.Listen(e.ts.Listener)
	e.ts.Start()
	// The mailbox as the test reads it: a Backend of its own, in memory.
	o.Journals = nil
	ob, err := graph.NewBackend(o)
	if err != nil {
		t.Fatal(err)
	}
	if e.src, err = ob.Login(context.Background(), convUser, testserver.Users[convUser]); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		e.ts.Close()
		e.b.Close()
		ob.Close()
		if err := e.state.Close(); err != nil {
			t.Errorf("closing the state: %v", err)
		}
	}
	t.Cleanup(stop)
	return e, stop
}

// TestGraphRestart restarts easgate (new Backend, gateway and state store
// objects over the same state directory and the same emulator) in the
// middle of a phone's conversation. The phone goes on with its sync keys:
// no resync, no duplicate, and exactly the changes made while easgate was
// down, including in a folder whose delta link expired meanwhile.
func TestGraphRestart(t *testing.T) {
	g := testserver.StartGraph(t, graphemu.Options{})
	dir := t.TempDir()
	e, stop := graphRestartStart(t, g, dir)
	for i := range 3 {
		if _, err := g.Emu.DeliverMail(e.upn, "inbox", graphE2EMail("Before "+string(rune('A'+i)), "Hello.")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := g.Emu.AddContact(e.upn, "", map[string]any{"givenName": "Dora", "surname": "Before"}); err != nil {
		t.Fatal(err)
	}
	d := e.conv(t).device("graphrestart", "E2EPhone", eas.V161)
	byType := graphE2EFolders(t, e, d, eas.FolderTypeInbox, eas.FolderTypeContacts)
	inbox, contacts := byType[eas.FolderTypeInbox], byType[eas.FolderTypeContacts]
	imapE2ESyncStart(t, d, inbox, contacts)
	if len(inbox.items) != 3 || len(contacts.items) != 1 {
		t.Fatalf("after the initial sync the phone has %d mails and %d contacts, want 3 and 1", len(inbox.items), len(contacts.items))
	}
	// One more round, so the phone's keys are well past the first listing.
	if _, err := g.Emu.DeliverMail(e.upn, "inbox", graphE2EMail("Before D", "Hello.")); err != nil {
		t.Fatal(err)
	}
	if added := convSyncAll(t, d, inbox); len(added[inbox.cid]) != 1 {
		t.Fatalf("Sync after a delivery added %v, want one mail", added)
	}
	fs := d.folderSync("0")
	hierarchyKey := fs.SyncKey
	readID, _ := imapE2EFind(inbox, "Before A", imapE2EMailSubject)
	goneID, _ := imapE2EFind(inbox, "Before B", imapE2EMailSubject)
	readItem := e2eItem(t, e.state, e.src, d, inbox, readID)
	goneItem := e2eItem(t, e.state, e.src, d, inbox, goneID)
	if readItem == nil || goneItem == nil {
		t.Fatal("the phone's mails are not in the emulator")
	}
	stop()

	// easgate is down: a delivery, a mail read and one deleted elsewhere,
	// a new contact; and every delta link expires.
	if _, err := g.Emu.DeliverMail(e.upn, "inbox", graphE2EMail("While down", "Hello.")); err != nil {
		t.Fatal(err)
	}
	if err := g.Emu.UpdateItem(e.upn, string(readItem.ID), map[string]any{"isRead": true}); err != nil {
		t.Fatal(err)
	}
	if err := g.Emu.DeleteItem(e.upn, string(goneItem.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Emu.AddContact(e.upn, "", map[string]any{"givenName": "Dora", "surname": "While down"}); err != nil {
		t.Fatal(err)
	}
	g.Emu.ExpireTokens()
	requests := g.Emu.Requests()

	e2, _ := graphRestartStart(t, g, dir)
	d.e = e2.conv(t)
	fs2 := d.folderSync(hierarchyKey)
	if fs2.Status != eas.FolderSyncStatusSuccess || fs2.Changes != nil && (len(fs2.Changes.Add)+len(fs2.Changes.Update)+len(fs2.Changes.Delete)) != 0 {
		t.Errorf("FolderSync %s after the restart = status %d, changes %+v; want success and nothing", hierarchyKey, fs2.Status, fs2.Changes)
	}
	res := d.sync(eas.SyncCollection{SyncKey: inbox.key, CollectionID: inbox.cid, GetChanges: ptr(true)},
		eas.SyncCollection{SyncKey: contacts.key, CollectionID: contacts.cid, GetChanges: ptr(true)})
	for _, f := range []*convFolder{inbox, contacts} {
		c := res[f.cid]
		if c.Status != eas.SyncStatusSuccess {
			t.Fatalf("Sync of %s with its key from before the restart = status %d, want 1 (no resync)", f.id, c.Status)
		}
		f.key = c.SyncKey
		adds, changes, deletes := 0, 0, 0
		if c.Commands != nil {
			for _, a := range c.Commands.Add {
				if _, dup := f.items[a.ServerID]; dup {
					t.Errorf("Sync of %s after the restart adds %s again", f.id, a.ServerID)
				}
				f.items[a.ServerID] = a.ApplicationData
			}
			for _, ch := range c.Commands.Change {
				if _, ok := f.items[ch.ServerID]; !ok {
					t.Errorf("Sync of %s after the restart changes %s, which the phone does not have", f.id, ch.ServerID)
				}
				f.items[ch.ServerID] = ch.ApplicationData
			}
			for _, del := range c.Commands.Delete {
				delete(f.items, del.ServerID)
			}
			adds, changes, deletes = len(c.Commands.Add), len(c.Commands.Change), len(c.Commands.Delete)
		}
		want := [3]int{1, 1, 1}
		if f == contacts {
			want = [3]int{1, 0, 0}
		}
		if got := [3]int{adds, changes, deletes}; got != want {
			t.Errorf("Sync of %s after the restart: %d adds, %d changes, %d deletes; want %v", f.id, adds, changes, deletes, want)
		}
		if c.MoreAvailable {
			convSyncAll(t, d, f)
		}
	}
	for _, f := range []*convFolder{inbox, contacts} {
		if want := len(graphE2EItems(t, e2, f.id)); len(f.items) != want {
			t.Errorf("after the restart the phone has %d items of %s, the emulator %d", len(f.items), f.id, want)
		}
	}
	if _, m := imapE2EFind(inbox, "Before A", imapE2EMailSubject); m == nil || m.Read == nil || !*m.Read {
		t.Errorf("the mail read while easgate was down is not read on the phone: %+v", m)
	}
	t.Logf("Graph requests from the restart to the phone's first Sync after it: %d", g.Emu.Requests()-requests)
}
