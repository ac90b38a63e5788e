package dav

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-vcard"

	"github.com/easgate/easgate/sources"
)

// berlinSeries is a weekly 09:00 Europe/Berlin series over the end of
// daylight saving time (25 October 2026), with one occurrence removed
// and one moved, as a phone's calendar app writes it.
const berlinSeries = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" +
	"BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n" +
	"BEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n" +
	"BEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\n" +
	"END:VTIMEZONE\r\n" +
	"BEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20260101T000000Z\r\n" +
	"DTSTART;TZID=Europe/Berlin:20261005T090000\r\nDTEND;TZID=Europe/Berlin:20261005T100000\r\n" +
	"RRULE:FREQ=WEEKLY;COUNT=8;BYDAY=MO\r\nEXDATE;TZID=Europe/Berlin:20261019T090000\r\n" +
	"SUMMARY:Standup\r\nLOCATION:Room 1\r\nX-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC\r\n" +
	"ORGANIZER;CN=Alice:mailto:alice@example.com\r\n" +
	"ATTENDEE;CN=Bob;ROLE=OPT-PARTICIPANT;PARTSTAT=ACCEPTED;CUTYPE=INDIVIDUAL;X-NUM-GUESTS=0:mailto:bob@example.com\r\n" +
	"ATTENDEE;CN=Room;CUTYPE=ROOM;PARTSTAT=TENTATIVE:mailto:room@example.com\r\n" +
	"BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:x\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\n" +
	"END:VEVENT\r\n" +
	"BEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID;TZID=Europe/Berlin:20261102T090000\r\n" +
	"DTSTART;TZID=Europe/Berlin:20261102T110000\r\nDTEND;TZID=Europe/Berlin:20261102T120000\r\nSUMMARY:Standup (moved)\r\n" +
	"END:VEVENT\r\nEND:VCALENDAR\r\n"

func decodeICS(t testing.TB, s string) *ical.Calendar {
	t.Helper()
	cal, err := ical.NewDecoder(strings.NewReader(s)).Decode()
	if err != nil {
		t.Fatalf("Decode = %v", err)
	}
	return cal
}

func encodeICS(t testing.TB, cal *ical.Calendar) string {
	t.Helper()
	var b bytes.Buffer
	if err := ical.NewEncoder(&b).Encode(cal); err != nil {
		t.Fatalf("Encode = %v", err)
	}
	return b.String()
}

// occurrences expands the series of an object with rrule-go (through
// go-ical), minus its EXDATEs, plus where its overrides moved to.
func occurrences(t testing.TB, cal *ical.Calendar) []time.Time {
	t.Helper()
	m, ovs := components(cal, ical.CompEvent)
	set, err := m.RecurrenceSet(time.UTC)
	if err != nil || set == nil {
		t.Fatalf("RecurrenceSet = %v, %v", set, err)
	}
	moved := map[int64]time.Time{}
	for _, o := range ovs {
		rid, _, _, _ := when(o.Props.Get(ical.PropRecurrenceID))
		st, _, _, _ := when(o.Props.Get(ical.PropDateTimeStart))
		moved[rid.Unix()] = st
	}
	var out []time.Time
	for _, at := range set.All() {
		if mv, ok := moved[at.Unix()]; ok {
			at = mv
		}
		out = append(out, at)
	}
	return out
}

func dump(ev *sources.Event) string {
	s := fmt.Sprintf("%+v reminder=%v rec=%+v", *ev, *ev.Reminder, ev.Recurrence)
	for _, x := range ev.Exceptions {
		if x.Override != nil {
			s += fmt.Sprintf("\n  override %v: %+v", x.OriginalStart, *x.Override)
		}
	}
	return s
}

// inUTC copies ev with its times in UTC, so that DeepEqual compares
// instants, not *time.Location pointers.
func inUTC(ev *sources.Event) *sources.Event {
	if ev == nil {
		return nil
	}
	e := *ev
	e.Start, e.End, e.Stamp = e.Start.UTC(), e.End.UTC(), e.Stamp.UTC()
	if e.Recurrence != nil {
		r := *e.Recurrence
		r.Until = r.Until.UTC()
		e.Recurrence = &r
	}
	e.Exceptions = nil
	for _, x := range ev.Exceptions {
		x.OriginalStart = x.OriginalStart.UTC()
		x.Override = inUTC(x.Override)
		e.Exceptions = append(e.Exceptions, x)
	}
	return &e
}

