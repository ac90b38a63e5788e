package eas

// Note is a note item (14.0 and later) as it travels in Sync
// ApplicationData and ItemOperations. MS-ASNOTE 2.2.2.
type Note struct {
	Subject          string          `wbxml:"Notes:Subject,omitempty"`
	Body             *Body           `wbxml:"AirSyncBase:Body,omitempty"`
	MessageClass     string          `wbxml:"Notes:MessageClass,omitempty"` // IPM.StickyNote
	LastModifiedDate *DateTime       `wbxml:"Notes:LastModifiedDate,omitempty"`
	Categories       *NoteCategories `wbxml:"Notes:Categories,omitempty"`
}

// NoteCategories lists a note's categories. MS-ASNOTE 2.2.2.2.
type NoteCategories struct {
	Category []string `wbxml:"Notes:Category"`
}

// Validate checks n against protocol version v: the Notes class needs
// 14.0.
func (n *Note) Validate(v ProtocolVersion) error {
	return firstError(
		needVersion("Notes class", true, V140, v),
		n.Body.validate(v),
	)
}
