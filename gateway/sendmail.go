package gateway

import (
	"bytes"
	"context"
	"slices"
	"sync"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/statecache"
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

// submissions remembers the ClientIds of each account's recent messages
// (MS-ASCMD 2.2.3.28.1: the client makes one per message), so that a
// SendMail, SmartReply or SmartForward resent after a lost answer is
// answered 118 MessagePreviouslySent instead of sending the mail twice.
// It keeps the last submissionMemory ids per account, in memory.
type submissions struct {
	mu sync.Mutex
	m  map[statecache.Account][]string
}

const submissionMemory = 64

// submitOnce runs send unless the account already submitted clientID; a
// failed send forgets the id, so that the client may try again. Requests
// before 14.0 carry no ClientId and are not checked.
func (s *Server) submitOnce(sess *Session, clientID string, send func() error) error {
	if clientID == "" {
		return send()
	}
	sb := &s.submitted
	a := sess.Account
	sb.mu.Lock()
	if slices.Contains(sb.m[a], clientID) {
		sb.mu.Unlock()
		return &eas.StatusError{Status: eas.StatusMessagePreviouslySent}
	}
	if sb.m == nil {
		sb.m = make(map[statecache.Account][]string)
	}
	ids := append(sb.m[a], clientID)
	if len(ids) > submissionMemory {
		ids = ids[len(ids)-submissionMemory:]
	}
	sb.m[a] = ids
	sb.mu.Unlock()
	err := send()
	if err != nil {
		sb.mu.Lock()
		sb.m[a] = slices.DeleteFunc(sb.m[a], func(id string) bool { return id == clientID })
		sb.mu.Unlock()
	}
	return err
}
