package gateway

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/itip"
	"github.com/easgate/easgate/sources/memory"
	"github.com/easgate/easgate/sources/mux"
)

// The invitations of sources/itip/testdata, as Outlook and Google Calendar
// send them, from bob@example.com to alice@example.com.
const (
	meetingOutlook = "outlook-request-weekly.eml"
	meetingGmail   = "gmail-request.eml"
	meetingDomain  = "example.com" // the test users' mail domain in the invitations
)

// meetingInvitation reads an invitation of sources/itip/testdata.
func meetingInvitation(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "sources", "itip", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// meetingSetup is what the MeetingResponse conversation needs of a store:
// alice's phone through the gateway, alice's store read directly,
// delivery into a user's Inbox, the messages the store submitted, and
// bob's phone.
type meetingSetup struct {
	conv    *convEnv
	src     sources.Source
	deliver func(user string, raw []byte)
	sent    func() [][]byte
	bob     func(cmd string, body []byte) (int, []byte)
}

// meetingCalendarPart returns the meeting of a message's first iCalendar
// part.
func meetingCalendarPart(t *testing.T, raw []byte) *sources.MeetingRequest {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(h interface{ Get(string) string }, body io.Reader) *sources.MeetingRequest
	walk = func(h interface{ Get(string) string }, body io.Reader) *sources.MeetingRequest {
		typ, params, _ := mime.ParseMediaType(h.Get("Content-Type"))
		if strings.HasPrefix(typ, "multipart/") {
			mr := multipart.NewReader(body, params["boundary"])
			for {
				p, err := mr.NextPart() // decodes quoted-printable; base64 below
				if err != nil {
					return nil
				}
				if got := walk(p.Header, p); got != nil {
					return got
				}
			}
		}
		if !itip.IsCalendar(typ) {
			return nil
		}
		data, _ := io.ReadAll(body)
		if strings.EqualFold(h.Get("Content-Transfer-Encoding"), "base64") {
			data, _ = io.ReadAll(base64Reader(data))
		}
		got, err := itip.Parse(bytes.NewReader(data))
		if err != nil {
			t.Errorf("the answer's calendar: %v", err)
			return nil
		}
		return got
	}
	return walk(m.Header, m.Body)
}

// meetingWaitSent waits up to 10 s for a submitted message whose subject
// starts with prefix and returns it.
func meetingWaitSent(t *testing.T, m meetingSetup, prefix string) []byte {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		for _, raw := range m.sent() {
			msg, err := mail.ReadMessage(bytes.NewReader(raw))
			if err != nil {
				continue
			}
			if subj, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); strings.HasPrefix(subj, prefix) {
				return raw
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message %q submitted after 10 s (%d submitted)", prefix, len(m.sent()))
		}
	}
}

