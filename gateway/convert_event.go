package gateway

import (
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // events name IANA zones: they must load on hosts without a zone database

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

// eventToEAS converts an event. Times travel in UTC with the event's zone
// beside them as a TIMEZONE blob for the event's year, so that a device
// expands a series in local time across daylight-saving changes.
// MS-ASCAL 2.2.2.
func eventToEAS(ev *sources.Event, v eas.ProtocolVersion, p bodyPrefs) *eas.Calendar {
	tz := eventTimeZone(ev)
	loc := eventLocation(ev.TimeZone)
	c := &eas.Calendar{
		TimeZone:      &tz,
		AllDayEvent:   ptr(ev.AllDay),
		BusyStatus:    ptr(easBusyStatus(ev.BusyStatus, v)),
		DtStamp:       dateTime(ev.Stamp, eas.DateTimeCompact),
		StartTime:     dateTime(ev.Start, eas.DateTimeCompact),
		EndTime:       dateTime(ev.End, eas.DateTimeCompact),
		Sensitivity:   ptr(eas.Sensitivity(ev.Sensitivity)),
		Subject:       ev.Summary,
		UID:           ev.UID,
		MeetingStatus: ptr(easMeetingStatus(userMeetingStatus(ev, p.self))),
	}
	if c.DtStamp == nil {
		c.DtStamp = dateTime(time.Now(), eas.DateTimeCompact)
	}
	if ev.Organizer.Email != "" {
		c.OrganizerName, c.OrganizerEmail = ev.Organizer.Name, ev.Organizer.Email
	}
	if ev.Reminder != nil {
		c.Reminder = eas.UintValue(uint32(max(*ev.Reminder, 0)))
	}
	c.Location, c.LocationText = easLocation(ev.Location, v)
	if v == eas.V25 {
		c.Body25, _, c.BodyTruncated25 = p.body25(plainBody(ev.Description))
	} else {
		c.Body = p.textBody(ev.Description)
		c.NativeBodyType = ptr(eas.BodyPlainText)
	}
	if len(ev.Categories) > 0 {
		c.Categories = &eas.CalendarCategories{Category: ev.Categories}
	}
	if len(ev.Attendees) > 0 {
		c.Attendees = easAttendees(ev.Attendees, v)
	}
	if v >= eas.V140 && ev.MeetingStatus != sources.Appointment {
		c.ResponseRequested = ptr(ev.ResponseRequested)
		c.ResponseType = responseType(ev, p.self)
	}
	if ev.Recurrence != nil {
		c.Recurrence = recurrenceToEAS(ev.Recurrence, ev.Start.In(loc), v)
		if len(ev.Exceptions) > 0 {
			c.Exceptions = &eas.Exceptions{}
			for _, x := range ev.Exceptions {
				c.Exceptions.Exception = append(c.Exceptions.Exception, exceptionToEAS(ev, x, v, p))
			}
		}
	}
	return c
}

// userMeetingStatus is ev's meeting status as the user with address self
// sees it. A store that cannot tell whose a meeting is calls it the
// user's own (Cyrus names the user's participant only for the addresses
// it knows the user by); a meeting organized by someone else that lists
// self among its attendees is one the user was invited to.
func userMeetingStatus(ev *sources.Event, self string) sources.MeetingStatus {
	st := ev.MeetingStatus
	if self == "" || ev.Organizer.Email == "" || strings.EqualFold(ev.Organizer.Email, self) || !isAttendee(ev, self) {
		return st
	}
	switch st {
	case sources.MeetingOrganized:
		return sources.MeetingReceived
	case sources.MeetingCanceled:
		return sources.MeetingCanceledReceived
	}
	return st
}

// isAttendee reports whether address is among ev's attendees.
func isAttendee(ev *sources.Event, address string) bool {
	for _, a := range ev.Attendees {
		if strings.EqualFold(a.Email, address) {
			return true
		}
	}
	return false
}

// responseType is the user's answer to a meeting, MS-ASCAL 2.2.2.40: the
// status of the attendee with the user's address self. Nil when the user
// is not found among the attendees.
func responseType(ev *sources.Event, self string) *eas.ResponseType {
	switch userMeetingStatus(ev, self) {
	case sources.MeetingOrganized, sources.MeetingCanceled:
		return ptr(eas.ResponseOrganizer)
	}
	for _, a := range ev.Attendees {
		if self == "" || !strings.EqualFold(a.Email, self) {
			continue
		}
		switch a.Status {
		case sources.StatusAccepted:
			return ptr(eas.ResponseAccepted)
		case sources.StatusTentative:
			return ptr(eas.ResponseTentative)
		case sources.StatusDeclined:
			return ptr(eas.ResponseDeclined)
		}
		return ptr(eas.ResponseNotResponded)
	}
	return nil
}

// exceptionToEAS converts one changed or deleted occurrence. A changed
// occurrence always carries its times, which devices need to place it.
func exceptionToEAS(ev *sources.Event, x sources.Exception, v eas.ProtocolVersion, p bodyPrefs) eas.Exception {
	var e eas.Exception
	id := dateTime(x.OriginalStart, eas.DateTimeCompact)
	if v >= eas.V160 {
		e.InstanceID = id
	} else {
		e.ExceptionStartTime = id
	}
	if x.Deleted || x.Override == nil {
		e.Deleted = ptr(true)
		return e
	}
	o := x.Override
	start, end := o.Start, o.End
	if start.IsZero() {
		start = x.OriginalStart
	}
	if end.IsZero() {
		end = start.Add(ev.End.Sub(ev.Start))
	}
	e.StartTime = dateTime(start, eas.DateTimeCompact)
	e.EndTime = dateTime(end, eas.DateTimeCompact)
	e.Subject = o.Summary
	if o.Location != "" {
		e.Location, e.LocationText = easLocation(o.Location, v)
	}
	if o.Description != "" {
		if v == eas.V25 {
			e.Body25, _, _ = p.body25(plainBody(o.Description))
		} else {
			e.Body = p.textBody(o.Description)
		}
	}
	if len(o.Categories) > 0 {
		e.Categories = &eas.CalendarCategories{Category: o.Categories}
	}
	if o.Sensitivity != sources.SensitivityNormal {
		e.Sensitivity = ptr(eas.Sensitivity(o.Sensitivity))
	}
	if o.BusyStatus != sources.Busy {
		e.BusyStatus = ptr(easBusyStatus(o.BusyStatus, v))
	}
	if o.AllDay {
		e.AllDayEvent = ptr(true)
	}
	if o.Reminder != nil {
		e.Reminder = eas.UintValue(uint32(max(*o.Reminder, 0)))
	}
	if o.MeetingStatus != sources.Appointment {
		e.MeetingStatus = ptr(easMeetingStatus(o.MeetingStatus))
	}
	if len(o.Attendees) > 0 {
		e.Attendees = easAttendees(o.Attendees, v)
	}
	return e
}

// eventFromEAS applies a client's calendar item to old (nil for an Add).
func eventFromEAS(c *eas.Calendar, sent elements, old *sources.Event) *sources.Event {
	ev := &sources.Event{}
	if old != nil {
		*ev = *old
	}
	if c.TimeZone != nil {
		ev.TimeZone = zoneName(*c.TimeZone, c.StartTime)
	}
	loc := eventLocation(ev.TimeZone)
	if sent.has("Calendar:Subject") {
		ev.Summary = c.Subject
	}
	if sent.has("Calendar:UID") {
		ev.UID = c.UID
	} else if c.ClientUID != "" && ev.UID == "" {
		ev.UID = c.ClientUID // 16.0 clients name a new item's UID this way
	}
	if c.StartTime != nil {
		ev.Start = c.StartTime.Time
	}
	if c.EndTime != nil {
		ev.End = c.EndTime.Time
	}
	if c.DtStamp != nil {
		ev.Stamp = c.DtStamp.Time
	}
	if c.AllDayEvent != nil {
		ev.AllDay = *c.AllDayEvent
	}
	if ev.AllDay {
		ev.Start, ev.End = allDayBounds(ev.Start, ev.End, loc)
	}
	switch {
	case sent.has("AirSyncBase:Location"):
		ev.Location = ""
		if c.Location != nil {
			ev.Location = c.Location.DisplayName
		}
	case sent.has("Calendar:Location"):
		ev.Location = ""
		if c.LocationText != nil {
			ev.Location = *c.LocationText
		}
	}
	switch {
	case sent.has("AirSyncBase:Body"):
		ev.Description = bodyText(c.Body)
	case sent.has("Calendar:Body"):
		ev.Description = ""
		if c.Body25 != nil {
			ev.Description = *c.Body25
		}
	}
	if sent.has("Calendar:OrganizerEmail") || sent.has("Calendar:OrganizerName") {
		ev.Organizer = sources.Address{Name: c.OrganizerName, Email: c.OrganizerEmail}
	}
	if sent.has("Calendar:Reminder") {
		ev.Reminder = modelReminder(c.Reminder)
	}
	if c.BusyStatus != nil {
		ev.BusyStatus = modelBusyStatus(*c.BusyStatus)
	}
	if c.Sensitivity != nil {
		ev.Sensitivity = sources.Sensitivity(*c.Sensitivity)
	}
	if c.MeetingStatus != nil {
		ev.MeetingStatus = modelMeetingStatus(*c.MeetingStatus)
	}
	if c.ResponseRequested != nil {
		ev.ResponseRequested = *c.ResponseRequested
	}
	if sent.has("Calendar:Categories") {
		ev.Categories = nil
		if c.Categories != nil {
			ev.Categories = categories(c.Categories.Category)
		}
	}
	if sent.has("Calendar:Attendees") {
		ev.Attendees = modelAttendees(c.Attendees, old)
	}
	if sent.has("Calendar:Recurrence") {
		ev.Recurrence = nil
		if !sent.empty("Calendar:Recurrence") && c.Recurrence != nil {
			ev.Recurrence = recurrenceFromEAS(c.Recurrence, ev.Start.In(loc))
		}
	}
	if ev.Recurrence == nil {
		ev.Exceptions = nil
	} else if sent.has("Calendar:Exceptions") {
		ev.Exceptions = nil
		if c.Exceptions != nil {
			for i := range c.Exceptions.Exception {
				ev.Exceptions = append(ev.Exceptions, exceptionFromEAS(&c.Exceptions.Exception[i], ev, loc))
			}
		}
	}
	return ev
}

// exceptionFromEAS reads one exception; the occurrence is named by
// InstanceId from 16.0 and ExceptionStartTime before.
func exceptionFromEAS(e *eas.Exception, master *sources.Event, loc *time.Location) sources.Exception {
	x := sources.Exception{OriginalStart: timeOf(e.InstanceID)}
	if x.OriginalStart.IsZero() {
		x.OriginalStart = timeOf(e.ExceptionStartTime)
	}
	if e.Deleted != nil && *e.Deleted {
		x.Deleted = true
		return x
	}
	o := &sources.Event{
		Summary: e.Subject,
		Start:   timeOf(e.StartTime),
		End:     timeOf(e.EndTime),
	}
	if e.AllDayEvent != nil && *e.AllDayEvent {
		o.AllDay = true
		o.Start, o.End = allDayBounds(o.Start, o.End, loc)
	}
	if e.Location != nil {
		o.Location = e.Location.DisplayName
	} else if e.LocationText != nil {
		o.Location = *e.LocationText
	}
	if e.Body != nil {
		o.Description = bodyText(e.Body)
	} else if e.Body25 != nil {
		o.Description = *e.Body25
	}
	if e.Categories != nil {
		o.Categories = categories(e.Categories.Category)
	}
	if e.Sensitivity != nil {
		o.Sensitivity = sources.Sensitivity(*e.Sensitivity)
	}
	if e.BusyStatus != nil {
		o.BusyStatus = modelBusyStatus(*e.BusyStatus)
	}
	if e.Reminder != nil {
		o.Reminder = modelReminder(e.Reminder)
	}
	if e.MeetingStatus != nil {
		o.MeetingStatus = modelMeetingStatus(*e.MeetingStatus)
	}
	if e.Attendees != nil {
		o.Attendees = modelAttendees(e.Attendees, master)
	}
	// An override that only restates the occurrence's own times says
	// nothing: keep the model's "zero means inherited".
	if o.Start.Equal(x.OriginalStart) && o.End.Sub(o.Start) == master.End.Sub(master.Start) {
		o.Start, o.End = time.Time{}, time.Time{}
	}
	x.Override = o
	return x
}

// allDayBounds puts an all-day event's start and end on midnights of loc.
// iOS Calendar (15 and 16, as reported in Z-Push's issue threads; no
// capture in testdata/devices shows it yet) sends all-day items at
// midnight UTC whatever their zone: a time that is UTC midnight but not
// local midnight is read as that UTC date.
func allDayBounds(start, end time.Time, loc *time.Location) (time.Time, time.Time) {
	day := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		l := t.In(loc)
		if l.Hour() == 0 && l.Minute() == 0 && l.Second() == 0 {
			return l
		}
		u := t.UTC()
		if u.Hour() == 0 && u.Minute() == 0 && u.Second() == 0 {
			return time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, loc)
		}
		// Anything else: the local day it falls in, or the next midnight
		// when it is past noon (a device's own zone was off by hours).
		if l.Hour() >= 12 {
			l = l.AddDate(0, 0, 1)
		}
		return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	}
	start, end = day(start), day(end)
	if !end.After(start) && !start.IsZero() {
		end = start.AddDate(0, 0, 1)
	}
	return start, end
}

