package gateway

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/internal/graphemu"
	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources/graph"
)

// graphMeetingSync syncs f once from its key and returns what the server
// sent: payloads added and changed by ServerId, and ServerIds deleted. The
// device's view of f follows.
func graphMeetingSync(t *testing.T, d *convDevice, f *convFolder) (added, changed map[string]eas.Raw, deleted []string) {
	t.Helper()
	c := d.sync(eas.SyncCollection{SyncKey: f.key, CollectionID: f.cid, WindowSize: 100,
		Options: []eas.SyncOptions{{BodyPreference: []eas.BodyPreference{{Type: int(eas.BodyPlainText), TruncationSize: ptr(uint32(2048))}}}}})[f.cid]
	if c.Status != eas.SyncStatusSuccess || c.SyncKey == "" || c.MoreAvailable {
		t.Fatalf("Sync of %s = %+v, want status 1 with everything", f.id, c)
	}
	f.key = c.SyncKey
	added, changed = make(map[string]eas.Raw), make(map[string]eas.Raw)
	if c.Commands == nil {
		return added, changed, nil
	}
	for _, a := range c.Commands.Add {
		added[a.ServerID], f.items[a.ServerID] = a.ApplicationData, a.ApplicationData
	}
	for _, ch := range c.Commands.Change {
		changed[ch.ServerID], f.items[ch.ServerID] = ch.ApplicationData, ch.ApplicationData
	}
	for _, del := range c.Commands.Delete {
		deleted = append(deleted, del.ServerID)
		delete(f.items, del.ServerID)
	}
	return added, changed, deleted
}