func TestBerlinSeriesAcrossDST(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	ev, err := eventFromICal(decodeICS(t, berlinSeries))
	if err != nil {
		t.Fatal(err)
	}
	if ev.TimeZone != "Europe/Berlin" || ev.Start.In(berlin).Hour() != 9 || ev.Recurrence == nil || ev.Recurrence.Count != 8 {
		t.Fatalf("eventFromICal = %+v", ev)
	}
	if len(ev.Exceptions) != 2 || !ev.Exceptions[0].Deleted || ev.Exceptions[1].Override == nil ||
		!ev.Exceptions[1].OriginalStart.Equal(time.Date(2026, 11, 2, 9, 0, 0, 0, berlin)) {
		t.Fatalf("Exceptions = %+v", ev.Exceptions)
	}
	if r := ev.Reminder; r == nil || *r != 15 {
		t.Errorf("Reminder = %v, want 15", r)
	}
	want := []sources.Attendee{
		{Address: sources.Address{Name: "Bob", Email: "bob@example.com"}, Role: sources.RoleOptional, Status: sources.StatusAccepted},
		{Address: sources.Address{Name: "Room", Email: "room@example.com"}, Status: sources.StatusTentative, Type: sources.TypeRoom},
	}
	if !reflect.DeepEqual(ev.Attendees, want) {
		t.Errorf("Attendees = %+v, want %+v", ev.Attendees, want)
	}

	// Written from scratch (VTIMEZONE generated) and merged into the
	// original (unknown properties kept), the series keeps every
	// occurrence at 09:00 Berlin time, 11:00 for the moved one.
	for _, tc := range []struct {
		name string
		base *ical.Calendar
	}{{"new", nil}, {"merged", decodeICS(t, berlinSeries)}} {
		t.Run(tc.name, func(t *testing.T) {
			cal := tc.base
			if cal == nil {
				cal = newCalendar()
			}
			if err := patchEvent(cal, ev); err != nil {
				t.Fatal(err)
			}
			out := encodeICS(t, cal)
			if !strings.Contains(out, "BEGIN:VTIMEZONE") || !strings.Contains(out, "TZID:Europe/Berlin") {
				t.Errorf("no VTIMEZONE for Europe/Berlin in\n%s", out)
			}
			if tc.base != nil && !strings.Contains(out, "X-APPLE-TRAVEL-ADVISORY-BEHAVIOR") || !strings.Contains(out, "X-NUM-GUESTS=0") && tc.base != nil {
				t.Errorf("unknown properties lost:\n%s", out)
			}
			back := decodeICS(t, out)
			ev2, err := eventFromICal(back)
			if err != nil {
				t.Fatal(err)
			}
			ev2.Stamp = ev.Stamp
			if !reflect.DeepEqual(inUTC(ev2), inUTC(ev)) {
				t.Errorf("round trip:\n got %s\nwant %s", dump(inUTC(ev2)), dump(inUTC(ev)))
			}
			occ := occurrences(t, back)
			if len(occ) != 7 {
				t.Fatalf("%d occurrences, want 7: %v", len(occ), occ)
			}
			for _, at := range occ {
				h := at.In(berlin).Hour()
				if h != 9 && !(h == 11 && at.In(berlin).Day() == 2) {
					t.Errorf("occurrence %v is at %d:00 Berlin time", at.In(berlin), h)
				}
			}
		})
	}
}