// modelReminder reads a Reminder: an empty element means none (iOS 16.x
// sends <Reminder/> when the user picks "None",
// testdata/devices/ios/ios-16x-sync-calendar-client-add-empty-reminder-recurrence.wbxml).
func modelReminder(r *eas.UintOrEmpty) *int {
	if r == nil || r.Empty {
		return nil
	}
	return ptr(int(r.Value))
}

// easLocation returns the place in the form v knows: AirSyncBase:Location
// from 16.0, Calendar:Location before.
func easLocation(s string, v eas.ProtocolVersion) (*eas.Location, *string) {
	if v >= eas.V160 {
		if s == "" {
			return nil, nil
		}
		return &eas.Location{DisplayName: s}, nil
	}
	if s == "" {
		return nil, nil
	}
	return nil, &s
}

func easBusyStatus(b sources.BusyStatus, v eas.ProtocolVersion) eas.BusyStatus {
	switch b {
	case sources.Free:
		return eas.BusyFree
	case sources.Tentative:
		return eas.BusyTentative
	case sources.OutOfOffice:
		return eas.BusyOutOfOffice
	case sources.WorkingElsewhere:
		if v >= eas.V160 {
			return eas.BusyWorkingElsewhere
		}
		return eas.BusyFree // away from the desk, yet reachable
	}
	return eas.BusyBusy
}

