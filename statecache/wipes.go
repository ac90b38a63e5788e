package statecache

import (
	"context"

	"github.com/dgraph-io/badger/v4"
)

// PendingWipes returns how many accounts have a wipe requested that their
// device has not acknowledged yet. It reads every account record, so
// callers cache the answer (the gateway's metric asks at most every 30 s).
func (s *Store) PendingWipes(ctx context.Context) (int, error) {
	n := 0
	err := s.view(ctx, func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: newKey(tAccount), PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			var r accountRec
			if err := it.Item().Value(func(b []byte) error { return decode(b, &r) }); err != nil {
				return err
			}
			if r.Wipe != WipeNone && !r.WipeAcked {
				n++
			}
		}
		return nil
	})
	return n, err
}
