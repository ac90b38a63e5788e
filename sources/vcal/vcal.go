// Package vcal reads the iCalendar (RFC 5545) properties of an event or
// task into the item model where their meaning is the same whatever
// carried them: a CalDAV store's objects (sources/imapdav/dav) and the
// iTIP invitations of mail (sources/itip). What depends on the carrier
// (time zones, busy status, recurrence) stays with each.
package vcal

import (
	"strings"
	"time"

	"github.com/emersion/go-ical"

	"github.com/easgate/easgate/sources"
)

// Mailto returns the address of a calendar user address, without its
// "mailto:".
func Mailto(v string) string {
	v = strings.TrimSpace(v)
	if len(v) > 7 && strings.EqualFold(v[:7], "mailto:") {
		return v[7:]
	}
	return v
}

// Organizer reads ORGANIZER; the zero Address when there is none.
func Organizer(props ical.Props) sources.Address {
	o := props.Get(ical.PropOrganizer)
	if o == nil {
		return sources.Address{}
	}
	return sources.Address{Name: o.Params.Get(ical.ParamCommonName), Email: Mailto(o.Value)}
}

// Attendees reads the ATTENDEEs, and whether any is asked to reply
// (RSVP=TRUE): the model has one ResponseRequested for the event.
func Attendees(props ical.Props) (l []sources.Attendee, rsvp bool) {
	for _, a := range props.Values(ical.PropAttendee) {
		at := sources.Attendee{
			Address: sources.Address{Name: a.Params.Get(ical.ParamCommonName), Email: Mailto(a.Value)},
			Status:  PartStat(a.Params.Get(ical.ParamParticipationStatus)),
		}
		switch strings.ToUpper(a.Params.Get(ical.ParamRole)) {
		case "OPT-PARTICIPANT":
			at.Role = sources.RoleOptional
		case "CHAIR":
			at.Role = sources.RoleChair
		case "NON-PARTICIPANT":
			at.Role = sources.RoleNonParticipant
		}
		switch strings.ToUpper(a.Params.Get(ical.ParamCalendarUserType)) {
		case "GROUP":
			at.Type = sources.TypeGroup
		case "RESOURCE":
			at.Type = sources.TypeResource
		case "ROOM":
			at.Type = sources.TypeRoom
		}
		if strings.EqualFold(a.Params.Get(ical.ParamRSVP), "TRUE") {
			rsvp = true
		}
		l = append(l, at)
	}
	return l, rsvp
}

// PartStat reads a PARTSTAT value; NEEDS-ACTION, the default, for any
// other.
func PartStat(v string) sources.AttendeeStatus {
	switch strings.ToUpper(v) {
	case "ACCEPTED":
		return sources.StatusAccepted
	case "DECLINED":
		return sources.StatusDeclined
	case "TENTATIVE":
		return sources.StatusTentative
	case "DELEGATED":
		return sources.StatusDelegated
	}
	return sources.StatusNeedsAction
}

// Reminder reads the minutes before the start of c's first VALARM that
// the model can carry: a trigger by duration, relative to the start, not
// after it. Nil when there is none.
func Reminder(c *ical.Component) *int {
	for _, a := range c.Children {
		if a.Name != ical.CompAlarm {
			continue
		}
		tr := a.Props.Get(ical.PropTrigger)
		if tr == nil || tr.ValueType() == ical.ValueDateTime || strings.EqualFold(tr.Params.Get(ical.ParamRelated), "END") {
			continue
		}
		d, err := tr.Duration()
		if err != nil || d > 0 {
			continue
		}
		m := int(-d / time.Minute)
		return &m
	}
	return nil
}

// Sensitivity reads a CLASS value.
func Sensitivity(class string) sources.Sensitivity {
	switch strings.ToUpper(strings.TrimSpace(class)) {
	case "PRIVATE":
		return sources.SensitivityPrivate
	case "CONFIDENTIAL":
		return sources.SensitivityConfidential
	case "X-PERSONAL":
		return sources.SensitivityPersonal
	}
	return sources.SensitivityNormal
}

// ClassName is the CLASS value of s, "" for normal (PUBLIC, the default).
func ClassName(s sources.Sensitivity) string {
	switch s {
	case sources.SensitivityPrivate:
		return "PRIVATE"
	case sources.SensitivityConfidential:
		return "CONFIDENTIAL"
	case sources.SensitivityPersonal:
		return "X-PERSONAL"
	}
	return ""
}

// Categories reads every CATEGORIES property: RFC 5545 allows several.
func Categories(props ical.Props) []string {
	var l []string
	for _, p := range props.Values(ical.PropCategories) {
		v, _ := p.TextList()
		l = append(l, v...)
	}
	return l
}
