package eas

import (
	"strconv"
)

// Calendar is a calendar item as it travels in Sync ApplicationData,
// ItemOperations and Search Properties. Dates use the compact form;
// the AirSyncBase body and Location replace the 2.5 body and the
// Calendar:Location string in later versions. MS-ASCAL 2.2.2.
type Calendar struct {
	TimeZone                  *TimeZone           `wbxml:"Calendar:Timezone,omitempty"`
	AllDayEvent               *bool               `wbxml:"Calendar:AllDayEvent,omitempty"`
	Body25                    *string             `wbxml:"Calendar:Body,omitempty"`          // 2.5
	BodyTruncated25           *bool               `wbxml:"Calendar:BodyTruncated,omitempty"` // 2.5
	Rtf25                     string              `wbxml:"Calendar:CompressedRTF,omitempty"` // 2.5, base64 compressed RTF
	Body                      *Body               `wbxml:"AirSyncBase:Body,omitempty"`
	BusyStatus                *BusyStatus         `wbxml:"Calendar:BusyStatus,omitempty"`
	OrganizerName             string              `wbxml:"Calendar:OrganizerName,omitempty"`
	OrganizerEmail            string              `wbxml:"Calendar:OrganizerEmail,omitempty"`
	DtStamp                   *DateTime           `wbxml:"Calendar:DtStamp,omitempty"`
	EndTime                   *DateTime           `wbxml:"Calendar:EndTime,omitempty"`
	LocationText              *string             `wbxml:"Calendar:Location,omitempty"` // until 14.1
	Location                  *Location           `wbxml:"AirSyncBase:Location,omitempty"`
	Reminder                  *UintOrEmpty        `wbxml:"Calendar:Reminder,omitempty"`
	Sensitivity               *Sensitivity        `wbxml:"Calendar:Sensitivity,omitempty"`
	Subject                   string              `wbxml:"Calendar:Subject,omitempty"`
	StartTime                 *DateTime           `wbxml:"Calendar:StartTime,omitempty"`
	UID                       string              `wbxml:"Calendar:UID,omitempty"`
	ClientUID                 string              `wbxml:"Calendar:ClientUid,omitempty"` // 16.0
	MeetingStatus             *MeetingStatus      `wbxml:"Calendar:MeetingStatus,omitempty"`
	Attendees                 *Attendees          `wbxml:"Calendar:Attendees,omitempty"`
	Categories                *CalendarCategories `wbxml:"Calendar:Categories,omitempty"`
	Recurrence                *Recurrence         `wbxml:"Calendar:Recurrence,omitempty"`
	Exceptions                *Exceptions         `wbxml:"Calendar:Exceptions,omitempty"`
	ResponseRequested         *bool               `wbxml:"Calendar:ResponseRequested,omitempty"`    // 14.0
	AppointmentReplyTime      *DateTime           `wbxml:"Calendar:AppointmentReplyTime,omitempty"` // 14.0
	ResponseType              *ResponseType       `wbxml:"Calendar:ResponseType,omitempty"`         // 14.0
	DisallowNewTimeProposal   *bool               `wbxml:"Calendar:DisallowNewTimeProposal,omitempty"`
	OnlineMeetingConfLink     string              `wbxml:"Calendar:OnlineMeetingConfLink,omitempty"`     // 14.1
	OnlineMeetingExternalLink string              `wbxml:"Calendar:OnlineMeetingExternalLink,omitempty"` // 14.1
	NativeBodyType            *BodyType           `wbxml:"AirSyncBase:NativeBodyType,omitempty"`
}

// UintOrEmpty is an unsignedInt element whose schema also allows the
// empty tag, as Calendar Reminder does (MS-ASCAL 2.2.2.38). Empty is true
// for the empty tag, which clears the value; iOS 16.x sends one in a
// client Add (testdata/devices/ios, Z-Push issue 99).
type UintOrEmpty struct {
	Value uint32
	Empty bool
}

// UintValue returns a non-empty UintOrEmpty holding n.
func UintValue(n uint32) *UintOrEmpty { return &UintOrEmpty{Value: n} }

// MarshalWBXML writes the value, or the empty tag.
func (u UintOrEmpty) MarshalWBXML(e *Encoder, start StartTag) error {
	if u.Empty {
		return encodeTextElement(e, start, "")
	}
	return encodeTextElement(e, start, strconv.FormatUint(uint64(u.Value), 10))
}

