package demo

import (
	"fmt"
	"strings"
	"time"

	"github.com/easgate/easgate/sources"
)

// events returns the calendar: recurring series with exceptions, all-day
// events and single meetings from eight weeks back to eight weeks ahead,
// in Berlin and New York time.
func (g *gen) events() []*sources.Event {
	monday := g.day(berlin, -weekday(g.now.In(berlin))) // this week's Monday
	var es []*sources.Event

	// A weekly team meeting the user runs: one occurrence moved, one
	// renamed, one skipped for a holiday.
	sync := g.meeting("Team sync", "Room Spree / video", at(monday.AddDate(0, 0, -56), 10, 0), 30*time.Minute, berlin, g.owner, 1, 2, 3)
	sync.Recurrence = &sources.Recurrence{Freq: sources.Weekly, ByDay: []sources.WeekdayNum{{Day: time.Monday}}, WeekStart: time.Monday}
	occ := func(k int) time.Time { return sync.Start.In(berlin).AddDate(0, 0, 7*k) }
	sync.Exceptions = []sources.Exception{
		{OriginalStart: occ(3), Override: &sources.Event{Start: occ(3).AddDate(0, 0, 1).Add(time.Hour), End: occ(3).AddDate(0, 0, 1).Add(90 * time.Minute), Location: "Room Havel"}},
		{OriginalStart: occ(5), Deleted: true},
		{OriginalStart: occ(10), Override: &sources.Event{Summary: "Team sync + planning", End: occ(10).Add(time.Hour)}},
	}
	es = append(es, sync)

	// A monthly committee in New York on the first Thursday, organized by
	// someone else, one occurrence moved to the afternoon.
	first := firstWeekday(g.now.In(newYork).AddDate(0, -2, 0), time.Thursday)
	steer := g.meeting("Steering committee", "Kestrel HQ, 118 Hudson Street / video", at(first, 11, 0), time.Hour, newYork, people[9].address(), 10, 27, -1)
	steer.Recurrence = &sources.Recurrence{Freq: sources.Monthly, ByDay: []sources.WeekdayNum{{Ordinal: 1, Day: time.Thursday}}}
	next := firstWeekday(g.now.In(newYork).AddDate(0, 1, 0), time.Thursday)
	orig := at(next, 11, 0)
	steer.Exceptions = []sources.Exception{{OriginalStart: orig, Override: &sources.Event{Start: orig.Add(3 * time.Hour), End: orig.Add(4 * time.Hour)}}}
	es = append(es, steer)

	oneOnOne := g.meeting("1:1 Lena / Demo", "", at(monday.AddDate(0, 0, -54), 15, 0), 30*time.Minute, berlin, g.owner, 1)
	oneOnOne.Recurrence = &sources.Recurrence{Freq: sources.Weekly, Interval: 2, Count: 8, ByDay: []sources.WeekdayNum{{Day: time.Wednesday}}}
	es = append(es, oneOnOne)

	yoga := g.appointment("Yoga", "Studio Prenzlauer Berg", at(monday.AddDate(0, 0, -53), 18, 30), 75*time.Minute, berlin)
	yoga.Recurrence = &sources.Recurrence{Freq: sources.Weekly, ByDay: []sources.WeekdayNum{{Day: time.Thursday}}, Until: at(monday.AddDate(0, 0, 45), 18, 30)}
	yoga.Sensitivity, yoga.Categories, yoga.Reminder = sources.SensitivityPrivate, []string{"Personal"}, ptr(60)
	es = append(es, yoga)

	rent := g.allDay("Pay rent", berlin, g.day(berlin, 1-g.now.In(berlin).Day()).AddDate(0, -2, 0), 1)
	rent.Recurrence = &sources.Recurrence{Freq: sources.Monthly, ByMonthDay: []int{1}}
	rent.BusyStatus, rent.Reminder = sources.Free, ptr(9*60)
	es = append(es, rent)

	bday := g.allDay("Mamas Geburtstag 🎂", berlin, g.day(berlin, 19), 1)
	bday.Recurrence = &sources.Recurrence{Freq: sources.Yearly, ByMonth: []time.Month{bday.Start.In(berlin).Month()}, ByMonthDay: []int{bday.Start.In(berlin).Day()}}
	bday.BusyStatus, bday.Categories = sources.Free, []string{"Family"}
	es = append(es, bday)

	vacation := g.allDay("Vacation 🌴", berlin, monday.AddDate(0, 0, -33), 5)
	vacation.BusyStatus = sources.OutOfOffice
	es = append(es, vacation)
	devdays := g.allDay("NYC DevDays", newYork, g.day(newYork, 23), 3)
	devdays.Location = "Javits Center, New York"
	es = append(es, devdays)
	offsite := g.allDay("Team offsite Lisbon", berlin, monday.AddDate(0, 0, 38), 2)
	offsite.Location = "Lisbon"
	es = append(es, offsite)

	for range 26 {
		es = append(es, g.randomEvent())
	}
	return es
}

