package statecache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The PostgreSQL backend keeps the same keys and values as Badger in one
// table (migrate.go creates it):
//
//	easgate_kv (k bytea PRIMARY KEY, v bytea NOT NULL)
//
// bytea compares byte by byte, so a range scan returns keys in Badger's
// order. Several easgate nodes share one database; each Store method is one
// transaction.
//
// Isolation: read-write transactions run at REPEATABLE READ. PostgreSQL
// then refuses (SQLSTATE 40001) to update or delete a row that another
// transaction changed after this one took its snapshot, and an insert of
// a key another transaction inserted meanwhile fails too (40001 from ON
// CONFLICT, or 23505). Every Store method that decides on a record writes
// that record back (the sync record on each Advance and on each new id, the
// account record on each policy or wipe change), so of two transactions
// deciding on the same record one fails, and is run again from the start
// as on Badger. A deadlock (40P01) is retried the same way. SERIALIZABLE is
// not needed for that, and would add false conflicts between devices whose
// keys share an index page.
//
// Round trips: writes are buffered in the transaction and sent at commit
// in one pipeline with the COMMIT; BEGIN travels with the first read; the
// sync record, its window and the id map entries of a window's new items
// are read with one statement (getMany; see advance for the generation
// guess). An Advance is then two round trips (begin+read, write+commit),
// whatever the window's size. A write of a key known to be absent (read
// as absent, or inserter) is a plain INSERT: an upsert's arbiter probe and
// speculative insertion made it twice as dear.

// Errors from the database that mean "try again": the gateway answers them
// with a retry status.

// ErrUnavailable reports that the shared state database could not be
// reached or ended the connection; the request may be retried.
var ErrUnavailable = errors.New("statecache: state database unavailable")

// unavailableError carries the cause of ErrUnavailable.
type unavailableError struct{ err error }

func (e unavailableError) Error() string {
	return "statecache: state database unavailable: " + e.err.Error()
}
func (e unavailableError) Unwrap() error        { return e.err }
func (e unavailableError) Is(target error) bool { return target == ErrUnavailable }

// Temporary makes the gateway answer with a retry status.
func (e unavailableError) Temporary() bool { return true }

// pgEngine is the shared backend.
type pgEngine struct {
	pool *pgxpool.Pool
	url  string
}

// defaultPoolConns is the pool size when the URL does not set
// pool_max_conns: the requests of one node share it, and each holds a
// connection only for the two or three round trips of one transaction.
const defaultPoolConns = 16

// OpenPostgres opens the store in the PostgreSQL database at url
// ("postgres://user@host:port/db?sslmode=..."; pgx's pool_max_conns and
// the libpq parameters apply), migrating its schema to the version this
// program knows. Several processes may open the same database at once.
// o.InMemory is ignored.
func OpenPostgres(ctx context.Context, url string, o *Options) (*Store, error) {
	if o == nil {
		o = &Options{}
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e, err := openPG(ctx, url, o.MaxConns)
	if err != nil {
		return nil, err
	}
	if _, err := migrate(ctx, e.pool, schemaLatest, log); err != nil {
		e.close()
		return nil, err
	}
	return wrapEngine(e, log)
}

func openPG(ctx context.Context, url string, maxConns int) (*pgEngine, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("statecache: url: %v", redactErr(err))
	}
	switch {
	case maxConns > 0:
		cfg.MaxConns = int32(min(maxConns, 10000))
	case !strings.Contains(url, "pool_max_conns"):
		cfg.MaxConns = defaultPoolConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("statecache: %v", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("statecache: connecting to the state database: %w", unavailableError{err})
	}
	return &pgEngine{pool: pool, url: url}, nil
}

// redactErr keeps a password in a URL out of the log: pgx's parse errors
// quote the URL.
func redactErr(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return errors.New("cannot parse the URL (check its syntax)")
	}
	return err
}

// PostgresURL returns the URL of the shared database, or "" when the store
// is a single node's Badger directory. Code that signals between nodes
// (LISTEN/NOTIFY) or locks across them (advisory locks) opens its own
// connections with it: a LISTEN connection must not go back to a pool.
func (s *Store) PostgresURL() string {
	if e, ok := s.db.(*pgEngine); ok {
		return e.url
	}
	return ""
}

func (e *pgEngine) close() error {
	e.pool.Close()
	return nil
}

func (e *pgEngine) view(ctx context.Context, fn func(kvTxn) error) error {
	return e.run(ctx, true, fn)
}

func (e *pgEngine) update(ctx context.Context, fn func(kvTxn) error) error {
	return e.run(ctx, false, fn)
}

