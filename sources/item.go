package sources

import (
	"context"
	"io"
	"time"
)

// Item is one entry of a folder. Exactly one of the kind pointers is set,
// matching the folder's content.
type Item struct {
	ID     ItemID
	Folder FolderID

	// ETag changes whenever the item does; Writer.Put takes it as ifMatch.
	ETag     string
	Modified time.Time

	Mail    *Message
	Contact *Contact
	Event   *Event
	Task    *Task
	Note    *Note
}

// Importance is the sender's or owner's priority of a message or task.
type Importance int

// Importances; the zero value is normal.
const (
	ImportanceNormal Importance = iota
	ImportanceLow
	ImportanceHigh
)

// Sensitivity says how private an event or task is; the zero value is
// normal.
type Sensitivity int

// Sensitivities, from iCalendar CLASS and its Exchange extension.
const (
	SensitivityNormal Sensitivity = iota
	SensitivityPersonal
	SensitivityPrivate
	SensitivityConfidential
)

// Address is a mailbox: a display name and an address.
type Address struct {
	Name  string
	Email string
}

// Message is a mail message: its headers, flags and, when asked for, its
// bodies and raw form.
type Message struct {
	From, To, Cc, Bcc, ReplyTo []Address

	Subject    string
	Date       time.Time // the Date header
	Received   time.Time // when the store received it
	MessageID  string    // without angle brackets, as are the two below
	InReplyTo  string
	References []string
	ThreadID   string // the store's conversation id, if it has one

	Read, Flagged, Answered, Forwarded bool
	FollowUp                           *FollowUp // nil: no follow-up flag
	Categories                         []string
	Importance                         Importance

	Size int64 // of the raw message, in bytes

	// Text and HTML are the plain-text and HTML bodies, filled when
	// GetOptions asks for them and the message has them.
	Text, HTML *Body

	// MIME opens the raw RFC 5322 message, when GetOptions asks for it.
	// Adapters stream it from the store; nothing holds whole messages.
	MIME OpenFunc

	Attachments []Attachment

	// Meeting is set for invitations, replies and cancellations.
	Meeting *MeetingRequest
}

// OpenFunc opens a stream; the caller closes it.
type OpenFunc func(ctx context.Context) (io.ReadCloser, error)

// Body is one body of a message, possibly cut short.
type Body struct {
	Data      string
	Size      int64 // of the whole body, before truncation
	Truncated bool
}

// FollowUp is a follow-up flag with its dates, as Exchange and most mail
// clients keep them beside the plain \Flagged flag.
type FollowUp struct {
	Request   string // what to do: "Follow up", "Reply", ...
	Start     time.Time
	Due       time.Time
	Completed time.Time // zero while the flag is active
}

// Attachment describes one attachment of a message. Its content comes
// from Attachments.OpenAttachment or from the raw message.
type Attachment struct {
	ID          string // stable within the message
	Name        string
	ContentType string
	Size        int64
	ContentID   string // without angle brackets
	Inline      bool   // shown in the body rather than listed
}

// MeetingMethod is the iTIP method of a meeting message.
type MeetingMethod int

// Meeting methods (RFC 5546).
const (
	MethodRequest MeetingMethod = iota
	MethodReply
	MethodCancel
	MethodCounter
)

// MeetingRequest is the calendar part of a meeting message.
type MeetingRequest struct {
	Method MeetingMethod

	// Event is the meeting as the message describes it.
	Event Event

	// RecurrenceID is the original start of the one occurrence the message
	// is about; zero when it is about the whole series.
	RecurrenceID time.Time

	Stamp             time.Time // iCalendar DTSTAMP
	Sequence          int       // iCalendar SEQUENCE: which revision of the meeting this is
	ResponseRequested bool
}
