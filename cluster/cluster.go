// Package cluster joins several easgate nodes that share one PostgreSQL
// state store: it carries the gateway's signals between them over
// LISTEN/NOTIFY (gateway.Bus) and serialises an account's work across them
// with advisory locks (gateway.AccountLocker). Nothing here is state: the
// state itself lives in statecache's PostgreSQL backend; this package only
// needs the same database.
//
// Why PostgreSQL and not a second system: ../shared/notes/scaleout.md
// measured NOTIFY from one process to another at p50 0.2 ms, p99 0.3 ms on
// loopback, and a session-level advisory lock is released by the server the
// moment its session ends, so a node that dies (its process killed, its
// sockets closed by the kernel) frees its accounts within milliseconds.
package cluster

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Channel is the one NOTIFY channel every node listens on; a message's
// payload says which device it concerns.
const Channel = "easgate_signals"

// MaxMessage is the longest message Publish sends: PostgreSQL refuses a
// NOTIFY payload of 8000 bytes or more.
const MaxMessage = 7999

// Options configure a Cluster. The zero value is valid.
type Options struct {
	// LockConns bounds the connections that hold or wait for account
	// locks: one per account whose Sync runs on this node. Past it, a
	// Sync waits for a connection. 0: 32.
	LockConns int32
	// Logger receives reconnections of the LISTEN connection; nil:
	// discard.
	Logger *slog.Logger
}

// Cluster is one node's connections to the shared database: a small pool
// for NOTIFY, a pool whose connections hold account locks, and, while
// Subscribe runs, one dedicated connection for LISTEN.
type Cluster struct {
	url    string
	log    *slog.Logger
	notify *pgxpool.Pool
	locks  *pgxpool.Pool
}

// Open connects to the database at url ("postgres://..."), checking that
// it answers.
func Open(ctx context.Context, url string, o *Options) (*Cluster, error) {
	if o == nil {
		o = &Options{}
	}
	c := &Cluster{url: url, log: o.Logger}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	nc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("cluster: url: %w", err)
	}
	nc.MaxConns = 4
	lc := nc.Copy()
	lc.MaxConns = o.LockConns
	if lc.MaxConns <= 0 {
		lc.MaxConns = 32
	}
	// A lock connection may sit idle while its holder reads the store;
	// nothing should close it under the holder.
	lc.MaxConnIdleTime, lc.MaxConnLifetime = time.Hour, 24*time.Hour
	if c.notify, err = pgxpool.NewWithConfig(ctx, nc); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if c.locks, err = pgxpool.NewWithConfig(ctx, lc); err != nil {
		c.notify.Close()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if err := c.notify.Ping(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return c, nil
}

// Close closes the pools. It waits up to closeWait for locks still held
// to be unlocked (pgxpool waits for every connection handed out), then
// returns; the process's exit closes their connections, which releases
// them.
func (c *Cluster) Close() {
	c.notify.Close()
	done := make(chan struct{})
	go func() {
		c.locks.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(closeWait):
	}
}

// closeWait bounds Close.
const closeWait = 5 * time.Second

// unavailableError marks a failure of the database as worth a retry (the
// gateway answers such errors with the command's retry status).
type unavailableError struct{ err error }

func (e unavailableError) Error() string   { return "cluster: " + e.err.Error() }
func (e unavailableError) Unwrap() error   { return e.err }
func (e unavailableError) Temporary() bool { return true }

// Publish sends msg to every node's Subscribe, this one's included.
func (c *Cluster) Publish(ctx context.Context, msg string) error {
	if len(msg) > MaxMessage {
		return fmt.Errorf("cluster: message of %d bytes, past %d", len(msg), MaxMessage)
	}
	// NOTIFY takes no parameters; pg_notify does.
	if _, err := c.notify.Exec(ctx, "SELECT pg_notify($1, $2)", Channel, msg); err != nil {
		return unavailableError{err}
	}
	return nil
}

// Subscribe listens on Channel over a connection of its own and calls
// deliver with each message until ctx ends. When the connection breaks
// (the database restarted), it calls lost, connects again (waiting up to
// 2 s between attempts) and calls lost once more: messages sent in between
// are gone.
func (c *Cluster) Subscribe(ctx context.Context, deliver func(msg string), lost func()) error {
	wait := 50 * time.Millisecond
	for connected := false; ; {
		err := c.listen(ctx, func() {
			if connected {
				lost()
			}
			connected, wait = true, 50*time.Millisecond
		}, deliver)
		if ctx.Err() != nil {
			return nil
		}
		if connected {
			c.log.Warn("cluster: LISTEN connection lost; connecting again", "err", err)
			lost()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// listen connects, LISTENs, calls ready and delivers messages until the
// connection fails or ctx ends.
func (c *Cluster) listen(ctx context.Context, ready func(), deliver func(string)) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.Connect(cctx, c.url)
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{Channel}.Sanitize()); err != nil {
		return err
	}
	ready()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		deliver(n.Payload)
	}
}

// LockAccount takes the session-level advisory lock of key on a connection
// of its own, held until unlock. The lock dies with the connection: if
// this node dies, PostgreSQL sees its socket close and releases it.
// Distinct keys may share a lock (a 64-bit hash): that serialises two
// accounts, which is merely slower.
func (c *Cluster) LockAccount(ctx context.Context, key string) (unlock func(), err error) {
	id := lockID(key)
	conn, err := c.locks.Acquire(ctx)
	if err != nil {
		return nil, unavailableError{err}
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", id); err != nil {
		// The lock may have been granted just as ctx ended: never put
		// back a connection that might hold it.
		discard(conn)
		return nil, unavailableError{err}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var released bool
			if err := conn.QueryRow(ctx, "SELECT pg_advisory_unlock($1)", id).Scan(&released); err != nil || !released {
				// The session ended meanwhile (and took the lock
				// with it), or is in an unknown state: drop it.
				discard(conn)
				return
			}
			conn.Release()
		})
	}, nil
}

// discard closes a pool connection and gives it back, which removes it
// from the pool.
func discard(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Conn().Close(ctx)
	conn.Release()
}

// lockID maps key to an advisory lock id, in a space of its own so as not
// to meet other users of advisory locks in the same database by chance.
func lockID(key string) int64 {
	h := fnv.New64a()
	h.Write([]byte("easgate account\x00"))
	h.Write([]byte(key))
	return int64(h.Sum64())
}
