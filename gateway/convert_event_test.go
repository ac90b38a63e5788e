package gateway

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("LoadLocation(%q): %v (time/tzdata is linked in)", name, err)
	}
	return loc
}

// occurrences expands a weekly or daily rule in loc, applying the
// exceptions: the starts a device would show, up to limit of them.
func occurrences(ev *sources.Event, loc *time.Location, limit int) []time.Time {
	r := ev.Recurrence
	first := ev.Start.In(loc)
	step := 1
	if r.Interval > 1 {
		step = r.Interval
	}
	days := map[time.Weekday]bool{}
	for _, d := range r.ByDay {
		days[d.Day] = true
	}
	var out []time.Time
	for d := 0; len(out) < limit && (r.Count == 0 || len(out) < r.Count) && d < 3660; d++ {
		day := first.AddDate(0, 0, d)
		if r.Freq == sources.Weekly && (!days[day.Weekday()] || (d/7)%step != 0) {
			continue
		}
		start := time.Date(day.Year(), day.Month(), day.Day(), first.Hour(), first.Minute(), 0, 0, loc)
		if !r.Until.IsZero() && start.After(r.Until) {
			break
		}
		deleted := false
		for _, x := range ev.Exceptions {
			if x.OriginalStart.Equal(start) {
				switch {
				case x.Deleted:
					deleted = true
				case !x.Override.Start.IsZero():
					start = x.Override.Start
				}
			}
		}
		if !deleted {
			out = append(out, start.In(loc))
		}
	}
	return out
}

func berlinWeekly(t *testing.T) (*sources.Event, *time.Location) {
	berlin := mustLoad(t, "Europe/Berlin")
	start := time.Date(2026, 3, 16, 9, 0, 0, 0, berlin) // Monday; DST begins 29 March
	return &sources.Event{
		UID: "weekly-1", Summary: "Standup", Location: "Room 1", Description: "agenda",
		Start: start, End: start.Add(30 * time.Minute), TimeZone: "Europe/Berlin",
		Organizer: sources.Address{Name: "Ann", Email: "ann@example.org"},
		Attendees: []sources.Attendee{
			{Address: sources.Address{Name: "Bob", Email: "bob@example.org"}, Status: sources.StatusAccepted},
			{Address: sources.Address{Name: "Cy", Email: "cy@example.org"}, Role: sources.RoleOptional, Status: sources.StatusTentative},
		},
		Reminder: ptr(15), BusyStatus: sources.Busy, MeetingStatus: sources.MeetingOrganized,
		Categories: []string{"Work"}, ResponseRequested: true,
		Stamp: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
		Recurrence: &sources.Recurrence{
			Freq: sources.Weekly, Count: 6, WeekStart: time.Monday,
			ByDay: []sources.WeekdayNum{{Day: time.Monday}},
		},
		Exceptions: []sources.Exception{
			{OriginalStart: start.AddDate(0, 0, 14), Deleted: true}, // 30 March, after the change
			{OriginalStart: start.AddDate(0, 0, 21), Override: &sources.Event{ // 6 April, moved to 10:00
				Summary: "Standup (late)",
				Start:   time.Date(2026, 4, 6, 10, 0, 0, 0, berlin), End: time.Date(2026, 4, 6, 10, 30, 0, 0, berlin),
			}},
		},
	}, berlin
}

func TestEventRoundTripAcrossDST(t *testing.T) {
	ev, berlin := berlinWeekly(t)
	want := occurrences(ev, berlin, 10)
	for _, v := range testVersions {
		t.Run(v.String(), func(t *testing.T) {
			p := newBodyPrefs(v, classCalendar, nil)
			raw, err := toEAS(context.Background(), &sources.Item{ID: "e1", Event: ev}, v, p)
			if err != nil {
				t.Fatal(err)
			}
			var c eas.Calendar
			if err := wire(t, raw).Decode(&c); err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(v); err != nil {
				t.Errorf("Validate(%s) = %v", v, err)
			}
			got, err := fromEAS(classCalendar, wire(t, raw), v, nil)
			if err != nil {
				t.Fatal(err)
			}
			g := got.Event
			if g.TimeZone != "Europe/Berlin" {
				t.Errorf("TimeZone = %q, want Europe/Berlin", g.TimeZone)
			}
			occ := occurrences(g, mustLoad(t, g.TimeZone), 10)
			if len(occ) != len(want) {
				t.Fatalf("occurrences = %v, want %v", occ, want)
			}
			for i := range occ {
				if !occ[i].Equal(want[i]) {
					t.Errorf("occurrence %d = %v, want %v", i, occ[i], want[i])
				}
				if h := occ[i].Hour(); h != 9 && !occ[i].Equal(ev.Exceptions[1].Override.Start) {
					t.Errorf("occurrence %d at %d:00 local, want 9:00", i, h)
				}
			}
			wantEv := *ev
			wantEv.Exceptions = append([]sources.Exception(nil), ev.Exceptions...)
			if v < eas.V120 { // no attendee status or type
				wantEv.Attendees = []sources.Attendee{{Address: ev.Attendees[0].Address}, {Address: ev.Attendees[1].Address}}
			}
			if v < eas.V140 {
				wantEv.ResponseRequested = false
			}
			if v < eas.V141 {
				wantEv.Recurrence = ptr(*ev.Recurrence)
				wantEv.Recurrence.WeekStart = time.Sunday
			}
			wantEv.Start, wantEv.End = ev.Start.UTC(), ev.End.UTC()
			g.Start, g.End = g.Start.UTC(), g.End.UTC()
			for i, x := range wantEv.Exceptions {
				x.OriginalStart = x.OriginalStart.UTC()
				if x.Override != nil {
					o := *x.Override
					o.Start, o.End = o.Start.UTC(), o.End.UTC()
					x.Override = &o
				}
				wantEv.Exceptions[i] = x
			}
			for i, x := range g.Exceptions {
				if x.Override != nil {
					o := *x.Override
					o.Start, o.End = o.Start.UTC(), o.End.UTC()
					g.Exceptions[i].Override = &o
				}
			}
			sameItem(t, g, &wantEv)
		})
	}
}