// meetingEvent returns the event of alice's store calendar cal with uid.
func meetingEvent(t *testing.T, src sources.Source, cal sources.FolderID, uid string) *sources.Item {
	t.Helper()
	it, err := findEvent(context.Background(), src, cal, uid)
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// meetingAttendee returns the status of address among ev's attendees.
func meetingAttendee(ev *sources.Event, address string) (sources.AttendeeStatus, bool) {
	for _, a := range ev.Attendees {
		if strings.EqualFold(a.Email, address) {
			return a.Status, true
		}
	}
	return 0, false
}

// meetingRespond sends one MeetingResponse Request from d and returns its
// Result.
func meetingRespond(t *testing.T, d *convDevice, q eas.MeetingResponseItem) eas.MeetingResponseResult {
	t.Helper()
	var resp eas.MeetingResponseResponse
	d.do("MeetingResponse", &eas.MeetingResponseRequest{Requests: []eas.MeetingResponseItem{q}}, &resp)
	if len(resp.Results) != 1 {
		t.Fatalf("MeetingResponse = %+v, want one Result", resp)
	}
	return resp.Results[0]
}

// meetingConversation holds alice's side of two invitations from bob, one
// from Outlook (a weekly series) and one from Google Calendar, at 16.1:
// both show in the Inbox as meeting requests; she accepts the Outlook one
// from the Inbox with SendResponse, which puts it in her calendar with her
// acceptance and mails bob an iTIP REPLY; she declines the Gmail one
// without SendResponse, which sends nothing and leaves her calendar
// without it; she then proposes a new time from the calendar. Bob's phone
// finally syncs the REPLY as a positive meeting response.
func meetingConversation(t *testing.T, m meetingSetup) {
	alice := "alice@" + meetingDomain
	m.deliver("alice", meetingInvitation(t, meetingOutlook))
	m.deliver("alice", meetingInvitation(t, meetingGmail))
	d := m.conv.device("meet16", "iPhone", eas.V161)
	fs := d.folderSync("0")
	var inbox, calendar *convFolder
	for _, f := range fs.Changes.Add {
		id, err := m.conv.state.FolderID(context.Background(), d.account(), f.ServerID)
		if err != nil {
			t.Fatal(err)
		}
		cf := &convFolder{id: sources.FolderID(id), cid: f.ServerID, key: "0", items: map[string]eas.Raw{}}
		switch f.Type {
		case eas.FolderTypeInbox:
			cf.class, inbox = "Email", cf
		case eas.FolderTypeCalendar:
			cf.class, calendar = "Calendar", cf
		}
	}
	if inbox == nil || calendar == nil {
		t.Fatalf("FolderSync = %+v, want an Inbox and a Calendar", fs.Changes.Add)
	}
	got0 := d.sync(eas.SyncCollection{SyncKey: "0", CollectionID: inbox.cid}, eas.SyncCollection{SyncKey: "0", CollectionID: calendar.cid})
	inbox.key, calendar.key = got0[inbox.cid].SyncKey, got0[calendar.cid].SyncKey
	convSyncAll(t, d, inbox, calendar)

	// The Inbox shows both as meeting requests (MS-ASEMAIL 2.2.2.48).
	requests := map[string]string{} // subject prefix → ServerId
	for sid, raw := range inbox.items {
		var e eas.Email
		if err := raw.Decode(&e); err != nil {
			t.Fatal(err)
		}
		var want struct {
			instance  uint8
			recurs    bool
			calendars int // text/calendar attachments listed
		}
		switch {
		case e.Subject == "Project kickoff weekly":
			want.instance, want.recurs = 1, true
		case strings.HasPrefix(e.Subject, "Invitation: Design review"):
			want.calendars = 1 // Gmail's invite.ics, an attachment with a name
		default:
			continue
		}
		requests[e.Subject[:min(len(e.Subject), 18)]] = sid
		mr := e.MeetingRequest
		if e.MessageClass != "IPM.Schedule.Meeting.Request" || e.ContentClass != "urn:content-classes:calendarmessage" || mr == nil {
			t.Errorf("%q: MessageClass %q, ContentClass %q, MeetingRequest %v; want a meeting request", e.Subject, e.MessageClass, e.ContentClass, mr)
			continue
		}
		if mr.InstanceType == nil || *mr.InstanceType != want.instance || (mr.Recurrences != nil) != want.recurs ||
			mr.ResponseRequested == nil || !*mr.ResponseRequested || !strings.Contains(mr.Organizer, "bob@example.com") ||
			mr.MeetingMessageType == nil || *mr.MeetingMessageType != 1 || mr.UID == "" || mr.StartTime == nil {
			t.Errorf("%q: MeetingRequest %+v, want InstanceType %d, recurrences %t, a response requested by bob", e.Subject, mr, want.instance, want.recurs)
		}
		n := 0
		if e.Attachments != nil {
			for _, a := range e.Attachments.Attachment {
				if strings.HasSuffix(a.DisplayName, ".ics") || a.DisplayName == "" {
					n++
				}
			}
		}
		if n != want.calendars {
			t.Errorf("%q lists %d calendar attachments, want %d", e.Subject, n, want.calendars)
		}
	}
	outlookSID, gmailSID := requests["Project kickoff we"], requests["Invitation: Design"]
	if outlookSID == "" || gmailSID == "" {
		t.Fatalf("Inbox %v lacks the invitations", requests)
	}
	outlookMR := meetingCalendarPart(t, meetingInvitation(t, meetingOutlook))

	// Accept the Outlook series from the Inbox, with a note to bob.
	note := "See you there."
	res := meetingRespond(t, d, eas.MeetingResponseItem{UserResponse: eas.UserResponseAccepted, CollectionID: inbox.cid, RequestID: outlookSID,
		SendResponse: &eas.MeetingSendResponse{Body: &eas.Body{Type: eas.BodyPlainText, Data: &note}}})
	if res.Status != eas.MeetingResponseStatusSuccess || res.CalendarID == "" || res.RequestID != outlookSID {
		t.Fatalf("accept = %+v, want status 1 with a CalendarId", res)
	}
	calID := res.CalendarID
	ev := meetingEvent(t, m.src, calendar.id, outlookMR.Event.UID)
	if ev == nil {
		t.Fatalf("the accepted meeting %s is not in the calendar", outlookMR.Event.UID)
	}
	if st, ok := meetingAttendee(ev.Event, alice); !ok || st != sources.StatusAccepted || ev.Event.Recurrence == nil ||
		ev.Event.Organizer.Email != "bob@example.com" || !ev.Event.Start.Equal(outlookMR.Event.Start) {
		t.Errorf("calendar event %+v, want the weekly series by bob with alice accepted", ev.Event)
	}
	reply := meetingWaitSent(t, m, "Accepted: Project kickoff weekly")
	if got := meetingCalendarPart(t, reply); got == nil || got.Method != sources.MethodReply || got.Event.UID != outlookMR.Event.UID ||
		len(got.Event.Attendees) != 1 || got.Event.Attendees[0].Status != sources.StatusAccepted ||
		!strings.EqualFold(got.Event.Attendees[0].Email, alice) || !bytes.Contains(reply, []byte("To: \"Bob Organizer\" <bob@example.com>")) {
		t.Errorf("the REPLY to bob = %+v, want alice's acceptance of %s", got, outlookMR.Event.UID)
	}

	// The calendar Sync brings the event under the CalendarId, which a
	// client gives the meeting it shows (MS-ASCMD 2.2.3.18).
	got := d.sync(eas.SyncCollection{SyncKey: calendar.key, CollectionID: calendar.cid, GetChanges: ptr(true)})[calendar.cid]
	var calItem *eas.Calendar
	if got.Commands != nil {
		var found []eas.Raw
		for _, c := range got.Commands.Add {
			if c.ServerID == res.CalendarID {
				found = append(found, c.ApplicationData)
			}
		}
		for _, c := range got.Commands.Change {
			if c.ServerID == res.CalendarID {
				found = append(found, c.ApplicationData)
			}
		}
		for _, raw := range found {
			calItem = new(eas.Calendar)
			if err := raw.Decode(calItem); err != nil {
				t.Fatal(err)
			}
		}
		calendar.key = got.SyncKey
	}
	if calItem == nil {
		t.Fatalf("calendar Sync %+v does not bring %s", got, res.CalendarID)
	}
	if calItem.ResponseType == nil || *calItem.ResponseType != eas.ResponseAccepted || calItem.Subject != "Project kickoff weekly" {
		t.Errorf("calendar item %+v, want the meeting accepted", calItem)
	}

	// Decline the Gmail one without SendResponse: nothing is sent.
	before := len(m.sent())
	res = meetingRespond(t, d, eas.MeetingResponseItem{UserResponse: eas.UserResponseDeclined, CollectionID: inbox.cid, RequestID: gmailSID})
	if res.Status != eas.MeetingResponseStatusSuccess || res.CalendarID != "" {
		t.Errorf("decline = %+v, want status 1 without CalendarId", res)
	}
	if ev := meetingEvent(t, m.src, calendar.id, "5q0m7k3c1v9h2r8t4n6b0d2f7g@google.com"); ev != nil {
		t.Errorf("the declined meeting is in the calendar: %+v", ev.Event)
	}
	if n := len(m.sent()); n != before {
		t.Errorf("declining without SendResponse submitted %d messages", n-before)
	}

	// From the calendar: tentative, proposing a new time (16.1).
	res = meetingRespond(t, d, eas.MeetingResponseItem{UserResponse: eas.UserResponseTentative, CollectionID: calendar.cid, RequestID: calID,
		SendResponse: &eas.MeetingSendResponse{ProposedStartTime: "20270118T130000Z", ProposedEndTime: "20270118T140000Z"}})
	if res.Status != eas.MeetingResponseStatusSuccess || res.CalendarID != calID {
		t.Errorf("tentative from the calendar = %+v, want status 1 and CalendarId %s", res, calID)
	}
	if ev := meetingEvent(t, m.src, calendar.id, outlookMR.Event.UID); ev == nil {
		t.Errorf("the meeting left the calendar")
	} else if st, _ := meetingAttendee(ev.Event, alice); st != sources.StatusTentative {
		t.Errorf("alice's status %d after tentative, want %d", st, sources.StatusTentative)
	}
	counter := meetingCalendarPart(t, meetingWaitSent(t, m, "New Time Proposed: Project kickoff weekly"))
	if counter == nil || counter.Method != sources.MethodCounter || !counter.Event.Start.Equal(time.Date(2027, 1, 18, 13, 0, 0, 0, time.UTC)) {
		t.Errorf("the COUNTER = %+v, want the proposed 13:00 UTC start", counter)
	}

	// Unknown items and plain mail are no meeting requests.
	for _, q := range []eas.MeetingResponseItem{
		{UserResponse: eas.UserResponseAccepted, CollectionID: inbox.cid, RequestID: "no-such-item"},
		{UserResponse: eas.UserResponseAccepted, CollectionID: "no-such-collection", RequestID: outlookSID},
		{UserResponse: eas.UserResponseAccepted, LongID: "bm8:bm8"},
	} {
		if res := meetingRespond(t, d, q); res.Status != eas.MeetingResponseStatusInvalidRequest {
			t.Errorf("MeetingResponse %+v = %+v, want status 2", q, res)
		}
	}

	// Only easgate's two answers left the store: the store did not
	// schedule on its own as well.
	var subjects []string
	for _, raw := range m.sent() {
		if msg, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
			subj, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
			subjects = append(subjects, subj)
		}
	}
	if len(subjects) != 2 {
		t.Errorf("the store submitted %q, want the acceptance and the new time proposed", subjects)
	}

	// Bob's phone gets alice's REPLY as a positive meeting response.
	m.deliver("bob", reply)
	meetingBobSees(t, m, "Accepted: Project kickoff weekly", "IPM.Schedule.Meeting.Resp.Pos")
}

