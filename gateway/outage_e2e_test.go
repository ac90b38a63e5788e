package gateway

import (
	"net/http"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/internal/testserver"
)

// The tests in this file stop a real store while a phone uses it (issue
// 9): an outage must degrade what the phone sees, never turn into lost
// folders or a request that hangs until its heartbeat.

// outageFolders returns the CollectionIds of the folders a FolderSync
// added, by type.
func outageFolders(resp *eas.FolderSyncResponse) map[eas.FolderType]string {
	out := make(map[eas.FolderType]string)
	for _, a := range resp.Changes.Add {
		if _, ok := out[a.Type]; !ok {
			out[a.Type] = a.ServerID
		}
	}
	return out
}

// outagePing starts a Ping of folders with a five-minute heartbeat and
// returns when the answer came and the answer, on a channel.
func outagePing(d *convDevice, folders ...eas.PingFolder) <-chan outageAnswer {
	ch := make(chan outageAnswer, 1)
	body := mustMarshal(d.e.t, &eas.PingRequest{HeartbeatInterval: 300, Folders: &eas.PingFolders{Folder: folders}})
	go func() {
		code, b, err := d.send("Ping", body)
		ch <- outageAnswer{at: time.Now(), code: code, body: b, err: err}
	}()
	return ch
}

type outageAnswer struct {
	at   time.Time
	code int
	body []byte
	err  error
}

// pingStatus decodes a Ping answer.
func (a outageAnswer) pingStatus(t *testing.T) eas.PingStatus {
	t.Helper()
	if a.err != nil || a.code != http.StatusOK {
		t.Fatalf("Ping = HTTP %d, %v", a.code, a.err)
	}
	var resp eas.PingResponse
	if err := eas.Unmarshal(a.body, &resp, nil); err != nil {
		t.Fatalf("decoding the Ping answer: %v", err)
	}
	return resp.Status
}

// waitParked waits until srv holds n waiting requests.
func waitParked(t *testing.T, srv *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for srv.waiters.count() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests waiting after 20 s, want %d", srv.waiters.count(), n)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition with a deadline
	}
}

// TestOutageRadicale stops Radicale under a phone that synced its mail,
// calendar and contacts from Dovecot and Radicale. FolderSync keeps
// answering status 1 from the last known hierarchy (no folder deleted),
// also for a new device; mail still syncs; the calendar's Sync asks to
// retry (5) rather than for a FolderSync (12); a Ping of the calendar
// alone answers 8 at once, and a Ping of mail and calendar reports new
// mail.
func TestOutageRadicale(t *testing.T) {
	e := imapE2EServer(t, "radicale")
	c := e.conv(t)
	d := c.device("outage1", "E2EPhone", eas.V161)
	first := d.folderSync("0")
	ids := outageFolders(first)
	inbox, cal := ids[eas.FolderTypeInbox], ids[eas.FolderTypeCalendar]
	if inbox == "" || cal == "" || ids[eas.FolderTypeContacts] == "" {
		t.Fatalf("FolderSync added %+v, want an inbox, a calendar and contacts", first.Changes.Add)
	}
	inboxKey := d.sync(eas.SyncCollection{SyncKey: "0", CollectionID: inbox})[inbox].SyncKey
	inboxKey = d.sync(eas.SyncCollection{SyncKey: inboxKey, CollectionID: inbox})[inbox].SyncKey
	calKey := d.sync(eas.SyncCollection{SyncKey: "0", CollectionID: cal})[cal].SyncKey

	imapE2EScript(t, e, "radicale", "stop")

	again := d.folderSync(first.SyncKey)
	if n := len(again.Changes.Delete); n != 0 {
		t.Errorf("FolderSync with Radicale down deletes %d folders: %+v", n, again.Changes.Delete)
	}
	fresh := c.device("outage2", "E2EPhone", eas.V161).folderSync("0")
	got := outageFolders(fresh)
	if got[eas.FolderTypeInbox] == "" {
		t.Errorf("FolderSync(0) of a new device with Radicale down = %+v, want the mail folders", fresh.Changes.Add)
	}
	if got[eas.FolderTypeCalendar] == "" {
		t.Errorf("FolderSync(0) of a new device with Radicale down lacks the last known calendar: %+v", fresh.Changes.Add)
	}
	if st := d.sync(eas.SyncCollection{SyncKey: inboxKey, CollectionID: inbox})[inbox].Status; st != eas.SyncStatusSuccess {
		t.Errorf("Sync of the inbox with Radicale down: status %d, want 1", st)
	}
	if st := d.sync(eas.SyncCollection{SyncKey: calKey, CollectionID: cal})[cal].Status; st != eas.SyncStatusServerError {
		t.Errorf("Sync of the calendar with Radicale down: status %d, want 5 (retry)", st)
	}

	start := time.Now()
	a := <-outagePing(d, eas.PingFolder{ID: cal, Class: "Calendar"})
	if st := a.pingStatus(t); st != eas.PingStatusServerError {
		t.Errorf("Ping of the calendar with Radicale down: status %d, want 8", st)
	}
	if took := a.at.Sub(start); took > 10*time.Second {
		t.Errorf("Ping of the calendar with Radicale down took %v, want an answer at once", took)
	}

	// New mail: a Ping of mail and calendar reports it (2) rather than
	// failing on the calendar's store (8).
	testserver.Deliver(t, e.dc.LMTP, convUser, imapE2EMail("During the outage", "mail still comes"))
	a = <-outagePing(d, eas.PingFolder{ID: inbox, Class: "Email"}, eas.PingFolder{ID: cal, Class: "Calendar"})
	if st := a.pingStatus(t); st != eas.PingStatusChanges {
		t.Errorf("Ping of mail and calendar with Radicale down, after new mail: status %d, want 2", st)
	}
}

// TestOutageDovecot stops Dovecot under a parked Ping: it answers status 8
// (retry) within seconds, not after its five-minute heartbeat.
func TestOutageDovecot(t *testing.T) {
	e := imapE2EServer(t, "")
	c := e.conv(t)
	d := c.device("outage3", "E2EPhone", eas.V161)
	inbox := outageFolders(d.folderSync("0"))[eas.FolderTypeInbox]
	key := d.sync(eas.SyncCollection{SyncKey: "0", CollectionID: inbox})[inbox].SyncKey
	d.sync(eas.SyncCollection{SyncKey: key, CollectionID: inbox})
	ch := outagePing(d, eas.PingFolder{ID: inbox, Class: "Email"})
	waitParked(t, e.srv, 1)

	stopped := time.Now()
	imapE2EScript(t, e, "dovecot", "stop")
	select {
	case a := <-ch:
		if st := a.pingStatus(t); st != eas.PingStatusServerError {
			t.Errorf("parked Ping after Dovecot stopped: status %d, want 8", st)
		}
		t.Logf("parked Ping answered %v after Dovecot stopped", a.at.Sub(stopped).Round(time.Millisecond))
	case <-time.After(25 * time.Second):
		t.Fatal("parked Ping not answered within 25 s of Dovecot stopping (heartbeat 300 s)")
	}
}