func (e *pgEngine) run(ctx context.Context, readOnly bool, fn func(kvTxn) error) error {
	c, err := e.pool.Acquire(ctx)
	if err != nil {
		return pgErr(ctx, err)
	}
	t := &pgTxn{ctx: ctx, c: c.Conn(), readOnly: readOnly}
	err = fn(t)
	if err == nil {
		err = t.commit()
	}
	if err != nil && t.begun {
		// Ends a failed or abandoned transaction; a broken connection
		// is not reused.
		if _, rerr := t.c.Exec(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
			c.Conn().Close(context.WithoutCancel(ctx))
		}
	}
	c.Release()
	return pgErr(ctx, err)
}

// pgErr turns database errors into the Store's: conflicts into
// errConflict, lost connections into ErrUnavailable; ours pass.
func pgErr(ctx context.Context, err error) error {
	if err == nil || isOurs(err) {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001", "40P01", "23505":
			return errConflict
		case "57P01", "57P02", "57P03", "53300", "08000", "08003", "08006":
			// shutdown, crash recovery, starting up, too many
			// connections, connection failures
			return unavailableError{err}
		}
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) || pgconn.SafeToRetry(err) || errors.Is(err, pgx.ErrTxClosed) ||
		strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "failed to connect") ||
		strings.Contains(err.Error(), "unexpected EOF") {
		return unavailableError{err}
	}
	return err
}

// pgTxn is one transaction on one pooled connection.
type pgTxn struct {
	ctx      context.Context
	c        *pgx.Conn
	readOnly bool
	begun    bool
	// writes are buffered until commit (or a scan), in the order made;
	// index finds a key's entry.
	writes []pgWrite
	index  map[string]int
	// absent holds the keys this transaction read as missing from the
	// table: a write of one is a plain INSERT, cheaper than an upsert,
	// and fails (23505, a conflict) if another transaction inserted it.
	absent map[string]bool
}

// pgWrite is one buffered write.
type pgWrite struct {
	k, v []byte // a nil v is a delete
	// insert: k is known to be absent (inserter), so it is written with
	// a plain INSERT even if this transaction did not read it.
	insert bool
}

// pending returns the buffered write of k, if any.
func (t *pgTxn) pending(k []byte) (*pgWrite, bool) {
	i, ok := t.index[string(k)]
	if !ok {
		return nil, false
	}
	return &t.writes[i], true
}

const (
	beginRW = "BEGIN ISOLATION LEVEL REPEATABLE READ"
	beginRO = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"

	sqlGet     = "SELECT v FROM easgate_kv WHERE k = $1"
	sqlGetMany = "SELECT k, v FROM easgate_kv WHERE k = ANY($1::bytea[])"
	sqlScan    = "SELECT k, v FROM easgate_kv WHERE k >= $1 AND k < $2 ORDER BY k LIMIT $3"
	sqlScanAll = "SELECT k, v FROM easgate_kv WHERE k >= $1 ORDER BY k LIMIT $2"
	sqlUpsert  = "INSERT INTO easgate_kv (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[]) ON CONFLICT (k) DO UPDATE SET v = excluded.v"
	sqlInsert  = "INSERT INTO easgate_kv (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[])"
	sqlDelete  = "DELETE FROM easgate_kv WHERE k = ANY($1::bytea[])"
)

// batch starts a pipeline that opens the transaction first if it is not
// open yet, so BEGIN costs no round trip of its own.
func (t *pgTxn) batch() *pgx.Batch {
	b := &pgx.Batch{}
	if !t.begun {
		if t.readOnly {
			b.Queue(beginRO)
		} else {
			b.Queue(beginRW)
		}
	}
	return b
}

// send sends b and reads the BEGIN's result if b carries one; the caller
// reads the rest and closes the results.
func (t *pgTxn) send(b *pgx.Batch) (pgx.BatchResults, error) {
	hadBegin := !t.begun
	br := t.c.SendBatch(t.ctx, b)
	t.begun = true
	if hadBegin {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return nil, err
		}
	}
	return br, nil
}

func (t *pgTxn) get(k []byte) ([]byte, bool, error) {
	if w, ok := t.pending(k); ok {
		return w.v, w.v != nil, nil
	}
	b := t.batch()
	b.Queue(sqlGet, k)
	br, err := t.send(b)
	if err != nil {
		return nil, false, err
	}
	var v []byte
	err = br.QueryRow().Scan(&v)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, pgx.ErrNoRows) {
		t.markAbsent(k)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if v == nil {
		v = []byte{}
	}
	return v, true, nil
}

