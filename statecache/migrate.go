package statecache

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgreSQL schema versions. Each migration runs once, in order, in the
// transaction that records it in easgate_schema; all of them that a start
// needs run in one transaction, under an advisory lock, so that nodes
// starting together migrate once and a failed step leaves the previous
// version whole. A migration is never edited once released: a change is a
// new version.
var migrations = []struct {
	version int
	what    string
	sql     string
}{
	{1, "key-value table and schema history", `
CREATE TABLE easgate_schema (
	version integer PRIMARY KEY,
	what    text NOT NULL,
	applied timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE easgate_kv (
	k bytea PRIMARY KEY,
	v bytea NOT NULL
);`},
	// Every Advance rewrites its sync record in place. With room left in
	// each page (fillfactor 80), PostgreSQL keeps the new row version in
	// the same page without touching the primary key index (a HOT
	// update), and autovacuum at 2% of changed rows instead of 20% keeps
	// the dead versions of these hot rows few.
	{2, "room for in-page updates of hot rows, earlier autovacuum", `
ALTER TABLE easgate_kv SET (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.05);`},
	// A window (tens of kilobytes of JSON) is written on every Advance
	// and read back at most once; compressing it (pglz) cost more of the
	// database's CPU than anything else in an Advance. EXTERNAL keeps
	// large values out of line, uncompressed.
	{3, "large values stored uncompressed", `
ALTER TABLE easgate_kv ALTER COLUMN v SET STORAGE EXTERNAL;`},
	// The item maps' reverse entries are now written as ranges (ranges.go),
	// which an older easgate cannot read: it would answer a phone's
	// ServerId minted since as unknown. The table is unchanged; the
	// version is recorded so that such a node refuses this database.
	{4, "item map reverse entries kept in ranges", `
COMMENT ON TABLE easgate_kv IS 'easgate state; item maps since schema 4 keep ServerId to item entries in ranges';`},
}

// schemaLatest is the schema version this program writes.
var schemaLatest = migrations[len(migrations)-1].version

// migrateLock is the advisory lock (two-int form, whose keys do not overlap
// the one-bigint form's) held while migrating: "easg", 1.
const migrateLockClass, migrateLockID = 0x65617367, 1

// SchemaVersion returns the schema version of the PostgreSQL database at
// url (0 for an empty database) and the latest version this program knows.
func SchemaVersion(ctx context.Context, url string) (current, latest int, err error) {
	e, err := openPG(ctx, url, 2)
	if err != nil {
		return 0, 0, err
	}
	defer e.close()
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		return 0, 0, pgErr(ctx, err)
	}
	defer tx.Rollback(ctx)
	current, err = pgSchemaVersion(ctx, tx)
	return current, schemaLatest, err
}

// MigratePostgres brings the database at url to the latest schema version
// and returns the version it found. OpenPostgres does the same; this is
// for operators who migrate before rolling out new nodes.
func MigratePostgres(ctx context.Context, url string, log *slog.Logger) (from, to int, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e, err := openPG(ctx, url, 2)
	if err != nil {
		return 0, 0, err
	}
	defer e.close()
	from, err = migrate(ctx, e.pool, schemaLatest, log)
	return from, schemaLatest, err
}

func pgSchemaVersion(ctx context.Context, tx pgx.Tx) (int, error) {
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass('easgate_schema') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, fmt.Errorf("statecache: reading the schema version: %w", pgErr(ctx, err))
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM easgate_schema`).Scan(&v); err != nil {
		return 0, fmt.Errorf("statecache: reading the schema version: %w", pgErr(ctx, err))
	}
	return v, nil
}

// migrate applies the migrations after the database's version up to
// target, and returns the version found. A database newer than this
// program is refused: an older easgate must not write a schema it does not
// know.
func migrate(ctx context.Context, pool *pgxpool.Pool, target int, log *slog.Logger) (int, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("statecache: migrating: %w", pgErr(ctx, err))
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, migrateLockClass, migrateLockID); err != nil {
		return 0, fmt.Errorf("statecache: migrating: %w", pgErr(ctx, err))
	}
	from, err := pgSchemaVersion(ctx, tx)
	if err != nil {
		return 0, err
	}
	if from > schemaLatest {
		return from, fmt.Errorf("statecache: the state database has schema version %d, newer than this easgate knows (%d): run a newer easgate", from, schemaLatest)
	}
	if from >= target {
		return from, nil
	}
	for _, m := range migrations {
		if m.version <= from || m.version > target {
			continue
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return from, fmt.Errorf("statecache: schema version %d (%s): %w", m.version, m.what, pgErr(ctx, err))
		}
		if _, err := tx.Exec(ctx, `INSERT INTO easgate_schema (version, what) VALUES ($1, $2)`, m.version, m.what); err != nil {
			return from, fmt.Errorf("statecache: schema version %d: %w", m.version, pgErr(ctx, err))
		}
		log.Info("statecache: schema migrated", "version", m.version, "what", m.what)
	}
	if err := tx.Commit(ctx); err != nil {
		return from, fmt.Errorf("statecache: migrating: %w", pgErr(ctx, err))
	}
	return from, nil
}
