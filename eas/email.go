package eas

// Email is an email item as it travels in Sync ApplicationData,
// ItemOperations and Search Properties. Address fields hold RFC 5322
// address lists as text. 2.5 carries the body, MIME and attachments on
// the Email page; 12.0 and later use the AirSyncBase forms.
// MS-ASEMAIL 2.2.2.
type Email struct {
	To                      string                   `wbxml:"Email:To,omitempty"`
	Cc                      string                   `wbxml:"Email:Cc,omitempty"`
	From                    string                   `wbxml:"Email:From,omitempty"`
	Subject                 string                   `wbxml:"Email:Subject,omitempty"`
	ReplyTo                 string                   `wbxml:"Email:ReplyTo,omitempty"`
	DateReceived            *DateTime                `wbxml:"Email:DateReceived,omitempty"`
	DisplayTo               string                   `wbxml:"Email:DisplayTo,omitempty"`
	ThreadTopic             string                   `wbxml:"Email:ThreadTopic,omitempty"`
	Importance              *Importance              `wbxml:"Email:Importance,omitempty"`
	Read                    *bool                    `wbxml:"Email:Read,omitempty"`
	Attachments25           *Attachments25           `wbxml:"Email:Attachments,omitempty"`   // 2.5
	Body25                  *string                  `wbxml:"Email:Body,omitempty"`          // 2.5
	BodySize25              *uint32                  `wbxml:"Email:BodySize,omitempty"`      // 2.5
	BodyTruncated25         *bool                    `wbxml:"Email:BodyTruncated,omitempty"` // 2.5
	MIMEData25              *string                  `wbxml:"Email:MIMEData,omitempty"`      // 2.5
	MIMETruncated25         *bool                    `wbxml:"Email:MIMETruncated,omitempty"` // 2.5
	MIMESize25              *uint32                  `wbxml:"Email:MIMESize,omitempty"`      // 2.5
	MessageClass            string                   `wbxml:"Email:MessageClass,omitempty"`
	MeetingRequest          *MeetingRequest          `wbxml:"Email:MeetingRequest,omitempty"`
	InternetCPID            string                   `wbxml:"Email:InternetCPID,omitempty"`
	Flag                    *Flag                    `wbxml:"Email:Flag,omitempty"`         // 12.0; empty clears the flag
	ContentClass            string                   `wbxml:"Email:ContentClass,omitempty"` // 12.0
	Body                    *Body                    `wbxml:"AirSyncBase:Body,omitempty"`
	Attachments             *Attachments             `wbxml:"AirSyncBase:Attachments,omitempty"`
	NativeBodyType          *BodyType                `wbxml:"AirSyncBase:NativeBodyType,omitempty"`
	UmCallerID              string                   `wbxml:"Email2:UmCallerID,omitempty"` // 14.0
	UmUserNotes             string                   `wbxml:"Email2:UmUserNotes,omitempty"`
	ConversationID          []byte                   `wbxml:"Email2:ConversationId,opaque,omitempty"`    // 14.0
	ConversationIndex       []byte                   `wbxml:"Email2:ConversationIndex,opaque,omitempty"` // 14.0
	LastVerbExecuted        *LastVerb                `wbxml:"Email2:LastVerbExecuted,omitempty"`         // 14.0
	LastVerbExecutionTime   *DateTime                `wbxml:"Email2:LastVerbExecutionTime,omitempty"`
	ReceivedAsBcc           *bool                    `wbxml:"Email2:ReceivedAsBcc,omitempty"`                     // 14.0
	Sender                  string                   `wbxml:"Email2:Sender,omitempty"`                            // 14.0
	Categories              *EmailCategories         `wbxml:"Email:Categories,omitempty"`                         // 14.0
	BodyPart                *BodyPart                `wbxml:"AirSyncBase:BodyPart,omitempty"`                     // 14.1
	AccountID               string                   `wbxml:"Email2:AccountId,omitempty"`                         // 14.1
	RightsManagementLicense *RightsManagementLicense `wbxml:"RightsManagement:RightsManagementLicense,omitempty"` // 14.1
	IsDraft                 *bool                    `wbxml:"Email2:IsDraft,omitempty"`                           // 16.0
	Bcc                     string                   `wbxml:"Email2:Bcc,omitempty"`                               // 16.0
	Send                    bool                     `wbxml:"Email2:Send,empty"`                                  // 16.0: send this draft
}

// Importance is a message's or task's priority. MS-ASEMAIL 2.2.2.40.
type Importance uint8

// The priorities.
const (
	ImportanceLow    Importance = 0
	ImportanceNormal Importance = 1
	ImportanceHigh   Importance = 2
)

// LastVerb is what the user last did to a message. MS-ASEMAIL 2.2.2.45.
type LastVerb uint8

// The last verbs.
const (
	VerbUnknown       LastVerb = 0
	VerbReplyToSender LastVerb = 1
	VerbReplyToAll    LastVerb = 2
	VerbForward       LastVerb = 3
)

