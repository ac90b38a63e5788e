package dav

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-ical"

	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/vcal"
)

// newCalendar starts an empty iCalendar object.
func newCalendar() *ical.Calendar {
	cal := ical.NewCalendar()
	cal.Props.SetText(ical.PropVersion, "2.0")
	cal.Props.SetText(ical.PropProductID, "-//easgate//dav//EN")
	return cal
}

func newUID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// location resolves a TZID to a zone: an IANA name, a vendor-prefixed one
// ("/mozilla.org/20050126_1/Europe/Berlin"), or a Windows name. An unknown
// TZID gives nil, and the times are read as UTC.
func location(tzid string) *time.Location {
	tzid = strings.Trim(tzid, `"`)
	if tzid == "" {
		return nil
	}
	if l, err := time.LoadLocation(tzid); err == nil {
		return l
	}
	if w := sources.ZoneForWindows(tzid); w != "" {
		l, _ := time.LoadLocation(w)
		return l
	}
	parts := strings.Split(strings.Trim(tzid, "/"), "/")
	for n := 3; n >= 1; n-- {
		if len(parts) >= n {
			if l, err := time.LoadLocation(strings.Join(parts[len(parts)-n:], "/")); err == nil && n > 1 {
				return l
			}
		}
	}
	return nil
}

// when reads a DATE or DATE-TIME property: the instant, its zone's IANA
// name ("" for UTC and floating), and whether it is a date.
func when(p *ical.Prop) (t time.Time, tz string, date bool, err error) {
	if p == nil {
		return time.Time{}, "", false, nil
	}
	date = p.ValueType() == ical.ValueDate || len(p.Value) == 8
	loc := location(p.Params.Get(ical.PropTimezoneID))
	if loc != nil && loc != time.UTC {
		tz = loc.String()
	}
	v := *p
	v.Params = ical.Params{}
	for k, x := range p.Params {
		if k != ical.PropTimezoneID {
			v.Params[k] = x
		}
	}
	if loc == nil {
		loc = time.UTC
	}
	t, err = v.DateTime(loc)
	return t, tz, date, err
}

// components splits a calendar object into its master component of kind
// name and the overrides of its occurrences.
func components(cal *ical.Calendar, name string) (master *ical.Component, overrides []*ical.Component) {
	for _, c := range cal.Children {
		if c.Name != name {
			continue
		}
		if c.Props.Get(ical.PropRecurrenceID) != nil {
			overrides = append(overrides, c)
		} else if master == nil {
			master = c
		}
	}
	if master == nil && len(overrides) > 0 {
		master, overrides = overrides[0], overrides[1:]
	}
	return master, overrides
}

func text(c *ical.Component, name string) string {
	p := c.Props.Get(name)
	if p == nil {
		return ""
	}
	s, err := p.Text()
	if err != nil {
		return p.Value
	}
	return s
}

// eventFromICal reads the VEVENT series of one calendar object.
func eventFromICal(cal *ical.Calendar) (*sources.Event, error) {
	m, ovs := components(cal, ical.CompEvent)
	if m == nil {
		return nil, fmt.Errorf("no VEVENT")
	}
	ev, err := eventFromComp(m)
	if err != nil {
		return nil, err
	}
	if p := m.Props.Get(ical.PropRecurrenceRule); p != nil {
		ev.Recurrence, err = parseRRule(p.Value, locOf(ev))
		if err != nil {
			return nil, err
		}
	}
	for _, p := range m.Props.Values(ical.PropExceptionDates) {
		loc := location(p.Params.Get(ical.PropTimezoneID))
		if loc == nil {
			loc = time.UTC
		}
		for _, v := range strings.Split(p.Value, ",") {
			t, err := parseICalTime(v, loc)
			if err != nil {
				return nil, fmt.Errorf("EXDATE %q: %w", v, err)
			}
			if ev.AllDay {
				t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, ev.Start.Location())
			}
			ev.Exceptions = append(ev.Exceptions, sources.Exception{OriginalStart: t, Deleted: true})
		}
	}
	for _, o := range ovs {
		rid, _, _, err := when(o.Props.Get(ical.PropRecurrenceID))
		if err != nil {
			return nil, fmt.Errorf("RECURRENCE-ID: %w", err)
		}
		ov, err := eventFromComp(o)
		if err != nil {
			return nil, err
		}
		if text(o, ical.PropStatus) == "CANCELLED" {
			ev.Exceptions = append(ev.Exceptions, sources.Exception{OriginalStart: rid, Deleted: true})
			continue
		}
		inheritFrom(ov, ev)
		ev.Exceptions = append(ev.Exceptions, sources.Exception{OriginalStart: rid, Override: ov})
	}
	slices.SortFunc(ev.Exceptions, func(a, b sources.Exception) int { return a.OriginalStart.Compare(b.OriginalStart) })
	return ev, nil
}

