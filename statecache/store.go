// Package statecache keeps what easgate must remember per device: the
// devices and their users, provisioning and wipe state, sync keys and the
// maps between store ids and the short ids a phone sees.
//
// The Store's methods are the whole API; each write is one atomic step, so a
// PostgreSQL backend can implement the same methods one transaction each.
// Badger stays inside: no Badger type is in a signature and no Badger error
// is returned.
package statecache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
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
	// Logger receives Badger's warnings and errors and failures of
	// background clean-up. Nil discards.
	Logger *slog.Logger

	// badgerDefaults opens Badger with its default options, and noSync
	// turns fsync off; for the memory measurements in the tests, which
	// would otherwise wait minutes for 80,000 fsyncs.
	badgerDefaults bool
	noSync         bool
}

// Store is the device state database. Its methods are safe for concurrent
// use.
type Store struct {
	db      *badger.DB
	log     *slog.Logger
	observe atomic.Pointer[func(op string, d time.Duration)] // observe.go
}

// Open opens or creates the store in dir.
//
// Badger's defaults are tuned for large databases (64 MiB memtables, five of
// them, a 256 MiB block cache, 1 GiB value log files) and cost about 200 MB
// of resident memory before the first write. Device state is small (a few
// kilobytes per device plus its id maps), so the options here trade write
// throughput we do not need for memory; TestRSS measures the result.
//
// Every commit is fsynced (SyncWrites): a sync key handed to a phone must
// survive a crash, or the phone would hold a key we have forgotten and
// resync everything. Badger v4 syncs its write-ahead log once per
// transaction even when it batches concurrent commits, so a write costs one
// fsync (about 4 ms here, see BenchmarkAdvance). Turning SyncWrites off and
// calling DB.Sync after commits would let concurrent writers share an fsync,
// but Sync covers only the active memtable's log: a write that landed in a
// memtable rotated out just before is not synced until that memtable is
// flushed. Seen skips writes that change nothing, which keeps the common
// request at one fsync or none.
func Open(dir string, o *Options) (*Store, error) {
	if o == nil {
		o = &Options{}
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if dir == "" && !o.InMemory {
		return nil, errors.New("statecache: dir: empty")
	}
	bo := badger.DefaultOptions(dir)
	if o.InMemory {
		bo = badger.DefaultOptions("").WithInMemory(true)
	}
	if !o.badgerDefaults {
		bo = bo.
			WithMemTableSize(4 << 20).
			WithNumMemtables(2).
			WithNumLevelZeroTables(2).
			WithNumLevelZeroTablesStall(8).
			WithBaseTableSize(1 << 20).
			WithBaseLevelSize(4 << 20).
			WithValueThreshold(64 << 10).
			WithValueLogFileSize(16 << 20).
			WithBlockCacheSize(4 << 20).
			WithIndexCacheSize(2 << 20).
			WithNumCompactors(2).
			WithNumGoroutines(2).
			WithCompression(options.None).
			WithMetricsEnabled(false)
	}
	bo = bo.WithSyncWrites(!o.noSync).WithLogger(badgerLogger{log})
	db, err := badger.Open(bo)
	if err != nil {
		return nil, fmt.Errorf("statecache: dir: %v", err)
	}
	s := &Store{db: db, log: log}
	if err := s.resumePurges(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close flushes and closes the store.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("statecache: close: %v", err)
	}
	return nil
}

// update runs fn in a read-write transaction and commits it, retrying from
// the start when Badger reports a conflict: fn then sees what the winner
// wrote. fn must not keep side effects outside the transaction between
// attempts.
func (s *Store) update(ctx context.Context, fn func(txn *badger.Txn) error) error {
	defer s.observed("write", time.Now())
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := s.db.Update(fn)
		if !errors.Is(err, badger.ErrConflict) {
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
func (s *Store) view(ctx context.Context, fn func(txn *badger.Txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	defer s.observed("read", time.Now())
	return s.wrap(s.db.View(fn))
}

// wrap keeps Badger's errors inside: our sentinels and the caller's context
// errors pass through, the rest lose their identity.
func (s *Store) wrap(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, badger.ErrDBClosed):
		return ErrClosed
	case errors.Is(err, badger.ErrKeyNotFound):
		return ErrNotFound
	case isOurs(err):
		return err
	}
	return fmt.Errorf("statecache: %v", err)
}

func isOurs(err error) bool {
	for _, e := range []error{ErrNotFound, ErrSyncKeyMismatch, ErrRetryPrevious,
		ErrPolicyKeyMismatch, ErrWipeAcknowledged, ErrBusy, ErrClosed,
		context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// getJSON reads and decodes the record at k. It returns false when k is
// absent.
func getJSON(txn *badger.Txn, k []byte, v any) (bool, error) {
	it, err := txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, it.Value(func(b []byte) error { return decode(b, v) })
}

func setJSON(txn *badger.Txn, k []byte, v any) error {
	b, err := encode(v)
	if err != nil {
		return err
	}
	return txn.Set(k, b)
}

// getID reads an id map entry; ok is false when it is absent.
func getID(txn *badger.Txn, k []byte) (id string, ok bool, err error) {
	it, err := txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	err = it.Value(func(b []byte) error {
		id, err = decodeID(b)
		return err
	})
	return id, err == nil, err
}

// span is a key range [start, end) whose deletion is queued under a purge
// key, written in the same transaction that made the range unreachable.
type span struct{ start, end []byte }

func queuePurge(txn *badger.Txn, sp span) error {
	return txn.Set(purgeKey(sp.start), encodeID(string(sp.end)))
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
	for {
		var keys [][]byte
		err := s.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{})
			defer it.Close()
			for it.Seek(sp.start); it.Valid() && len(keys) < purgeBatch; it.Next() {
				k := it.Item().Key()
				if string(k) >= string(sp.end) {
					break
				}
				keys = append(keys, it.Item().KeyCopy(nil))
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return s.db.Update(func(txn *badger.Txn) error { return txn.Delete(purgeKey(sp.start)) })
		}
		err = s.db.Update(func(txn *badger.Txn) error {
			for _, k := range keys {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
}

// resumePurges finishes the purges a previous process left queued.
func (s *Store) resumePurges() error {
	var spans []span
	prefix := newKey(tPurge)
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			end, err := decodeID(v)
			if err != nil {
				return err
			}
			spans = append(spans, span{start: it.Item().KeyCopy(nil)[len(prefix):], end: []byte(end)})
		}
		return nil
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

// badgerLogger sends Badger's log lines to slog. Badger's Info lines
// (compactions, replay) are routine and go to Debug.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(fmt.Sprintf(f, a...), "component", "badger")
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(fmt.Sprintf(f, a...), "component", "badger")
}
func (b badgerLogger) Infof(f string, a ...any) {
	b.l.Debug(fmt.Sprintf(f, a...), "component", "badger")
}
func (b badgerLogger) Debugf(f string, a ...any) {
	b.l.Debug(fmt.Sprintf(f, a...), "component", "badger")
}