// meetingBobSees syncs bob's Inbox from a phone of his own at 16.1 until a
// message with subject shows, and checks its message class.
func meetingBobSees(t *testing.T, m meetingSetup, subject, class string) {
	t.Helper()
	post := func(cmd string, req, resp any) {
		t.Helper()
		code, body := m.bob(cmd, mustMarshal(t, req))
		if code != http.StatusOK {
			t.Fatalf("bob's %s = HTTP %d", cmd, code)
		}
		if err := eas.Unmarshal(body, resp, nil); err != nil {
			t.Fatalf("bob's %s: %v", cmd, err)
		}
	}
	var fs eas.FolderSyncResponse
	post("FolderSync", &eas.FolderSyncRequest{SyncKey: "0"}, &fs)
	inbox := ""
	if fs.Changes != nil {
		for _, f := range fs.Changes.Add {
			if f.Type == eas.FolderTypeInbox {
				inbox = f.ServerID
			}
		}
	}
	if inbox == "" {
		t.Fatalf("bob's FolderSync = %+v, want an Inbox", fs)
	}
	key := "0"
	for round := 0; round < 10; round++ {
		var resp eas.SyncResponse
		post("Sync", &eas.SyncRequest{Collections: &eas.SyncCollections{Collection: []eas.SyncCollection{{SyncKey: key, CollectionID: inbox, WindowSize: 100}}}}, &resp)
		if resp.Collections == nil || len(resp.Collections.Collection) != 1 || resp.Collections.Collection[0].Status != eas.SyncStatusSuccess {
			t.Fatalf("bob's Sync = %+v", resp)
		}
		c := resp.Collections.Collection[0]
		key = c.SyncKey
		if c.Commands != nil {
			for _, a := range c.Commands.Add {
				var e eas.Email
				if err := a.ApplicationData.Decode(&e); err != nil {
					t.Fatal(err)
				}
				if e.Subject == subject {
					if e.MessageClass != class {
						t.Errorf("bob sees %q as %q, want %q", subject, e.MessageClass, class)
					}
					return
				}
			}
		}
		if !c.MoreAvailable && round > 0 {
			break
		}
	}
	t.Errorf("bob's Inbox has no %q", subject)
}

