package eas

// MeetingResponseRequest is the body of a MeetingResponse command request,
// MS-ASCMD 2.2.1.11: accept, tentatively accept or decline meeting
// requests.
type MeetingResponseRequest struct {
	_        struct{}              `wbxml:"MeetingResponse:MeetingResponse"`
	Requests []MeetingResponseItem `wbxml:"MeetingResponse:Request"`
}

// MeetingResponseItem answers one meeting request, MS-ASCMD 2.2.3.149. The
// meeting is named by CollectionID and RequestID (its ServerId in the Inbox
// or the calendar), or by LongID for a search result.
type MeetingResponseItem struct {
	UserResponse UserResponse         `wbxml:"MeetingResponse:UserResponse"`
	CollectionID string               `wbxml:"MeetingResponse:CollectionId,omitempty"`
	RequestID    string               `wbxml:"MeetingResponse:RequestId,omitempty"`
	LongID       string               `wbxml:"Search:LongId,omitempty"`                // 12.1+
	InstanceID   string               `wbxml:"MeetingResponse:InstanceId,omitempty"`   // 14.1+: one occurrence of a recurring meeting
	SendResponse *MeetingSendResponse `wbxml:"MeetingResponse:SendResponse,omitempty"` // 16.0+
}

// UserResponse is the answer to a meeting request, MS-ASCMD 2.2.3.192.
type UserResponse int

// The values of UserResponse.
const (
	UserResponseAccepted  UserResponse = 1
	UserResponseTentative UserResponse = 2
	UserResponseDeclined  UserResponse = 3
)

// MeetingSendResponse asks the server to mail the answer to the organizer
// (16.0+), MS-ASCMD 2.2.3.164, with the user's text and, when tentative or
// declining, a proposed new time (16.1+, MS-ASCMD 2.2.3.140 and 2.2.3.141)
// in the compact form "20060102T150405Z".
type MeetingSendResponse struct {
	Body              *Body  `wbxml:"AirSyncBase:Body,omitempty"`
	ProposedStartTime string `wbxml:"MeetingResponse:ProposedStartTime,omitempty"`
	ProposedEndTime   string `wbxml:"MeetingResponse:ProposedEndTime,omitempty"`
}

// MeetingResponseResponse is the body of a MeetingResponse response,
// MS-ASCMD 2.2.1.11: one Result per Request.
type MeetingResponseResponse struct {
	_       struct{}                `wbxml:"MeetingResponse:MeetingResponse"`
	Results []MeetingResponseResult `wbxml:"MeetingResponse:Result"`
}

// MeetingResponseResult is the outcome for one request, MS-ASCMD 2.2.3.155.2.
// CalendarID is the ServerId of the calendar item when the meeting was
// accepted or tentatively accepted.
type MeetingResponseResult struct {
	RequestID  string                `wbxml:"MeetingResponse:RequestId,omitempty"`
	Status     MeetingResponseStatus `wbxml:"MeetingResponse:Status"`
	CalendarID string                `wbxml:"MeetingResponse:CalendarId,omitempty"`
}

// MeetingResponseStatus is the value of MeetingResponse:Status, MS-ASCMD
// 2.2.3.177.9. The common codes of MS-ASCMD 2.2.2 convert from Status.
type MeetingResponseStatus int

// The MeetingResponse status codes.
const (
	MeetingResponseStatusSuccess        MeetingResponseStatus = 1 // the answer was recorded
	MeetingResponseStatusInvalidRequest MeetingResponseStatus = 2 // the item is not a meeting request, or no longer valid
	MeetingResponseStatusMailboxError   MeetingResponseStatus = 3 // the user's mailbox could not be read or written
	MeetingResponseStatusServerError    MeetingResponseStatus = 4 // another server problem; retry later
)

// Validate checks r against the MeetingResponse schema of protocol
// version v.
func (r *MeetingResponseRequest) Validate(v ProtocolVersion) error {
	const cmd = "MeetingResponse"
	if len(r.Requests) == 0 {
		return schemaErrorf(cmd, "no Request")
	}
	for _, q := range r.Requests {
		if q.UserResponse < UserResponseAccepted || q.UserResponse > UserResponseDeclined {
			return schemaErrorf(cmd, "UserResponse %d is not 1, 2 or 3", q.UserResponse)
		}
		switch {
		case q.LongID != "":
			if v < V121 {
				return schemaErrorf(cmd, "LongId needs 12.1, not %s", v)
			}
			if q.CollectionID != "" || q.RequestID != "" {
				return schemaErrorf(cmd, "Request has LongId and CollectionId or RequestId")
			}
		case q.RequestID == "":
			return schemaErrorf(cmd, "Request has neither RequestId nor LongId")
		case len(q.RequestID) > 64 || len(q.CollectionID) > 64:
			return schemaErrorf(cmd, "RequestId or CollectionId longer than 64 characters")
		}
		if q.InstanceID != "" && v < V141 {
			return schemaErrorf(cmd, "InstanceId needs 14.1, not %s", v)
		}
		if s := q.SendResponse; s != nil {
			if v < V160 {
				return schemaErrorf(cmd, "SendResponse needs 16.0, not %s", v)
			}
			if s.Body != nil && (s.Body.Type < BodyPlainText || s.Body.Type > BodyMIME) {
				return schemaErrorf(cmd, "SendResponse Body Type %d is not within 1 to 4", s.Body.Type)
			}
			if s.ProposedStartTime != "" || s.ProposedEndTime != "" {
				if v < V161 {
					return schemaErrorf(cmd, "ProposedStartTime and ProposedEndTime need 16.1, not %s", v)
				}
				if q.UserResponse == UserResponseAccepted {
					return schemaErrorf(cmd, "a new time is proposed only when tentative or declining")
				}
				for _, t := range []string{s.ProposedStartTime, s.ProposedEndTime} {
					if t != "" && len(t) != len("20060102T150405Z") {
						return schemaErrorf(cmd, "proposed time %q is not in the form 20060102T150405Z", t)
					}
				}
			}
		}
	}
	return nil
}