var eventTitles = []struct{ summary, location string }{
	{"Design review", "Room Spree"},
	{"Quarterly planning", "Room Havel"},
	{"Interview: senior backend", "Video call"},
	{"Customer call: Bluewater", "Video call"},
	{"Lunch with Amélie", "Café Einstein"},
	{"Dentist", "Dr. Kowalski, Schönhauser Allee 80"},
	{"Sprint retrospective", "Room Spree"},
	{"Budget review", "Room Müggelsee"},
	{"Vendor demo", ""},
	{"Architecture deep dive", "Kestrel HQ, 4th floor"},
	{"Coffee with Daniel", "Joe's, Greenwich Ave"},
	{"Hardware bring-up sync", "Video call"},
	{"Haircut", "Salon Lockenpracht"},
}

// randomEvent returns a single event up to eight weeks away, most in
// Berlin, some in New York; half are meetings.
func (g *gen) randomEvent() *sources.Event {
	r := g.r
	loc := berlin
	if r.IntN(3) == 0 {
		loc = newYork
	}
	d := g.day(loc, r.IntN(107)-53)
	for d.Weekday() == time.Saturday || d.Weekday() == time.Sunday {
		d = d.AddDate(0, 0, 1)
	}
	t := at(d, 9+r.IntN(8), 30*r.IntN(2))
	dur := []time.Duration{30, 45, 60, 60, 90}[r.IntN(5)] * time.Minute
	et := eventTitles[r.IntN(len(eventTitles))]
	var e *sources.Event
	switch r.IntN(3) {
	case 0:
		e = g.appointment(et.summary, et.location, t, dur, loc)
	case 1:
		e = g.meeting(et.summary, et.location, t, dur, loc, g.owner, r.IntN(len(people)), r.IntN(len(people)))
	default:
		org := r.IntN(len(people))
		e = g.meeting(et.summary, et.location, t, dur, loc, people[org].address(), r.IntN(len(people)), -1)
	}
	if r.IntN(4) == 0 {
		e.Reminder = nil
	}
	if r.IntN(6) == 0 {
		e.BusyStatus = sources.Tentative
	}
	return e
}

// appointment returns an event without attendees.
func (g *gen) appointment(summary, location string, start time.Time, d time.Duration, loc *time.Location) *sources.Event {
	return &sources.Event{
		UID:      g.uid("event"),
		Summary:  summary,
		Location: location,
		Start:    start,
		End:      start.Add(d),
		TimeZone: loc.String(),
		Reminder: ptr(15),
		Stamp:    g.now.Add(-72 * time.Hour).UTC(),
	}
}

// meeting returns an event organized by org with the people at the given
// indexes attending, -1 standing for the user.
func (g *gen) meeting(summary, location string, start time.Time, d time.Duration, loc *time.Location, org sources.Address, who ...int) *sources.Event {
	e := g.appointment(summary, location, start, d, loc)
	e.Organizer = org
	e.MeetingStatus = sources.MeetingReceived
	if org == g.owner {
		e.MeetingStatus = sources.MeetingOrganized
	} else {
		e.ResponseRequested = true
	}
	statuses := []sources.AttendeeStatus{sources.StatusAccepted, sources.StatusAccepted, sources.StatusTentative, sources.StatusNeedsAction, sources.StatusDeclined}
	for _, i := range who {
		a := sources.Attendee{Address: g.owner, Status: sources.StatusAccepted}
		if i >= 0 {
			a = sources.Attendee{Address: people[i].address(), Status: statuses[g.r.IntN(len(statuses))]}
		}
		if a.Address == org || contains(e.Attendees, a.Address) {
			continue
		}
		e.Attendees = append(e.Attendees, a)
	}
	if e.Location == "" {
		e.Attendees = append(e.Attendees, sources.Attendee{Address: sources.Address{Name: "Room Spree", Email: "room.spree@example.com"}, Type: sources.TypeRoom, Status: sources.StatusAccepted, Role: sources.RoleNonParticipant})
		e.Location = "Room Spree"
	}
	return e
}

func contains(as []sources.Attendee, a sources.Address) bool {
	for _, x := range as {
		if x.Address == a {
			return true
		}
	}
	return false
}

// allDay returns an event of days whole days from day, midnight to
// midnight in loc.
func (g *gen) allDay(summary string, loc *time.Location, day time.Time, days int) *sources.Event {
	day = day.In(loc)
	start := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc)
	return &sources.Event{
		UID:      g.uid("event"),
		Summary:  summary,
		Start:    start,
		End:      start.AddDate(0, 0, days),
		AllDay:   true,
		TimeZone: loc.String(),
		Stamp:    g.now.Add(-72 * time.Hour).UTC(),
	}
}

