// Package statecache keeps what easgate must remember per device: the
// devices and their users, provisioning and wipe state, sync keys and the
// maps between store ids and the short ids a phone sees.
//
// The Store's methods are the whole API; each write is one atomic step,
// one transaction of a backend: Badger for a single node (Open), or
// PostgreSQL shared by several nodes. The backend stays inside: no Badger
// or SQL type is in a signature and no backend error is returned.
package statecache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Sentinel errors. Callers test them with errors.Is.
var (
	// ErrNotFound reports that a device, account or id has no state.
	ErrNotFound = errors.New("statecache: not found")
	// ErrSyncKeyMismatch reports a sync key that is neither the current
	// nor the previous key of its collection (Sync status 3, FolderSync 9).
	ErrSyncKeyMismatch = errors.New("statecache: sync key mismatch")
	// ErrRetryPrevious reports that the client sent the previous sync key:
	// it lost our last response. The error is a *RetryError carrying
	// that response's key and window.
	ErrRetryPrevious = errors.New("statecache: previous sync key, resend the last window")
	// ErrPolicyKeyMismatch reports a Provision acknowledgement for a key
	// that was not issued (Provision status 5).
	ErrPolicyKeyMismatch = errors.New("statecache: policy key mismatch")
	// ErrWipeAcknowledged reports an attempt to cancel a wipe the device has
	// already carried out.
	ErrWipeAcknowledged = errors.New("statecache: wipe already acknowledged")
	// ErrBusy reports that a write kept conflicting with concurrent writes
	// to the same state; it is temporary and the request may be retried.
	ErrBusy = errors.New("statecache: too many concurrent writes, try again")
	// ErrClosed reports use of a closed Store.
	ErrClosed = errors.New("statecache: store closed")
)

// maxAttempts bounds the retries of a transaction that lost a conflict. Two
// requests from one device rarely collide more than once; a loser of an
// Advance race turns into a read on its second attempt.
const maxAttempts = 10

// Options configure a Store. The zero value is a usable on-disk store.
type Options struct {
	// InMemory keeps everything in memory and ignores dir; for tests.
	InMemory bool
	// Logger receives the backend's warnings and errors and failures of
	// background clean-up. Nil discards.
	Logger *slog.Logger
	// MaxConns is the size of PostgreSQL's connection pool; 0 means the
	// URL's pool_max_conns, or 16. Badger ignores it.
	MaxConns int

	// badgerDefaults opens Badger with its default options, and noSync
	// turns fsync off; for the memory measurements in the tests, which
	// would otherwise wait minutes for 80,000 fsyncs.
	badgerDefaults bool
	noSync         bool
}

// Store is the device state database. Its methods are safe for concurrent
// use.
type Store struct {
	db      kvEngine
	log     *slog.Logger
	observe atomic.Pointer[func(op string, d time.Duration)] // observe.go
	gens    genHints                                         // sync.go
}

// Open opens or creates the store in dir, on Badger: the single-node
// backend, which only this process can open (see openBadger).
func Open(dir string, o *Options) (*Store, error) {
	if o == nil {
		o = &Options{}
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := openBadger(dir, o, log)
	if err != nil {
		return nil, err
	}
	return wrapEngine(db, log)
}

// wrapEngine wraps an open backend and finishes what a previous process
// left half done.
func wrapEngine(db kvEngine, log *slog.Logger) (*Store, error) {
	s := &Store{db: db, log: log}
	if err := s.resumePurges(); err != nil {
		db.close()
		return nil, err
	}
	return s, nil
}

// Close flushes and closes the store.
func (s *Store) Close() error {
	if err := s.db.close(); err != nil {
		return fmt.Errorf("statecache: close: %v", err)
	}
	return nil
}

// update runs fn in a read-write transaction and commits it, retrying from
// the start when the backend reports a conflict: fn then sees what the
// winner wrote. fn must not keep side effects outside the transaction
// between attempts.
func (s *Store) update(ctx context.Context, fn func(txn kvTxn) error) error {
	defer s.observed("write", time.Now())
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := s.db.update(ctx, fn)
		if !errors.Is(err, errConflict) {
			return s.wrap(err)
		}
		if attempt == maxAttempts {
			return ErrBusy
		}
		// Jitter, so that the losers of one race do not collide again.
		time.Sleep(time.Duration(rand.IntN(attempt*500)+100) * time.Microsecond)
	}
}