// TestIOSEmptyReminder reads the iOS 16.x capture: an empty Reminder is
// no reminder, an empty Recurrence no recurrence, and its unnamed blob
// (UTC+1, last Sundays of March and October) is Berlin's rules.
func TestIOSEmptyReminder(t *testing.T) {
	mustLoad(t, "Europe/Berlin")
	data, err := os.ReadFile("../eas/testdata/devices/ios/ios-16x-sync-calendar-client-add-empty-reminder-recurrence.wbxml")
	if err != nil {
		t.Fatal(err)
	}
	var req eas.SyncRequest
	if err := eas.NewDecoder(bytes.NewReader(data), nil).Decode(&req); err != nil {
		t.Fatal(err)
	}
	add := req.Collections.Collection[0].Commands.Add[0]
	it, err := fromEAS(classCalendar, add.ApplicationData, eas.V161, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := it.Event
	if ev.Reminder != nil {
		t.Errorf("Reminder = %d, want none", *ev.Reminder)
	}
	if ev.Recurrence != nil {
		t.Errorf("Recurrence = %+v, want none", ev.Recurrence)
	}
	if ev.TimeZone != "Europe/Berlin" {
		t.Errorf("TimeZone = %q, want Europe/Berlin", ev.TimeZone)
	}
	if ev.UID != "DC4CA654023E452BAE98DE0D2407A8A80.32" {
		t.Errorf("UID = %q, want the ClientUid", ev.UID)
	}
	if want := time.Date(2024, 8, 11, 8, 0, 0, 0, time.UTC); !ev.Start.Equal(want) || ev.Location != "" || ev.Attendees != nil {
		t.Errorf("Start %v, Location %q, Attendees %v", ev.Start, ev.Location, ev.Attendees)
	}
}

func TestAllDay(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	tz := eas.NewTimeZone(berlin, 2026)
	day := time.Date(2026, 7, 1, 0, 0, 0, 0, berlin)
	tests := []struct {
		name       string
		start, end time.Time
	}{
		{"local midnight", day, day.AddDate(0, 0, 1)},
		{"iOS UTC midnight", time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 7, 2, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &eas.Calendar{TimeZone: &tz, AllDayEvent: ptr(true), Subject: "Holiday",
				StartTime: dateTime(tt.start, eas.DateTimeCompact), EndTime: dateTime(tt.end, eas.DateTimeCompact)}
			it, err := fromEAS(classCalendar, wire(t, eas.RawValue(c)), eas.V141, nil)
			if err != nil {
				t.Fatal(err)
			}
			if ev := it.Event; !ev.AllDay || !ev.Start.Equal(day) || !ev.End.Equal(day.AddDate(0, 0, 1)) {
				t.Errorf("got %v–%v all-day %v, want %v–%v", ev.Start, ev.End, ev.AllDay, day, day.AddDate(0, 0, 1))
			}
		})
	}
}

