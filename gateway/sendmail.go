package gateway

import (
	"bytes"
	"context"

	"github.com/easgate/easgate/eas"
)

// handleSendMail answers SendMail, MS-ASCMD 2.2.1.17: the client's message
// goes out as it is, filed in Sent Items when the client asks
// (SaveInSentItems, or SaveInSent=T in the query before 14.0). Success has
// no response body in any version (MS-ASCMD 2.2.3.177.16); failures are
// common status codes (MS-ASCMD 2.2.2) through statusFor.
func (s *Server) handleSendMail(ctx context.Context, sess *Session, req *eas.SendMailRequest) (*eas.SendMailResponse, error) {
	if err := checkMessage(req.Mime); err != nil {
		return nil, err
	}
	return nil, s.submitOnce(ctx, sess, req.ClientID, func() error {
		return s.send(ctx, sess, bytes.NewReader(req.Mime), req.SaveInSentItems)
	})
}

// The state remembers the ClientIds of each account's recent messages
// (MS-ASCMD 2.2.3.28.1: the client makes one per message; the last
// statecache.SubmittedMemory of them), so that a SendMail, SmartReply or
// SmartForward resent after a lost answer is answered 118
// MessagePreviouslySent instead of sending the mail twice, whichever node
// the resend reaches.

// submitOnce runs send unless the account already submitted clientID; a
// failed send forgets the id, so that the client may try again. Requests
// before 14.0 carry no ClientId and are not checked, nor are they without a
// state store.
func (s *Server) submitOnce(ctx context.Context, sess *Session, clientID string, send func() error) error {
	if clientID == "" || s.state == nil {
		return send()
	}
	first, err := s.state.Submit(ctx, sess.Account, clientID)
	if err != nil {
		return err
	}
	if !first {
		return &eas.StatusError{Status: eas.StatusMessagePreviouslySent}
	}
	if err := send(); err != nil {
		if uerr := s.state.Unsubmit(context.WithoutCancel(ctx), sess.Account, clientID); uerr != nil {
			s.log.WarnContext(ctx, "forgetting a message that was not sent", "device_id", sess.Account.Device, "err", uerr)
		}
		return err
	}
	return nil
}
