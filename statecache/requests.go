package statecache

import (
	"bytes"
	"context"
	"fmt"
	"slices"
)

// What a phone's next request may depend on lives here, not in one node's
// memory, so that the request may land on any node that shares the state:
//
//   - the last request of a command, which an empty or partial request
//     repeats (an empty Sync or Ping, MS-ASCMD 2.2.3.177.10 and 2.2.3.102;
//     a Partial Sync). The gateway stores it encoded, opaque to the state;
//   - the ClientIds of recent SendMail, SmartReply and SmartForward, so
//     that a message resent after a lost answer is not sent twice, even
//     when the resend reaches another node.
//
// Both live under the account's state prefix, so they go with the account
// (DeleteAccount) and move with Export and Import. Both are bounded per
// account: MaxRequestSize per command and SubmittedMemory ids.

// MaxRequestSize bounds a remembered request. A larger one is not kept:
// the phone's next empty request is then answered as if nothing were
// remembered (Sync status 13, Ping status 3), and the phone sends it in
// full. The largest real ones are Syncs of a few hundred collections,
// about 20 KB.
const MaxRequestSize = 64 << 10

// SubmittedMemory is how many recent ClientIds Submit keeps per account:
// a client resends within seconds, long before 64 newer messages.
const SubmittedMemory = 64

// Parts under tState (keys.go).
const (
	pRequest   byte = 'q' // + command name: the last request of that command
	pSubmitted byte = 'm' // the recent ClientIds
)

func requestKey(a Account, command string) []byte { return stateKey(a).tag(pRequest).str(command) }
func submittedKey(a Account) []byte               { return stateKey(a).tag(pSubmitted) }

// RememberRequest keeps body as a's last request of command, replacing the
// one before. It writes only when body differs from what is kept, so a
// phone repeating one request costs a read. A body over MaxRequestSize
// forgets the one before and is not kept.
func (s *Store) RememberRequest(ctx context.Context, a Account, command string, body []byte) error {
	k := requestKey(a, command)
	return s.update(ctx, func(txn kvTxn) error {
		old, ok, err := txn.get(k)
		if err != nil {
			return err
		}
		if len(body) > MaxRequestSize {
			if ok {
				return txn.del(k)
			}
			return nil
		}
		v := append([]byte{valueVersion}, body...)
		if ok && bytes.Equal(old, v) {
			return nil
		}
		return txn.set(k, v)
	})
}

// LastRequest returns a's last request of command as RememberRequest kept
// it, or ErrNotFound.
func (s *Store) LastRequest(ctx context.Context, a Account, command string) ([]byte, error) {
	var out []byte
	err := s.view(ctx, func(txn kvTxn) error {
		v, ok, err := txn.get(requestKey(a, command))
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if len(v) == 0 || v[0] != valueVersion {
			return fmt.Errorf("statecache: unknown value version in the last %s request", command)
		}
		out = slices.Clone(v[1:])
		return nil
	})
	return out, err
}

// submittedRec is an account's recent ClientIds, oldest first.
type submittedRec struct {
	IDs []string `json:"ids"`
}

// Submit records that a submits the message clientID and reports whether
// it is the first time: false means the account submitted it already (and
// Unsubmit has not taken it back), so it must not be sent again. Two nodes
// submitting one id at once see exactly one true.
func (s *Store) Submit(ctx context.Context, a Account, clientID string) (first bool, err error) {
	k := submittedKey(a)
	err = s.update(ctx, func(txn kvTxn) error {
		var rec submittedRec
		if _, err := getJSON(txn, k, &rec); err != nil {
			return err
		}
		if first = !slices.Contains(rec.IDs, clientID); !first {
			return nil
		}
		rec.IDs = append(rec.IDs, clientID)
		rec.IDs = rec.IDs[max(0, len(rec.IDs)-SubmittedMemory):]
		return setJSON(txn, k, &rec)
	})
	return first, err
}

// Unsubmit forgets clientID, after its message could not be sent, so that
// the client may try again.
func (s *Store) Unsubmit(ctx context.Context, a Account, clientID string) error {
	k := submittedKey(a)
	return s.update(ctx, func(txn kvTxn) error {
		var rec submittedRec
		ok, err := getJSON(txn, k, &rec)
		if err != nil || !ok {
			return err
		}
		n := len(rec.IDs)
		if rec.IDs = slices.DeleteFunc(rec.IDs, func(id string) bool { return id == clientID }); len(rec.IDs) == n {
			return nil
		}
		if len(rec.IDs) == 0 {
			return txn.del(k)
		}
		return setJSON(txn, k, &rec)
	})
}
