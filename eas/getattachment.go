package eas

import (
	"strings"
	"unicode/utf8"
)

// GetAttachmentRequest is a GetAttachment command request (2.5 to 12.1),
// MS-ASCMD 2.2.1.7. It has no body: the attachment is named by the
// AttachmentName query parameter (MS-ASHTTP 2.2.1.1.1.1.3), which holds an
// Email:AttName (2.5) or AirSyncBase:FileReference (12.x) from Sync. The
// response is the attachment's bytes with its Content-Type. Later
// versions fetch attachments with ItemOperations.
type GetAttachmentRequest struct {
	AttachmentName string
}

// maxAttachmentName bounds AttachmentName; FileReference values are far
// shorter, but servers encode folder and item ids into them.
const maxAttachmentName = 1024

// Validate checks r for protocol version v: the command must exist in v
// and AttachmentName must be a non-empty, printable UTF-8 string.
func (r *GetAttachmentRequest) Validate(v ProtocolVersion) error {
	const cmd = "GetAttachment"
	if v > V121 {
		return schemaErrorf(cmd, "GetAttachment ended with 12.1; %s uses ItemOperations", v)
	}
	n := r.AttachmentName
	switch {
	case n == "":
		return schemaErrorf(cmd, "no AttachmentName")
	case len(n) > maxAttachmentName:
		return schemaErrorf(cmd, "AttachmentName longer than %d bytes", maxAttachmentName)
	case !utf8.ValidString(n):
		return schemaErrorf(cmd, "AttachmentName is not UTF-8")
	case strings.IndexFunc(n, func(c rune) bool { return c < 0x20 || c == 0x7f }) >= 0:
		return schemaErrorf(cmd, "AttachmentName holds a control character")
	}
	return nil
}