func TestRecurrenceRoundTrip(t *testing.T) {
	start := time.Date(2026, 1, 13, 9, 0, 0, 0, time.UTC) // the 2nd Tuesday
	tests := []struct {
		name string
		r    sources.Recurrence
		typ  eas.RecurrenceType
	}{
		{"daily", sources.Recurrence{Freq: sources.Daily, Interval: 2, Count: 10}, eas.RecurDaily},
		{"weekdays", sources.Recurrence{Freq: sources.Weekly, ByDay: []sources.WeekdayNum{{Day: 1}, {Day: 2}, {Day: 3}, {Day: 4}, {Day: 5}}, Until: start.AddDate(0, 3, 0)}, eas.RecurWeekly},
		{"monthly day", sources.Recurrence{Freq: sources.Monthly, ByMonthDay: []int{13}}, eas.RecurMonthly},
		{"monthly 2nd tuesday", sources.Recurrence{Freq: sources.Monthly, ByDay: []sources.WeekdayNum{{Ordinal: 2, Day: time.Tuesday}}}, eas.RecurMonthlyNth},
		{"monthly last friday", sources.Recurrence{Freq: sources.Monthly, ByDay: []sources.WeekdayNum{{Ordinal: -1, Day: time.Friday}}}, eas.RecurMonthlyNth},
		{"monthly last day", sources.Recurrence{Freq: sources.Monthly, ByMonthDay: []int{-1}}, eas.RecurMonthlyNth},
		{"last weekday", sources.Recurrence{Freq: sources.Monthly, ByDay: []sources.WeekdayNum{{Day: 1}, {Day: 2}, {Day: 3}, {Day: 4}, {Day: 5}}, BySetPos: []int{-1}}, eas.RecurMonthlyNth},
		{"yearly", sources.Recurrence{Freq: sources.Yearly, ByMonth: []time.Month{1}, ByMonthDay: []int{13}}, eas.RecurYearly},
		{"yearly nth", sources.Recurrence{Freq: sources.Yearly, ByMonth: []time.Month{11}, ByDay: []sources.WeekdayNum{{Ordinal: 4, Day: time.Thursday}}}, eas.RecurYearlyNth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := recurrenceToEAS(&tt.r, start, eas.V141)
			if rc.Type != tt.typ {
				t.Errorf("Type = %d, want %d", rc.Type, tt.typ)
			}
			if err := (&eas.Calendar{Recurrence: rc}).Validate(eas.V141); err != nil {
				t.Errorf("Validate = %v", err)
			}
			got := recurrenceFromEAS(rc, start)
			sameItem(t, got, &tt.r)
		})
	}
}

func TestZoneName(t *testing.T) {
	// Lord Howe's half-hour daylight saving and Chatham's 12:45 are in no
	// list of common zones; the CLDR table still finds them by their rules.
	for _, name := range []string{"Europe/Berlin", "Europe/London", "America/New_York", "America/Los_Angeles", "Asia/Tokyo", "Australia/Sydney", "Asia/Kolkata",
		"Australia/Lord_Howe", "Pacific/Chatham", "UTC"} {
		loc := mustLoad(t, name)
		tz := eas.NewTimeZone(loc, 2026)
		tz.StandardName, tz.DaylightName = "", ""
		start := dateTime(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), eas.DateTimeCompact)
		if got := zoneName(tz, start); got != name {
			t.Errorf("zoneName(%s rules) = %q", name, got)
		}
	}
	// A Windows name picks its zone among those sharing rules.
	tz := eas.NewTimeZone(mustLoad(t, "Europe/Paris"), 2026)
	tz.StandardName = "Romance Standard Time"
	if got := zoneName(tz, nil); got != "Europe/Paris" {
		t.Errorf("zoneName(Romance Standard Time) = %q", got)
	}
	tz = eas.NewTimeZone(mustLoad(t, "Asia/Kathmandu"), 2026)
	tz.StandardName = "Nepal Standard Time"
	if got := zoneName(tz, nil); got != "Asia/Kathmandu" {
		t.Errorf("zoneName(Nepal Standard Time) = %q", got)
	}
	if got := zoneName(eas.TimeZone{Bias: 300}, nil); got != "America/Bogota" && got != "Etc/GMT+5" {
		t.Errorf("zoneName(UTC-5 without DST) = %q", got)
	}
}

// TestEventChangeKeepsUnsent sends a Change with a new subject only.
func TestEventChangeKeepsUnsent(t *testing.T) {
	ev, _ := berlinWeekly(t)
	old := &sources.Item{ID: "e1", Event: ev}
	it, err := fromEAS(classCalendar, wire(t, eas.RawValue(&eas.Calendar{Subject: "Renamed"})), eas.V141, old)
	if err != nil {
		t.Fatal(err)
	}
	want := *ev
	want.Summary = "Renamed"
	sameItem(t, it.Event, &want)
	// Sent empty, the reminder and categories are cleared.
	c := &eas.Calendar{Reminder: &eas.UintOrEmpty{Empty: true}, Categories: &eas.CalendarCategories{}}
	it, err = fromEAS(classCalendar, wire(t, eas.RawValue(c)), eas.V141, old)
	if err != nil {
		t.Fatal(err)
	}
	if it.Event.Reminder != nil || it.Event.Categories != nil || it.Event.Summary != ev.Summary {
		t.Errorf("Reminder %v, Categories %v, Summary %q", it.Event.Reminder, it.Event.Categories, it.Event.Summary)
	}
}
