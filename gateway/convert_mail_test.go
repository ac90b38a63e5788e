package gateway

import (
	"bytes"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

func testMessage() *sources.Message {
	return &sources.Message{
		From:     []sources.Address{{Name: "Ann Example", Email: "ann@example.org"}},
		To:       []sources.Address{{Name: "Bob", Email: "bob@example.org"}, {Email: "cy@example.org"}},
		Cc:       []sources.Address{{Name: "Dee, Jr.", Email: "dee@example.org"}},
		Subject:  "Re: Fwd: Plans",
		Date:     time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC),
		Received: time.Date(2026, 3, 2, 8, 0, 5, 0, time.UTC),
		Read:     true, Flagged: true,
		FollowUp:   &sources.FollowUp{Request: "Reply", Start: time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC), Due: time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)},
		Categories: []string{"Blue"},
		Importance: sources.ImportanceHigh,
		Text:       &sources.Body{Data: "hello", Size: 5},
		Attachments: []sources.Attachment{
			{ID: "2", Name: "a.pdf", ContentType: "application/pdf", Size: 1000},
		},
	}
}

func TestMailToEAS(t *testing.T) {
	m := testMessage()
	for _, v := range testVersions {
		t.Run(v.String(), func(t *testing.T) {
			e := payload[eas.Email](t, &sources.Item{ID: "7", Folder: "INBOX", Mail: m}, v, newBodyPrefs(v, classEmail, nil))
			if want := `"Ann Example" <ann@example.org>`; e.From != want {
				t.Errorf("From = %q, want %q", e.From, want)
			}
			if got := parseAddresses(e.Cc); len(got) != 1 || got[0] != m.Cc[0] {
				t.Errorf("Cc %q parses to %v", e.Cc, got)
			}
			if e.DisplayTo != "Bob; cy@example.org" || e.ThreadTopic != "Plans" || e.MessageClass != "IPM.Note" || e.InternetCPID != "65001" {
				t.Errorf("DisplayTo %q, ThreadTopic %q, MessageClass %q, InternetCPID %q", e.DisplayTo, e.ThreadTopic, e.MessageClass, e.InternetCPID)
			}
			if *e.Importance != eas.ImportanceHigh || !*e.Read {
				t.Errorf("Importance %d, Read %v", *e.Importance, *e.Read)
			}
			ref := fileReference(sources.AttachmentRef{Folder: "INBOX", Item: "7", ID: "2"})
			switch {
			case v == eas.V25:
				if e.Attachments25 == nil || e.Attachments25.Attachment[0].AttName != ref {
					t.Errorf("Attachments25 = %+v", e.Attachments25)
				}
			default:
				if e.Attachments == nil || e.Attachments.Attachment[0].FileReference != ref {
					t.Errorf("Attachments = %+v", e.Attachments)
				}
				if e.Flag == nil || *e.Flag.Status != eas.FlagActive || e.Flag.FlagType != "Reply" {
					t.Errorf("Flag = %+v", e.Flag)
				}
			}
			if v >= eas.V140 && len(e.ConversationID) != 16 {
				t.Errorf("ConversationId = %x", e.ConversationID)
			}
		})
	}
}

func TestConversationID(t *testing.T) {
	a := &sources.Message{Subject: "Plans"}
	b := &sources.Message{Subject: "RE: AW: plans"}
	if !bytes.Equal(conversationID(a), conversationID(b)) {
		t.Error("replies to one subject differ")
	}
	if bytes.Equal(conversationID(a), conversationID(&sources.Message{Subject: "Other"})) {
		t.Error("different subjects agree")
	}
	if bytes.Equal(conversationID(a), conversationID(&sources.Message{Subject: "Plans", ThreadID: "T1"})) {
		t.Error("the store's thread id is not used")
	}
}

func TestMailChange(t *testing.T) {
	old := &sources.Item{ID: "7", Mail: testMessage()}
	tests := []struct {
		name string
		e    *eas.Email
		want func(m *sources.Message)
	}{
		{"read only keeps flag and categories", &eas.Email{Read: ptr(false)}, func(m *sources.Message) { m.Read = false }},
		{"empty flag clears", &eas.Email{Flag: &eas.Flag{}}, func(m *sources.Message) { m.Flagged, m.FollowUp = false, nil }},
		{"complete", &eas.Email{Flag: &eas.Flag{Status: ptr(eas.FlagComplete), CompleteTime: dateTime(time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC), eas.DateTimeExtended)}},
			func(m *sources.Message) {
				m.Flagged = false
				m.FollowUp = &sources.FollowUp{Request: "Reply", Start: m.FollowUp.Start, Due: m.FollowUp.Due, Completed: time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)}
			}},
		{"categories cleared", &eas.Email{Categories: &eas.EmailCategories{}}, func(m *sources.Message) { m.Categories = nil }},
		{"read-only subject ignored", &eas.Email{Subject: "changed"}, func(m *sources.Message) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fromEAS(classEmail, wire(t, eas.RawValue(tt.e)), eas.V141, old)
			if err != nil {
				t.Fatal(err)
			}
			want := testMessage()
			tt.want(want)
			sameItem(t, got.Mail, want)
		})
	}
}

func TestMeetingRequest(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	m := testMessage()
	m.Meeting = &sources.MeetingRequest{
		Method: sources.MethodRequest, ResponseRequested: true,
		Event: sources.Event{UID: "m1", Summary: "Review", Location: "Room 2", TimeZone: "Europe/Berlin",
			Start: time.Date(2026, 5, 4, 14, 0, 0, 0, berlin), End: time.Date(2026, 5, 4, 15, 0, 0, 0, berlin),
			Organizer: sources.Address{Email: "ann@example.org"}, Reminder: ptr(10),
			Recurrence: &sources.Recurrence{Freq: sources.Weekly, Count: 3}},
	}
	for _, v := range testVersions {
		t.Run(v.String(), func(t *testing.T) {
			e := payload[eas.Email](t, &sources.Item{ID: "8", Mail: m}, v, newBodyPrefs(v, classEmail, nil))
			r := e.MeetingRequest
			if e.MessageClass != "IPM.Schedule.Meeting.Request" || r == nil {
				t.Fatalf("MessageClass %q, MeetingRequest %+v", e.MessageClass, r)
			}
			if !r.StartTime.Time.Equal(m.Meeting.Event.Start) || r.Recurrences == nil || *r.InstanceType != 1 {
				t.Errorf("StartTime %v, Recurrences %+v, InstanceType %d", r.StartTime, r.Recurrences, *r.InstanceType)
			}
			if got := zoneName(*r.TimeZone, r.StartTime); got != "Europe/Berlin" {
				t.Errorf("TimeZone names %q", got)
			}
		})
	}
}
