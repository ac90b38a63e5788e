package gateway

import (
	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

// noteMessageClass is the class of every note, MS-ASNOTE 2.2.2.5.
const noteMessageClass = "IPM.StickyNote"

// noteToEAS converts a note (14.0 and later). MS-ASNOTE 2.2.2.
func noteToEAS(it *sources.Item, p bodyPrefs) *eas.Note {
	n := it.Note
	modified := n.Modified
	if modified.IsZero() {
		modified = it.Modified
	}
	e := &eas.Note{
		Subject:          n.Subject,
		Body:             p.textBody(n.Body),
		MessageClass:     noteMessageClass,
		LastModifiedDate: dateTime(modified, eas.DateTimeExtended),
	}
	if e.Body == nil {
		e.Body = &eas.Body{Type: eas.BodyPlainText, Data: ptr(""), EstimatedDataSize: ptr(uint32(0))}
	}
	if len(n.Categories) > 0 {
		e.Categories = &eas.NoteCategories{Category: n.Categories}
	}
	return e
}

// noteFromEAS applies a client's note to old (nil for an Add).
func noteFromEAS(e *eas.Note, sent elements, old *sources.Note) *sources.Note {
	n := &sources.Note{}
	if old != nil {
		*n = *old
	}
	if sent.has("Notes:Subject") {
		n.Subject = e.Subject
	}
	if sent.has("AirSyncBase:Body") {
		n.Body = bodyText(e.Body)
	}
	if e.LastModifiedDate != nil {
		n.Modified = e.LastModifiedDate.Time
	}
	if sent.has("Notes:Categories") {
		n.Categories = nil
		if e.Categories != nil {
			n.Categories = categories(e.Categories.Category)
		}
	}
	return n
}