func modelBusyStatus(b eas.BusyStatus) sources.BusyStatus {
	switch b {
	case eas.BusyFree:
		return sources.Free
	case eas.BusyTentative:
		return sources.Tentative
	case eas.BusyOutOfOffice:
		return sources.OutOfOffice
	case eas.BusyWorkingElsewhere:
		return sources.WorkingElsewhere
	}
	return sources.Busy
}

// MeetingStatus bits, MS-ASCAL 2.2.2.29.
const (
	msMeeting  = 1
	msReceived = 2
	msCanceled = 4
)

func easMeetingStatus(s sources.MeetingStatus) eas.MeetingStatus {
	switch s {
	case sources.MeetingOrganized:
		return msMeeting
	case sources.MeetingReceived:
		return msMeeting | msReceived
	case sources.MeetingCanceled:
		return msMeeting | msCanceled
	case sources.MeetingCanceledReceived:
		return msMeeting | msReceived | msCanceled
	}
	return 0
}

func modelMeetingStatus(s eas.MeetingStatus) sources.MeetingStatus {
	switch {
	case s&msMeeting == 0:
		return sources.Appointment
	case s&msCanceled != 0 && s&msReceived != 0:
		return sources.MeetingCanceledReceived
	case s&msCanceled != 0:
		return sources.MeetingCanceled
	case s&msReceived != 0:
		return sources.MeetingReceived
	}
	return sources.MeetingOrganized
}

