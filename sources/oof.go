package sources

import "time"

// OofState says whether a user's automatic replies are on.
type OofState uint8

// Automatic reply states.
const (
	OofOff       OofState = iota
	OofOn                 // until turned off
	OofScheduled          // between Oof.Start and Oof.End
)

// Oof is a user's automatic-reply ("out of office") setting: one reply
// for senders inside the organisation, one for known outside senders and
// one for everyone else.
type Oof struct {
	State      OofState
	Start, End time.Time // used when State is OofScheduled

	Internal, ExternalKnown, ExternalUnknown OofReply
}

// OofReply is the automatic reply to one audience.
type OofReply struct {
	Enabled bool
	Text    string
	HTML    bool // Text is HTML
}