// invitation returns the meeting request waiting in the inbox, and
// records the tentative event it put in the calendar.
func (g *gen) invitation() *message {
	p := &people[9] // Daniel Cohen, New York
	d := g.day(newYork, 9)
	for d.Weekday() != time.Tuesday {
		d = d.AddDate(0, 0, 1)
	}
	e := g.meeting("Roadmap review H2", "Kestrel HQ, Room Liberty / video", at(d, 10, 0), time.Hour, newYork, p.address(), -1, 10, 27)
	e.BusyStatus = sources.Tentative
	e.Description = "Let's go through the H2 roadmap and agree on the top three bets. Pre-read to follow."
	for i := range e.Attendees {
		if e.Attendees[i].Address == g.owner {
			e.Attendees[i].Status = sources.StatusNeedsAction
		}
	}
	g.invited = e
	t := g.now.Add(-47 * time.Minute)
	m := &message{
		from:      p.address(),
		to:        []sources.Address{g.owner},
		subject:   "Invitation: " + e.Summary,
		date:      t,
		id:        g.messageID(p.address(), t),
		important: true,
		folder:    inbox,
		text: fmt.Sprintf("%s\n\nWhen: %s (New York time)\nWhere: %s\n\n%s\n",
			e.Summary, e.Start.In(newYork).Format("Monday, January 2, 2006 15:04"), e.Location, e.Description),
		ics: ics(e, newYork),
	}
	return m
}

// ics writes e as an iTIP REQUEST (RFC 5546) with the VTIMEZONE its
// times refer to.
func ics(e *sources.Event, loc *time.Location) string {
	var b strings.Builder
	f := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	local := func(t time.Time) string { return t.In(loc).Format("20060102T150405") }
	f("BEGIN:VCALENDAR")
	f("PRODID:-//easgate//demo//EN")
	f("VERSION:2.0")
	f("METHOD:REQUEST")
	f("BEGIN:VTIMEZONE")
	f("TZID:%s", loc)
	b.WriteString(vtimezones[loc.String()])
	f("END:VTIMEZONE")
	f("BEGIN:VEVENT")
	f("UID:%s", e.UID)
	f("DTSTAMP:%s", e.Stamp.UTC().Format("20060102T150405Z"))
	f("DTSTART;TZID=%s:%s", loc, local(e.Start))
	f("DTEND;TZID=%s:%s", loc, local(e.End))
	f("SUMMARY:%s", e.Summary)
	f("LOCATION:%s", strings.ReplaceAll(e.Location, ",", `\,`))
	f("DESCRIPTION:%s", strings.ReplaceAll(e.Description, ",", `\,`))
	f("ORGANIZER;CN=\"%s\":mailto:%s", e.Organizer.Name, e.Organizer.Email)
	for _, a := range e.Attendees {
		f("ATTENDEE;CN=\"%s\";ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:%s", a.Name, a.Email)
	}
	f("STATUS:CONFIRMED")
	f("SEQUENCE:0")
	f("BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nTRIGGER:-PT15M\r\nEND:VALARM")
	f("END:VEVENT")
	f("END:VCALENDAR")
	return b.String()
}

// vtimezones holds the current rules of the demo's zones, as VTIMEZONE
// components without their BEGIN, END and TZID lines.
var vtimezones = map[string]string{
	"America/New_York": "BEGIN:DAYLIGHT\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nTZNAME:EDT\r\nDTSTART:20070311T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nEND:DAYLIGHT\r\n" +
		"BEGIN:STANDARD\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nTZNAME:EST\r\nDTSTART:20071104T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nEND:STANDARD\r\n",
	"Europe/Berlin": "BEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\nDTSTART:19810329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n" +
		"BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19961027T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\n",
}

// day returns midnight in loc, offset days from today there.
func (g *gen) day(loc *time.Location, offset int) time.Time {
	t := g.now.In(loc)
	return time.Date(t.Year(), t.Month(), t.Day()+offset, 0, 0, 0, 0, loc)
}

// at returns day's date at h:m on its wall clock.
func at(day time.Time, h, m int) time.Time {
	return time.Date(day.Year(), day.Month(), day.Day(), h, m, 0, 0, day.Location())
}

// weekday numbers days from Monday, 0, to Sunday, 6.
func weekday(t time.Time) int { return (int(t.Weekday()) + 6) % 7 }

// firstWeekday returns midnight of the first wd in t's month.
func firstWeekday(t time.Time, wd time.Weekday) time.Time {
	d := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, t.Location())
	return d.AddDate(0, 0, (int(wd)-int(d.Weekday())+7)%7)
}

func ptr[T any](v T) *T { return &v }