// EmailCategories lists a message's categories. MS-ASEMAIL 2.2.2.14.
type EmailCategories struct {
	Category []string `wbxml:"Email:Category"`
}

// Attachments25 lists a message's attachments in 2.5. MS-ASEMAIL 2.2.2.8.
type Attachments25 struct {
	Attachment []Attachment25 `wbxml:"Email:Attachment"`
}

// Attachment25 is one attachment in 2.5; AttName names it for
// GetAttachment. MS-ASEMAIL 2.2.2.7.
type Attachment25 struct {
	AttMethod   AttachmentMethod `wbxml:"Email:AttMethod"`
	AttSize     uint32           `wbxml:"Email:AttSize"`
	DisplayName string           `wbxml:"Email:DisplayName,omitempty"`
	AttName     string           `wbxml:"Email:AttName"`
	AttOid      string           `wbxml:"Email:Att0Id,omitempty"`
	AttRemoved  *bool            `wbxml:"Email:AttRemoved,omitempty"`
}

// Flag is a message's follow-up flag; its dates and reminder use the
// Tasks page. An empty Flag clears the flag. MS-ASEMAIL 2.2.2.34.
type Flag struct {
	Status         *FlagStatus `wbxml:"Email:Status,omitempty"`
	FlagType       string      `wbxml:"Email:FlagType,omitempty"`
	StartDate      *DateTime   `wbxml:"Tasks:StartDate,omitempty"`
	UtcStartDate   *DateTime   `wbxml:"Tasks:UtcStartDate,omitempty"`
	DueDate        *DateTime   `wbxml:"Tasks:DueDate,omitempty"`
	UtcDueDate     *DateTime   `wbxml:"Tasks:UtcDueDate,omitempty"`
	DateCompleted  *DateTime   `wbxml:"Tasks:DateCompleted,omitempty"`
	CompleteTime   *DateTime   `wbxml:"Email:CompleteTime,omitempty"`
	ReminderSet    *bool       `wbxml:"Tasks:ReminderSet,omitempty"`
	ReminderTime   *DateTime   `wbxml:"Tasks:ReminderTime,omitempty"`
	Subject        string      `wbxml:"Tasks:Subject,omitempty"`
	OrdinalDate    *DateTime   `wbxml:"Tasks:OrdinalDate,omitempty"`
	SubOrdinalDate string      `wbxml:"Tasks:SubOrdinalDate,omitempty"`
}

// FlagStatus is a follow-up flag's state. MS-ASEMAIL 2.2.2.75.
type FlagStatus uint8

// The flag states.
const (
	FlagCleared  FlagStatus = 0
	FlagComplete FlagStatus = 1
	FlagActive   FlagStatus = 2
)

// MeetingRequest is the meeting an invitation, update or cancellation
// message carries. Its dates use the extended form. MS-ASEMAIL 2.2.2.48.
type MeetingRequest struct {
	AllDayEvent             *bool        `wbxml:"Email:AllDayEvent,omitempty"`
	StartTime               *DateTime    `wbxml:"Email:StartTime,omitempty"`
	DtStamp                 *DateTime    `wbxml:"Email:DtStamp,omitempty"`
	EndTime                 *DateTime    `wbxml:"Email:EndTime,omitempty"`
	InstanceType            *uint8       `wbxml:"Email:InstanceType,omitempty"` // 0 single, 1 master, 2 instance, 3 exception, 4 orphan
	LocationText            *string      `wbxml:"Email:Location,omitempty"`     // until 14.1
	Location                *Location    `wbxml:"AirSyncBase:Location,omitempty"`
	Organizer               string       `wbxml:"Email:Organizer,omitempty"`
	RecurrenceID            *DateTime    `wbxml:"Email:RecurrenceId,omitempty"`
	Reminder                *UintOrEmpty `wbxml:"Email:Reminder,omitempty"`
	ResponseRequested       *bool        `wbxml:"Email:ResponseRequested,omitempty"`
	Recurrences             *Recurrences `wbxml:"Email:Recurrences,omitempty"`
	Sensitivity             *Sensitivity `wbxml:"Email:Sensitivity,omitempty"`
	BusyStatus              *BusyStatus  `wbxml:"Email:BusyStatus,omitempty"`
	TimeZone                *TimeZone    `wbxml:"Email:TimeZone,omitempty"`
	GlobalObjID             string       `wbxml:"Email:GlobalObjId,omitempty"`
	DisallowNewTimeProposal *bool        `wbxml:"Email:DisallowNewTimeProposal,omitempty"` // 14.0
	MeetingMessageType      *uint8       `wbxml:"Email2:MeetingMessageType,omitempty"`     // 14.1
	UID                     string       `wbxml:"Calendar:UID,omitempty"`
}

// Recurrences holds a meeting request's recurrence rules. MS-ASEMAIL 2.2.2.61.
type Recurrences struct {
	Recurrence []EmailRecurrence `wbxml:"Email:Recurrence"`
}