// UnmarshalWBXML reads the value; an element without text is Empty.
func (u *UintOrEmpty) UnmarshalWBXML(d *Decoder, start StartTag) error {
	s, err := decodeTextElement(d, start)
	if err != nil {
		return err
	}
	if s == "" {
		*u = UintOrEmpty{Empty: true}
		return nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return schemaErrorf("Sync", "%s: bad unsigned integer %q", start.Tag, s)
	}
	*u = UintOrEmpty{Value: uint32(n)}
	return nil
}

// BusyStatus is how a calendar item shows in free/busy. MS-ASCAL 2.2.2.9.
type BusyStatus uint8

// The free/busy states.
const (
	BusyFree             BusyStatus = 0
	BusyTentative        BusyStatus = 1
	BusyBusy             BusyStatus = 2
	BusyOutOfOffice      BusyStatus = 3
	BusyWorkingElsewhere BusyStatus = 4 // 16.0
)

// Sensitivity marks an item private or confidential; Calendar and Tasks
// share the values. MS-ASCAL 2.2.2.41, MS-ASTASK 2.2.2.24.
type Sensitivity uint8

// The sensitivity levels.
const (
	SensitivityNormal       Sensitivity = 0
	SensitivityPersonal     Sensitivity = 1
	SensitivityPrivate      Sensitivity = 2
	SensitivityConfidential Sensitivity = 3
)

// MeetingStatus says whether an item is a meeting and the user's part
// in it: bit 0 meeting, bit 1 received, bit 2 canceled. MS-ASCAL 2.2.2.29.
type MeetingStatus uint8

// ResponseType is the user's answer to a meeting. MS-ASCAL 2.2.2.40.
type ResponseType uint8

// The meeting responses.
const (
	ResponseNone         ResponseType = 0
	ResponseOrganizer    ResponseType = 1
	ResponseTentative    ResponseType = 2
	ResponseAccepted     ResponseType = 3
	ResponseDeclined     ResponseType = 4
	ResponseNotResponded ResponseType = 5
)

// Attendees lists a meeting's attendees. MS-ASCAL 2.2.2.4.
type Attendees struct {
	Attendee []Attendee `wbxml:"Calendar:Attendee"`
}

// Attendee is one meeting attendee. MS-ASCAL 2.2.2.3.
type Attendee struct {
	Email             string    `wbxml:"Calendar:Email"`
	Name              string    `wbxml:"Calendar:Name"`
	AttendeeStatus    *uint8    `wbxml:"Calendar:AttendeeStatus,omitempty"` // 0 unknown, 2 tentative, 3 accept, 4 decline, 5 not responded
	AttendeeType      *uint8    `wbxml:"Calendar:AttendeeType,omitempty"`   // 1 required, 2 optional, 3 resource
	ProposedStartTime *DateTime `wbxml:"MeetingResponse:ProposedStartTime,omitempty"`
	ProposedEndTime   *DateTime `wbxml:"MeetingResponse:ProposedEndTime,omitempty"`
}

// CalendarCategories lists a calendar item's categories. MS-ASCAL 2.2.2.11.
type CalendarCategories struct {
	Category []string `wbxml:"Calendar:Category"`
}

// RecurrenceType is the pattern of a recurrence; Calendar, Tasks and
// meeting requests share the values. MS-ASCAL 2.2.2.44.
type RecurrenceType uint8

// The recurrence patterns. 4 is unused.
const (
	RecurDaily      RecurrenceType = 0
	RecurWeekly     RecurrenceType = 1
	RecurMonthly    RecurrenceType = 2 // on DayOfMonth
	RecurMonthlyNth RecurrenceType = 3 // on the WeekOfMonth'th DayOfWeek
	RecurYearly     RecurrenceType = 5 // on DayOfMonth of MonthOfYear
	RecurYearlyNth  RecurrenceType = 6 // on the WeekOfMonth'th DayOfWeek of MonthOfYear
)

// Recurrence is a calendar item's recurrence rule. DayOfWeek is a bit
// mask, Sunday 1 to Saturday 64. MS-ASCAL 2.2.2.36.
type Recurrence struct {
	Type           RecurrenceType `wbxml:"Calendar:Type"`
	Occurrences    *uint16        `wbxml:"Calendar:Occurrences,omitempty"`
	Interval       *uint16        `wbxml:"Calendar:Interval,omitempty"`
	WeekOfMonth    *uint8         `wbxml:"Calendar:WeekOfMonth,omitempty"`
	DayOfWeek      *uint8         `wbxml:"Calendar:DayOfWeek,omitempty"`
	MonthOfYear    *uint8         `wbxml:"Calendar:MonthOfYear,omitempty"`
	Until          *DateTime      `wbxml:"Calendar:Until,omitempty"`
	DayOfMonth     *uint8         `wbxml:"Calendar:DayOfMonth,omitempty"`
	CalendarType   *uint8         `wbxml:"Calendar:CalendarType,omitempty"`   // 14.0
	IsLeapMonth    *bool          `wbxml:"Calendar:IsLeapMonth,omitempty"`    // 14.0
	FirstDayOfWeek *uint8         `wbxml:"Calendar:FirstDayOfWeek,omitempty"` // 14.1
}