// TestMeetingResponse holds the meeting conversation against the memory
// store, whose Send records what it would submit.
func TestMeetingResponse(t *testing.T) {
	e := convServer(t, Options{MailDomain: meetingDomain})
	meetingConversation(t, memoryMeetingSetup(t, e))
}

// memoryMeetingSetup is the meeting conversation's view of the memory
// store of e.
func memoryMeetingSetup(t *testing.T, e *convEnv) meetingSetup {
	return meetingSetup{
		conv: e, src: e.src,
		deliver: func(user string, raw []byte) {
			if _, err := e.store.User(user).AddMessage(context.Background(), "inbox", raw); err != nil {
				t.Fatal(err)
			}
		},
		sent: e.src.Sent,
		bob: func(cmd string, body []byte) (int, []byte) {
			return meetingPostAs(t, e.ts.URL, "bob", convPassword, cmd, body)
		},
	}
}

// muxBackend opens the memory store's user behind package mux, as
// [classes] does.
type muxBackend struct{ convBackend }

func (b muxBackend) Login(ctx context.Context, user, password string) (sources.Source, error) {
	src, err := b.convBackend.Login(ctx, user, password)
	if err != nil {
		return nil, err
	}
	return mux.New([]mux.Route{{Source: src, Contents: []sources.Content{sources.ContentMail, sources.ContentContacts,
		sources.ContentCalendar, sources.ContentTasks, sources.ContentNotes}}}, 0), nil
}