// EmailRecurrence is a meeting request's recurrence rule, with the
// Calendar values. MS-ASEMAIL 2.2.2.60.
type EmailRecurrence struct {
	Type           RecurrenceType `wbxml:"Email:Type"`
	Interval       *uint16        `wbxml:"Email:Interval,omitempty"`
	Until          *DateTime      `wbxml:"Email:Until,omitempty"`
	Occurrences    *uint16        `wbxml:"Email:Occurrences,omitempty"`
	WeekOfMonth    *uint8         `wbxml:"Email:WeekOfMonth,omitempty"`
	DayOfMonth     *uint8         `wbxml:"Email:DayOfMonth,omitempty"`
	DayOfWeek      *uint8         `wbxml:"Email:DayOfWeek,omitempty"`
	MonthOfYear    *uint8         `wbxml:"Email:MonthOfYear,omitempty"`
	CalendarType   *uint8         `wbxml:"Email2:CalendarType,omitempty"`   // 14.0
	IsLeapMonth    *bool          `wbxml:"Email2:IsLeapMonth,omitempty"`    // 14.0
	FirstDayOfWeek *uint8         `wbxml:"Email2:FirstDayOfWeek,omitempty"` // 14.1
}

// Validate checks m against protocol version v: elements the version
// lacks and values out of range.
func (m *Email) Validate(v ProtocolVersion) error {
	body25 := m.Body25 != nil || m.BodySize25 != nil || m.BodyTruncated25 != nil ||
		m.MIMEData25 != nil || m.MIMETruncated25 != nil || m.MIMESize25 != nil || m.Attachments25 != nil
	if err := firstError(
		dropVersion("Email:Body", body25, V25, v),
		m.Body.validate(v),
		m.Attachments.validate(v),
		m.BodyPart.validate(v),
		checkRange("Email:Importance", m.Importance, 0, ImportanceHigh),
		checkRange("Email2:LastVerbExecuted", m.LastVerbExecuted, 0, VerbForward),
		needVersion("Email:Flag", m.Flag != nil, V120, v),
		needVersion("Email:ContentClass", m.ContentClass != "", V120, v),
		needVersion("AirSyncBase:NativeBodyType", m.NativeBodyType != nil, V120, v),
		needVersion("Email:Categories", m.Categories != nil, V140, v),
		needVersion("Email2:UmCallerID", m.UmCallerID != "" || m.UmUserNotes != "", V140, v),
		needVersion("Email2:ConversationId", m.ConversationID != nil || m.ConversationIndex != nil, V140, v),
		needVersion("Email2:LastVerbExecuted", m.LastVerbExecuted != nil || m.LastVerbExecutionTime != nil, V140, v),
		needVersion("Email2:ReceivedAsBcc", m.ReceivedAsBcc != nil, V140, v),
		needVersion("Email2:Sender", m.Sender != "", V140, v),
		needVersion("Email2:AccountId", m.AccountID != "", V141, v),
		needVersion("RightsManagement:RightsManagementLicense", m.RightsManagementLicense != nil, V141, v),
		needVersion("Email2:IsDraft", m.IsDraft != nil || m.Bcc != "" || m.Send, V160, v),
	); err != nil {
		return err
	}
	if f := m.Flag; f != nil {
		if err := checkRange("Email:Status", f.Status, 0, FlagActive); err != nil {
			return err
		}
	}
	return m.MeetingRequest.validate(v)
}

func (r *MeetingRequest) validate(v ProtocolVersion) error {
	if r == nil {
		return nil
	}
	if err := firstError(
		r.Location.validate(v),
		dropVersion("Email:Location", r.LocationText != nil, V141, v),
		dropVersion("Email:GlobalObjId", r.GlobalObjID != "", V141, v),
		checkRange("Email:InstanceType", r.InstanceType, 0, 4),
		checkRange("Email:Sensitivity", r.Sensitivity, 0, SensitivityConfidential),
		checkRange("Email:BusyStatus", r.BusyStatus, 0, BusyWorkingElsewhere),
		needVersion("Email:DisallowNewTimeProposal", r.DisallowNewTimeProposal != nil, V140, v),
		needVersion("Email2:MeetingMessageType", r.MeetingMessageType != nil, V141, v),
		checkRange("Email2:MeetingMessageType", r.MeetingMessageType, 0, 6),
	); err != nil {
		return err
	}
	if r.Recurrences != nil {
		for _, rc := range r.Recurrences.Recurrence {
			if err := validateRecurrence("Email", recurrenceFields{
				typ: rc.Type, occurrences: rc.Occurrences, interval: rc.Interval, weekOfMonth: rc.WeekOfMonth,
				dayOfWeek: rc.DayOfWeek, monthOfYear: rc.MonthOfYear, dayOfMonth: rc.DayOfMonth,
				calendarType: rc.CalendarType, isLeapMonth: rc.IsLeapMonth, firstDayOfWeek: rc.FirstDayOfWeek,
			}, v); err != nil {
				return err
			}
		}
	}
	return nil
}