// view runs fn in a read-only transaction.
func (s *Store) view(ctx context.Context, fn func(txn kvTxn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	defer s.observed("read", time.Now())
	return s.wrap(s.db.view(ctx, fn))
}

// wrap keeps the backend's errors inside: our sentinels and the caller's
// context errors pass through, the rest lose their identity.
func (s *Store) wrap(err error) error {
	switch {
	case err == nil:
		return nil
	case isOurs(err):
		return err
	}
	return fmt.Errorf("statecache: %v", err)
}

func isOurs(err error) bool {
	for _, e := range []error{ErrNotFound, ErrSyncKeyMismatch, ErrRetryPrevious,
		ErrPolicyKeyMismatch, ErrWipeAcknowledged, ErrBusy, ErrClosed, ErrUnavailable,
		context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// getJSON reads and decodes the record at k. It returns false when k is
// absent.
func getJSON(txn kvTxn, k []byte, v any) (bool, error) {
	b, ok, err := txn.get(k)
	if err != nil || !ok {
		return false, err
	}
	return true, decode(b, v)
}

func setJSON(txn kvTxn, k []byte, v any) error {
	b, err := encode(v)
	if err != nil {
		return err
	}
	return txn.set(k, b)
}

// getID reads an id map entry; ok is false when it is absent.
func getID(txn kvTxn, k []byte) (id string, ok bool, err error) {
	b, ok, err := txn.get(k)
	if err != nil || !ok {
		return "", false, err
	}
	id, err = decodeID(b)
	return id, err == nil, err
}

// span is a key range [start, end) whose deletion is queued under a purge
// key, written in the same transaction that made the range unreachable.
type span struct{ start, end []byte }

func queuePurge(txn kvTxn, sp span) error {
	return txn.set(purgeKey(sp.start), encodeID(string(sp.end)))
}

// purgeBatch keeps each delete transaction far below Badger's batch limit
// (15% of the 4 MiB memtable).
const purgeBatch = 1000

// purge deletes a queued range in batches, then its queue entry. A crash
// half-way leaves the entry, and Open resumes. The range is unreachable
// already, so a purge that fails is logged, not returned.
func (s *Store) purge(sp span) {
	if err := s.purgeRange(sp); err != nil {
		s.log.Warn("statecache: purge", "err", err)
	}
}

func (s *Store) purgeRange(sp span) error {
	ctx := context.Background()
	for {
		var keys [][]byte
		err := s.db.view(ctx, func(txn kvTxn) error {
			return txn.scan(sp.start, sp.end, purgeBatch, func(k, _ []byte) error {
				keys = append(keys, append([]byte(nil), k...))
				return nil
			})
		})
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return s.db.update(ctx, func(txn kvTxn) error { return txn.del(purgeKey(sp.start)) })
		}
		err = s.db.update(ctx, func(txn kvTxn) error {
			for _, k := range keys {
				if err := txn.del(k); err != nil {
					return err
				}
			}
			return nil
		})
		// A conflict means someone else deleted (or another purge did):
		// scan again.
		if err != nil && !errors.Is(err, errConflict) {
			return err
		}
	}
}

// resumePurges finishes the purges a previous process left queued.
func (s *Store) resumePurges() error {
	var spans []span
	prefix := newKey(tPurge)
	err := s.db.view(context.Background(), func(txn kvTxn) error {
		return scanPrefix(txn, prefix, func(k, v []byte) error {
			end, err := decodeID(v)
			if err != nil {
				return err
			}
			spans = append(spans, span{start: append([]byte(nil), k[len(prefix):]...), end: []byte(end)})
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("statecache: open: %v", err)
	}
	for _, sp := range spans {
		if err := s.purgeRange(sp); err != nil {
			return fmt.Errorf("statecache: open: resuming purge: %v", err)
		}
	}
	return nil
}
