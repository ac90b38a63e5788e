package cluster

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/easgate/easgate/gateway"
	"github.com/easgate/easgate/internal/testserver"
)

var (
	_ gateway.Bus           = (*Cluster)(nil)
	_ gateway.AccountLocker = (*Cluster)(nil)
)

var shared testserver.SharedPostgres

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Close()
	os.Exit(code)
}

// open connects a node to url, closed at cleanup.
func open(t *testing.T, url string) *Cluster {
	t.Helper()
	c, err := Open(context.Background(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// subscription runs Subscribe in the background and hands over what it
// delivers and each loss.
type subscription struct {
	msgs chan string
	lost chan struct{}
}

func subscribe(t *testing.T, c *Cluster) *subscription {
	t.Helper()
	s := &subscription{msgs: make(chan string, 1000), lost: make(chan struct{}, 10)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Subscribe(ctx, func(m string) { s.msgs <- m }, func() { s.lost <- struct{}{} })
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return s
}

// next returns the next message, failing after 10 s.
func (s *subscription) next(t *testing.T) string {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10 s")
		return ""
	}
}

// listening waits until n sessions LISTEN on the database of url.
func listening(t *testing.T, url string, n int) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for {
		// A session that LISTENs shows in pg_stat_activity's last query.
		var got int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'`).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions listening, want %d", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPublishSubscribe checks that a message published by one node reaches
// both nodes' subscribers, in order.
func TestPublishSubscribe(t *testing.T) {
	url := shared.Get(t).Database(t)
	a, b := open(t, url), open(t, url)
	sa, sb := subscribe(t, a), subscribe(t, b)
	listening(t, url, 2)
	for i := range 100 {
		if err := a.Publish(context.Background(), fmt.Sprint("m", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*subscription{sa, sb} {
		for i := range 100 {
			if got, want := s.next(t), fmt.Sprint("m", i); got != want {
				t.Fatalf("message %d = %q, want %q", i, got, want)
			}
		}
	}
	if err := a.Publish(context.Background(), string(make([]byte, MaxMessage+1))); err == nil {
		t.Error("Publish of a message past MaxMessage succeeded")
	}
}

// waitingLocks returns the advisory locks being waited for.
func waitingLocks(t *testing.T, url string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLockAccount checks that one account's lock is held by one node at a
// time, other accounts are free meanwhile, and a node that goes away
// (its connections closed, as when its process dies) releases its locks.
func TestLockAccount(t *testing.T) {
	url := shared.Get(t).Database(t)
	a, b := open(t, url), open(t, url)
	ctx := context.Background()
	unlock, err := a.LockAccount(ctx, "alice\x00dev1")
	if err != nil {
		t.Fatal(err)
	}
	other, err := b.LockAccount(ctx, "alice\x00dev2")
	if err != nil {
		t.Fatal(err)
	}
	other()

	got := make(chan func(), 1)
	go func() {
		u, err := b.LockAccount(ctx, "alice\x00dev1")
		if err != nil {
			t.Error(err)
			u = func() {}
		}
		got <- u
	}()
	deadline := time.Now().Add(10 * time.Second)
	for waitingLocks(t, url) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the second lock of alice/dev1 never queued")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-got:
		t.Fatal("the lock was granted to node b while node a held it")
	default:
	}
	unlock()
	unlock() // twice is harmless
	ub := <-got

	// A lock whose wait is cancelled is not held afterwards.
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	if _, err := a.LockAccount(cctx, "alice\x00dev1"); err == nil {
		t.Fatal("LockAccount succeeded while node b held the lock")
	}
	cancel()

	// Node b's session ends while it holds the lock, as when its
	// process dies: node a gets it.
	terminateLockHolders(t, url)
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ua, err := a.LockAccount(lctx, "alice\x00dev1")
	if err != nil {
		t.Fatalf("the lock of a closed node was not released: %v", err)
	}
	ua()
	ub() // on a dead session: must not panic or block
}

// terminateLockHolders ends the sessions that hold advisory locks, as
// PostgreSQL does when their client dies (killing a backend process
// would make the server restart every session).
func terminateLockHolders(t *testing.T, url string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted`); err != nil {
		t.Fatal(err)
	}
}

// TestSubscribeAcrossRestart restarts PostgreSQL under a subscriber: it
// is told it lost messages, connects again by itself, and receives what
// is published afterwards; Publish and LockAccount fail while the server
// is down with an error worth a retry, and work again after.
func TestSubscribeAcrossRestart(t *testing.T) {
	pg := testserver.StartPostgres(t)
	a := open(t, pg.URL)
	s := subscribe(t, a)
	listening(t, pg.URL, 1)
	ctx := context.Background()
	if err := a.Publish(ctx, "before"); err != nil {
		t.Fatal(err)
	}
	if got := s.next(t); got != "before" {
		t.Fatalf("got %q, want %q", got, "before")
	}

	pg.Stop(t)
	select {
	case <-s.lost:
	case <-time.After(10 * time.Second):
		t.Fatal("the subscriber was not told of the lost connection within 10 s")
	}
	err := a.Publish(ctx, "while down")
	var tmp interface{ Temporary() bool }
	if err == nil || !asTemporary(err, &tmp) {
		t.Errorf("Publish while down = %v, want a temporary error", err)
	}
	if _, err := a.LockAccount(ctx, "k"); err == nil || !asTemporary(err, &tmp) {
		t.Errorf("LockAccount while down = %v, want a temporary error", err)
	}

	pg.Start(t)
	listening(t, pg.URL, 1)
	// The reconnection reports a loss once more: whatever was published
	// in between is gone.
	select {
	case <-s.lost:
	case <-time.After(10 * time.Second):
		t.Fatal("the reconnection was not reported as a loss")
	}
	if err := a.Publish(ctx, "after"); err != nil {
		t.Fatal(err)
	}
	if got := s.next(t); got != "after" {
		t.Fatalf("got %q after the restart, want %q", got, "after")
	}
	u, err := a.LockAccount(ctx, "k")
	if err != nil {
		t.Fatalf("LockAccount after the restart: %v", err)
	}
	u()
}

func asTemporary(err error, tmp *interface{ Temporary() bool }) bool {
	for e := err; e != nil; {
		if t, ok := e.(interface{ Temporary() bool }); ok && t.Temporary() {
			*tmp = t
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}