func (t *pgTxn) getMany(keys [][]byte) ([][]byte, []bool, error) {
	vals, found := make([][]byte, len(keys)), make([]bool, len(keys))
	var ask [][]byte
	for i, k := range keys {
		if w, ok := t.pending(k); ok {
			vals[i], found[i] = w.v, w.v != nil
			continue
		}
		ask = append(ask, k)
	}
	if len(ask) == 0 {
		return vals, found, nil
	}
	b := t.batch()
	b.Queue(sqlGetMany, ask)
	br, err := t.send(b)
	if err != nil {
		return nil, nil, err
	}
	got := make(map[string][]byte, len(ask))
	rows, err := br.Query()
	if err == nil {
		for rows.Next() {
			var k, v []byte
			if err = rows.Scan(&k, &v); err != nil {
				break
			}
			if v == nil {
				v = []byte{}
			}
			got[string(k)] = v
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, err
	}
	for i, k := range keys {
		if found[i] || vals[i] != nil {
			continue
		}
		if _, pending := t.pending(k); pending {
			continue
		}
		if vals[i], found[i] = got[string(k)]; !found[i] {
			t.markAbsent(k)
		}
	}
	return vals, found, nil
}

func (t *pgTxn) markAbsent(k []byte) {
	if t.readOnly {
		return
	}
	if t.absent == nil {
		t.absent = make(map[string]bool)
	}
	t.absent[string(k)] = true
}

func (t *pgTxn) set(k, v []byte) error {
	if v == nil {
		v = []byte{}
	}
	t.buffer(k, v, false)
	return nil
}

// insert is set for a key the caller knows to be absent: it is written
// with a plain INSERT, as a key read as absent is.
func (t *pgTxn) insert(k, v []byte) error {
	if v == nil {
		v = []byte{}
	}
	t.buffer(k, v, true)
	return nil
}

func (t *pgTxn) del(k []byte) error {
	t.buffer(k, nil, false)
	return nil
}

func (t *pgTxn) buffer(k, v []byte, insert bool) {
	if t.readOnly {
		panic("statecache: write in a read-only transaction")
	}
	if w, ok := t.pending(k); ok {
		w.v = v
		w.insert = w.insert || insert
		return
	}
	if t.index == nil {
		t.index = make(map[string]int)
	}
	t.index[string(k)] = len(t.writes)
	t.writes = append(t.writes, pgWrite{k: k, v: v, insert: insert})
}

// scan sends the buffered writes first, so that the database's answer
// includes them.
func (t *pgTxn) scan(start, end []byte, limit int, fn func(k, v []byte) error) error {
	b := t.batch()
	t.queueWrites(b)
	var lim any // NULL: LIMIT ALL
	if limit > 0 {
		lim = limit
	}
	if end == nil {
		b.Queue(sqlScanAll, start, lim)
	} else {
		b.Queue(sqlScan, start, end, lim)
	}
	nw := b.Len() - 1
	if !t.begun {
		nw--
	}
	br, err := t.send(b)
	if err != nil {
		return err
	}
	for range nw {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return err
		}
	}
	rows, err := br.Query()
	if err == nil {
		var k, v []byte
		for rows.Next() {
			if err = rows.Scan(&k, &v); err != nil {
				break
			}
			if err = fn(k, v); err != nil {
				break
			}
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// queueWrites adds the buffered writes to b, in key order (so that two
// transactions lock common rows in one order), and empties the buffer.
func (t *pgTxn) queueWrites(b *pgx.Batch) {
	if len(t.writes) == 0 {
		return
	}
	slices.SortFunc(t.writes, func(a, b pgWrite) int { return bytes.Compare(a.k, b.k) })
	var sk, sv, ik, iv, dk [][]byte
	for _, w := range t.writes {
		switch {
		case w.v == nil:
			dk = append(dk, w.k)
		case w.insert || t.absent[string(w.k)]:
			ik, iv = append(ik, w.k), append(iv, w.v)
		default:
			sk, sv = append(sk, w.k), append(sv, w.v)
		}
		// Written now: a later write of k in this transaction must not
		// insert it again.
		delete(t.absent, string(w.k))
	}
	if len(ik) > 0 {
		b.Queue(sqlInsert, ik, iv)
	}
	if len(sk) > 0 {
		b.Queue(sqlUpsert, sk, sv)
	}
	if len(dk) > 0 {
		b.Queue(sqlDelete, dk)
	}
	t.writes, t.index = nil, nil
}

// commit sends the buffered writes and COMMIT in one round trip. A
// transaction that neither read nor wrote never began.
func (t *pgTxn) commit() error {
	if !t.begun && len(t.writes) == 0 {
		return nil
	}
	b := t.batch()
	t.queueWrites(b)
	b.Queue("COMMIT")
	n := b.Len()
	if !t.begun {
		n--
	}
	br, err := t.send(b)
	if err != nil {
		return err
	}
	for range n {
		if _, err = br.Exec(); err != nil {
			break
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		t.begun = false
	}
	return err
}
