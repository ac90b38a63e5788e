package graph

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/easgate/easgate/internal/graphemu"
	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
)

// respondEnv is alice's mailbox, invited by bob, whose own mailbox shows
// what Exchange mailed him.
type respondEnv struct {
	g                 *testserver.Graph
	alice, bob        *Source
	inbox, cal, trash sources.FolderID
	start             time.Time // of the invitations, 09:00 UTC in three days
}

func newRespondEnv(t *testing.T) *respondEnv {
	g, b := newBackend(t, graphemu.Options{}, Options{})
	e := &respondEnv{g: g, alice: login(t, b, "alice"), bob: login(t, b, "bob"),
		start: time.Now().UTC().Truncate(24 * time.Hour).Add(3*24*time.Hour + 9*time.Hour)}
	fd, err := e.alice.Folders(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fd.Changed {
		switch f.Kind {
		case sources.KindInbox:
			e.inbox = f.ID
		case sources.KindCalendar:
			e.cal = f.ID
		case sources.KindDeleted:
			e.trash = f.ID
		}
	}
	return e
}

// invite has bob invite alice; recurring makes it a weekly series of
// four. It returns the meeting request's and alice's event's refs.
func (e *respondEnv) invite(t *testing.T, subject string, recurring bool, more map[string]any) (sources.ItemRef, sources.ItemRef) {
	t.Helper()
	at := func(t time.Time) map[string]any {
		return map[string]any{"dateTime": t.Format("2006-01-02T15:04:05"), "timeZone": "UTC"}
	}
	p := map[string]any{"subject": subject, "start": at(e.start), "end": at(e.start.Add(time.Hour)),
		"organizer": map[string]any{"emailAddress": map[string]any{"name": "bob", "address": "bob@" + testserver.GraphDomain}},
		"attendees": []any{map[string]any{"type": "required",
			"emailAddress": map[string]any{"name": "alice", "address": "alice@" + testserver.GraphDomain}}}}
	if recurring {
		p["recurrence"] = map[string]any{
			"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []any{weekdays[e.start.Weekday()]}},
			"range":   map[string]any{"type": "numbered", "startDate": e.start.Format("2006-01-02"), "numberOfOccurrences": 4}}
	}
	for k, v := range more {
		p[k] = v
	}
	msg, ev, err := e.g.Emu.Invite("alice@"+testserver.GraphDomain, p)
	if err != nil {
		t.Fatal(err)
	}
	return sources.ItemRef{Folder: e.inbox, ID: sources.ItemID(msg)}, sources.ItemRef{Folder: e.cal, ID: sources.ItemID(ev)}
}

// event is alice's event id, nil when her calendar no longer holds it.
func (e *respondEnv) event(t *testing.T, id sources.ItemID) *sources.Event {
	t.Helper()
	items, err := e.alice.Get(context.Background(), e.cal, []sources.ItemID{id}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) == 0 {
		return nil
	}
	return items[0].Event
}

func aliceStatus(ev *sources.Event) sources.AttendeeStatus {
	for _, a := range ev.Attendees {
		if a.Email == "alice@"+testserver.GraphDomain {
			return a.Status
		}
	}
	return -1
}

// answerMessage is a message as Graph shows it, with the properties of
// eventMessages that the tests read.
type answerMessage struct {
	Subject            string `json:"subject"`
	MeetingMessageType string `json:"meetingMessageType"`
	ParentFolderID     string `json:"parentFolderId"`
	Body               struct {
		Content string `json:"content"`
	} `json:"body"`
	ProposedNewTime *struct {
		Start dateTimeTZ `json:"start"`
	} `json:"proposedNewTime"`
}

// bobsInbox lists the messages of bob's Inbox.
func (e *respondEnv) bobsInbox(t *testing.T) []answerMessage {
	t.Helper()
	var page struct {
		Value []answerMessage `json:"value"`
	}
	if err := e.bob.c.getJSON(context.Background(), e.bob.id, e.bob.path+"/mailFolders/inbox/messages", url.Values{"$top": {"100"}}, nil, &page); err != nil {
		t.Fatal(err)
	}
	return page.Value
}

// message returns a message of alice's as Graph holds it.
func (e *respondEnv) message(t *testing.T, id sources.ItemID) answerMessage {
	t.Helper()
	var m answerMessage
	if err := e.alice.c.getJSON(context.Background(), e.alice.id, e.alice.path+"/messages/"+url.PathEscape(string(id)), nil, nil, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRespond answers an invitation with each status, from the meeting
// request and from the calendar: the event records the answer (or is
// gone when declined), the request goes to Deleted Items, and bob gets
// Exchange's answer exactly when it is to be sent, with the comment and a
// proposed time.
func TestRespond(t *testing.T) {
	e := newRespondEnv(t)
	ctx := context.Background()
	for _, c := range []struct {
		name        string
		fromMail    bool
		answer      sources.MeetingAnswer
		busy        sources.BusyStatus
		wantSubject string // of the answer bob gets, "" for none
		proposal    bool
	}{
		{"accept from the Inbox", true, sources.MeetingAnswer{Status: sources.StatusAccepted, Send: true, Comment: "See you"},
			sources.Busy, "Accepted: ", false},
		{"tentative from the Inbox with a proposal", true, sources.MeetingAnswer{Status: sources.StatusTentative, Send: true,
			Comment: "Later?", ProposedStart: e.start.Add(2 * time.Hour), ProposedEnd: e.start.Add(3 * time.Hour)},
			sources.Tentative, "Tentative: ", true},
		{"decline from the Inbox unsent", true, sources.MeetingAnswer{Status: sources.StatusDeclined}, 0, "", false},
		{"accept from the calendar unsent", false, sources.MeetingAnswer{Status: sources.StatusAccepted}, sources.Busy, "", false},
		{"decline from the calendar with a proposal", false, sources.MeetingAnswer{Status: sources.StatusDeclined, Send: true,
			Comment: "Not this week", ProposedStart: e.start.Add(7 * 24 * time.Hour), ProposedEnd: e.start.Add(7*24*time.Hour + time.Hour)},
			0, "Declined: ", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			msg, ev := e.invite(t, c.name, false, nil)
			ref := ev
			if c.fromMail {
				ref = msg
			}
			before := len(e.bobsInbox(t))
			got, err := e.alice.Respond(ctx, ref, c.answer)
			if err != nil {
				t.Fatalf("Respond = %v", err)
			}
			if c.answer.Status == sources.StatusDeclined {
				if got != (sources.ItemRef{}) {
					t.Errorf("Respond declining = %+v, want the zero ref", got)
				}
				if e.event(t, ev.ID) != nil {
					t.Errorf("the declined event is still in the calendar")
				}
			} else {
				if got != ev {
					t.Errorf("Respond = %+v, want the event %+v", got, ev)
				}
				x := e.event(t, ev.ID)
				if x == nil || aliceStatus(x) != c.answer.Status || x.BusyStatus != c.busy || x.MeetingStatus != sources.MeetingReceived {
					t.Errorf("event after answering = %+v, want alice %v, busy status %v", x, c.answer.Status, c.busy)
				}
			}
			if m := e.message(t, msg.ID); m.ParentFolderID != string(e.trash) {
				t.Errorf("the meeting request is in %s, want Deleted Items %s", m.ParentFolderID, e.trash)
			}
			inbox := e.bobsInbox(t)
			switch {
			case c.wantSubject == "" && len(inbox) != before:
				t.Errorf("bob got %d new messages for an answer not to be sent: %+v", len(inbox)-before, inbox[before:])
			case c.wantSubject != "" && len(inbox) != before+1:
				t.Errorf("bob got %d new messages, want the answer", len(inbox)-before)
			case c.wantSubject != "":
				var a *answerMessage
				for i := range inbox {
					if inbox[i].Subject == c.wantSubject+c.name {
						a = &inbox[i]
					}
				}
				if a == nil || a.Body.Content == "" || (a.ProposedNewTime != nil) != c.proposal ||
					c.proposal && !tzTime(&a.ProposedNewTime.Start).Equal(c.answer.ProposedStart) {
					t.Errorf("bob's answer %q = %+v, want comment %q, a proposal: %v", c.wantSubject+c.name, a, c.answer.Comment, c.proposal)
				}
			}
		})
	}
}

// TestRespondOccurrence answers single occurrences of a series: the
// accepted one becomes an exception with alice's answer, the declined
// one leaves the series; the series itself stays unanswered.
func TestRespondOccurrence(t *testing.T) {
	e := newRespondEnv(t)
	ctx := context.Background()
	msg, ev := e.invite(t, "Weekly sync", true, nil)
	second, third := e.start.Add(7*24*time.Hour), e.start.Add(14*24*time.Hour)
	got, err := e.alice.Respond(ctx, msg, sources.MeetingAnswer{Status: sources.StatusAccepted, Occurrence: second})
	if err != nil || got != ev {
		t.Fatalf("Respond(second occurrence) = %+v, %v; want %+v", got, err, ev)
	}
	if got, err := e.alice.Respond(ctx, ev, sources.MeetingAnswer{Status: sources.StatusDeclined, Occurrence: third}); err != nil || got != (sources.ItemRef{}) {
		t.Fatalf("Respond(decline third occurrence) = %+v, %v", got, err)
	}
	x := e.event(t, ev.ID)
	if x == nil || x.Recurrence == nil {
		t.Fatalf("the series after answering two occurrences = %+v", x)
	}
	if st := aliceStatus(x); st != sources.StatusNeedsAction {
		t.Errorf("the series' own answer = %v, want none", st)
	}
	var accepted, deleted bool
	for _, xc := range x.Exceptions {
		switch {
		case xc.OriginalStart.Equal(second) && xc.Override != nil:
			accepted = aliceStatus(xc.Override) == sources.StatusAccepted
		case xc.OriginalStart.Equal(third):
			deleted = xc.Deleted
		}
	}
	if !accepted || !deleted {
		t.Errorf("exceptions = %+v, want %v accepted and %v deleted", x.Exceptions, second, third)
	}
}

// TestRespondNotInvitation: what is no invitation to alice is ErrNotFound.
func TestRespondNotInvitation(t *testing.T) {
	e := newRespondEnv(t)
	ctx := context.Background()
	plain, err := e.g.Emu.DeliverMail("alice@"+testserver.GraphDomain, "inbox", mail(1))
	if err != nil {
		t.Fatal(err)
	}
	own, err := e.g.Emu.AddEvent("alice@"+testserver.GraphDomain, "", map[string]any{"subject": "Dentist",
		"start": map[string]any{"dateTime": e.start.Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
		"end":   map[string]any{"dateTime": e.start.Add(time.Hour).Format("2006-01-02T15:04:05"), "timeZone": "UTC"}})
	if err != nil {
		t.Fatal(err)
	}
	declinedMsg, declinedEv := e.invite(t, "Declined before", false, nil)
	if _, err := e.alice.Respond(ctx, declinedEv, sources.MeetingAnswer{Status: sources.StatusDeclined}); err != nil {
		t.Fatal(err)
	}
	_, series := e.invite(t, "Series", true, nil)
	accept := sources.MeetingAnswer{Status: sources.StatusAccepted}
	for _, c := range []struct {
		name string
		ref  sources.ItemRef
		a    sources.MeetingAnswer
	}{
		{"plain mail", sources.ItemRef{Folder: e.inbox, ID: sources.ItemID(plain)}, accept},
		{"own appointment", sources.ItemRef{Folder: e.cal, ID: sources.ItemID(own)}, accept},
		{"request of a declined event", declinedMsg, accept},
		{"no such occurrence", series, sources.MeetingAnswer{Status: sources.StatusAccepted, Occurrence: e.start.Add(time.Hour)}},
		{"no such message", sources.ItemRef{Folder: e.inbox, ID: "AAMkNoSuchMessage"}, accept},
	} {
		if _, err := e.alice.Respond(ctx, c.ref, c.a); !errors.Is(err, sources.ErrNotFound) {
			t.Errorf("Respond(%s) = %v, want ErrNotFound", c.name, err)
		}
	}
}

// TestMeetingRequestMail: a meeting request syncs with its meeting, read
// from the eventMessage's event, so phones offer to answer it; once its
// event is declined it is plain mail, as is ordinary mail.
func TestMeetingRequestMail(t *testing.T) {
	e := newRespondEnv(t)
	ctx := context.Background()
	msg, ev := e.invite(t, "Review", true, nil)
	plain, err := e.g.Emu.DeliverMail("alice@"+testserver.GraphDomain, "inbox", mail(2))
	if err != nil {
		t.Fatal(err)
	}
	items, err := e.alice.Get(ctx, e.inbox, []sources.ItemID{msg.ID, sources.ItemID(plain)}, nil)
	if err != nil || len(items) != 2 {
		t.Fatalf("Get(request, mail) = %d items, %v", len(items), err)
	}
	mr := items[0].Mail.Meeting
	if mr == nil || mr.Method != sources.MethodRequest || mr.Event.Summary != "Review" || !mr.Event.Start.Equal(e.start) ||
		mr.Event.Organizer.Email != "bob@"+testserver.GraphDomain || mr.Event.Recurrence == nil || !mr.ResponseRequested ||
		aliceStatus(&mr.Event) != sources.StatusNeedsAction {
		t.Errorf("the request's meeting = %+v", mr)
	}
	if items[1].Mail.Meeting != nil {
		t.Errorf("plain mail has a meeting: %+v", items[1].Mail.Meeting)
	}
	if _, err := e.alice.Respond(ctx, ev, sources.MeetingAnswer{Status: sources.StatusDeclined}); err != nil {
		t.Fatal(err)
	}
	items, err = e.alice.Get(ctx, e.trash, []sources.ItemID{msg.ID}, nil)
	if err != nil || len(items) != 1 || items[0].Mail.Meeting != nil {
		t.Errorf("the request of a declined meeting = %+v, %v; want plain mail in Deleted Items", items, err)
	}
}
