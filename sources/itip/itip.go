// Package itip reads the iCalendar scheduling messages that mail carries
// (iTIP, RFC 5546, in mail per iMIP, RFC 6047) into the sources model, and
// writes an attendee's answer to one. It is what lets a gateway show an
// invitation that arrived as mail and answer it through any store that can
// send, whatever the store's own calendar protocol.
package itip

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-ical"
	"github.com/teambition/rrule-go"

	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/vcal"
)

// MaxSize bounds an iCalendar object read from a message: invitations are a
// few kilobytes, and one with a long series of exceptions some tens.
const MaxSize = 1 << 20

// ErrNoMeeting reports an iCalendar object that is not a scheduling
// message: no METHOD, or no event.
var ErrNoMeeting = errors.New("itip: not a meeting message")

// IsCalendar reports whether a part of MIME type contentType holds
// iCalendar: text/calendar, or application/ics as some mailers attach the
// invitation a second time.
func IsCalendar(contentType string) bool {
	t, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		t = strings.ToLower(strings.TrimSpace(contentType))
	}
	return t == "text/calendar" || t == "application/ics"
}

// Parse reads a scheduling message, a VCALENDAR with a METHOD of REQUEST,
// REPLY, CANCEL or COUNTER, of at most MaxSize bytes. The meeting is the
// series (the VEVENT without RECURRENCE-ID) or, when the message is about
// one occurrence only, that occurrence, whose original start is then
// RecurrenceID. Times in a Windows zone (Outlook's TZID:W. Europe Standard
// Time) are read in the matching IANA zone.
func Parse(r io.Reader) (*sources.MeetingRequest, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("itip: %w", err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("itip: calendar over %d bytes: %w", MaxSize, sources.ErrTooLarge)
	}
	return parse(data)
}

// parse reads data, turning a panic of the iCalendar decoder on malformed
// input (go-ical indexes past the end of a truncated parameter; the case
// is in testdata/fuzz/FuzzParse) into an error: invitations come from
// anyone who can send mail.
func parse(data []byte) (mr *sources.MeetingRequest, err error) {
	defer func() {
		if r := recover(); r != nil {
			mr, err = nil, fmt.Errorf("itip: malformed calendar: %v", r)
		}
	}()
	cal, err := ical.NewDecoder(bytes.NewReader(data)).Decode()
	if err != nil {
		return nil, fmt.Errorf("itip: %w", err)
	}
	mr = &sources.MeetingRequest{}
	switch m, _ := cal.Props.Text(ical.PropMethod); strings.ToUpper(m) {
	case "REQUEST":
		mr.Method = sources.MethodRequest
	case "REPLY":
		mr.Method = sources.MethodReply
	case "CANCEL":
		mr.Method = sources.MethodCancel
	case "COUNTER":
		mr.Method = sources.MethodCounter
	default:
		return nil, ErrNoMeeting
	}
	var vevent *ical.Component
	for _, c := range cal.Children {
		if c.Name != ical.CompEvent {
			continue
		}
		if vevent == nil || vevent.Props.Get(ical.PropRecurrenceID) != nil && c.Props.Get(ical.PropRecurrenceID) == nil {
			vevent = c
		}
	}
	if vevent == nil {
		return nil, ErrNoMeeting
	}
	z := zones{cal: cal}
	if err := readEvent(&mr.Event, vevent, z); err != nil {
		return nil, err
	}
	p := vevent.Props
	if rid := p.Get(ical.PropRecurrenceID); rid != nil {
		mr.RecurrenceID, _, _ = z.when(rid)
	}
	if s := p.Get(ical.PropSequence); s != nil {
		mr.Sequence, _ = strconv.Atoi(strings.TrimSpace(s.Value))
	}
	mr.Stamp = mr.Event.Stamp
	mr.ResponseRequested = mr.Event.ResponseRequested
	switch mr.Method {
	case sources.MethodCancel:
		mr.Event.MeetingStatus = sources.MeetingCanceledReceived
	case sources.MethodRequest:
		mr.Event.MeetingStatus = sources.MeetingReceived
	}
	return mr, nil
}