// TestGraphMeetingResponse: with Graph behind the gateway, a meeting
// request syncs as one, and a phone's MeetingResponse is answered by
// Exchange itself (event accept,
// tentativelyAccept, decline): the calendar Sync shows the answer, the
// meeting request leaves the Inbox for Deleted Items, and the organizer
// gets Exchange's answers only, no iTIP mail sent by easgate.
func TestGraphMeetingResponse(t *testing.T) {
	e := graphE2EServer(t, graphemu.Options{}, graph.Options{})
	// The phone's user is alice@example.com among the attendees.
	e.srv.mailDom = testserver.GraphDomain
	start := time.Now().UTC().Truncate(24 * time.Hour).Add(3*24*time.Hour + 9*time.Hour)
	invite := func(subject string, recurring bool) {
		at := func(t time.Time) map[string]any {
			return map[string]any{"dateTime": t.Format("2006-01-02T15:04:05"), "timeZone": "UTC"}
		}
		p := map[string]any{"subject": subject, "start": at(start), "end": at(start.Add(time.Hour)),
			"body":      map[string]any{"contentType": "text", "content": "Agenda to follow."},
			"organizer": map[string]any{"emailAddress": map[string]any{"name": "Bob", "address": "bob@" + testserver.GraphDomain}},
			"attendees": []any{map[string]any{"type": "required", "emailAddress": map[string]any{"name": "Alice", "address": e.upn}}}}
		if recurring {
			p["recurrence"] = map[string]any{
				"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []any{[]string{"sunday", "monday", "tuesday",
					"wednesday", "thursday", "friday", "saturday"}[start.Weekday()]}},
				"range": map[string]any{"type": "numbered", "startDate": start.Format("2006-01-02"), "numberOfOccurrences": 4}}
		}
		if _, _, err := e.g.Emu.Invite(e.upn, p); err != nil {
			t.Fatal(err)
		}
	}
	invite("Planning", false)
	invite("Weekly sync", true)
	if _, err := e.g.Emu.DeliverMail(e.upn, "inbox", graphE2EMail("Just mail", "No meeting here.")); err != nil {
		t.Fatal(err)
	}

	// Older phones get the request as a valid meeting request too.
	for _, v := range []eas.ProtocolVersion{eas.V121, eas.V141} {
		old := e.conv(t).device("graphmr"+strings.ReplaceAll(v.String(), ".", ""), "E2EPhone", v)
		in := graphE2EFolders(t, e, old, eas.FolderTypeInbox)[eas.FolderTypeInbox]
		imapE2ESyncStart(t, old, in)
		if _, m := imapE2EFind(in, "Planning", imapE2EMailSubject); m == nil || m.MeetingRequest == nil {
			t.Errorf("at %s the request syncs as %+v, want a meeting request", v, m)
		}
	}

	d := e.conv(t).device("graphmr", "E2EPhone", eas.V161)
	byType := graphE2EFolders(t, e, d, eas.FolderTypeInbox, eas.FolderTypeDeletedItems, eas.FolderTypeSentItems, eas.FolderTypeCalendar)
	inbox, trash, sent, cal := byType[eas.FolderTypeInbox], byType[eas.FolderTypeDeletedItems], byType[eas.FolderTypeSentItems], byType[eas.FolderTypeCalendar]
	imapE2ESyncStart(t, d, inbox, trash, cal)
	request, req := imapE2EFind(inbox, "Planning", imapE2EMailSubject)
	plain, _ := imapE2EFind(inbox, "Just mail", imapE2EMailSubject)
	event, ev := imapE2EFind(cal, "Planning", imapE2EEventSubject)
	series, _ := imapE2EFind(cal, "Weekly sync", imapE2EEventSubject)
	if request == "" || plain == "" || ev == nil || series == "" {
		t.Fatalf("after the initial sync: request %q, mail %q, event %q, series %q", request, plain, event, series)
	}
	if req.MessageClass != "IPM.Schedule.Meeting.Request" || req.MeetingRequest == nil || req.MeetingRequest.Organizer == "" {
		t.Errorf("the request syncs as class %q with meeting %+v, want a meeting request the phone can answer", req.MessageClass, req.MeetingRequest)
	}
	if ev.ResponseType == nil || *ev.ResponseType != eas.ResponseNotResponded {
		t.Errorf("the invitation's ResponseType before answering = %v, want not responded", ev.ResponseType)
	}

	// Accept from the Inbox with a note: Exchange records it and tells bob.
	note := "See you there."
	res := meetingRespond(t, d, eas.MeetingResponseItem{UserResponse: eas.UserResponseAccepted, CollectionID: inbox.cid, RequestID: request,
		SendResponse: &eas.MeetingSendResponse{Body: &eas.Body{Type: eas.BodyPlainText, Data: &note}}})
	if res.Status != eas.MeetingResponseStatusSuccess || res.CalendarID != event {
		t.Fatalf("accept from the Inbox = %+v, want status 1 and CalendarId %s", res, event)
	}
	_, changed, _ := graphMeetingSync(t, d, cal)
	var got eas.Calendar
	if raw, ok := changed[event]; !ok || raw.Decode(&got) != nil || got.ResponseType == nil || *got.ResponseType != eas.ResponseAccepted ||
		got.BusyStatus == nil || *got.BusyStatus != eas.BusyBusy {
		t.Errorf("calendar Sync after accepting changed %v; the event: %+v, want ResponseType accepted and busy", keys(changed), got)
	}
	if _, _, deleted := graphMeetingSync(t, d, inbox); !slices.Equal(deleted, []string{request}) {
		t.Errorf("Inbox Sync after answering deleted %v, want the request %s", deleted, request)
	}
	if added, _, _ := graphMeetingSync(t, d, trash); len(added) != 1 {
		t.Errorf("Deleted Items Sync after answering added %d items, want the request", len(added))
	} else if sid, _ := imapE2EFind(trash, "Planning", imapE2EMailSubject); sid == "" {
		t.Errorf("Deleted Items lacks the answered request")
	}

	// One occurrence of the series, declined from the calendar without
	// telling bob: it leaves the series.
	second := start.Add(7 * 24 * time.Hour)
	res = meetingRespond(t, d, eas.MeetingResponseItem{UserResponse: eas.UserResponseDeclined, CollectionID: cal.cid, RequestID: series,
		InstanceID: second.Format("20060102T150405Z")})
	if res.Status != eas.MeetingResponseStatusSuccess || res.CalendarID != "" {
		t.Fatalf("declining an occurrence = %+v, want status 1 without CalendarId", res)
	}
	_, changed, _ = graphMeetingSync(t, d, cal)
	got = eas.Calendar{}
	deletedAt := false
	if raw, ok := changed[series]; ok && raw.Decode(&got) == nil && got.Exceptions != nil {
		for _, x := range got.Exceptions.Exception {
			deletedAt = deletedAt || x.Deleted != nil && *x.Deleted && x.InstanceID != nil && x.InstanceID.Time.Equal(second)
		}
	}
	if !deletedAt {
		t.Errorf("calendar Sync after declining the occurrence at %v: %+v, want it deleted from the series", second, got.Exceptions)
	}

	// The whole series, tentatively from the calendar, proposing a new
	// time to bob.
	res = meetingRespond(t, d, eas.MeetingResponseItem{UserResponse: eas.UserResponseTentative, CollectionID: cal.cid, RequestID: series,
		SendResponse: &eas.MeetingSendResponse{ProposedStartTime: start.Add(2 * time.Hour).Format("20060102T150405Z"),
			ProposedEndTime: start.Add(3 * time.Hour).Format("20060102T150405Z")}})
	if res.Status != eas.MeetingResponseStatusSuccess || res.CalendarID != series {
		t.Fatalf("tentative on the series = %+v, want status 1 and CalendarId %s", res, series)
	}
	_, changed, _ = graphMeetingSync(t, d, cal)
	got = eas.Calendar{}
	if raw, ok := changed[series]; !ok || raw.Decode(&got) != nil || got.ResponseType == nil || *got.ResponseType != eas.ResponseTentative {
		t.Errorf("calendar Sync after the tentative answer: %+v, want ResponseType tentative", got.ResponseType)
	}

	// What is no invitation gets status 2.
	if res := meetingRespond(t, d, eas.MeetingResponseItem{UserResponse: eas.UserResponseAccepted, CollectionID: inbox.cid, RequestID: plain}); res.Status != eas.MeetingResponseStatusInvalidRequest {
		t.Errorf("answering a plain mail = %+v, want status 2", res)
	}

	// easgate sent nothing itself: alice's Sent Items is empty, and bob's
	// Inbox holds Exchange's two answers, with no iTIP part.
	if items := graphE2EItems(t, e, sent.id); len(items) != 0 {
		t.Errorf("alice's Sent Items holds %d messages, want none: easgate mailed an answer itself", len(items))
	}
	bob := graphInbox(t, e.g, "bob")
	_, tentative := bob["Tentative: Weekly sync"]
	if len(bob) != 2 || bob["Accepted: Planning"].body == "" || !tentative {
		t.Errorf("bob's Inbox = %v, want Exchange's acceptance with the note and the tentative answer", bob)
	}
	for subject, m := range bob {
		if len(m.files) != 0 {
			t.Errorf("bob's %q carries %d attachments, want Exchange's answer without an iTIP part", subject, len(m.files))
		}
	}
	if b := bob["Accepted: Planning"].body; b != "" && !slices.Contains([]string{note, note + "\r\n", note + "\n"}, b) {
		t.Errorf("bob's acceptance reads %q, want the note %q", b, note)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