// Attendee status and type values, MS-ASCAL 2.2.2.5 and 2.2.2.6.
const (
	asUnknown      = 0
	asTentative    = 2
	asAccepted     = 3
	asDeclined     = 4
	asNotResponded = 5

	atRequired = 1
	atOptional = 2
	atResource = 3
)

func easAttendees(as []sources.Attendee, v eas.ProtocolVersion) *eas.Attendees {
	out := &eas.Attendees{}
	for _, a := range as {
		at := eas.Attendee{Email: a.Email, Name: a.Name}
		if at.Name == "" {
			at.Name = a.Email // Name is required
		}
		if v >= eas.V120 {
			var st, ty uint8 = asUnknown, atRequired
			switch a.Status {
			case sources.StatusAccepted:
				st = asAccepted
			case sources.StatusDeclined:
				st = asDeclined
			case sources.StatusTentative:
				st = asTentative
			case sources.StatusNeedsAction:
				st = asNotResponded
			}
			switch {
			case a.Type == sources.TypeResource || a.Type == sources.TypeRoom:
				ty = atResource
			case a.Role == sources.RoleOptional || a.Role == sources.RoleNonParticipant:
				ty = atOptional
			}
			at.AttendeeStatus, at.AttendeeType = &st, &ty
		}
		out.Attendee = append(out.Attendee, at)
	}
	return out
}