// inheritFrom clears the fields of override ov that equal the series,
// since the model reads a zero field of an override as inherited.
func inheritFrom(ov, series *sources.Event) {
	for _, f := range []struct{ o, s *string }{{&ov.Summary, &series.Summary}, {&ov.Location, &series.Location}, {&ov.Description, &series.Description}} {
		if *f.o == *f.s {
			*f.o = ""
		}
	}
	if ov.Organizer == series.Organizer {
		ov.Organizer = sources.Address{}
	}
	if slices.Equal(ov.Attendees, series.Attendees) {
		ov.Attendees = nil
	}
	if ov.Reminder != nil && series.Reminder != nil && *ov.Reminder == *series.Reminder {
		ov.Reminder = nil
	}
	if ov.BusyStatus == series.BusyStatus {
		ov.BusyStatus = 0
	}
	if ov.Sensitivity == series.Sensitivity {
		ov.Sensitivity = 0
	}
	if slices.Equal(ov.Categories, series.Categories) {
		ov.Categories = nil
	}
	if ov.MeetingStatus == series.MeetingStatus {
		ov.MeetingStatus = 0
	}
}

func locOf(ev *sources.Event) *time.Location {
	if ev.TimeZone != "" {
		if l, err := time.LoadLocation(ev.TimeZone); err == nil {
			return l
		}
	}
	return time.UTC
}

// parseICalTime reads a bare DATE or DATE-TIME value in loc.
func parseICalTime(v string, loc *time.Location) (time.Time, error) {
	v = strings.TrimSpace(v)
	switch {
	case len(v) == 8:
		return time.ParseInLocation("20060102", v, loc)
	case strings.HasSuffix(v, "Z"):
		return time.Parse("20060102T150405Z", v)
	}
	return time.ParseInLocation("20060102T150405", v, loc)
}

// eventFromComp reads one VEVENT without its recurrence.
func eventFromComp(c *ical.Component) (*sources.Event, error) {
	ev := &sources.Event{
		UID:         text(c, ical.PropUID),
		Summary:     text(c, ical.PropSummary),
		Location:    text(c, ical.PropLocation),
		Description: text(c, ical.PropDescription),
	}
	var err error
	ev.Start, ev.TimeZone, ev.AllDay, err = when(c.Props.Get(ical.PropDateTimeStart))
	if err != nil {
		return nil, fmt.Errorf("DTSTART: %w", err)
	}
	if e := c.Props.Get(ical.PropDateTimeEnd); e != nil {
		if ev.End, _, _, err = when(e); err != nil {
			return nil, fmt.Errorf("DTEND: %w", err)
		}
	} else if d := c.Props.Get(ical.PropDuration); d != nil {
		dur, err := d.Duration()
		if err != nil {
			return nil, fmt.Errorf("DURATION: %w", err)
		}
		ev.End = ev.Start.Add(dur)
	} else if ev.AllDay {
		ev.End = ev.Start.AddDate(0, 0, 1)
	} else {
		ev.End = ev.Start
	}
	if p := c.Props.Get(ical.PropDateTimeStamp); p != nil {
		ev.Stamp, _, _, _ = when(p)
	}
	ev.Organizer = vcal.Organizer(c.Props)
	ev.Attendees, ev.ResponseRequested = vcal.Attendees(c.Props)
	if len(ev.Attendees) > 0 {
		ev.MeetingStatus = sources.MeetingOrganized
		if text(c, ical.PropStatus) == "CANCELLED" {
			ev.MeetingStatus = sources.MeetingCanceled
		}
	}
	ev.Reminder = vcal.Reminder(c)
	switch strings.ToUpper(text(c, "X-MICROSOFT-CDO-BUSYSTATUS")) {
	case "FREE":
		ev.BusyStatus = sources.Free
	case "TENTATIVE":
		ev.BusyStatus = sources.Tentative
	case "OOF":
		ev.BusyStatus = sources.OutOfOffice
	case "WORKINGELSEWHERE":
		ev.BusyStatus = sources.WorkingElsewhere
	case "":
		if strings.EqualFold(text(c, ical.PropTransparency), "TRANSPARENT") {
			ev.BusyStatus = sources.Free
		} else if text(c, ical.PropStatus) == "TENTATIVE" {
			ev.BusyStatus = sources.Tentative
		}
	}
	ev.Sensitivity = vcal.Sensitivity(text(c, ical.PropClass))
	ev.Categories = vcal.Categories(c.Props)
	return ev, nil
}

