package vcal

import (
	"reflect"
	"strings"
	"testing"

	"github.com/emersion/go-ical"

	"github.com/easgate/easgate/sources"
)

// event decodes one VEVENT from the lines of its body.
func event(t *testing.T, lines ...string) *ical.Component {
	t.Helper()
	src := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:u1\r\nDTSTAMP:20261207T090000Z\r\nDTSTART:20261207T100000Z\r\n" +
		strings.Join(lines, "\r\n") + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	cal, err := ical.NewDecoder(strings.NewReader(src)).Decode()
	if err != nil {
		t.Fatalf("decoding %q: %v", src, err)
	}
	return cal.Children[0]
}

func TestAttendees(t *testing.T) {
	c := event(t,
		"ORGANIZER;CN=Olga:MAILTO:olga@example.com",
		"ATTENDEE;CN=Ann;ROLE=OPT-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:ann@example.com",
		"ATTENDEE;CUTYPE=ROOM;PARTSTAT=bogus;RSVP=TRUE: mailto:room1@example.com",
		"ATTENDEE;ROLE=CHAIR;CUTYPE=GROUP;PARTSTAT=DECLINED:team@example.com",
	)
	if got, want := Organizer(c.Props), (sources.Address{Name: "Olga", Email: "olga@example.com"}); got != want {
		t.Errorf("Organizer = %+v, want %+v", got, want)
	}
	got, rsvp := Attendees(c.Props)
	want := []sources.Attendee{
		{Address: sources.Address{Name: "Ann", Email: "ann@example.com"}, Role: sources.RoleOptional, Status: sources.StatusAccepted},
		{Address: sources.Address{Email: "room1@example.com"}, Type: sources.TypeRoom, Status: sources.StatusNeedsAction},
		{Address: sources.Address{Email: "team@example.com"}, Role: sources.RoleChair, Type: sources.TypeGroup, Status: sources.StatusDeclined},
	}
	if !reflect.DeepEqual(got, want) || !rsvp {
		t.Errorf("Attendees = %+v, %v; want %+v, true", got, rsvp, want)
	}
	if got, rsvp := Attendees(event(t).Props); got != nil || rsvp {
		t.Errorf("Attendees of none = %+v, %v", got, rsvp)
	}
}

func TestReminder(t *testing.T) {
	alarm := func(trigger string) string {
		return "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:x\r\n" + trigger + "\r\nEND:VALARM"
	}
	for _, tc := range []struct {
		name  string
		lines []string
		want  int // -1: none
	}{
		{"none", nil, -1},
		{"15 before", []string{alarm("TRIGGER:-PT15M")}, 15},
		{"at start", []string{alarm("TRIGGER:PT0S")}, 0},
		{"after start", []string{alarm("TRIGGER:PT5M")}, -1},
		{"before end", []string{alarm("TRIGGER;RELATED=END:-PT5M")}, -1},
		{"absolute", []string{alarm("TRIGGER;VALUE=DATE-TIME:20261207T093000Z")}, -1},
		{"first usable", []string{alarm("TRIGGER;RELATED=END:-PT5M"), alarm("TRIGGER:-P1D"), alarm("TRIGGER:-PT10M")}, 1440},
	} {
		got := Reminder(event(t, tc.lines...))
		switch {
		case tc.want < 0 && got != nil:
			t.Errorf("%s: Reminder = %d, want none", tc.name, *got)
		case tc.want >= 0 && (got == nil || *got != tc.want):
			t.Errorf("%s: Reminder = %v, want %d", tc.name, got, tc.want)
		}
	}
}

func TestSensitivity(t *testing.T) {
	for _, s := range []sources.Sensitivity{sources.SensitivityNormal, sources.SensitivityPrivate, sources.SensitivityConfidential, sources.SensitivityPersonal} {
		if got := Sensitivity(ClassName(s)); got != s {
			t.Errorf("Sensitivity(ClassName(%v)) = %v", s, got)
		}
	}
	if got := Sensitivity(" private "); got != sources.SensitivityPrivate {
		t.Errorf(`Sensitivity(" private ") = %v`, got)
	}
	if got := Sensitivity("PUBLIC"); got != sources.SensitivityNormal {
		t.Errorf(`Sensitivity("PUBLIC") = %v`, got)
	}
}

func TestCategories(t *testing.T) {
	got := Categories(event(t, "CATEGORIES:Work,Travel", "CATEGORIES:Family").Props)
	if want := []string{"Work", "Travel", "Family"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Categories = %q, want %q", got, want)
	}
}
