package sources

import "time"

// Event is a calendar entry, possibly recurring.
type Event struct {
	UID         string
	Summary     string
	Location    string
	Description string

	// Start and End are instants; an all-day event runs from midnight to
	// midnight in TimeZone, End exclusive.
	Start, End time.Time
	AllDay     bool
	TimeZone   string // IANA name, "Europe/Berlin"; empty for floating or UTC

	Organizer Address
	Attendees []Attendee

	// Reminder is the number of minutes before Start to remind; nil for no
	// reminder (0 reminds at Start).
	Reminder *int

	BusyStatus    BusyStatus
	Sensitivity   Sensitivity
	Categories    []string
	MeetingStatus MeetingStatus

	ResponseRequested bool
	Stamp             time.Time // iCalendar DTSTAMP, if the store keeps it

	Recurrence *Recurrence
	Exceptions []Exception
}

// Attendee is one participant of a meeting.
type Attendee struct {
	Address
	Role   AttendeeRole
	Status AttendeeStatus
	Type   AttendeeType
}

// AttendeeRole is an attendee's part in a meeting (iCalendar ROLE).
type AttendeeRole int

// Attendee roles; the zero value is required.
const (
	RoleRequired AttendeeRole = iota
	RoleOptional
	RoleChair
	RoleNonParticipant
)

// AttendeeStatus is an attendee's answer (iCalendar PARTSTAT).
type AttendeeStatus int

// Attendee statuses; the zero value means no answer yet.
const (
	StatusNeedsAction AttendeeStatus = iota
	StatusAccepted
	StatusDeclined
	StatusTentative
	StatusDelegated
)

// AttendeeType says what an attendee is (iCalendar CUTYPE).
type AttendeeType int

// Attendee types; the zero value is a person.
const (
	TypeIndividual AttendeeType = iota
	TypeGroup
	TypeResource
	TypeRoom
)

// BusyStatus is how an event shows in free/busy.
type BusyStatus int

// Busy statuses; the zero value is busy, iCalendar's default.
const (
	Busy BusyStatus = iota
	Free
	Tentative
	OutOfOffice
	WorkingElsewhere
)

// MeetingStatus says whether an event is a meeting and whose.
type MeetingStatus int

// Meeting statuses; the zero value is a plain appointment.
const (
	Appointment             MeetingStatus = iota
	MeetingOrganized                      // the user organizes it
	MeetingReceived                       // the user was invited
	MeetingCanceled                       // organized by the user, canceled
	MeetingCanceledReceived               // invited, then canceled by the organizer
)

// Frequency is how often a rule repeats (iCalendar FREQ).
type Frequency int

// Frequencies.
const (
	Daily Frequency = iota
	Weekly
	Monthly
	Yearly
)

// Recurrence is a recurrence rule, the subset of an iCalendar RRULE that
// calendars and devices share.
type Recurrence struct {
	Freq     Frequency
	Interval int       // 0 and 1 both mean every period
	Count    int       // occurrences in all; 0 for no count
	Until    time.Time // last possible start; zero for no end

	ByDay      []WeekdayNum
	ByMonthDay []int // 1..31, or -1 for the last day
	ByMonth    []time.Month
	BySetPos   []int // picks among the expanded set: -1 is the last
	WeekStart  time.Weekday
}

// WeekdayNum is a weekday with an optional ordinal: the 2nd Tuesday is
// {2, time.Tuesday}, the last Friday {-1, time.Friday}, every Monday
// {0, time.Monday}.
type WeekdayNum struct {
	Ordinal int
	Day     time.Weekday
}

// Exception changes one occurrence of a recurring event, identified by
// its original start.
type Exception struct {
	OriginalStart time.Time
	Deleted       bool

	// Override holds the occurrence's changed fields; fields left at their
	// zero value are inherited from the series. Nil when Deleted.
	Override *Event
}