// Exceptions lists the changed or deleted instances of a recurring item.
// MS-ASCAL 2.2.2.23.
type Exceptions struct {
	Exception []Exception `wbxml:"Calendar:Exception"`
}

// Exception is one changed or deleted instance. It names the instance by
// ExceptionStartTime, or by InstanceId from 16.0; unset fields take the
// master item's values. MS-ASCAL 2.2.2.22.
type Exception struct {
	Deleted                   *bool               `wbxml:"Calendar:Deleted,omitempty"`
	ExceptionStartTime        *DateTime           `wbxml:"Calendar:ExceptionStartTime,omitempty"`
	InstanceID                *DateTime           `wbxml:"AirSyncBase:InstanceId,omitempty"` // 16.0
	Subject                   string              `wbxml:"Calendar:Subject,omitempty"`
	StartTime                 *DateTime           `wbxml:"Calendar:StartTime,omitempty"`
	EndTime                   *DateTime           `wbxml:"Calendar:EndTime,omitempty"`
	Body25                    *string             `wbxml:"Calendar:Body,omitempty"` // 2.5
	Body                      *Body               `wbxml:"AirSyncBase:Body,omitempty"`
	LocationText              *string             `wbxml:"Calendar:Location,omitempty"`
	Location                  *Location           `wbxml:"AirSyncBase:Location,omitempty"`
	Categories                *CalendarCategories `wbxml:"Calendar:Categories,omitempty"`
	Sensitivity               *Sensitivity        `wbxml:"Calendar:Sensitivity,omitempty"`
	BusyStatus                *BusyStatus         `wbxml:"Calendar:BusyStatus,omitempty"`
	AllDayEvent               *bool               `wbxml:"Calendar:AllDayEvent,omitempty"`
	Reminder                  *UintOrEmpty        `wbxml:"Calendar:Reminder,omitempty"`
	DtStamp                   *DateTime           `wbxml:"Calendar:DtStamp,omitempty"`
	MeetingStatus             *MeetingStatus      `wbxml:"Calendar:MeetingStatus,omitempty"`
	Attendees                 *Attendees          `wbxml:"Calendar:Attendees,omitempty"`
	AppointmentReplyTime      *DateTime           `wbxml:"Calendar:AppointmentReplyTime,omitempty"`
	ResponseType              *ResponseType       `wbxml:"Calendar:ResponseType,omitempty"`
	OnlineMeetingConfLink     string              `wbxml:"Calendar:OnlineMeetingConfLink,omitempty"`
	OnlineMeetingExternalLink string              `wbxml:"Calendar:OnlineMeetingExternalLink,omitempty"`
}

// Validate checks c against protocol version v: elements the version
// lacks and values out of range.
func (c *Calendar) Validate(v ProtocolVersion) error {
	if err := firstError(
		dropVersion("Calendar:Body", c.Body25 != nil || c.BodyTruncated25 != nil || c.Rtf25 != "", V25, v),
		c.Body.validate(v),
		c.Location.validate(v),
		dropVersion("Calendar:Location", c.LocationText != nil, V141, v),
		needVersion("Calendar:ClientUid", c.ClientUID != "", V160, v),
		needVersion("Calendar:ResponseRequested", c.ResponseRequested != nil, V140, v),
		needVersion("Calendar:AppointmentReplyTime", c.AppointmentReplyTime != nil, V140, v),
		needVersion("Calendar:ResponseType", c.ResponseType != nil, V140, v),
		needVersion("Calendar:DisallowNewTimeProposal", c.DisallowNewTimeProposal != nil, V140, v),
		needVersion("Calendar:OnlineMeetingConfLink", c.OnlineMeetingConfLink != "" || c.OnlineMeetingExternalLink != "", V141, v),
		needVersion("AirSyncBase:NativeBodyType", c.NativeBodyType != nil, V120, v),
		validateCalendarValues(v, c.BusyStatus, c.Sensitivity, c.MeetingStatus, c.ResponseType),
		c.Attendees.validate(v),
		c.Recurrence.validate(v),
	); err != nil {
		return err
	}
	if c.Exceptions != nil {
		for i := range c.Exceptions.Exception {
			if err := c.Exceptions.Exception[i].validate(v); err != nil {
				return err
			}
		}
	}
	return nil
}