// TestMeetingResponseMux holds the meeting conversation with the memory
// store behind package mux, a sources.Responder that answers only
// through stores answering themselves: the memory store's invitations are
// still answered by iTIP.
func TestMeetingResponseMux(t *testing.T) {
	e := convServer(t, Options{MailDomain: meetingDomain})
	e.srv.backend = muxBackend{convBackend{e.store}}
	meetingConversation(t, memoryMeetingSetup(t, e))
}

// meetingPostAs posts body as cmd at 16.1 for user from a phone of the
// user's own.
func meetingPostAs(t *testing.T, url, user, password, cmd string, body []byte) (int, []byte) {
	t.Helper()
	r, err := http.NewRequest("POST", url+Path+"?Cmd="+cmd+"&User="+user+"&DeviceId=meet"+user+"&DeviceType=TestPhone", bytes.NewReader(body))
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
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// base64Reader decodes base64 that may be broken into lines.
func base64Reader(data []byte) io.Reader {
	return base64.NewDecoder(base64.StdEncoding, bytes.NewReader(bytes.Join(bytes.Fields(data), nil)))
}

// meetingSink reads the messages a test server's SMTP sink holds, in the
// order they were relayed (1.eml, 2.eml, ...).
func meetingSink(t *testing.T, dir string) [][]byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	slices.SortFunc(files, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b))
	})
	var out [][]byte
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			out = append(out, b)
		}
	}
	return out
}

