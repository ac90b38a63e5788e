package gateway

import (
	"bytes"
	"context"
	"slices"

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
	return nil, s.submitOnce(sess, req.ClientID, func() error {
		return s.send(ctx, sess, bytes.NewReader(req.Mime), req.SaveInSentItems)
	})
}

// The accounts' submissions remember the ClientIds of each account's recent
// messages (MS-ASCMD 2.2.3.28.1: the client makes one per message), so
// that a SendMail, SmartReply or SmartForward resent after a lost answer
// is answered 118 MessagePreviouslySent instead of sending the mail twice.
// They keep the last submissionMemory ids per account, in memory
// (accounts.go), for Limits.AccountIdle after the account's last message:
// a client resends within seconds.
const submissionMemory = 64

// submitOnce runs send unless the account already submitted clientID; a
// failed send forgets the id, so that the client may try again. Requests
// before 14.0 carry no ClientId and are not checked.
func (s *Server) submitOnce(sess *Session, clientID string, send func() error) error {
	if clientID == "" {
		return send()
	}
	a := sess.Account
	dup := false
	s.submitted.update(a, func(ids []string, _ bool) ([]string, bool) {
		if dup = slices.Contains(ids, clientID); dup {
			return ids, true
		}
		ids = append(slices.Clone(ids), clientID)
		return ids[max(0, len(ids)-submissionMemory):], true
	})
	if dup {
		return &eas.StatusError{Status: eas.StatusMessagePreviouslySent}
	}
	err := send()
	if err != nil {
		s.submitted.update(a, func(ids []string, ok bool) ([]string, bool) {
			ids = slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == clientID })
			return ids, ok && len(ids) > 0
		})
	}
	return err
}
