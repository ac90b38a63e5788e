package gateway

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/imapdav"
	"github.com/easgate/easgate/sources/imapdav/dav"
	"github.com/easgate/easgate/statecache"
)

// The tests in this file hold whole device conversations through the
// gateway with Dovecot and a CalDAV/CardDAV server behind it, issue 6:
// every change the phone sees was made on the servers by LMTP, IMAP or a
// DAV PUT, and every change the phone makes is read back from them.

// imapE2ELog collects the adapter's log lines.
type imapE2ELog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *imapE2ELog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *imapE2ELog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// imapE2EEnv is Dovecot, optionally a DAV server, and a gateway in front
// of them on loopback. src is alice's store seen through a Backend of its
// own, to check what the phone's edits did on the servers. cal and card
// are alice's default calendar and address book collection URLs.
type imapE2EEnv struct {
	dc        *testserver.Dovecot
	dav       *testserver.DAV
	davKind   string
	cal, card string
	srv       *Server
	ts        *httptest.Server
	state     *statecache.Store
	src       sources.Source
	log       *imapE2ELog
}

// imapE2EServer starts Dovecot and the DAV server davKind ("radicale",
// "xandikos" or "" for none) and a gateway whose Backend is imapdav on
// them. With davKind "cyrus", Cyrus serves both IMAP and DAV, and e.dc
// is nil.
func imapE2EServer(t testing.TB, davKind string) *imapE2EEnv {
	t.Helper()
	e := &imapE2EEnv{davKind: davKind, log: new(imapE2ELog)}
	logger := slog.New(slog.NewTextHandler(e.log, nil))
	o := &imapdav.Options{TLS: imapdav.TLSNone, SubmissionTLS: imapdav.TLSNone, PollInterval: time.Second, Logger: logger}
	if davKind == "cyrus" {
		cy := testserver.StartCyrus(t, nil)
		o.IMAP = cy.IMAP
		e.dav = &testserver.DAV{URL: cy.HTTP + "/dav/", Dir: cy.Dir}
		e.cal, e.card = cy.CalDAV+"user/alice/Default/", cy.CardDAV+"user/alice/Default/"
		o.DAV = &dav.Options{CalDAV: cy.CalDAV, CardDAV: cy.CardDAV, PollInterval: 500 * time.Millisecond, Logger: logger}
	} else {
		e.dc = testserver.StartDovecot(t)
		o.IMAP, o.Submission = e.dc.IMAP, e.dc.Submission
	}
	switch davKind {
	case "radicale":
		e.dav = testserver.StartRadicale(t)
		e.cal, e.card = e.dav.URL+"alice/calendar/", e.dav.URL+"alice/contacts/"
	case "xandikos":
		e.dav = testserver.StartXandikos(t)
		e.cal, e.card = e.dav.URL+"alice/calendars/calendar/", e.dav.URL+"alice/contacts/addressbook/"
	}
	if e.dav != nil && o.DAV == nil {
		o.DAV = &dav.Options{CalDAV: e.dav.URL, CardDAV: e.dav.URL, PollInterval: 500 * time.Millisecond, Logger: logger}
	}
	b, err := imapdav.NewBackend(o)
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

	check, err := imapdav.Dial(context.Background(), o, convUser, testserver.Users[convUser])
	if err != nil {
		t.Fatalf("Dial(%s): %v", convUser, err)
	}
	t.Cleanup(func() { check.Close() })
	e.src = check
	return e
}

// conv returns the conversation helpers' view of e for test t.
func (e *imapE2EEnv) conv(t *testing.T) *convEnv {
	return &convEnv{t: t, srv: e.srv, ts: e.ts, state: e.state}
}

