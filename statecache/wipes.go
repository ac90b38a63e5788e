package statecache

import (
	"context"
)

// PendingWipes returns how many accounts have a wipe requested that their
// device has not acknowledged yet. It reads every account record, so
// callers cache the answer (the gateway's metric asks at most every 30 s).
func (s *Store) PendingWipes(ctx context.Context) (int, error) {
	n := 0
	err := s.view(ctx, func(txn kvTxn) error {
		return scanPrefix(txn, newKey(tAccount), func(_, v []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			var r accountRec
			if err := decode(v, &r); err != nil {
				return err
			}
			if r.Wipe != WipeNone && !r.WipeAcked {
				n++
			}
			return nil
		})
	})
	return n, err
}