// modelAttendees reads attendees, keeping what the model knows and EAS
// does not say (a room versus a resource, a chair) from old.
func modelAttendees(a *eas.Attendees, old *sources.Event) []sources.Attendee {
	if a == nil {
		return nil
	}
	var out []sources.Attendee
	for _, at := range a.Attendee {
		m := sources.Attendee{Address: sources.Address{Name: at.Name, Email: at.Email}}
		if m.Name == m.Email {
			m.Name = ""
		}
		if old != nil {
			for _, o := range old.Attendees {
				if o.Email == at.Email {
					m.Role, m.Type, m.Status = o.Role, o.Type, o.Status
					if m.Name == "" {
						m.Name = o.Name
					}
				}
			}
		}
		if at.AttendeeStatus != nil {
			switch *at.AttendeeStatus {
			case asAccepted:
				m.Status = sources.StatusAccepted
			case asDeclined:
				m.Status = sources.StatusDeclined
			case asTentative:
				m.Status = sources.StatusTentative
			case asNotResponded:
				m.Status = sources.StatusNeedsAction
			}
		}
		if at.AttendeeType != nil {
			switch *at.AttendeeType {
			case atOptional:
				if m.Role != sources.RoleNonParticipant {
					m.Role = sources.RoleOptional
				}
			case atResource:
				if m.Type != sources.TypeRoom {
					m.Type = sources.TypeResource
				}
			default:
				if m.Role == sources.RoleOptional || m.Role == sources.RoleNonParticipant {
					m.Role = sources.RoleRequired
				}
			}
		}
		out = append(out, m)
	}
	return out
}

// recurrenceToEAS converts a rule; start is the first occurrence in the
// event's zone and gives the days a rule leaves implicit.
func recurrenceToEAS(r *sources.Recurrence, start time.Time, v eas.ProtocolVersion) *eas.Recurrence {
	rc := &eas.Recurrence{}
	if r.Interval > 1 {
		rc.Interval = ptr(uint16(min(r.Interval, 999)))
	}
	if r.Count > 0 {
		rc.Occurrences = ptr(uint16(min(r.Count, 999)))
	}
	rc.Until = dateTime(r.Until, eas.DateTimeCompact)
	mask := dayMask(r.ByDay)
	ordinal := 0
	for _, d := range r.ByDay {
		if d.Ordinal != 0 {
			ordinal = d.Ordinal
		}
	}
	if len(r.BySetPos) > 0 {
		ordinal = r.BySetPos[0]
	}
	week := func() *uint8 {
		if ordinal < 0 || ordinal > 4 {
			return ptr(uint8(5)) // last
		}
		return ptr(uint8(ordinal))
	}
	monthDay := start.Day()
	if len(r.ByMonthDay) > 0 {
		monthDay = r.ByMonthDay[0]
	}
	month := start.Month()
	if len(r.ByMonth) > 0 {
		month = r.ByMonth[0]
	}
	switch r.Freq {
	case sources.Daily:
		rc.Type = eas.RecurDaily
		if mask != 0 { // "every weekday": devices write it as weekly
			rc.Type, rc.DayOfWeek = eas.RecurWeekly, &mask
		}
	case sources.Weekly:
		rc.Type = eas.RecurWeekly
		if mask == 0 {
			mask = 1 << start.Weekday()
		}
		rc.DayOfWeek = &mask
		if v >= eas.V141 {
			rc.FirstDayOfWeek = ptr(uint8(r.WeekStart))
		}
	case sources.Monthly, sources.Yearly:
		nth := mask != 0 && ordinal != 0
		switch {
		case nth:
			rc.WeekOfMonth, rc.DayOfWeek = week(), &mask
		case monthDay < 0: // the last day: the last of any weekday
			nth = true
			rc.WeekOfMonth, rc.DayOfWeek = ptr(uint8(5)), ptr(uint8(127))
		default:
			rc.DayOfMonth = ptr(uint8(monthDay))
		}
		if r.Freq == sources.Monthly {
			rc.Type = eas.RecurMonthly
			if nth {
				rc.Type = eas.RecurMonthlyNth
			}
		} else {
			rc.Type, rc.MonthOfYear = eas.RecurYearly, ptr(uint8(month))
			if nth {
				rc.Type = eas.RecurYearlyNth
			}
		}
	}
	return rc
}