func TestEventAllDayAndWindowsZone(t *testing.T) {
	const s = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n" +
		"BEGIN:VEVENT\r\nUID:a\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20260704\r\nDTEND;VALUE=DATE:20260706\r\nSUMMARY:Holiday\r\nTRANSP:TRANSPARENT\r\nCLASS:PRIVATE\r\nCATEGORIES:A,B\r\nEND:VEVENT\r\n" +
		"END:VCALENDAR\r\n"
	ev, err := eventFromICal(decodeICS(t, s))
	if err != nil {
		t.Fatal(err)
	}
	if !ev.AllDay || ev.End.Sub(ev.Start) != 48*time.Hour || ev.BusyStatus != sources.Free || ev.Sensitivity != sources.SensitivityPrivate || len(ev.Categories) != 2 {
		t.Errorf("eventFromICal = %+v", ev)
	}
	cal := newCalendar()
	patchEvent(cal, ev)
	out := encodeICS(t, cal)
	if !strings.Contains(out, "DTSTART;VALUE=DATE:20260704") || !strings.Contains(out, "DTEND;VALUE=DATE:20260706") {
		t.Errorf("all-day written as\n%s", out)
	}
	if l := location("W. Europe Standard Time"); l == nil || l.String() != "Europe/Berlin" {
		t.Errorf("location(Windows name) = %v", l)
	}
	if l := location("/mozilla.org/20050126_1/America/New_York"); l == nil || l.String() != "America/New_York" {
		t.Errorf("location(Mozilla name) = %v", l)
	}
}

func TestTaskRoundTrip(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	due := time.Date(2026, 5, 1, 17, 0, 0, 0, berlin)
	task := &sources.Task{
		UID: "t1", Subject: "Taxes", Body: "file them", Due: due, DueLocal: due,
		Importance: sources.ImportanceHigh, Reminder: due.Add(-time.Hour).UTC(), Categories: []string{"home"},
		Sensitivity: sources.SensitivityPrivate,
	}
	cal := newCalendar()
	if err := patchTask(cal, task); err != nil {
		t.Fatal(err)
	}
	got, err := taskFromICal(decodeICS(t, encodeICS(t, cal)))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Due.Equal(due) || got.DueLocal.Location().String() != "Europe/Berlin" || got.Subject != "Taxes" ||
		got.Importance != sources.ImportanceHigh || !got.Reminder.Equal(task.Reminder) || got.Complete || got.Sensitivity != task.Sensitivity {
		t.Errorf("round trip = %+v, want %+v", got, task)
	}
	got.Complete = true
	patchTask(cal, got)
	done, _ := taskFromICal(decodeICS(t, encodeICS(t, cal)))
	if !done.Complete || done.Completed.IsZero() {
		t.Errorf("completed task = %+v", done)
	}
}

func TestContactRoundTrip(t *testing.T) {
	c := &sources.Contact{
		UID: "c1", FileAs: "Doe, Jane", Title: "Dr.", FirstName: "Jane", MiddleName: "Q", LastName: "Doe", Suffix: "PhD",
		Nickname: "JD", Alias: "jdoe", YomiFirstName: "ジェーン", YomiLastName: "ドウ", YomiCompanyName: "エイクミ",
		Emails: []string{"jane@example.com", "jd@example.org"}, IMAddresses: []string{"xmpp:jane@example.com"},
		Phones: sources.Phones{Home: "+49 1", Home2: "+49 2", Business: "+49 3", Business2: "+49 4", Mobile: "+49 5", Car: "+49 6",
			Radio: "+49 7", Pager: "+49 8", HomeFax: "+49 9", BusinessFax: "+49 10", Assistant: "+49 11", CompanyMain: "+49 12", MMS: "+49 13"},
		Home:     sources.PostalAddress{Street: "Main St 1", City: "Berlin", PostalCode: "10115", Country: "Germany"},
		Business: sources.PostalAddress{Street: "Work Rd 2", City: "Hamburg", State: "HH"},
		Other:    sources.PostalAddress{City: "Paris"},
		Company:  "Acme", JobTitle: "CTO", Department: "R&D", OfficeLocation: "B2", ManagerName: "Max", AssistantName: "Ann",
		Spouse: "John", Children: []string{"Kim", "Lee"}, WebPage: "https://example.com",
		Birthday: time.Date(1980, 2, 29, 0, 0, 0, 0, time.UTC), Anniversary: time.Date(2005, 6, 1, 0, 0, 0, 0, time.UTC),
		CustomerID: "C-1", GovernmentID: "G-1", AccountName: "A-1", Notes: "line1\nline2", Categories: []string{"friends", "work"},
		Photo: []byte("\xff\xd8\xff\xe0fakejpeg"),
	}
	for _, version := range []string{"3.0", "4.0"} {
		t.Run(version, func(t *testing.T) {
			card := vcard.Card{}
			card.SetValue(vcard.FieldVersion, version)
			card.SetValue("X-SOCIALPROFILE", "keep-me")
			patchVCard(card, c)
			var b bytes.Buffer
			if err := vcard.NewEncoder(&b).Encode(card); err != nil {
				t.Fatal(err)
			}
			back, err := vcard.NewDecoder(&b).Decode()
			if err != nil {
				t.Fatal(err)
			}
			if back.Value("X-SOCIALPROFILE") != "keep-me" {
				t.Errorf("unknown property lost")
			}
			got := contactFromVCard(back)
			if !reflect.DeepEqual(got, c) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, c)
			}
		})
	}
}