// TestJMAPMeetingResponse holds the meeting conversation against a real
// Cyrus over JMAP: the invitations arrive by LMTP, the event is a JMAP
// CalendarEvent whose participant alice answers, the answers leave by JMAP
// EmailSubmission into Cyrus's SMTP sink, and bob's own mailbox on the
// same Cyrus receives the REPLY by LMTP.
func TestJMAPMeetingResponse(t *testing.T) {
	e := jmapE2EServer(t, false)
	e.srv.mailDom = meetingDomain
	meetingConversation(t, meetingSetup{
		conv: e.conv(t), src: e.src,
		deliver: func(user string, raw []byte) { testserver.Deliver(t, e.cy.LMTP, user, raw) },
		sent:    func() [][]byte { return meetingSink(t, e.cy.SinkDir) },
		bob: func(cmd string, body []byte) (int, []byte) {
			return jmapE2EPost(t, e, "bob", testserver.Users["bob"], cmd, eas.V161, body)
		},
	})
}

// TestIMAPRadicaleMeetingResponse holds the meeting conversation against
// Dovecot and Radicale: the invitations arrive by LMTP, the event is a
// CalDAV resource whose ATTENDEE PARTSTAT is written with If-Match, the
// answers leave by Dovecot's Submission into its SMTP sink, and bob's own
// Dovecot mailbox receives the REPLY by LMTP.
func TestIMAPRadicaleMeetingResponse(t *testing.T) {
	e := imapE2EServer(t, "radicale")
	e.srv.mailDom = meetingDomain
	meetingConversation(t, meetingSetup{
		conv: e.conv(t), src: e.src,
		deliver: func(user string, raw []byte) { testserver.Deliver(t, e.dc.LMTP, user, raw) },
		sent:    func() [][]byte { return meetingSink(t, e.dc.SinkDir) },
		bob: func(cmd string, body []byte) (int, []byte) {
			return imapE2EPost(t, e, "bob", testserver.Users["bob"], cmd, body)
		},
	})
}

// TestMeetingResponseVersions answers the Outlook series at every version
// before 16.0, where the client mails the organizer itself: the calendar
// takes the answer and nothing is sent. At 14.1 one occurrence is declined
// by InstanceId, which excepts it from the series and keeps the rest.
func TestMeetingResponseVersions(t *testing.T) {
	for _, v := range []eas.ProtocolVersion{eas.V25, eas.V120, eas.V121, eas.V140, eas.V141, eas.V160} {
		t.Run(v.String(), func(t *testing.T) {
			e := convServer(t, Options{MailDomain: meetingDomain})
			ctx := context.Background()
			if _, err := e.src.AddMessage(ctx, "inbox", meetingInvitation(t, meetingOutlook)); err != nil {
				t.Fatal(err)
			}
			d := e.device("meetv", "TestPhone", v)
			d.folderSync("0")
			inbox := devicesCollection(d, "inbox")
			key := d.sync(eas.SyncCollection{SyncKey: "0", CollectionID: inbox})[inbox].SyncKey
			c := d.sync(eas.SyncCollection{SyncKey: key, CollectionID: inbox, GetChanges: ptr(true)})[inbox]
			if c.Commands == nil || len(c.Commands.Add) != 1 {
				t.Fatalf("Sync = %+v, want the invitation", c)
			}
			var em eas.Email
			if err := c.Commands.Add[0].ApplicationData.Decode(&em); err != nil {
				t.Fatal(err)
			}
			if em.MessageClass != "IPM.Schedule.Meeting.Request" || em.MeetingRequest == nil {
				t.Errorf("Sync at %s shows %q with %+v, want a meeting request", v, em.MessageClass, em.MeetingRequest)
			}
			res := meetingRespond(t, d, eas.MeetingResponseItem{UserResponse: eas.UserResponseAccepted, CollectionID: inbox, RequestID: c.Commands.Add[0].ServerID})
			if res.Status != eas.MeetingResponseStatusSuccess || res.CalendarID == "" {
				t.Fatalf("accept at %s = %+v, want status 1 with a CalendarId", v, res)
			}
			mr := meetingCalendarPart(t, meetingInvitation(t, meetingOutlook))
			ev := meetingEvent(t, e.src, "calendar", mr.Event.UID)
			if ev == nil {
				t.Fatal("the accepted meeting is not in the calendar")
			}
			if st, _ := meetingAttendee(ev.Event, "alice@"+meetingDomain); st != sources.StatusAccepted {
				t.Errorf("alice's status %d, want accepted", st)
			}
			if n := len(e.src.Sent()); n != 0 {
				t.Errorf("%d messages sent at %s, want none: the client sends its own", n, v)
			}
			if v != eas.V141 {
				return
			}
			second := time.Date(2027, 1, 25, 9, 0, 0, 0, time.UTC) // the second Monday, 10:00 in Berlin
			cal := devicesCollection(d, "calendar")
			res = meetingRespond(t, d, eas.MeetingResponseItem{UserResponse: eas.UserResponseDeclined, CollectionID: cal, RequestID: res.CalendarID,
				InstanceID: second.Format("2006-01-02T15:04:05.000Z")})
			if res.Status != eas.MeetingResponseStatusSuccess || res.CalendarID != "" {
				t.Errorf("declining one occurrence = %+v, want status 1 without CalendarId", res)
			}
			ev = meetingEvent(t, e.src, "calendar", mr.Event.UID)
			if ev == nil || len(ev.Event.Exceptions) != 1 || !ev.Event.Exceptions[0].Deleted || !ev.Event.Exceptions[0].OriginalStart.Equal(second) {
				t.Errorf("after declining one occurrence the series is %+v, want it with that occurrence deleted", ev)
			}
		})
	}
}