// recurrenceFromEAS reverses recurrenceToEAS.
func recurrenceFromEAS(rc *eas.Recurrence, start time.Time) *sources.Recurrence {
	r := &sources.Recurrence{}
	if rc.Interval != nil && *rc.Interval > 1 {
		r.Interval = int(*rc.Interval)
	}
	if rc.Occurrences != nil {
		r.Count = int(*rc.Occurrences)
	}
	r.Until = timeOf(rc.Until)
	if rc.FirstDayOfWeek != nil {
		r.WeekStart = time.Weekday(*rc.FirstDayOfWeek % 7)
	}
	var days []time.Weekday
	if rc.DayOfWeek != nil {
		for d := time.Sunday; d <= time.Saturday; d++ {
			if *rc.DayOfWeek&(1<<d) != 0 {
				days = append(days, d)
			}
		}
	}
	ordinal := 0
	if rc.WeekOfMonth != nil {
		ordinal = int(*rc.WeekOfMonth)
		if ordinal == 5 {
			ordinal = -1
		}
	}
	byDay := func(ord int) {
		for _, d := range days {
			r.ByDay = append(r.ByDay, sources.WeekdayNum{Ordinal: ord, Day: d})
		}
	}
	nth := func() {
		switch {
		case len(days) == 7 && ordinal == -1:
			r.ByMonthDay = []int{-1}
		case len(days) == 1:
			byDay(ordinal)
		default: // "the last weekday": the set of days, then a position
			byDay(0)
			r.BySetPos = []int{ordinal}
		}
	}
	switch rc.Type {
	case eas.RecurDaily:
		r.Freq = sources.Daily
		byDay(0)
	case eas.RecurWeekly:
		r.Freq = sources.Weekly
		if len(days) == 0 {
			days = []time.Weekday{start.Weekday()}
		}
		byDay(0)
	case eas.RecurMonthly:
		r.Freq = sources.Monthly
		r.ByMonthDay = []int{dayOr(rc.DayOfMonth, start.Day())}
	case eas.RecurMonthlyNth:
		r.Freq = sources.Monthly
		nth()
	case eas.RecurYearly:
		r.Freq = sources.Yearly
		r.ByMonth = []time.Month{time.Month(dayOr(rc.MonthOfYear, int(start.Month())))}
		r.ByMonthDay = []int{dayOr(rc.DayOfMonth, start.Day())}
	case eas.RecurYearlyNth:
		r.Freq = sources.Yearly
		r.ByMonth = []time.Month{time.Month(dayOr(rc.MonthOfYear, int(start.Month())))}
		nth()
	}
	return r
}

func dayOr(p *uint8, def int) int {
	if p == nil || *p == 0 {
		return def
	}
	return int(*p)
}

// dayMask is the DayOfWeek bit mask of days, Sunday 1 to Saturday 64.
func dayMask(days []sources.WeekdayNum) uint8 {
	var m uint8
	for _, d := range days {
		m |= 1 << d.Day
	}
	return m
}

// eventTimeZone is the TIMEZONE blob of ev's zone for the year of its
// start. StandardName carries the IANA name where it fits, which the
// blob's rules alone cannot tell apart (Paris from Berlin): devices echo
// the blob back, and zoneName reads the name first.
func eventTimeZone(ev *sources.Event) eas.TimeZone {
	loc := eventLocation(ev.TimeZone)
	tz := eas.NewTimeZone(loc, ev.Start.In(loc).Year())
	if n := loc.String(); len(n) <= 32 && strings.Contains(n, "/") {
		tz.StandardName = n
	}
	return tz
}

// eventLocation loads an event's zone; floating, UTC and unknown zones
// read as UTC.
func eventLocation(name string) *time.Location {
	if name == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC
	}
	return loc
}