// readEvent fills ev from a VEVENT.
func readEvent(ev *sources.Event, c *ical.Component, z zones) error {
	p := c.Props
	text := func(name string) string { s, _ := p.Text(name); return s }
	ev.UID = text(ical.PropUID)
	ev.Summary = text(ical.PropSummary)
	ev.Location = text(ical.PropLocation)
	ev.Description = text(ical.PropDescription)
	start := p.Get(ical.PropDateTimeStart)
	if start == nil {
		return fmt.Errorf("itip: VEVENT %q has no DTSTART", ev.UID)
	}
	var loc *time.Location
	ev.Start, loc, ev.AllDay = z.when(start)
	if loc != nil && loc != time.UTC {
		ev.TimeZone = loc.String()
	}
	switch end := p.Get(ical.PropDateTimeEnd); {
	case end != nil:
		ev.End, _, _ = z.when(end)
	case p.Get(ical.PropDuration) != nil:
		d, _ := p.Get(ical.PropDuration).Duration()
		ev.End = ev.Start.Add(d)
	case ev.AllDay:
		ev.End = ev.Start.AddDate(0, 0, 1)
	default:
		ev.End = ev.Start
	}
	if s := p.Get(ical.PropDateTimeStamp); s != nil {
		ev.Stamp, _, _ = z.when(s)
	}
	ev.Organizer = vcal.Organizer(p)
	ev.Attendees, ev.ResponseRequested = vcal.Attendees(p)
	// What the organizer means the attendees' time to show as: Outlook's
	// INTENDEDSTATUS, else TRANSP.
	switch strings.ToUpper(cmp.Or(text("X-MICROSOFT-CDO-INTENDEDSTATUS"), text("X-MICROSOFT-CDO-BUSYSTATUS"))) {
	case "FREE":
		ev.BusyStatus = sources.Free
	case "TENTATIVE":
		ev.BusyStatus = sources.Tentative
	case "OOF":
		ev.BusyStatus = sources.OutOfOffice
	case "WORKINGELSEWHERE":
		ev.BusyStatus = sources.WorkingElsewhere
	case "":
		if strings.EqualFold(text(ical.PropTransparency), "TRANSPARENT") {
			ev.BusyStatus = sources.Free
		}
	}
	ev.Sensitivity = vcal.Sensitivity(text(ical.PropClass))
	ev.Categories = vcal.Categories(p)
	ev.Reminder = vcal.Reminder(c)
	if p.Get(ical.PropRecurrenceRule) != nil {
		ro, err := p.RecurrenceRule()
		if err != nil {
			return fmt.Errorf("itip: VEVENT %q: %w", ev.UID, err)
		}
		ev.Recurrence = recurrence(ro)
		for _, x := range p.Values(ical.PropExceptionDates) {
			for _, v := range strings.Split(x.Value, ",") {
				xp := ical.Prop{Name: x.Name, Params: x.Params, Value: v}
				if t, _, _ := z.when(&xp); !t.IsZero() {
					ev.Exceptions = append(ev.Exceptions, sources.Exception{OriginalStart: t, Deleted: true})
				}
			}
		}
	}
	return nil
}

// recurrence converts an RRULE.
func recurrence(ro *rrule.ROption) *sources.Recurrence {
	r := &sources.Recurrence{Interval: ro.Interval, Count: ro.Count, Until: ro.Until, ByMonthDay: ro.Bymonthday, BySetPos: ro.Bysetpos}
	switch ro.Freq {
	case rrule.YEARLY:
		r.Freq = sources.Yearly
	case rrule.MONTHLY:
		r.Freq = sources.Monthly
	case rrule.WEEKLY:
		r.Freq = sources.Weekly
	default:
		r.Freq = sources.Daily
	}
	for _, m := range ro.Bymonth {
		r.ByMonth = append(r.ByMonth, time.Month(m))
	}
	for _, d := range ro.Byweekday {
		r.ByDay = append(r.ByDay, sources.WeekdayNum{Ordinal: d.N(), Day: time.Weekday((d.Day() + 1) % 7)})
	}
	r.WeekStart = time.Weekday((ro.Wkst.Day() + 1) % 7)
	return r
}

// zones resolves the TZIDs of one calendar.
type zones struct{ cal *ical.Calendar }

// when reads a DATE or DATE-TIME property: the instant, its zone (nil
// for a floating time, read as UTC) and whether it is a date.
func (z zones) when(p *ical.Prop) (time.Time, *time.Location, bool) {
	v := strings.TrimSpace(p.Value)
	if len(v) == 8 || strings.EqualFold(p.Params.Get(ical.ParamValue), "DATE") {
		loc := time.UTC
		if tz := p.Params.Get(ical.ParamTimezoneID); tz != "" {
			loc = z.location(tz)
		}
		t, err := time.ParseInLocation("20060102", v[:min(8, len(v))], loc)
		if err != nil {
			return time.Time{}, nil, false
		}
		return t, loc, true
	}
	if strings.HasSuffix(v, "Z") {
		t, err := time.Parse("20060102T150405Z", v)
		if err != nil {
			return time.Time{}, nil, false
		}
		return t, time.UTC, false
	}
	loc := time.UTC
	if tz := p.Params.Get(ical.ParamTimezoneID); tz != "" {
		loc = z.location(tz)
	}
	t, err := time.ParseInLocation("20060102T150405", v, loc)
	if err != nil {
		return time.Time{}, nil, false
	}
	return t, loc, false
}

// location is the zone of a TZID: an IANA or Windows name, else the
// standard offset of the calendar's own VTIMEZONE of that name.
func (z zones) location(tzid string) *time.Location {
	if loc, ok := sources.WindowsZone(strings.Trim(tzid, `"`)); ok {
		return loc
	}
	for _, c := range z.cal.Children {
		if c.Name != ical.CompTimezone {
			continue
		}
		if id, _ := c.Props.Text(ical.PropTimezoneID); id != tzid {
			continue
		}
		for _, sub := range c.Children {
			if sub.Name != ical.CompTimezoneStandard {
				continue
			}
			if off := sub.Props.Get(ical.PropTimezoneOffsetTo); off != nil {
				if secs, ok := utcOffset(off.Value); ok {
					return time.FixedZone(tzid, secs)
				}
			}
		}
	}
	return time.UTC
}

// utcOffset reads a UTC-OFFSET, "+0100" or "-053000".
func utcOffset(v string) (int, bool) {
	v = strings.TrimSpace(v)
	if len(v) != 5 && len(v) != 7 || v[0] != '+' && v[0] != '-' {
		return 0, false
	}
	n := 0
	for i, mult := range []int{3600, 60, 1} {
		if 1+2*i+2 > len(v) {
			break
		}
		d, err := strconv.Atoi(v[1+2*i : 3+2*i])
		if err != nil {
			return 0, false
		}
		n += d * mult
	}
	if v[0] == '-' {
		n = -n
	}
	return n, true
}