// responderStore is a memory store that answers invitations itself, as
// the Graph adapter does.
type responderStore struct {
	*memory.Source
	got []sources.MeetingAnswer
}

func (r *responderStore) Respond(_ context.Context, ref sources.ItemRef, a sources.MeetingAnswer) (sources.ItemRef, error) {
	r.got = append(r.got, a)
	return sources.ItemRef{Folder: "calendar", ID: "answered"}, nil
}

// TestMeetingResponseResponder checks that a store that is a
// sources.Responder answers itself, with the request's answer, through the
// store metrics wrapper, and that its event's id becomes the CalendarId.
func TestMeetingResponseResponder(t *testing.T) {
	e := convServer(t, Options{})
	rs := &responderStore{Source: e.src}
	src := measure(rs, "memory", e.srv.metrics)
	if _, ok := src.(sources.Responder); !ok {
		t.Fatal("the store metrics wrapper hides sources.Responder")
	}
	e.srv.backend = fixedBackend{src}
	if _, err := e.src.AddMessage(context.Background(), "inbox", meetingInvitation(t, meetingGmail)); err != nil {
		t.Fatal(err)
	}
	d := e.device("resp", "TestPhone", eas.V161)
	d.folderSync("0")
	inbox := devicesCollection(d, "inbox")
	key := d.sync(eas.SyncCollection{SyncKey: "0", CollectionID: inbox})[inbox].SyncKey
	c := d.sync(eas.SyncCollection{SyncKey: key, CollectionID: inbox, GetChanges: ptr(true)})[inbox]
	if c.Commands == nil || len(c.Commands.Add) != 1 {
		t.Fatalf("Sync = %+v, want the invitation", c)
	}
	res := meetingRespond(t, d, eas.MeetingResponseItem{UserResponse: eas.UserResponseTentative, CollectionID: inbox, RequestID: c.Commands.Add[0].ServerID,
		SendResponse: &eas.MeetingSendResponse{ProposedStartTime: "20270119T150000Z", ProposedEndTime: "20270119T160000Z"}})
	want := sources.MeetingAnswer{Status: sources.StatusTentative, Send: true,
		ProposedStart: time.Date(2027, 1, 19, 15, 0, 0, 0, time.UTC), ProposedEnd: time.Date(2027, 1, 19, 16, 0, 0, 0, time.UTC)}
	if res.Status != eas.MeetingResponseStatusSuccess || res.CalendarID == "" || len(rs.got) != 1 || rs.got[0] != want {
		t.Errorf("MeetingResponse = %+v, store asked %+v; want status 1 with a CalendarId and %+v", res, rs.got, want)
	}
}

// fixedBackend logs every user into one store.
type fixedBackend struct{ src sources.Source }

func (b fixedBackend) Login(context.Context, string, string) (sources.Source, error) {
	return b.src, nil
}