// validateCalendarValues checks the enumerations that items and their
// exceptions share.
func validateCalendarValues(v ProtocolVersion, bs *BusyStatus, s *Sensitivity, ms *MeetingStatus, rt *ResponseType) error {
	maxBusy := BusyOutOfOffice
	if v >= V160 {
		maxBusy = BusyWorkingElsewhere
	}
	return firstError(
		checkRange("Calendar:BusyStatus", bs, 0, maxBusy),
		checkRange("Calendar:Sensitivity", s, 0, SensitivityConfidential),
		checkEnum("Calendar:MeetingStatus", ms, 0, 1, 3, 5, 7, 9, 11, 13, 15),
		checkRange("Calendar:ResponseType", rt, 0, ResponseNotResponded),
	)
}

func (e *Exception) validate(v ProtocolVersion) error {
	return firstError(
		needVersion("AirSyncBase:InstanceId", e.InstanceID != nil, V160, v),
		dropVersion("Calendar:ExceptionStartTime", e.ExceptionStartTime != nil, V141, v),
		e.Body.validate(v),
		dropVersion("Calendar:Body", e.Body25 != nil, V25, v),
		e.Location.validate(v),
		dropVersion("Calendar:Location", e.LocationText != nil, V141, v),
		validateCalendarValues(v, e.BusyStatus, e.Sensitivity, e.MeetingStatus, e.ResponseType),
		e.Attendees.validate(v),
	)
}

func (a *Attendees) validate(v ProtocolVersion) error {
	if a == nil {
		return nil
	}
	for _, at := range a.Attendee {
		if err := firstError(
			checkEnum("Calendar:AttendeeStatus", at.AttendeeStatus, 0, 2, 3, 4, 5),
			checkRange("Calendar:AttendeeType", at.AttendeeType, 1, 3),
			needVersion("Calendar:AttendeeStatus", at.AttendeeStatus != nil || at.AttendeeType != nil, V120, v),
			needVersion("MeetingResponse:ProposedStartTime", at.ProposedStartTime != nil || at.ProposedEndTime != nil, V161, v),
		); err != nil {
			return err
		}
	}
	return nil
}

func (r *Recurrence) validate(v ProtocolVersion) error {
	if r == nil {
		return nil
	}
	return validateRecurrence("Calendar", recurrenceFields{
		typ: r.Type, occurrences: r.Occurrences, interval: r.Interval, weekOfMonth: r.WeekOfMonth,
		dayOfWeek: r.DayOfWeek, monthOfYear: r.MonthOfYear, dayOfMonth: r.DayOfMonth,
		calendarType: r.CalendarType, isLeapMonth: r.IsLeapMonth, firstDayOfWeek: r.FirstDayOfWeek,
	}, v)
}

// recurrenceFields holds what the three recurrence forms (Calendar,
// Tasks, Email meeting requests) share, for one validation.
type recurrenceFields struct {
	typ                                             RecurrenceType
	occurrences, interval                           *uint16
	weekOfMonth, dayOfWeek, monthOfYear, dayOfMonth *uint8
	calendarType, firstDayOfWeek                    *uint8
	isLeapMonth                                     *bool
}

func validateRecurrence(page string, r recurrenceFields, v ProtocolVersion) error {
	typ := r.typ
	return firstError(
		checkEnum(page+":Type", &typ, RecurDaily, RecurWeekly, RecurMonthly, RecurMonthlyNth, RecurYearly, RecurYearlyNth),
		checkRange(page+":Occurrences", r.occurrences, 0, 999),
		checkRange(page+":Interval", r.interval, 0, 999),
		checkRange(page+":WeekOfMonth", r.weekOfMonth, 1, 5),
		checkRange(page+":DayOfWeek", r.dayOfWeek, 1, 127),
		checkRange(page+":MonthOfYear", r.monthOfYear, 1, 12),
		checkRange(page+":DayOfMonth", r.dayOfMonth, 1, 31),
		checkEnum(page+":CalendarType", r.calendarType, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 20),
		checkRange(page+":FirstDayOfWeek", r.firstDayOfWeek, 0, 6),
		needVersion(page+":CalendarType", r.calendarType != nil || r.isLeapMonth != nil, V140, v),
		needVersion(page+":FirstDayOfWeek", r.firstDayOfWeek != nil, V141, v),
	)
}
