package statecache

import (
	"context"
	"errors"
)

// The Store's methods are written once, against a small transactional
// key-value interface, and each backend (Badger in badger.go, PostgreSQL in
// postgres.go) implements that interface. Both keep the same keys and the
// same value bytes (keys.go), so a state moves from one backend to the
// other as a stream of records (Export, Import) and one conformance suite
// covers both.

// kvEngine is a backend: an ordered map of byte keys to byte values with
// snapshot transactions.
type kvEngine interface {
	// view runs fn in a read-only transaction that sees one snapshot.
	view(ctx context.Context, fn func(kvTxn) error) error
	// update runs fn in a read-write transaction and commits it. It
	// returns errConflict, having written nothing, when a transaction
	// that committed after this one began wrote a key this one read or
	// wrote; the Store then runs fn again.
	update(ctx context.Context, fn func(kvTxn) error) error
	// close releases the backend.
	close() error
}

// kvTxn is one transaction. Keys and values passed in must not be changed
// by the caller until the transaction ends; values returned may be kept.
type kvTxn interface {
	// get returns the value at k; ok is false when k is absent.
	get(k []byte) (v []byte, ok bool, err error)
	// getMany is get for several keys in one step: vals[i] and ok[i]
	// belong to keys[i]. It saves round trips on a networked backend.
	getMany(keys [][]byte) (vals [][]byte, ok []bool, err error)
	// set writes v at k.
	set(k, v []byte) error
	// del deletes k; deleting an absent key is no error.
	del(k []byte) error
	// scan calls fn for the keys in [start, end), in byte order, at most
	// limit of them when limit > 0, until fn returns an error. end nil
	// means no upper bound. k and v are valid only during the call, and fn
	// must not use txn: a networked backend is still reading the rows.
	scan(start, end []byte, limit int, fn func(k, v []byte) error) error
}

// errConflict reports that a transaction lost against a concurrent one;
// Store.update retries it. It never leaves the package.
var errConflict = errors.New("statecache: transaction conflict")

// scanPrefix is scan over every key that starts with prefix.
func scanPrefix(txn kvTxn, prefix []byte, fn func(k, v []byte) error) error {
	return txn.scan(prefix, prefixEnd(prefix), 0, fn)
}

// inserter is an optional ability of a kvTxn: insert writes v at k, a key
// the caller knows to be absent (a short id just minted from a counter
// that never goes back), so the backend need not look for a row to
// replace: on PostgreSQL a plain INSERT, which costs about half an upsert
// (no arbiter probe, no speculative insertion). If k exists after all, the
// commit fails with errConflict and the transaction is retried, so a
// stale entry is never silently overwritten.
type inserter interface {
	insert(k, v []byte) error
}

// insertNew writes v at the absent key k, with the backend's cheaper
// insert when it has one.
func insertNew(txn kvTxn, k, v []byte) error {
	if in, ok := txn.(inserter); ok {
		return in.insert(k, v)
	}
	return txn.set(k, v)
}