// imapE2EPost sends body as cmd at 16.1 for user and password, outside
// the conversation helpers, and returns the HTTP status and body.
func imapE2EPost(t testing.TB, e *imapE2EEnv, user, password, cmd string, body []byte) (int, []byte) {
	t.Helper()
	r, err := http.NewRequest("POST", e.ts.URL+Path+"?Cmd="+cmd+"&User="+user+"&DeviceId=imape2eraw"+user+"&DeviceType=E2EPhone", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.SetBasicAuth(user, password)
	r.Header.Set("MS-ASProtocolVersion", eas.V161.String())
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

// imapE2EMail is a plain-text message to alice.
func imapE2EMail(subject, text string) []byte {
	return []byte("From: Carol <carol@example.com>\r\nTo: alice@localhost\r\nSubject: " + subject +
		"\r\nDate: " + time.Now().Format(time.RFC1123Z) + "\r\nMessage-ID: <" + fmt.Sprint(time.Now().UnixNano()) +
		"@imap-e2e.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n")
}

// imapE2EPut stores body at url over CalDAV or CardDAV as alice and
// returns the HTTP status.
func imapE2EPut(t testing.TB, url, contentType, body string) int {
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
	return resp.StatusCode
}

// imapE2EMustPut is imapE2EPut that must create or replace the object.
func imapE2EMustPut(t testing.TB, url, contentType, body string) {
	t.Helper()
	if code := imapE2EPut(t, url, contentType, body); code != http.StatusCreated && code != http.StatusNoContent {
		t.Fatalf("PUT %s = HTTP %d, want 201 or 204", url, code)
	}
}

// imapE2EGet returns the object at url on the DAV server, unfolded.
func imapE2EGet(t *testing.T, url string) string {
	t.Helper()
	r, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.SetBasicAuth(convUser, testserver.Users[convUser])
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = HTTP %d", url, resp.StatusCode)
	}
	return strings.ReplaceAll(strings.ReplaceAll(b.String(), "\r\n ", ""), "\r\n", "\n")
}

// imapE2EVCard is a vCard 3.0 named first last.
func imapE2EVCard(uid, first, last string) string {
	return "BEGIN:VCARD\nVERSION:3.0\nUID:" + uid + "\nFN:" + first + " " + last + "\nN:" + last + ";" + first +
		";;;\nEMAIL;TYPE=WORK:" + strings.ToLower(first+"."+last) + "@example.com\nTEL;TYPE=CELL:+49 30 1234567\nEND:VCARD\n"
}

// imapE2EBerlin is the VTIMEZONE of Europe/Berlin.
const imapE2EBerlin = `BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE
`

// imapE2EWeekly is a weekly Monday 09:00 Europe/Berlin series of twelve,
// across the switch to summer time on 29 March 2026, whose 30 March
// instance (the first in summer time) moved to 11:00 with its own
// subject.
func imapE2EWeekly(uid, subject string) string {
	return "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//easgate//imap e2e//EN\n" + imapE2EBerlin +
		"BEGIN:VEVENT\nUID:" + uid + "\nDTSTAMP:20260301T080000Z\nDTSTART;TZID=Europe/Berlin:20260302T090000\n" +
		"DTEND;TZID=Europe/Berlin:20260302T100000\nRRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=12\nSUMMARY:" + subject + "\nEND:VEVENT\n" +
		"BEGIN:VEVENT\nUID:" + uid + "\nDTSTAMP:20260301T080000Z\nRECURRENCE-ID;TZID=Europe/Berlin:20260330T090000\n" +
		"DTSTART;TZID=Europe/Berlin:20260330T110000\nDTEND;TZID=Europe/Berlin:20260330T120000\nSUMMARY:" + subject +
		" moved\nEND:VEVENT\nEND:VCALENDAR\n"
}

// imapE2ETodo is a VTODO due on 20 March 2026.
func imapE2ETodo(uid, subject string) string {
	return "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//easgate//imap e2e//EN\nBEGIN:VTODO\nUID:" + uid +
		"\nDTSTAMP:20260301T080000Z\nDUE;VALUE=DATE:20260320\nSUMMARY:" + subject + "\nSTATUS:NEEDS-ACTION\nEND:VTODO\nEND:VCALENDAR\n"
}

// imapE2EAppend appends msg to alice's mailbox box over IMAP, on a
// connection of its own.
func imapE2EAppend(t testing.TB, addr, box string, msg []byte) {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(convUser, testserver.Users[convUser]).Wait(); err != nil {
		t.Fatal(err)
	}
	imapE2EAppendOn(t, c, box, msg)
}

// imapE2EAppendOn appends msg to box on the logged-in connection c.
func imapE2EAppendOn(t testing.TB, c *imapclient.Client, box string, msg []byte) {
	t.Helper()
	cmd := c.Append(box, int64(len(msg)), nil)
	cmd.Write(msg)
	cmd.Close()
	if _, err := cmd.Wait(); err != nil {
		t.Fatalf("APPEND to %s: %v", box, err)
	}
}

// imapE2EItems returns every item of folder f that the servers hold and
// the adapter can read.
func imapE2EItems(t *testing.T, e *imapE2EEnv, f sources.FolderID) []sources.Item {
	t.Helper()
	ctx := context.Background()
	var ids []sources.ItemID
	for since, more := sources.State(""), true; more; {
		d, err := e.src.Changes(ctx, f, since, 500)
		if err != nil {
			t.Fatalf("Changes(%s) on the servers: %v", f, err)
		}
		ids = append(ids, d.Changed...)
		since, more = d.Next, d.More
	}
	if len(ids) == 0 {
		return nil
	}
	items, err := e.src.Get(ctx, f, ids, nil)
	if err != nil {
		t.Fatalf("Get(%s) on the servers: %v", f, err)
	}
	return items
}

// imapE2EFolders runs FolderSync 0, checks that special-use mailboxes and
// the DAV collections map to the default folder types, and returns the
// folders by type, with Archive under type 0.
func imapE2EFolders(t *testing.T, e *imapE2EEnv, d *convDevice) map[eas.FolderType]*convFolder {
	t.Helper()
	fs := d.folderSync("0")
	defaults := []eas.FolderType{eas.FolderTypeInbox, eas.FolderTypeDrafts, eas.FolderTypeDeletedItems, eas.FolderTypeSentItems}
	if e.dav != nil {
		defaults = append(defaults, eas.FolderTypeCalendar, eas.FolderTypeContacts, eas.FolderTypeTasks)
	}
	classes := map[eas.FolderType]string{eas.FolderTypeCalendar: "Calendar", eas.FolderTypeContacts: "Contacts", eas.FolderTypeTasks: "Tasks"}
	out := make(map[eas.FolderType]*convFolder)
	for _, f := range fs.Changes.Add {
		ty := f.Type
		if f.DisplayName == "Archive" {
			ty = 0 // \Archive has no EAS type of its own
		}
		if _, dup := out[ty]; dup && slices.Contains(defaults, ty) {
			t.Errorf("FolderSync at %s: two folders of default type %d", d.v, ty)
		}
		if _, dup := out[ty]; dup {
			continue
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
	for _, ty := range append(defaults, 0) {
		if out[ty] == nil {
			t.Fatalf("FolderSync at %s has no folder of type %d (0: Archive): %+v", d.v, ty, fs.Changes.Add)
		}
	}
	for _, ty := range []eas.FolderType{eas.FolderTypeCalendar, eas.FolderTypeContacts, eas.FolderTypeTasks} {
		if f := out[ty]; f != nil && !strings.HasPrefix(string(f.id), "dav:") {
			t.Errorf("folder of type %d is %s, not from DAV", ty, f.id)
		}
	}
	return out
}

// imapE2ESyncStart runs Sync 0 on folders and then syncs them to the
// servers' present state.
func imapE2ESyncStart(t *testing.T, d *convDevice, folders ...*convFolder) {
	t.Helper()
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
}

// imapE2EFind returns the ServerId and payload of the item of f whose
// name, as name reads it, is want.
func imapE2EFind[T any](f *convFolder, want string, name func(*T) string) (string, *T) {
	for sid, raw := range f.items {
		v := new(T)
		if raw.Decode(v) == nil && name(v) == want {
			return sid, v
		}
	}
	return "", nil
}

func imapE2EMailSubject(m *eas.Email) string     { return m.Subject }
func imapE2EEventSubject(c *eas.Calendar) string { return c.Subject }

// TestIMAPRadicaleConversation holds one phone's conversation at 14.1,
// 16.1 and 12.1 with Dovecot and Radicale behind the gateway.
func TestIMAPRadicaleConversation(t *testing.T) {
	e := imapE2EServer(t, "radicale")
	for _, v := range []eas.ProtocolVersion{eas.V141, eas.V161, eas.V121} {
		t.Run(v.String(), func(t *testing.T) { imapE2EConversation(t, e, v) })
	}
}

// TestIMAPXandikosConversation is TestIMAPRadicaleConversation with
// Xandikos, which stores objects that Radicale refuses with 400: a vCard
// with an unparsable line, which syncs with what can be read, and an
// event whose DTSTART is not a time, which is skipped with a log line
// while the rest of the calendar syncs.
func TestIMAPXandikosConversation(t *testing.T) {
	e := imapE2EServer(t, "xandikos")
	imapE2EMustPut(t, e.card+"broken.vcf", "text/vcard", "BEGIN:VCARD\nVERSION:3.0\nUID:broken\nFN:Broken Card\nN:Card;Broken;;;\nPHOTO;ENCODING=\"b:xx\nEND:VCARD\n")
	imapE2EMustPut(t, e.cal+"broken.ics", "text/calendar", "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//easgate//imap e2e//EN\nBEGIN:VEVENT\nUID:broken\n"+
		"DTSTAMP:20260301T080000Z\nDTSTART:notadate\nSUMMARY:Broken event\nEND:VEVENT\nEND:VCALENDAR\n")
	for _, v := range []eas.ProtocolVersion{eas.V141, eas.V161, eas.V121} {
		t.Run(v.String(), func(t *testing.T) {
			calendar, contacts := imapE2EConversation(t, e, v)
			if sid, _ := imapE2EFind(contacts, "Card", func(c *eas.Contact) string { return c.LastName }); sid == "" {
				t.Errorf("the vCard with a broken line did not sync")
			}
			if sid, _ := imapE2EFind(calendar, "Broken event", imapE2EEventSubject); sid != "" {
				t.Errorf("the event that does not parse reached the phone as %s", sid)
			}
		})
	}
	if !strings.Contains(e.log.String(), "broken.ics") {
		t.Errorf("no log line names the event that does not parse; log:\n%s", e.log)
	}
}

// imapE2EConversation holds one phone's conversation at v on e and
// returns the phone's calendar and contacts.
func imapE2EConversation(t *testing.T, e *imapE2EEnv, v eas.ProtocolVersion) (calendar, contacts *convFolder) {
	tag := strings.ReplaceAll(v.String(), ".", "")
	d := e.conv(t).device("imape2e"+tag+e.davKind, "E2EPhone", v)

	// Before the phone comes: mail by LMTP, a contact, a weekly series
	// with an exception and a task by DAV PUT.
	welcome := "Welcome aboard " + tag
	testserver.Deliver(t, e.dc.LMTP, convUser, imapE2EMail(welcome, "Hello from Carol."))
	imapE2EMustPut(t, e.card+"e2e-"+tag+".vcf", "text/vcard", imapE2EVCard("e2e-"+tag, "Dora", "Card"+tag))
	weekly, weeklyURL := "Weekly "+tag, e.cal+"weekly-"+tag+".ics"
	imapE2EMustPut(t, weeklyURL, "text/calendar", imapE2EWeekly("weekly-"+tag, weekly))
	imapE2EMustPut(t, e.cal+"todo-"+tag+".ics", "text/calendar", imapE2ETodo("todo-"+tag, "Errand "+tag))

	byType := imapE2EFolders(t, e, d)
	inbox, archive, sent := byType[eas.FolderTypeInbox], byType[0], byType[eas.FolderTypeSentItems]
	calendar, contacts = byType[eas.FolderTypeCalendar], byType[eas.FolderTypeContacts]
	tasks := byType[eas.FolderTypeTasks]
	folders := []*convFolder{inbox, archive, calendar, contacts, tasks}
	imapE2ESyncStart(t, d, folders...)
	for _, f := range folders {
		if want := len(imapE2EItems(t, e, f.id)); len(f.items) != want {
			t.Errorf("after the initial sync the device has %d items of %s, the servers %d", len(f.items), f.id, want)
		}
	}
	if sid, _ := imapE2EFind(inbox, welcome, imapE2EMailSubject); sid == "" {
		t.Errorf("the Inbox lacks the delivered mail %q", welcome)
	}
	if sid, c := imapE2EFind(contacts, "Card"+tag, func(c *eas.Contact) string { return c.LastName }); sid == "" || c.Email1Address == "" || c.MobilePhoneNumber == "" {
		t.Errorf("Contacts lack the CardDAV contact Card%s with its mail and mobile: %+v", tag, c)
	}
	if sid, _ := imapE2EFind(tasks, "Errand "+tag, func(c *eas.Task) string { return c.Subject }); sid == "" {
		t.Errorf("Tasks lack the CalDAV to-do Errand %s", tag)
	}

	// The series: Europe/Berlin's TIMEZONE, 09:00 local on both sides of
	// the switch to summer time, and the moved instance at 11:00.
	event, ev := imapE2EFind(calendar, weekly, imapE2EEventSubject)
	if ev == nil {
		t.Fatalf("the Calendar lacks the series %q", weekly)
	}
	imapE2ECheckSeries(t, ev, weekly)

	// Push: Ping wakes on an IMAP APPEND from another connection and
	// names the Inbox; the next Sync brings the one mail.
	pinged := "Pinged by APPEND " + tag
	got, took := e2ePing(t, d, func() { imapE2EAppend(t, e.dc.IMAP, "INBOX", imapE2EMail(pinged, "Appended.")) },
		inbox, calendar, contacts, tasks)
	if !slices.Equal(got, []string{inbox.cid}) {
		t.Errorf("Ping after the APPEND names %v, want [%s]", got, inbox.cid)
	}
	t.Logf("Ping answered %v after the APPEND", took)
	if added := convSyncAll(t, d, inbox); len(added[inbox.cid]) != 1 {
		t.Errorf("Sync after the APPEND added %v, want one mail", added)
	}

	// Client edits: mark the welcome mail read, rename the series.
	read, _ := imapE2EFind(inbox, welcome, imapE2EMailSubject)
	renamed := "Renamed " + tag
	change := *ev
	change.Subject = renamed
	change.Body, change.Body25, change.BodyTruncated25, change.Rtf25, change.NativeBodyType = nil, nil, nil, "", nil
	res := d.sync(
		eas.SyncCollection{SyncKey: inbox.key, CollectionID: inbox.cid, Commands: &eas.SyncCommands{
			Change: []eas.SyncChange{{ServerID: read, ApplicationData: eas.RawValue(&eas.Email{Read: ptr(true)})}}}},
		eas.SyncCollection{SyncKey: calendar.key, CollectionID: calendar.cid, Commands: &eas.SyncCommands{
			Change: []eas.SyncChange{{ServerID: event, ApplicationData: eas.RawValue(&change)}}}},
	)
	for cid, c := range res {
		f := convByCID(t, folders, cid)
		if c.Status != eas.SyncStatusSuccess || c.SyncKey == "" {
			t.Fatalf("Sync of the client's edits to %s = %+v, want status 1", f.id, c)
		}
		f.key = c.SyncKey
		if r := c.Responses; r != nil && len(r.Change) != 0 {
			t.Errorf("Sync of the client's edits to %s: failures %+v", f.id, r.Change)
		}
	}
	calendar.items[event] = eas.RawValue(&change)
	if it := e2eItem(t, e.state, e.src, d, inbox, read); it == nil || it.Mail == nil || !it.Mail.Read {
		t.Errorf("mail %s on Dovecot after the phone read it: %+v", read, it)
	}
	if it := e2eItem(t, e.state, e.src, d, calendar, event); it == nil || it.Event == nil || it.Event.Summary != renamed {
		t.Errorf("event %s on the DAV server after the phone renamed it: %+v", event, it)
	}
	ics := imapE2EGet(t, weeklyURL)
	for _, want := range []string{"SUMMARY:" + renamed, "DTSTART;TZID=Europe/Berlin:20260302T090000", "RRULE:FREQ=WEEKLY",
		"RECURRENCE-ID;TZID=Europe/Berlin:20260330T090000", "DTSTART;TZID=Europe/Berlin:20260330T110000", "SUMMARY:" + weekly + " moved"} {
		if !strings.Contains(ics, want) {
			t.Errorf("the series on the DAV server after the phone's edit lacks %q:\n%s", want, ics)
		}
	}
	// The edits come back to the phone as nothing new, and the series
	// has not moved.
	if added := convSyncAll(t, d, inbox, calendar); len(added) != 0 {
		t.Errorf("Sync after the client's edits adds %v, want nothing", added)
	}
	if _, again := imapE2EFind(calendar, renamed, imapE2EEventSubject); again != nil {
		imapE2ECheckSeries(t, again, weekly)
	}

	// SendMail reaches Dovecot's submission sink, with a copy in Sent.
	subject := "Sent from the phone " + tag
	msg := []byte("From: alice@localhost\r\nTo: Bob <bob@example.com>\r\nSubject: " + subject +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nLunch?\r\n")
	imapE2ESend(t, d, msg)
	e2eSink(t, e.dc.SinkDir, subject)
	found := false
	for _, it := range imapE2EItems(t, e, sent.id) {
		found = found || it.Mail != nil && it.Mail.Subject == subject
	}
	if !found {
		t.Errorf("Sent on Dovecot has no copy of %q", subject)
	}

	// MoveItems the welcome mail to Archive: on Dovecot it is there, and
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
		t.Errorf("the moved mail is not in Archive on Dovecot: %+v", it)
	}
	convSyncAll(t, d, inbox, archive)
	for _, f := range []*convFolder{inbox, archive} {
		if want := len(imapE2EItems(t, e, f.id)); len(f.items) != want {
			t.Errorf("after the move the device has %d items in %s, Dovecot %d", len(f.items), f.id, want)
		}
	}

	// Search finds a mail by a word of its subject (IMAP SEARCH).
	convSearch(t, d, inbox)
	return calendar, contacts
}

// imapE2ECheckSeries checks the phone's view of imapE2EWeekly's series.
func imapE2ECheckSeries(t *testing.T, ev *eas.Calendar, subject string) {
	t.Helper()
	if ev.TimeZone == nil || ev.StartTime == nil {
		t.Fatalf("the series %q has no TIMEZONE or start: %+v", subject, ev)
	}
	tz := *ev.TimeZone
	local := func(dt *eas.DateTime) string {
		if dt == nil {
			return "none"
		}
		return dt.Time.UTC().Add(tz.Offset(dt.Time)).Format("2006-01-02 15:04")
	}
	if !tz.HasDST() || tz.Offset(time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)) != time.Hour ||
		tz.Offset(time.Date(2026, 7, 15, 12, 0, 0, 0, time.UTC)) != 2*time.Hour {
		t.Errorf("the series' TIMEZONE %+v is not Europe/Berlin's", tz)
	}
	if got := local(ev.StartTime); got != "2026-03-02 09:00" || !ev.StartTime.Time.Equal(time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("the series starts %s local (%v), want 2026-03-02 09:00", got, ev.StartTime.Time)
	}
	if r := ev.Recurrence; r == nil || r.Type != eas.RecurWeekly || r.Occurrences == nil || *r.Occurrences != 12 {
		t.Errorf("the series' recurrence = %+v, want weekly, 12 times", r)
	}
	if ev.Exceptions == nil || len(ev.Exceptions.Exception) != 1 {
		t.Fatalf("the series has exceptions %+v, want one", ev.Exceptions)
	}
	x := ev.Exceptions.Exception[0]
	orig := x.ExceptionStartTime
	if orig == nil {
		orig = x.InstanceID
	}
	// 30 March is in summer time: 09:00 is 07:00Z, 11:00 09:00Z.
	if local(orig) != "2026-03-30 09:00" || !orig.Time.Equal(time.Date(2026, 3, 30, 7, 0, 0, 0, time.UTC)) {
		t.Errorf("the exception replaces the instance at %s local (%v), want 2026-03-30 09:00", local(orig), orig)
	}
	if local(x.StartTime) != "2026-03-30 11:00" || x.Subject != subject+" moved" {
		t.Errorf("the exception starts %s local with subject %q, want 2026-03-30 11:00 and %q", local(x.StartTime), x.Subject, subject+" moved")
	}
}

// imapE2ESend sends msg with SendMail, saving it in Sent Items: WBXML
// from 14.0, a message/rfc822 body before.
func imapE2ESend(t *testing.T, d *convDevice, msg []byte) {
	t.Helper()
	var code int
	var body []byte
	if d.v >= eas.V140 {
		code, body = d.post("SendMail", mustMarshal(t, &eas.SendMailRequest{ClientID: "imape2e-" + d.id, SaveInSentItems: true, Mime: msg}))
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

// imapE2EScript runs a server's own start script on its directory:
// "stop", or "start" again on the same ports, which keeps its data.
func imapE2EScript(t *testing.T, e *imapE2EEnv, server, action string) {
	t.Helper()
	args := []string{action}
	if server == "dovecot" {
		args = append(args, e.dc.Dir)
		if action == "start" {
			conf, err := os.ReadFile(filepath.Join(e.dc.Dir, "dovecot.conf"))
			if err != nil {
				t.Fatal(err)
			}
			sink := regexp.MustCompile(`submission_relay_port = (\d+)`).FindSubmatch(conf)
			if sink == nil {
				t.Fatal("no submission_relay_port in dovecot.conf")
			}
			args = append(args, strings.TrimPrefix(e.dc.IMAP, "127.0.0.1:"), strings.TrimPrefix(e.dc.Submission, "127.0.0.1:"), string(sink[1]))
		}
	} else {
		args = append(args, e.dav.Dir)
		if action == "start" {
			args = append(args, strings.TrimSuffix(strings.TrimPrefix(e.dav.URL, "http://127.0.0.1:"), "/"))
		}
	}
	out, err := exec.Command("../internal/testserver/scripts/start-"+server+".sh", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("start-%s.sh %s: %v\n%s", server, action, err, out)
	}
}

// imapE2EDovecotGone waits until no process of e's Dovecot instance is
// left. The start script's stop returns once the master has exited, but
// the instance's imap processes keep serving the connections they have
// for several seconds (about 9 s measured), so a stopped Dovecot still
// answers the gateway's pooled connections until then.
func imapE2EDovecotGone(t *testing.T, e *imapE2EEnv) {
	t.Helper()
	mark := []byte("dovecot-easgate-dovecot-" + strings.TrimPrefix(e.dc.IMAP, "127.0.0.1:") + "/")
	t0 := time.Now()
	for {
		left := 0
		cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, f := range cmdlines {
			if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, mark) {
				left++
			}
		}
		if left == 0 {
			t.Logf("Dovecot's last processes exited %v after its stop", time.Since(t0).Round(time.Millisecond))
			return
		}
		if time.Since(t0) > 30*time.Second {
			t.Fatalf("%d processes of Dovecot are left 30 s after its stop", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// imapE2ERetryable sends a Sync of f, which must be answered with a
// status the phone retries: HTTP 503, or the collection's status 5.
func imapE2ERetryable(t *testing.T, d *convDevice, f *convFolder, why string) {
	t.Helper()
	code, body := d.post("Sync", mustMarshal(t, &eas.SyncRequest{Collections: &eas.SyncCollections{Collection: []eas.SyncCollection{
		{SyncKey: f.key, CollectionID: f.cid, WindowSize: 100}}}}))
	switch code {
	case http.StatusServiceUnavailable:
	case http.StatusOK:
		var resp eas.SyncResponse
		if err := eas.Unmarshal(body, &resp, nil); err != nil {
			t.Fatal(err)
		}
		if resp.Collections == nil || len(resp.Collections.Collection) != 1 || resp.Collections.Collection[0].Status != eas.SyncStatusServerError {
			t.Errorf("Sync of %s with %s = %+v (collections %+v), want collection status 5", f.id, why, resp, resp.Collections)
		}
	default:
		t.Errorf("Sync of %s with %s = HTTP %d, want 200 with status 5 or 503", f.id, why, code)
	}
}

// TestIMAPDAVFaults: Dovecot, then Radicale, stopped mid-conversation
// give retryable answers and, once each is back on the same data, the
// phone loses nothing.
func TestIMAPDAVFaults(t *testing.T) {
	e := imapE2EServer(t, "radicale")
	d := e.conv(t).device("imape2efault", "E2EPhone", eas.V161)

	testserver.Deliver(t, e.dc.LMTP, convUser, imapE2EMail("Before the outage", "one"))
	imapE2EMustPut(t, e.card+"before.vcf", "text/vcard", imapE2EVCard("before", "Bea", "Before"))
	byType := imapE2EFolders(t, e, d)
	inbox, contacts := byType[eas.FolderTypeInbox], byType[eas.FolderTypeContacts]
	imapE2ESyncStart(t, d, inbox, contacts)
	if len(inbox.items) != 1 || len(contacts.items) != 1 {
		t.Fatalf("before the outage the phone has %d mails and %d contacts, want 1 and 1", len(inbox.items), len(contacts.items))
	}

	// Dovecot stops with a mail the phone has not seen.
	testserver.Deliver(t, e.dc.LMTP, convUser, imapE2EMail("Unsynced at the outage", "two"))
	imapE2EScript(t, e, "dovecot", "stop")
	imapE2EDovecotGone(t, e)
	imapE2ERetryable(t, d, inbox, "Dovecot stopped")
	imapE2EScript(t, e, "dovecot", "start")
	added := convSyncAll(t, d, inbox)
	if _, m := imapE2EFind(inbox, "Unsynced at the outage", imapE2EMailSubject); len(added[inbox.cid]) != 1 || m == nil {
		t.Errorf("Sync after Dovecot's restart added %v, want the mail delivered before the outage", added)
	}

	// Radicale stops with a contact the phone has not seen.
	imapE2EMustPut(t, e.card+"during.vcf", "text/vcard", imapE2EVCard("during", "Dan", "During"))
	imapE2EScript(t, e, "radicale", "stop")
	imapE2ERetryable(t, d, contacts, "Radicale stopped")
	imapE2EScript(t, e, "radicale", "start")
	added = convSyncAll(t, d, contacts)
	if sid, _ := imapE2EFind(contacts, "During", func(c *eas.Contact) string { return c.LastName }); len(added[contacts.cid]) != 1 || sid == "" {
		t.Errorf("Sync after Radicale's restart added %v, want the contact stored before the outage", added)
	}
	for _, f := range []*convFolder{inbox, contacts} {
		if want := len(imapE2EItems(t, e, f.id)); len(f.items) != want {
			t.Errorf("after the restarts the phone has %d items of %s, the servers %d", len(f.items), f.id, want)
		}
	}
}
