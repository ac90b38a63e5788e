package statecache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// badgerEngine is the single-node backend: a Badger directory that only
// this process opens.
type badgerEngine struct{ db *badger.DB }

// openBadger opens or creates the Badger database in dir.
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
func openBadger(dir string, o *Options, log *slog.Logger) (*badgerEngine, error) {
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
	return &badgerEngine{db: db}, nil
}

func (e *badgerEngine) view(_ context.Context, fn func(kvTxn) error) error {
	return badgerErr(e.db.View(func(txn *badger.Txn) error { return fn(badgerTxn{txn}) }))
}

func (e *badgerEngine) update(_ context.Context, fn func(kvTxn) error) error {
	return badgerErr(e.db.Update(func(txn *badger.Txn) error { return fn(badgerTxn{txn}) }))
}

func (e *badgerEngine) close() error { return e.db.Close() }

// badgerErr turns Badger's errors that the Store acts on into ours.
func badgerErr(err error) error {
	switch {
	case errors.Is(err, badger.ErrConflict):
		return errConflict
	case errors.Is(err, badger.ErrDBClosed):
		return ErrClosed
	}
	return err
}

type badgerTxn struct{ t *badger.Txn }

func (t badgerTxn) get(k []byte) ([]byte, bool, error) {
	it, err := t.t.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	v, err := it.ValueCopy(nil)
	return v, err == nil, err
}

func (t badgerTxn) getMany(keys [][]byte) ([][]byte, []bool, error) {
	vals, ok := make([][]byte, len(keys)), make([]bool, len(keys))
	for i, k := range keys {
		var err error
		if vals[i], ok[i], err = t.get(k); err != nil {
			return nil, nil, err
		}
	}
	return vals, ok, nil
}

func (t badgerTxn) set(k, v []byte) error { return t.t.Set(k, v) }

func (t badgerTxn) del(k []byte) error { return t.t.Delete(k) }

func (t badgerTxn) scan(start, end []byte, limit int, fn func(k, v []byte) error) error {
	it := t.t.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 64})
	defer it.Close()
	n := 0
	for it.Seek(start); it.Valid(); it.Next() {
		item := it.Item()
		k := item.Key()
		if end != nil && string(k) >= string(end) {
			break
		}
		if limit > 0 && n == limit {
			break
		}
		n++
		if err := item.Value(func(v []byte) error { return fn(k, v) }); err != nil {
			return err
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
