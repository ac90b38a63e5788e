package itip

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/easgate/easgate/sources"
)

// calendarPart returns the decoded first text/calendar part of a message.
func calendarPart(t testing.TB, raw []byte) []byte {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var find func(ct, cte string, body io.Reader) []byte
	find = func(ct, cte string, body io.Reader) []byte {
		typ, params, _ := mime.ParseMediaType(ct)
		if strings.HasPrefix(typ, "multipart/") {
			mr := multipart.NewReader(body, params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err != nil {
					return nil
				}
				if b := find(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); b != nil {
					return b
				}
			}
		}
		if !IsCalendar(ct) {
			return nil
		}
		b, _ := io.ReadAll(body)
		if strings.EqualFold(cte, "base64") {
			d := make([]byte, len(b))
			n, _ := base64Decode(d, b)
			return d[:n]
		}
		return b
	}
	b := find(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body)
	if b == nil {
		t.Fatal("no text/calendar part")
	}
	return b
}

// TestParseInvitations reads the invitations of Outlook and Google
// Calendar (testdata/README.md).
func TestParseInvitations(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	fifteen, thirty := 15, 30
	tests := []struct {
		file string
		want sources.MeetingRequest
	}{
		{"outlook-request-weekly.eml", sources.MeetingRequest{
			Method: sources.MethodRequest, ResponseRequested: true,
			Stamp: time.Date(2026, 12, 1, 9, 12, 33, 0, time.UTC),
			Event: sources.Event{
				UID:         "040000008200E00074C5B7101A82E00800000000D0E5B7A3F14EDD01000000000000000010000000F4E0E4B6C37C2A4C9A1B1F2E3D4C5B6A",
				Summary:     "Project kickoff weekly",
				Location:    "Room 4.12",
				Description: "Weekly sync of the kickoff team: status, risks, next steps.\n\n",
				Start:       time.Date(2027, 1, 18, 10, 0, 0, 0, berlin), End: time.Date(2027, 1, 18, 11, 0, 0, 0, berlin),
				TimeZone:  "Europe/Berlin",
				Organizer: sources.Address{Name: "Bob Organizer", Email: "bob@example.com"},
				Attendees: []sources.Attendee{
					{Address: sources.Address{Name: "Alice Attendee", Email: "alice@example.com"}},
					{Address: sources.Address{Name: "Carol Optional", Email: "carol@example.com"}, Role: sources.RoleOptional},
				},
				Reminder:          &fifteen,
				MeetingStatus:     sources.MeetingReceived,
				ResponseRequested: true,
				Stamp:             time.Date(2026, 12, 1, 9, 12, 33, 0, time.UTC),
				Recurrence: &sources.Recurrence{Freq: sources.Weekly, Interval: 1, Until: time.Date(2027, 3, 29, 9, 0, 0, 0, time.UTC),
					ByDay: []sources.WeekdayNum{{Day: time.Monday}}, WeekStart: time.Monday},
			},
		}},
		{"gmail-request.eml", sources.MeetingRequest{
			Method: sources.MethodRequest, ResponseRequested: true,
			Stamp: time.Date(2026, 12, 1, 10, 15, 0, 0, time.UTC),
			Event: sources.Event{
				UID:     "5q0m7k3c1v9h2r8t4n6b0d2f7g@google.com",
				Summary: "Design review",
				Start:   time.Date(2027, 1, 19, 13, 0, 0, 0, time.UTC), End: time.Date(2027, 1, 19, 14, 0, 0, 0, time.UTC),
				Organizer: sources.Address{Name: "Bob Organizer", Email: "bob@example.com"},
				Attendees: []sources.Attendee{
					{Address: sources.Address{Name: "alice@example.com", Email: "alice@example.com"}},
					{Address: sources.Address{Name: "Bob Organizer", Email: "bob@example.com"}, Status: sources.StatusAccepted},
				},
				Reminder:          &thirty,
				MeetingStatus:     sources.MeetingReceived,
				ResponseRequested: true,
				Stamp:             time.Date(2026, 12, 1, 10, 15, 0, 0, time.UTC),
			},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(bytes.NewReader(calendarPart(t, raw)))
			if err != nil {
				t.Fatal(err)
			}
			if tt.file == "gmail-request.eml" {
				// The Meet block is Google's; only its start matters here.
				if !strings.HasPrefix(got.Event.Description, "Walk through the new settings screens") {
					t.Errorf("Description = %q", got.Event.Description)
				}
				got.Event.Description = ""
			}
			if !got.Event.Start.Equal(tt.want.Event.Start) || !got.Event.End.Equal(tt.want.Event.End) {
				t.Errorf("Parse(%s) times %v–%v, want %v–%v", tt.file, got.Event.Start, got.Event.End, tt.want.Event.Start, tt.want.Event.End)
			}
			got.Event.Start, got.Event.End = tt.want.Event.Start, tt.want.Event.End
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("Parse(%s) =\n %+v\nwant\n %+v", tt.file, *got, tt.want)
			}
		})
	}
}

