package gateway

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/imapdav"
	"github.com/easgate/easgate/sources/jmap"
	"github.com/easgate/easgate/statecache"
)

// The tests in this file hold whole device conversations through the
// gateway with a real Cyrus behind it over JMAP, issue 5: every change
// the phone sees was made on the server by LMTP, IMAP, CalDAV or CardDAV,
// and every change the phone makes is read back from the server.

// jmapE2EEnv is a Cyrus and a gateway in front of it on loopback. src is
// alice's store seen through a Backend of its own, to check what the
// phone's edits did on the server.
type jmapE2EEnv struct {
	cy    *testserver.Cyrus
	srv   *Server
	ts    *httptest.Server
	state *statecache.Store
	src   sources.Source
}

// jmapE2EServer starts Cyrus (with push if push is set) and a gateway
// whose Backend is JMAP on it.
func jmapE2EServer(t testing.TB, push bool) *jmapE2EEnv {
	t.Helper()
	cy := testserver.StartCyrus(t, &testserver.CyrusOptions{Push: push})
	e := &jmapE2EEnv{cy: cy}
	// IMAP IDLE on the same Cyrus wakes mail Pings in ~50 ms, where its
	// EventSource polls every second.
	idle, err := imapdav.NewBackend(&imapdav.Options{IMAP: cy.IMAP, TLS: imapdav.TLSNone, PollInterval: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idle.Close() })
	b, err := jmap.NewBackend(jmap.Options{URL: cy.JMAP, Idle: idle.Login})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if e.state, err = statecache.Open("", &statecache.Options{InMemory: true}); err != nil {
		t.Fatal(err)
	}
	e.srv, err = New(&Options{Backend: e2eBackend{b}, State: e.state,
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

	check, err := jmap.NewBackend(jmap.Options{URL: cy.JMAP})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { check.Close() })
	if e.src, err = check.Login(context.Background(), convUser, testserver.Users[convUser]); err != nil {
		t.Fatalf("Login(%s) on Cyrus: %v", convUser, err)
	}
	return e
}

// conv returns the conversation helpers' view of e for test t.
func (e *jmapE2EEnv) conv(t *testing.T) *convEnv {
	return &convEnv{t: t, srv: e.srv, ts: e.ts, state: e.state}
}

// jmapE2EMail is a plain-text message to alice.
func jmapE2EMail(subject, text string) []byte {
	return []byte("From: Carol <carol@example.com>\r\nTo: alice@localhost\r\nSubject: " + subject +
		"\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\nMessage-ID: <" + fmt.Sprint(time.Now().UnixNano()) +
		"@e2e.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n")
}

// jmapE2EBrokenMail is a message with broken MIME: a part's base64 is
// not base64, a charset is unknown, and the closing boundary is missing.
func jmapE2EBrokenMail(subject string) []byte {
	return []byte("From: Mallory <mallory@example.com>\r\nTo: alice@localhost\r\nSubject: " + subject + "\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n" +
		"--zz\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n!!! not base64 at all ***\r\n" +
		"--zz\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n\r\nThe readable part.\r\n" +
		"--zz\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo")
}

// jmapE2EPut creates a resource over CalDAV or CardDAV as alice.
func jmapE2EPut(t *testing.T, url, contentType, body string) {
	t.Helper()
	r, err := http.NewRequest("PUT", url, strings.NewReader(strings.ReplaceAll(body, "\n", "\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	r.SetBasicAuth(convUser, testserver.Users[convUser])
	r.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT %s = HTTP %d, want 201", url, resp.StatusCode)
	}
}

// jmapE2EAppend appends msg to alice's INBOX over IMAP, a connection of
// its own.
func jmapE2EAppend(t *testing.T, cy *testserver.Cyrus, msg []byte) {
	t.Helper()
	c, err := imapclient.DialInsecure(cy.IMAP, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(convUser, testserver.Users[convUser]).Wait(); err != nil {
		t.Fatal(err)
	}
	cmd := c.Append("INBOX", int64(len(msg)), nil)
	cmd.Write(msg)
	cmd.Close()
	if _, err := cmd.Wait(); err != nil {
		t.Fatalf("APPEND: %v", err)
	}
}

// jmapE2EPost sends body as cmd for user and password at version v,
// outside the conversation helpers, and returns the HTTP status.
func jmapE2EPost(t testing.TB, e *jmapE2EEnv, user, password, cmd string, v eas.ProtocolVersion, body []byte) (int, []byte) {
	t.Helper()
	r, err := http.NewRequest("POST", e.ts.URL+Path+"?Cmd="+cmd+"&User="+user+"&DeviceId=e2eraw"+user+"&DeviceType=E2EPhone", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.SetBasicAuth(user, password)
	r.Header.Set("MS-ASProtocolVersion", v.String())
	r.Header.Set("Content-Type", wbxmlType)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes()
}

// jmapE2ECount returns the number of items in folder f on Cyrus.
func jmapE2ECount(t *testing.T, e *jmapE2EEnv, f sources.FolderID) int {
	t.Helper()
	n := 0
	for since, more := sources.State(""), true; more; {
		d, err := e.src.Changes(context.Background(), f, since, 500)
		if err != nil {
			t.Fatalf("Changes(%s) on Cyrus: %v", f, err)
		}
		n += len(d.Changed)
		since, more = d.Next, d.More
	}
	return n
}

// jmapE2EFolders runs FolderSync 0 and returns the Inbox, Calendar,
// Contacts and Archive folders, after checking that the mailbox roles
// map to the default folder types.
func jmapE2EFolders(t *testing.T, e *jmapE2EEnv, d *convDevice) (inbox, calendar, contacts, archive *convFolder) {
	t.Helper()
	fs := d.folderSync("0")
	defaults := []eas.FolderType{eas.FolderTypeInbox, eas.FolderTypeDrafts, eas.FolderTypeDeletedItems,
		eas.FolderTypeSentItems, eas.FolderTypeCalendar, eas.FolderTypeContacts}
	byType := make(map[eas.FolderType]string)
	archive = &convFolder{class: "Email"}
	for _, f := range fs.Changes.Add {
		if _, dup := byType[f.Type]; dup && slices.Contains(defaults, f.Type) {
			t.Errorf("FolderSync: two folders of default type %d", f.Type)
		}
		byType[f.Type] = f.ServerID
		if f.DisplayName == "Archive" {
			archive.cid = f.ServerID
		}
	}
	for _, ty := range defaults {
		if byType[ty] == "" {
			t.Errorf("FolderSync at %s has no folder of type %d: %+v", d.v, ty, fs.Changes.Add)
		}
	}
	inbox = &convFolder{class: "Email", cid: byType[eas.FolderTypeInbox]}
	calendar = &convFolder{class: "Calendar", cid: byType[eas.FolderTypeCalendar]}
	contacts = &convFolder{class: "Contacts", cid: byType[eas.FolderTypeContacts]}
	for _, f := range []*convFolder{inbox, calendar, contacts, archive} {
		if f.cid == "" {
			t.Fatalf("FolderSync at %s = %+v: no %s folder", d.v, fs.Changes.Add, f.class)
		}
		id, err := e.state.FolderID(context.Background(), d.account(), f.cid)
		if err != nil {
			t.Fatal(err)
		}
		f.id, f.items = sources.FolderID(id), make(map[string]eas.Raw)
	}
	if !strings.HasPrefix(string(calendar.id), "pim:") || !strings.HasPrefix(string(contacts.id), "pim:") {
		t.Errorf("calendar %s and contacts %s do not come from pim", calendar.id, contacts.id)
	}
	return inbox, calendar, contacts, archive
}

// jmapE2ESubject returns the ServerId of the item in f whose subject is
// subject, or "".
func jmapE2ESubject(f *convFolder, subject string) string {
	for sid, raw := range f.items {
		var m eas.Email
		if raw.Decode(&m) == nil && m.Subject == subject {
			return sid
		}
	}
	return ""
}

// TestJMAPConversation holds one phone's conversation at 14.1, 16.1 and
// 12.1 with a push-enabled Cyrus behind the gateway.
func TestJMAPConversation(t *testing.T) {
	e := jmapE2EServer(t, true)
	for _, v := range []eas.ProtocolVersion{eas.V141, eas.V161, eas.V121} {
		t.Run(v.String(), func(t *testing.T) { jmapE2EConversation(t, e, v) })
	}
}

func jmapE2EConversation(t *testing.T, e *jmapE2EEnv, v eas.ProtocolVersion) {
	tag := strings.ReplaceAll(v.String(), ".", "")
	d := e.conv(t).device("e2e"+tag, "E2EPhone", v)

	// Before the phone comes: mail by LMTP, a contact over CardDAV, an
	// event over CalDAV.
	welcome := "Welcome aboard " + tag
	testserver.Deliver(t, e.cy.LMTP, convUser, jmapE2EMail(welcome, "Hello from Carol."))
	broken := "Broken MIME " + tag
	testserver.Deliver(t, e.cy.LMTP, convUser, jmapE2EBrokenMail(broken))
	jmapE2EPut(t, e.cy.CardDAV+"user/alice/Default/e2e-"+tag+".vcf", "text/vcard",
		"BEGIN:VCARD\nVERSION:3.0\nUID:e2e-"+tag+"\nFN:Dora Card"+tag+"\nN:Card"+tag+";Dora;;;\nEMAIL;TYPE=WORK:dora"+tag+"@example.com\nEND:VCARD\n")
	jmapE2EPut(t, e.cy.CalDAV+"user/alice/Default/e2e-"+tag+".ics", "text/calendar",
		"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//easgate//e2e//EN\nBEGIN:VEVENT\nUID:e2e-"+tag+
			"\nDTSTAMP:20260301T090000Z\nDTSTART:20261201T100000Z\nDTEND:20261201T110000Z\nSUMMARY:Planning "+tag+"\nEND:VEVENT\nEND:VCALENDAR\n")

	inbox, calendar, contacts, archive := jmapE2EFolders(t, e, d)
	folders := []*convFolder{inbox, calendar, contacts, archive}
	var cs []eas.SyncCollection
	for _, f := range folders {
		cs = append(cs, eas.SyncCollection{SyncKey: "0", CollectionID: f.cid})
	}
	for cid, c := range d.sync(cs...) {
		if c.Status != eas.SyncStatusSuccess || c.SyncKey == "" || c.SyncKey == "0" {
			t.Fatalf("Sync 0 of %s = %+v, want a new key", cid, c)
		}
		convByCID(t, folders, cid).key = c.SyncKey
	}
	convSyncAll(t, d, folders...)
	for _, f := range folders {
		if want := jmapE2ECount(t, e, f.id); len(f.items) != want {
			t.Errorf("after the initial sync the device has %d items of %s, Cyrus %d", len(f.items), f.id, want)
		}
	}
	if jmapE2ESubject(inbox, welcome) == "" {
		t.Errorf("the Inbox lacks the delivered mail %q", welcome)
	}
	// Broken MIME still syncs, with what can be read.
	if sid := jmapE2ESubject(inbox, broken); sid == "" {
		t.Errorf("the Inbox lacks the mail with broken MIME %q", broken)
	} else {
		var m eas.Email
		inbox.items[sid].Decode(&m)
		if m.From == "" || m.Body == nil || m.Body.Data == nil || !strings.Contains(*m.Body.Data, "The readable part.") {
			t.Errorf("broken MIME mail synced as %+v with body %+v, want its From and readable text", m, m.Body)
		}
	}
	found := false
	for _, raw := range contacts.items {
		var c eas.Contact
		if raw.Decode(&c) == nil && c.LastName == "Card"+tag && c.Email1Address != "" {
			found = true
		}
	}
	if !found {
		t.Errorf("Contacts lack the CardDAV contact Card%s", tag)
	}
	found = false
	for _, raw := range calendar.items {
		var c eas.Calendar
		if raw.Decode(&c) == nil && c.Subject == "Planning "+tag {
			found = true
		}
	}
	if !found {
		t.Errorf("the Calendar lacks the CalDAV event Planning %s", tag)
	}

	// Push: Ping wakes on an LMTP delivery, then on an IMAP APPEND from
	// another connection; each time the next Sync brings the one mail.
	for _, c := range []struct {
		how    string
		change func()
	}{
		{"LMTP", func() { testserver.Deliver(t, e.cy.LMTP, convUser, jmapE2EMail("Pinged by LMTP "+tag, "New mail.")) }},
		{"IMAP APPEND", func() { jmapE2EAppend(t, e.cy, jmapE2EMail("Pinged by APPEND "+tag, "Appended.")) }},
	} {
		got, took := e2ePing(t, d, c.change, inbox, calendar, contacts)
		if !slices.Equal(got, []string{inbox.cid}) {
			t.Errorf("Ping after %s names %v, want [%s]", c.how, got, inbox.cid)
		}
		t.Logf("Ping answered %v after the %s", took, c.how)
		if added := convSyncAll(t, d, inbox); len(added[inbox.cid]) != 1 {
			t.Errorf("Sync after the %s added %v, want one mail", c.how, added)
		}
	}

	// Client edits: mark the welcome mail read, add a contact.
	read := jmapE2ESubject(inbox, welcome)
	zoe := &eas.Contact{FirstName: "Zoe", LastName: "Phone" + tag, FileAs: "Phone" + tag + ", Zoe", Email1Address: "zoe" + tag + "@example.com"}
	got := d.sync(
		eas.SyncCollection{SyncKey: inbox.key, CollectionID: inbox.cid, Commands: &eas.SyncCommands{
			Change: []eas.SyncChange{{ServerID: read, ApplicationData: eas.RawValue(&eas.Email{Read: ptr(true)})}}}},
		eas.SyncCollection{SyncKey: contacts.key, CollectionID: contacts.cid, Commands: &eas.SyncCommands{
			Add: []eas.SyncAdd{{ClientID: "e2e-1", ApplicationData: eas.RawValue(zoe)}}}},
	)
	zoeID := ""
	for cid, c := range got {
		f := convByCID(t, folders, cid)
		if c.Status != eas.SyncStatusSuccess || c.SyncKey == "" {
			t.Fatalf("Sync of the client's edits to %s = %+v, want status 1", f.id, c)
		}
		f.key = c.SyncKey
		if r := c.Responses; r != nil {
			if len(r.Change) != 0 {
				t.Errorf("Sync of the client's edits to %s: failures %+v", f.id, r.Change)
			}
			for _, a := range r.Add {
				if a.Status != eas.SyncStatusSuccess || a.ServerID == "" {
					t.Errorf("client Add answered %+v, want status 1 with a ServerId", a)
				}
				zoeID = a.ServerID
			}
		}
	}
	if zoeID == "" {
		t.Fatal("the phone's contact got no ServerId")
	}
	contacts.items[zoeID] = eas.RawValue(zoe)
	if it := e2eItem(t, e.state, e.src, d, inbox, read); it == nil || it.Mail == nil || !it.Mail.Read {
		t.Errorf("mail %s on Cyrus after the phone read it: %+v", read, it)
	}
	if it := e2eItem(t, e.state, e.src, d, contacts, zoeID); it == nil || it.Contact == nil || it.Contact.FirstName != "Zoe" || it.Contact.LastName != "Phone"+tag {
		t.Errorf("contact %s the phone added, on Cyrus: %+v", zoeID, it)
	}
	// The edits come back to the phone as nothing new.
	if added := convSyncAll(t, d, inbox, contacts); len(added) != 0 {
		t.Errorf("Sync after the client's edits adds %v, want nothing", added)
	}

	// SendMail reaches Cyrus's SMTP sink.
	sent := "Sent from the phone " + tag
	msg := []byte("From: alice@localhost\r\nTo: Bob <bob@example.com>\r\nSubject: " + sent +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nLunch?\r\n")
	jmapE2ESend(t, d, msg)
	e2eSink(t, e.cy.SinkDir, sent)

	// MoveItems the welcome mail to Archive: on Cyrus it is there, and
	// the next Sync of both folders agrees.
	var mv eas.MoveItemsResponse
	d.do("MoveItems", &eas.MoveItemsRequest{Move: []eas.MoveItem{{SrcMsgID: read, SrcFldID: inbox.cid, DstFldID: archive.cid}}}, &mv)
	if len(mv.Response) != 1 || mv.Response[0].Status != eas.MoveItemsStatusSuccess || mv.Response[0].DstMsgID == "" {
		t.Fatalf("MoveItems = %+v, want status 3 with a DstMsgId", mv)
	}
	archive.items[mv.Response[0].DstMsgID] = inbox.items[read]
	delete(inbox.items, read)
	inbox.moved = map[string]bool{read: true}
	if it := e2eItem(t, e.state, e.src, d, archive, mv.Response[0].DstMsgID); it == nil || it.Mail == nil || it.Mail.Subject != welcome {
		t.Errorf("the moved mail is not in Archive on Cyrus: %+v", it)
	}
	convSyncAll(t, d, inbox, archive)
	for _, f := range []*convFolder{inbox, archive} {
		if want := jmapE2ECount(t, e, f.id); len(f.items) != want {
			t.Errorf("after the move the device has %d items in %s, Cyrus %d", len(f.items), f.id, want)
		}
	}

	// Search finds a delivered mail (Cyrus indexes with Xapian).
	if v >= eas.V121 {
		convSearch(t, d, inbox)
	}
}

// jmapE2ESend sends msg with SendMail, saving it in Sent Items: WBXML
// from 14.0, a message/rfc822 body before.
func jmapE2ESend(t *testing.T, d *convDevice, msg []byte) {
	t.Helper()
	var code int
	var body []byte
	if d.v >= eas.V140 {
		code, body = d.post("SendMail", mustMarshal(t, &eas.SendMailRequest{ClientID: "e2e-" + d.id, SaveInSentItems: true, Mime: msg}))
	} else {
		r, err := http.NewRequest("POST", d.e.ts.URL+Path+"?Cmd=SendMail&User="+convUser+"&DeviceId="+d.id+"&DeviceType="+d.typ+"&SaveInSent=T", bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		r.SetBasicAuth(convUser, convPassword)
		r.Header.Set("MS-ASProtocolVersion", d.v.String())
		r.Header.Set("Content-Type", "message/rfc822")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resp.Body.Close()
		code, body = resp.StatusCode, b.Bytes()
	}
	wantComposeOK(t, code, body)
}

// jmapE2ECyrus runs Cyrus's own start script on cy: "stop", or "start"
// again on the same directory and ports, which keeps the mail spool.
func jmapE2ECyrus(t *testing.T, cy *testserver.Cyrus, action string) {
	t.Helper()
	args := []string{action, cy.Dir}
	if action == "start" {
		conf, err := os.ReadFile(filepath.Join(cy.Dir, "imapd.conf"))
		if err != nil {
			t.Fatal(err)
		}
		sink := regexp.MustCompile(`smtp_host: 127\.0\.0\.1:(\d+)`).FindSubmatch(conf)
		if sink == nil {
			t.Fatal("no smtp_host in imapd.conf")
		}
		args = append(args, strings.TrimPrefix(cy.IMAP, "127.0.0.1:"), strings.TrimPrefix(cy.HTTP, "http://127.0.0.1:"), string(sink[1]))
	}
	cmd := exec.Command("../internal/testserver/scripts/start-cyrus.sh", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("start-cyrus.sh %s: %v\n%s", action, err, out)
	}
}

// TestJMAPFaults: Cyrus stopped mid-conversation gives retryable
// answers and, once it is back, the device loses nothing; a wrong
// password is 401.
func TestJMAPFaults(t *testing.T) {
	e := jmapE2EServer(t, false)
	d := e.conv(t).device("e2efault", "E2EPhone", eas.V161)

	// Wrong password: 401, for a user the gateway has seen and one it has not.
	for _, user := range []string{convUser, "bob"} {
		if code, _ := jmapE2EPost(t, e, user, "wrong-password", "FolderSync", eas.V161, mustMarshal(t, &eas.FolderSyncRequest{SyncKey: "0"})); code != http.StatusUnauthorized {
			t.Errorf("FolderSync as %s with a wrong password = HTTP %d, want 401", user, code)
		}
	}

	testserver.Deliver(t, e.cy.LMTP, convUser, jmapE2EMail("Before the outage", "one"))
	inbox, _, _, _ := jmapE2EFolders(t, e, d)
	c := d.sync(eas.SyncCollection{SyncKey: "0", CollectionID: inbox.cid})[inbox.cid]
	inbox.key = c.SyncKey
	convSyncAll(t, d, inbox)
	testserver.Deliver(t, e.cy.LMTP, convUser, jmapE2EMail("Unsynced at the outage", "two"))

	jmapE2ECyrus(t, e.cy, "stop")
	// The logged-in user's Sync: a retryable collection status (or 503).
	code, body := d.post("Sync", mustMarshal(t, &eas.SyncRequest{Collections: &eas.SyncCollections{Collection: []eas.SyncCollection{
		{SyncKey: inbox.key, CollectionID: inbox.cid, WindowSize: 100}}}}))
	switch code {
	case http.StatusServiceUnavailable:
	case http.StatusOK:
		var resp eas.SyncResponse
		if err := eas.Unmarshal(body, &resp, nil); err != nil {
			t.Fatal(err)
		}
		if resp.Collections == nil || len(resp.Collections.Collection) != 1 || resp.Collections.Collection[0].Status != eas.SyncStatusServerError {
			t.Errorf("Sync with Cyrus stopped = %+v, want collection status 5", resp)
		}
	default:
		t.Errorf("Sync with Cyrus stopped = HTTP %d, want 200 with status 5 or 503", code)
	}
	// A login the Backend has not cached: 503.
	if code, _ := jmapE2EPost(t, e, "bob", testserver.Users["bob"], "FolderSync", eas.V161, mustMarshal(t, &eas.FolderSyncRequest{SyncKey: "0"})); code != http.StatusServiceUnavailable {
		t.Errorf("FolderSync as bob with Cyrus stopped = HTTP %d, want 503", code)
	}

	// Back up: the same key brings the mail that arrived before the outage.
	jmapE2ECyrus(t, e.cy, "start")
	added := convSyncAll(t, d, inbox)
	if len(added[inbox.cid]) != 1 || jmapE2ESubject(inbox, "Unsynced at the outage") == "" {
		t.Errorf("Sync after the restart added %v, want the mail delivered before the outage", added)
	}
	if want := jmapE2ECount(t, e, inbox.id); len(inbox.items) != want {
		t.Errorf("after the restart the device has %d mails, Cyrus %d", len(inbox.items), want)
	}
}
