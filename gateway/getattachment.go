package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

// streamGetAttachment answers GetAttachment, MS-ASCMD 2.2.1.7 (2.5 to
// 12.1): the body is the attachment that the AttachmentName query
// parameter names, with its Content-Type. The name is a FileReference (or
// 2.5 AttName) from Sync, so a name we did not make is a missing
// attachment: HTTP 404. Other failures are HTTP 500, or 503 when the store
// asks to retry (statusFor). The content is copied through a small buffer,
// never held whole.
func (s *Server) streamGetAttachment(ctx context.Context, sess *Session, r request, w http.ResponseWriter) error {
	req := r.(*eas.GetAttachmentRequest)
	ref, err := parseFileReference(req.AttachmentName)
	if err != nil {
		return fmt.Errorf("%w: %w", err, sources.ErrNotFound)
	}
	att, rc, err := openAttachment(ctx, sess.Source, ref)
	if err != nil {
		return err
	}
	defer rc.Close()
	ct := att.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	// No Content-Length: a store's size may be an estimate, and a wrong
	// length breaks the connection; the body goes out chunked.
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	if _, err := io.CopyBuffer(w, rc, make([]byte, copyBufferSize)); err != nil {
		return fmt.Errorf("gateway: sending attachment: %w", err)
	}
	return nil
}