// TestReplyMessage renders the answers to the Outlook invitation and reads
// them back: a REPLY with the attendee's PARTSTAT, or a COUNTER with the
// proposed time.
func TestReplyMessage(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "outlook-request-weekly.eml"))
	if err != nil {
		t.Fatal(err)
	}
	mr, err := Parse(bytes.NewReader(calendarPart(t, raw)))
	if err != nil {
		t.Fatal(err)
	}
	alice := sources.Address{Name: "Alice Attendee", Email: "alice@example.com"}
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name    string
		r       Reply
		method  sources.MeetingMethod
		subject string
	}{
		{"accept", Reply{Meeting: mr, From: alice, Status: sources.StatusAccepted}, sources.MethodReply, "Accepted: Project kickoff weekly"},
		{"decline-with-comment", Reply{Meeting: mr, From: alice, Status: sources.StatusDeclined, Comment: "On leave – sorry"}, sources.MethodReply, "Declined: Project kickoff weekly"},
		{"counter", Reply{Meeting: mr, From: alice, Status: sources.StatusTentative,
			ProposedStart: time.Date(2027, 1, 18, 13, 0, 0, 0, time.UTC), ProposedEnd: time.Date(2027, 1, 18, 14, 0, 0, 0, time.UTC)},
			sources.MethodCounter, "New Time Proposed: Project kickoff weekly"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := tt.r.Message(now)
			if err != nil {
				t.Fatal(err)
			}
			m, err := mail.ReadMessage(bytes.NewReader(msg))
			if err != nil {
				t.Fatal(err)
			}
			subj, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
			if subj != tt.subject || m.Header.Get("To") != `"Bob Organizer" <bob@example.com>` {
				t.Errorf("Subject %q To %q, want %q to Bob", subj, m.Header.Get("To"), tt.subject)
			}
			got, err := Parse(bytes.NewReader(calendarPart(t, msg)))
			if err != nil {
				t.Fatal(err)
			}
			ev := got.Event
			if got.Method != tt.method || ev.UID != mr.Event.UID || len(ev.Attendees) != 1 || ev.Attendees[0].Email != alice.Email ||
				ev.Attendees[0].Status != tt.r.Status || ev.Organizer.Email != "bob@example.com" {
				t.Errorf("answer = %+v, want method %d from Alice with status %d", got, tt.method, tt.r.Status)
			}
			if tt.method == sources.MethodCounter && !ev.Start.Equal(tt.r.ProposedStart) {
				t.Errorf("COUNTER starts %v, want %v", ev.Start, tt.r.ProposedStart)
			}
			if tt.method == sources.MethodReply && !ev.Start.Equal(mr.Event.Start) {
				t.Errorf("REPLY starts %v, want the meeting's %v", ev.Start, mr.Event.Start)
			}
		})
	}
}

// FuzzParse checks that Parse terminates without panicking on any input.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"outlook-request-weekly.eml", "gmail-request.eml"} {
		raw, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(calendarPart(f, raw))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		Parse(bytes.NewReader(b))
	})
}

func base64Decode(dst, src []byte) (int, error) {
	return base64.StdEncoding.Decode(dst, bytes.Join(bytes.Fields(src), nil))
}