// TestVCardFromPhone reads vCards as clients write them: 3.0 with an
// inline photo and typed phones, 4.0 with a data: URI.
func TestVCardFromPhone(t *testing.T) {
	const v3 = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;John;;;\r\nFN:John Doe\r\nitem1.TEL;type=CELL;type=VOICE;type=pref:+1 555\r\n" +
		"TEL;TYPE=WORK,FAX:+1 556\r\nEMAIL;type=INTERNET;type=HOME:b@example.com\r\nEMAIL;type=INTERNET;type=pref:a@example.com\r\n" +
		"PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQ\r\nBDAY:1990-01-02\r\nORG:Acme;Sales\r\nEND:VCARD\r\n"
	card, err := vcard.NewDecoder(strings.NewReader(v3)).Decode()
	if err != nil {
		t.Fatal(err)
	}
	c := contactFromVCard(card)
	if c.Phones.Mobile != "+1 555" || c.Phones.BusinessFax != "+1 556" || c.Emails[0] != "a@example.com" || len(c.Photo) != 6 ||
		c.Birthday != time.Date(1990, 1, 2, 0, 0, 0, 0, time.UTC) || c.Company != "Acme" || c.Department != "Sales" {
		t.Errorf("contactFromVCard(3.0) = %+v", c)
	}
	const v4 = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:X\r\nPHOTO:data:image/png;base64,iVBORw==\r\nTEL;VALUE=uri;TYPE=home:tel:+1-555\r\nEND:VCARD\r\n"
	card, _ = vcard.NewDecoder(strings.NewReader(v4)).Decode()
	c = contactFromVCard(card)
	if len(c.Photo) != 4 || c.Phones.Home != "+1-555" {
		t.Errorf("contactFromVCard(4.0) = %+v", c)
	}
}

// TestVCardKeyCertificate reads S/MIME certificates from KEY as vCard 3.0
// (base64 with ENCODING=b) and 4.0 (a data: URI) write them; a PGP key or
// a URI is no certificate.
func TestVCardKeyCertificate(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Zoe"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), EmailAddresses: []string{"zoe@example.com"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(der)
	for name, card := range map[string]string{
		"3.0": "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Zoe\r\nKEY;ENCODING=b;TYPE=X509:" + b64 + "\r\nKEY;TYPE=PGP:https://example.com/zoe.asc\r\nEND:VCARD\r\n",
		"4.0": "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Zoe\r\nKEY:data:application/pkix-cert;base64," + b64 + "\r\nKEY:data:application/pgp-keys;base64,bm90IGEgY2VydA==\r\nEND:VCARD\r\n",
	} {
		c, err := vcard.NewDecoder(strings.NewReader(card)).Decode()
		if err != nil {
			t.Fatal(err)
		}
		if got := contactFromVCard(c).Certificates; len(got) != 1 || !bytes.Equal(got[0], der) {
			t.Errorf("contactFromVCard(%s).Certificates = %d certificates, want the one X.509 certificate", name, len(got))
		}
	}
}