// zoneName finds the IANA zone a device's TIMEZONE blob describes, for
// the year of the event. A blob only has an offset and two transition
// rules, so several zones match: the device's own StandardName decides
// when it names a Windows zone (or an IANA one, as some Android clients
// send) whose rules match; otherwise the first match in commonZones. A
// blob matching no zone gets a fixed Etc/GMT zone of its standard offset,
// or UTC.
func zoneName(tz eas.TimeZone, start *eas.DateTime) string {
	year := time.Now().Year()
	if start != nil {
		year = start.Time.Year()
	}
	matches := func(name string) bool {
		loc, err := time.LoadLocation(name)
		return err == nil && sameRules(tz, eas.NewTimeZone(loc, year), year)
	}
	names := []string{sources.ZoneForWindows(tz.StandardName)}
	if strings.Contains(tz.StandardName, "/") {
		names = append(names, tz.StandardName)
	}
	for _, name := range names {
		if name != "" && matches(name) {
			return name
		}
	}
	for _, z := range commonZones {
		if matches(z) {
			return z
		}
	}
	// Zones with rules of their own (Lord Howe's half-hour daylight
	// saving, Chatham's 12:45) are found in the whole table.
	for _, z := range sources.WindowsZones() {
		if matches(z) {
			return z
		}
	}
	bias := tz.Bias + tz.StandardBias
	if bias%60 == 0 && bias >= -14*60 && bias <= 12*60 {
		h := bias / 60
		switch {
		case h == 0:
			return "UTC"
		case h > 0: // Etc/GMT+5 is five hours west of Greenwich
			return "Etc/GMT+" + strconv.Itoa(int(h))
		default:
			return "Etc/GMT-" + strconv.Itoa(int(-h))
		}
	}
	return "UTC"
}

// sameRules compares two TIMEZONE rules by what they do in year: the
// standard and daylight offsets and the days of the transitions. The
// hour of a transition is not compared: devices disagree on it.
func sameRules(a, b eas.TimeZone, year int) bool {
	if a.Bias+a.StandardBias != b.Bias+b.StandardBias || a.HasDST() != b.HasDST() {
		return false
	}
	if !a.HasDST() {
		return true
	}
	return a.Bias+a.DaylightBias == b.Bias+b.DaylightBias &&
		transitionDay(a.DaylightDate, year) == transitionDay(b.DaylightDate, year) &&
		transitionDay(a.StandardDate, year) == transitionDay(b.StandardDate, year)
}

// transitionDay is the date a SYSTEMTIME rule names in year; a week 4
// and a week 5 rule meet when the month has four such weekdays.
func transitionDay(st eas.SystemTime, year int) time.Time {
	if st.Year != 0 {
		return time.Date(int(st.Year), time.Month(st.Month), int(st.Day), 0, 0, 0, 0, time.UTC)
	}
	first := time.Date(year, time.Month(st.Month), 1, 0, 0, 0, 0, time.UTC)
	day := 1 + (int(st.DayOfWeek)-int(first.Weekday())+7)%7 + 7*(int(st.Day)-1)
	for day > first.AddDate(0, 1, -1).Day() {
		day -= 7
	}
	return first.AddDate(0, 0, day-1)
}

// commonZones are tried in order when a blob does not name its zone: the
// most populous zone first among those sharing rules.
var commonZones = []string{
	"Europe/Berlin", "Europe/London", "Europe/Helsinki", "Europe/Moscow", "Europe/Istanbul",
	"America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles",
	"America/Anchorage", "Pacific/Honolulu", "America/Halifax", "America/St_Johns", "America/Sao_Paulo",
	"America/Argentina/Buenos_Aires", "America/Mexico_City", "America/Bogota", "America/Santiago",
	"Africa/Johannesburg", "Africa/Lagos", "Africa/Cairo", "Asia/Jerusalem", "Asia/Dubai", "Asia/Tehran",
	"Asia/Karachi", "Asia/Kolkata", "Asia/Kathmandu", "Asia/Dhaka", "Asia/Bangkok", "Asia/Shanghai",
	"Asia/Tokyo", "Australia/Perth", "Australia/Brisbane", "Australia/Adelaide", "Australia/Darwin",
	"Australia/Sydney", "Pacific/Auckland", "UTC",
}