var weekdays = []string{"SU", "MO", "TU", "WE", "TH", "FR", "SA"}

// parseRRule reads the RFC 5545 section 3.3.10 rule text.
func parseRRule(v string, loc *time.Location) (*sources.Recurrence, error) {
	r := &sources.Recurrence{WeekStart: time.Monday}
	for _, part := range strings.Split(v, ";") {
		k, val, _ := strings.Cut(part, "=")
		ints := func() ([]int, error) {
			var l []int
			for _, x := range strings.Split(val, ",") {
				n, err := strconv.Atoi(x)
				if err != nil {
					return nil, fmt.Errorf("RRULE %s=%s", k, val)
				}
				l = append(l, n)
			}
			return l, nil
		}
		var err error
		switch strings.ToUpper(k) {
		case "FREQ":
			switch strings.ToUpper(val) {
			case "DAILY":
				r.Freq = sources.Daily
			case "WEEKLY":
				r.Freq = sources.Weekly
			case "MONTHLY":
				r.Freq = sources.Monthly
			case "YEARLY":
				r.Freq = sources.Yearly
			default:
				return nil, fmt.Errorf("RRULE FREQ=%s is not supported", val)
			}
		case "INTERVAL":
			r.Interval, err = strconv.Atoi(val)
		case "COUNT":
			r.Count, err = strconv.Atoi(val)
		case "UNTIL":
			r.Until, err = parseICalTime(val, loc)
		case "BYDAY":
			for _, d := range strings.Split(val, ",") {
				d = strings.ToUpper(strings.TrimSpace(d))
				if len(d) < 2 {
					return nil, fmt.Errorf("RRULE BYDAY=%s", val)
				}
				wd := slices.Index(weekdays, d[len(d)-2:])
				if wd < 0 {
					return nil, fmt.Errorf("RRULE BYDAY=%s", val)
				}
				n := 0
				if len(d) > 2 {
					if n, err = strconv.Atoi(d[:len(d)-2]); err != nil {
						return nil, fmt.Errorf("RRULE BYDAY=%s", val)
					}
				}
				r.ByDay = append(r.ByDay, sources.WeekdayNum{Ordinal: n, Day: time.Weekday(wd)})
			}
		case "BYMONTHDAY":
			r.ByMonthDay, err = ints()
		case "BYMONTH":
			var l []int
			l, err = ints()
			for _, m := range l {
				r.ByMonth = append(r.ByMonth, time.Month(m))
			}
		case "BYSETPOS":
			r.BySetPos, err = ints()
		case "WKST":
			if i := slices.Index(weekdays, strings.ToUpper(val)); i >= 0 {
				r.WeekStart = time.Weekday(i)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("RRULE %s: %w", part, err)
		}
	}
	if !strings.Contains(strings.ToUpper(v), "FREQ=") {
		return nil, fmt.Errorf("RRULE %q has no FREQ", v)
	}
	return r, nil
}

// formatRRule writes r; UNTIL in UTC, or as a date for all-day series.
func formatRRule(r *sources.Recurrence, allDay bool) string {
	l := []string{"FREQ=" + [...]string{"DAILY", "WEEKLY", "MONTHLY", "YEARLY"}[r.Freq]}
	if r.Interval > 1 {
		l = append(l, "INTERVAL="+strconv.Itoa(r.Interval))
	}
	if r.Count > 0 {
		l = append(l, "COUNT="+strconv.Itoa(r.Count))
	} else if !r.Until.IsZero() {
		if allDay {
			l = append(l, "UNTIL="+r.Until.Format("20060102"))
		} else {
			l = append(l, "UNTIL="+r.Until.UTC().Format("20060102T150405Z"))
		}
	}
	join := func(k string, n int, f func(i int) string) {
		if n == 0 {
			return
		}
		s := make([]string, n)
		for i := range s {
			s[i] = f(i)
		}
		l = append(l, k+"="+strings.Join(s, ","))
	}
	join("BYDAY", len(r.ByDay), func(i int) string {
		d := r.ByDay[i]
		if d.Ordinal != 0 {
			return strconv.Itoa(d.Ordinal) + weekdays[d.Day]
		}
		return weekdays[d.Day]
	})
	join("BYMONTHDAY", len(r.ByMonthDay), func(i int) string { return strconv.Itoa(r.ByMonthDay[i]) })
	join("BYMONTH", len(r.ByMonth), func(i int) string { return strconv.Itoa(int(r.ByMonth[i])) })
	join("BYSETPOS", len(r.BySetPos), func(i int) string { return strconv.Itoa(r.BySetPos[i]) })
	if r.WeekStart != time.Monday {
		l = append(l, "WKST="+weekdays[r.WeekStart])
	}
	return strings.Join(l, ";")
}

// setTime writes a DATE or DATE-TIME property: a date for all-day, local
// time with TZID when tz names a zone, UTC otherwise. It returns the TZID
// used, "" for none.
func setTime(props ical.Props, name string, t time.Time, allDay bool, tz string) string {
	p := props.Get(name)
	if p == nil {
		p = ical.NewProp(name)
	}
	p.Params.Del(ical.PropTimezoneID)
	p.Params.Del(ical.ParamValue)
	var loc *time.Location
	if tz != "" {
		loc = location(tz)
	}
	switch {
	case allDay:
		if loc != nil {
			t = t.In(loc)
		}
		p.SetDate(t)
		p.Params.Set(ical.ParamValue, "DATE")
		tz = ""
	case loc != nil && loc != time.UTC:
		p.Value = t.In(loc).Format("20060102T150405")
		p.Params.Set(ical.PropTimezoneID, loc.String())
		tz = loc.String()
	default:
		p.Value = t.UTC().Format("20060102T150405Z")
		tz = ""
	}
	props.Set(p)
	return tz
}

func setText(props ical.Props, name, v string) {
	if v == "" {
		props.Del(name)
		return
	}
	if p := props.Get(name); p != nil {
		p.SetText(v) // keeps LANGUAGE, ALTREP and the like
		return
	}
	props.SetText(name, v)
}

// patchEvent writes ev into cal: its master VEVENT is patched field by
// field (created when missing), EXDATEs and override components follow
// ev.Exceptions, and each TZID used gets a VTIMEZONE. Properties and
// parameters the model does not know are left as they were.
func patchEvent(cal *ical.Calendar, ev *sources.Event) error {
	m, ovs := components(cal, ical.CompEvent)
	if m == nil {
		m = ical.NewComponent(ical.CompEvent)
		cal.Children = append(cal.Children, m)
	}
	uid := ev.UID
	if uid == "" {
		uid = text(m, ical.PropUID)
	}
	if uid == "" {
		uid = newUID()
	}
	tzs := map[string]time.Time{}
	patchEventComp(m, ev, uid, tzs)
	if ev.Recurrence != nil {
		m.Props.Set(&ical.Prop{Name: ical.PropRecurrenceRule, Params: ical.Params{}, Value: formatRRule(ev.Recurrence, ev.AllDay)})
	} else {
		m.Props.Del(ical.PropRecurrenceRule)
	}
	m.Props.Del(ical.PropExceptionDates)
	keep := map[int64]*sources.Exception{}
	for i := range ev.Exceptions {
		x := &ev.Exceptions[i]
		if !x.Deleted {
			keep[x.OriginalStart.Unix()] = x
			continue
		}
		tmp := ical.Props{}
		if tz := setTime(tmp, ical.PropExceptionDates, x.OriginalStart, ev.AllDay, ev.TimeZone); tz != "" {
			tzs[tz] = x.OriginalStart
		}
		m.Props.Add(tmp.Get(ical.PropExceptionDates))
	}
	if ev.Recurrence == nil {
		keep = nil
	}
	// Overrides: patch those that stay, drop the others, add new ones.
	done := map[int64]bool{}
	for _, o := range ovs {
		rid, _, _, err := when(o.Props.Get(ical.PropRecurrenceID))
		x := keep[rid.Unix()]
		if err != nil || x == nil {
			removeComp(cal, o)
			continue
		}
		done[rid.Unix()] = true
		patchOverride(o, ev, x, uid, tzs)
	}
	for k, x := range keep {
		if done[k] {
			continue
		}
		o := ical.NewComponent(ical.CompEvent)
		if tz := setTime(o.Props, ical.PropRecurrenceID, x.OriginalStart, ev.AllDay, ev.TimeZone); tz != "" {
			tzs[tz] = x.OriginalStart
		}
		patchOverride(o, ev, x, uid, tzs)
		cal.Children = append(cal.Children, o)
	}
	ensureTimezones(cal, tzs)
	return nil
}

func removeComp(cal *ical.Calendar, c *ical.Component) {
	cal.Children = slices.DeleteFunc(cal.Children, func(x *ical.Component) bool { return x == c })
}

// patchOverride writes exception x into override component o: the
// override's own fields where set, the series' otherwise.
func patchOverride(o *ical.Component, series *sources.Event, x *sources.Exception, uid string, tzs map[string]time.Time) {
	ov := *series
	ov.Recurrence, ov.Exceptions = nil, nil
	ov.Start = x.OriginalStart
	ov.End = x.OriginalStart.Add(series.End.Sub(series.Start))
	if x.Override != nil {
		e := x.Override
		if !e.Start.IsZero() {
			ov.Start = e.Start
			ov.End = e.Start.Add(series.End.Sub(series.Start))
		}
		if !e.End.IsZero() {
			ov.End = e.End
		}
		if e.TimeZone != "" {
			ov.TimeZone = e.TimeZone
		}
		for _, f := range []struct {
			dst *string
			src string
		}{{&ov.Summary, e.Summary}, {&ov.Location, e.Location}, {&ov.Description, e.Description}} {
			if f.src != "" {
				*f.dst = f.src
			}
		}
		if e.Organizer.Email != "" {
			ov.Organizer = e.Organizer
		}
		if e.Attendees != nil {
			ov.Attendees = e.Attendees
		}
		if e.Reminder != nil {
			ov.Reminder = e.Reminder
		}
		if e.BusyStatus != 0 {
			ov.BusyStatus = e.BusyStatus
		}
		if e.Sensitivity != 0 {
			ov.Sensitivity = e.Sensitivity
		}
		if e.Categories != nil {
			ov.Categories = e.Categories
		}
		if e.MeetingStatus != 0 {
			ov.MeetingStatus = e.MeetingStatus
		}
	}
	patchEventComp(o, &ov, uid, tzs)
	o.Props.Del(ical.PropRecurrenceRule)
	o.Props.Del(ical.PropExceptionDates)
}

// patchEventComp writes the non-recurrence fields of ev into c.
func patchEventComp(c *ical.Component, ev *sources.Event, uid string, tzs map[string]time.Time) {
	c.Props.SetText(ical.PropUID, uid)
	stamp := ev.Stamp
	if stamp.IsZero() {
		stamp = time.Now()
	}
	c.Props.SetDateTime(ical.PropDateTimeStamp, stamp.UTC())
	setText(c.Props, ical.PropSummary, ev.Summary)
	setText(c.Props, ical.PropLocation, ev.Location)
	setText(c.Props, ical.PropDescription, ev.Description)
	if tz := setTime(c.Props, ical.PropDateTimeStart, ev.Start, ev.AllDay, ev.TimeZone); tz != "" {
		tzs[tz] = ev.Start
	}
	c.Props.Del(ical.PropDuration)
	end := ev.End
	if end.IsZero() || end.Before(ev.Start) {
		end = ev.Start
	}
	if ev.AllDay && !end.After(ev.Start) {
		end = ev.Start.AddDate(0, 0, 1)
	}
	if tz := setTime(c.Props, ical.PropDateTimeEnd, end, ev.AllDay, ev.TimeZone); tz != "" {
		tzs[tz] = end
	}

	if ev.Organizer.Email != "" {
		p := c.Props.Get(ical.PropOrganizer)
		if p == nil || !strings.EqualFold(vcal.Mailto(p.Value), ev.Organizer.Email) {
			p = ical.NewProp(ical.PropOrganizer)
		}
		p.Value = "mailto:" + ev.Organizer.Email
		setParam(p.Params, ical.ParamCommonName, ev.Organizer.Name)
		c.Props.Set(p)
	} else {
		c.Props.Del(ical.PropOrganizer)
	}
	old := map[string]ical.Prop{}
	for _, p := range c.Props.Values(ical.PropAttendee) {
		old[strings.ToLower(vcal.Mailto(p.Value))] = p
	}
	c.Props.Del(ical.PropAttendee)
	for _, a := range ev.Attendees {
		p, ok := old[strings.ToLower(a.Email)]
		if !ok {
			p = *ical.NewProp(ical.PropAttendee)
		}
		p.Value = "mailto:" + a.Email
		setParam(p.Params, ical.ParamCommonName, a.Name)
		setParam(p.Params, ical.ParamRole, [...]string{"REQ-PARTICIPANT", "OPT-PARTICIPANT", "CHAIR", "NON-PARTICIPANT"}[a.Role])
		setParam(p.Params, ical.ParamParticipationStatus, [...]string{"NEEDS-ACTION", "ACCEPTED", "DECLINED", "TENTATIVE", "DELEGATED"}[a.Status])
		setParam(p.Params, ical.ParamCalendarUserType, [...]string{"", "GROUP", "RESOURCE", "ROOM"}[a.Type])
		if ev.ResponseRequested && a.Status == sources.StatusNeedsAction {
			p.Params.Set(ical.ParamRSVP, "TRUE")
		}
		c.Props.Add(&p)
	}

	patchAlarm(c, ev.Reminder)
	busy := [...]string{"BUSY", "FREE", "TENTATIVE", "OOF", "WORKINGELSEWHERE"}[ev.BusyStatus]
	if ev.BusyStatus == sources.Free {
		c.Props.SetText(ical.PropTransparency, "TRANSPARENT")
	} else {
		c.Props.SetText(ical.PropTransparency, "OPAQUE")
	}
	// TRANSP says busy or free; the Microsoft property carries the rest,
	// and is kept in step once an object has it.
	if ev.BusyStatus != sources.Busy || c.Props.Get("X-MICROSOFT-CDO-BUSYSTATUS") != nil {
		c.Props.SetText("X-MICROSOFT-CDO-BUSYSTATUS", busy)
	}
	setText(c.Props, ical.PropClass, vcal.ClassName(ev.Sensitivity))
	c.Props.Del(ical.PropCategories)
	if len(ev.Categories) > 0 {
		p := ical.NewProp(ical.PropCategories)
		p.SetTextList(ev.Categories)
		c.Props.Set(p)
	}
	switch ev.MeetingStatus {
	case sources.MeetingCanceled, sources.MeetingCanceledReceived:
		c.Props.SetText(ical.PropStatus, "CANCELLED")
	default:
		if text(c, ical.PropStatus) == "CANCELLED" {
			c.Props.Del(ical.PropStatus)
		}
	}
}

func setParam(p ical.Params, k, v string) {
	if v == "" {
		p.Del(k)
	} else {
		p.Set(k, v)
	}
}

// patchAlarm makes the first relative VALARM remind m minutes before the
// start, adds one when there is none, and drops relative alarms when m is
// nil. Alarms at fixed times or relative to the end are not the model's.
func patchAlarm(c *ical.Component, m *int) {
	var first *ical.Component
	c.Children = slices.DeleteFunc(c.Children, func(a *ical.Component) bool {
		if a.Name != ical.CompAlarm {
			return false
		}
		tr := a.Props.Get(ical.PropTrigger)
		if tr == nil || tr.ValueType() == ical.ValueDateTime || strings.EqualFold(tr.Params.Get(ical.ParamRelated), "END") {
			return false
		}
		if m == nil || first != nil {
			return m == nil
		}
		first = a
		return false
	})
	if m == nil {
		return
	}
	if first == nil {
		first = ical.NewComponent(ical.CompAlarm)
		first.Props.SetText(ical.PropAction, "DISPLAY")
		first.Props.SetText(ical.PropDescription, "Reminder")
		c.Children = append(c.Children, first)
	}
	tr := ical.NewProp(ical.PropTrigger)
	tr.SetDuration(-time.Duration(*m) * time.Minute)
	if *m == 0 {
		tr.Value = "PT0S"
	}
	first.Props.Set(tr)
}

// ensureTimezones adds a VTIMEZONE for each TZID in tzs that has none,
// built from Go's zone database around the year the zone is used in.
func ensureTimezones(cal *ical.Calendar, tzs map[string]time.Time) {
	for tz, at := range tzs {
		have := slices.ContainsFunc(cal.Children, func(c *ical.Component) bool {
			return c.Name == ical.CompTimezone && text(c, ical.PropTimezoneID) == tz
		})
		loc := location(tz)
		if have || loc == nil {
			continue
		}
		vt := vtimezone(loc, at.Year())
		cal.Children = append([]*ical.Component{vt}, cal.Children...)
	}
}

// vtimezone describes loc as RFC 5545 section 3.6.5 does: one STANDARD and
// one DAYLIGHT sub-component with yearly rules taken from the transitions
// of year, or a single STANDARD for a zone without daylight saving.
func vtimezone(loc *time.Location, year int) *ical.Component {
	vt := ical.NewComponent(ical.CompTimezone)
	vt.Props.SetText(ical.PropTimezoneID, loc.String())
	t := time.Date(year, 1, 1, 0, 0, 0, 0, loc)
	end := t.AddDate(1, 0, 0)
	var found bool
	for t.Before(end) {
		next := t.Add(24 * time.Hour)
		_, o1 := t.Zone()
		_, o2 := next.Zone()
		if o1 != o2 {
			lo, hi := t, next // find the exact instant
			for hi.Sub(lo) > time.Second {
				mid := lo.Add(hi.Sub(lo) / 2)
				if _, o := mid.Zone(); o == o1 {
					lo = mid
				} else {
					hi = mid
				}
			}
			name, _ := hi.Zone()
			kind := ical.CompTimezoneStandard
			if hi.IsDST() {
				kind = ical.CompTimezoneDaylight
			}
			sub := ical.NewComponent(kind)
			local := hi.UTC().Add(time.Duration(o1) * time.Second) // wall clock before the change
			sub.Props.Set(&ical.Prop{Name: ical.PropDateTimeStart, Params: ical.Params{}, Value: local.Format("20060102T150405")})
			sub.Props.Set(utcOffset(ical.PropTimezoneOffsetFrom, o1))
			sub.Props.Set(utcOffset(ical.PropTimezoneOffsetTo, o2))
			sub.Props.SetText(ical.PropTimezoneName, name)
			n := (local.Day()-1)/7 + 1
			if local.Day()+7 > time.Date(local.Year(), local.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day() {
				n = -1
			}
			sub.Props.Set(&ical.Prop{Name: ical.PropRecurrenceRule, Params: ical.Params{},
				Value: fmt.Sprintf("FREQ=YEARLY;BYMONTH=%d;BYDAY=%d%s", local.Month(), n, weekdays[local.Weekday()])})
			vt.Children = append(vt.Children, sub)
			found = true
		}
		t = next
	}
	if !found {
		name, o := t.Zone()
		sub := ical.NewComponent(ical.CompTimezoneStandard)
		sub.Props.Set(&ical.Prop{Name: ical.PropDateTimeStart, Params: ical.Params{}, Value: "19700101T000000"})
		sub.Props.Set(utcOffset(ical.PropTimezoneOffsetFrom, o))
		sub.Props.Set(utcOffset(ical.PropTimezoneOffsetTo, o))
		sub.Props.SetText(ical.PropTimezoneName, name)
		vt.Children = append(vt.Children, sub)
	}
	return vt
}

// utcOffset is a TZOFFSETFROM or TZOFFSETTO property of sec seconds east
// of UTC. Its value type is UTC-OFFSET (RFC 5545 section 3.8.3.3/4):
// written with SetText, go-ical adds VALUE=TEXT, which Radicale rejects
// with 400 and so refused every event a phone created with a time zone.
func utcOffset(name string, sec int) *ical.Prop {
	sign := "+"
	if sec < 0 {
		sign, sec = "-", -sec
	}
	return &ical.Prop{Name: name, Params: ical.Params{}, Value: fmt.Sprintf("%s%02d%02d", sign, sec/3600, sec/60%60)}
}

// taskFromICal reads the VTODO of one calendar object.
func taskFromICal(cal *ical.Calendar) (*sources.Task, error) {
	c, _ := components(cal, ical.CompToDo)
	if c == nil {
		return nil, fmt.Errorf("no VTODO")
	}
	t := &sources.Task{
		UID:         text(c, ical.PropUID),
		Subject:     text(c, ical.PropSummary),
		Body:        text(c, ical.PropDescription),
		Sensitivity: vcal.Sensitivity(text(c, ical.PropClass)),
		Categories:  vcal.Categories(c.Props),
	}
	var err error
	if t.Start, _, _, err = when(c.Props.Get(ical.PropDateTimeStart)); err != nil {
		return nil, fmt.Errorf("DTSTART: %w", err)
	}
	if t.Due, _, _, err = when(c.Props.Get(ical.PropDue)); err != nil {
		return nil, fmt.Errorf("DUE: %w", err)
	}
	t.StartLocal, t.DueLocal = t.Start, t.Due
	if p := c.Props.Get(ical.PropCompleted); p != nil {
		t.Completed, _, _, _ = when(p)
		t.Complete = true
	}
	if strings.EqualFold(text(c, ical.PropStatus), "COMPLETED") {
		t.Complete = true
	}
	if p := c.Props.Get(ical.PropPriority); p != nil {
		switch n, _ := strconv.Atoi(strings.TrimSpace(p.Value)); {
		case n >= 1 && n <= 4:
			t.Importance = sources.ImportanceHigh
		case n >= 6:
			t.Importance = sources.ImportanceLow
		}
	}
	for _, a := range c.Children {
		tr := a.Props.Get(ical.PropTrigger)
		if a.Name != ical.CompAlarm || tr == nil {
			continue
		}
		if tr.ValueType() == ical.ValueDateTime {
			t.Reminder, _, _, _ = when(tr)
		} else if d, err := tr.Duration(); err == nil {
			ref := t.Start
			if strings.EqualFold(tr.Params.Get(ical.ParamRelated), "END") || ref.IsZero() {
				ref = t.Due
			}
			if !ref.IsZero() {
				t.Reminder = ref.Add(d)
			}
		}
		break
	}
	if p := c.Props.Get(ical.PropRecurrenceRule); p != nil {
		r, err := parseRRule(p.Value, time.UTC)
		if err != nil {
			return nil, err
		}
		t.Recurrence = &sources.TaskRecurrence{Recurrence: *r, Start: t.Start}
	}
	return t, nil
}

// patchTask writes t into cal's VTODO, keeping what the model does not
// know.
func patchTask(cal *ical.Calendar, t *sources.Task) error {
	c, _ := components(cal, ical.CompToDo)
	if c == nil {
		c = ical.NewComponent(ical.CompToDo)
		cal.Children = append(cal.Children, c)
	}
	uid := t.UID
	if uid == "" {
		uid = text(c, ical.PropUID)
	}
	if uid == "" {
		uid = newUID()
	}
	c.Props.SetText(ical.PropUID, uid)
	c.Props.SetDateTime(ical.PropDateTimeStamp, time.Now().UTC())
	setText(c.Props, ical.PropSummary, t.Subject)
	setText(c.Props, ical.PropDescription, t.Body)
	tzs := map[string]time.Time{}
	for _, d := range []struct {
		name      string
		at, local time.Time
	}{{ical.PropDateTimeStart, t.Start, t.StartLocal}, {ical.PropDue, t.Due, t.DueLocal}} {
		if d.at.IsZero() && d.local.IsZero() {
			c.Props.Del(d.name)
			continue
		}
		at, tz := d.at, ""
		if !d.local.IsZero() && d.local.Location() != time.UTC && d.local.Location() != time.Local {
			at, tz = d.local, d.local.Location().String()
		} else if at.IsZero() {
			at = d.local
		}
		if tz = setTime(c.Props, d.name, at, false, tz); tz != "" {
			tzs[tz] = at
		}
	}
	if t.Complete {
		c.Props.SetText(ical.PropStatus, "COMPLETED")
		done := t.Completed
		if done.IsZero() {
			done = time.Now()
		}
		c.Props.SetDateTime(ical.PropCompleted, done.UTC())
		c.Props.Set(&ical.Prop{Name: ical.PropPercentComplete, Params: ical.Params{}, Value: "100"})
	} else {
		if text(c, ical.PropStatus) == "COMPLETED" {
			c.Props.SetText(ical.PropStatus, "NEEDS-ACTION")
		}
		c.Props.Del(ical.PropCompleted)
		if text(c, ical.PropPercentComplete) == "100" {
			c.Props.Del(ical.PropPercentComplete)
		}
	}
	switch t.Importance {
	case sources.ImportanceHigh:
		c.Props.Set(&ical.Prop{Name: ical.PropPriority, Params: ical.Params{}, Value: "1"})
	case sources.ImportanceLow:
		c.Props.Set(&ical.Prop{Name: ical.PropPriority, Params: ical.Params{}, Value: "9"})
	default:
		if p := c.Props.Get(ical.PropPriority); p != nil {
			if n, _ := strconv.Atoi(p.Value); n != 0 && n != 5 {
				c.Props.Set(&ical.Prop{Name: ical.PropPriority, Params: ical.Params{}, Value: "5"})
			}
		}
	}
	setText(c.Props, ical.PropClass, vcal.ClassName(t.Sensitivity))
	c.Props.Del(ical.PropCategories)
	if len(t.Categories) > 0 {
		p := ical.NewProp(ical.PropCategories)
		p.SetTextList(t.Categories)
		c.Props.Set(p)
	}
	c.Children = slices.DeleteFunc(c.Children, func(a *ical.Component) bool {
		tr := a.Props.Get(ical.PropTrigger)
		return a.Name == ical.CompAlarm && tr != nil && tr.ValueType() == ical.ValueDateTime
	})
	if !t.Reminder.IsZero() {
		a := ical.NewComponent(ical.CompAlarm)
		a.Props.SetText(ical.PropAction, "DISPLAY")
		a.Props.SetText(ical.PropDescription, "Reminder")
		tr := ical.NewProp(ical.PropTrigger)
		tr.SetDateTime(t.Reminder.UTC())
		a.Props.Set(tr)
		c.Children = append(c.Children, a)
	}
	if t.Recurrence != nil {
		c.Props.Set(&ical.Prop{Name: ical.PropRecurrenceRule, Params: ical.Params{}, Value: formatRRule(&t.Recurrence.Recurrence, false)})
	} else {
		c.Props.Del(ical.PropRecurrenceRule)
	}
	ensureTimezones(cal, tzs)
	return nil
}
