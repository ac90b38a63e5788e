package statecache

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCrashRecovery kills a writer with SIGKILL in the middle of its
// Advances, reopens the store and checks that the last Advance is there
// whole or not at all: the state, the window and the id map agree.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	crashRecovery(t, t.TempDir())
}

// TestCrashRecoveryPostgres is TestCrashRecovery on PostgreSQL: the
// client process dies mid-transaction, its connection drops, and the
// database keeps each Advance whole or not at all.
func TestCrashRecoveryPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	crashRecovery(t, pgDatabase(t))
}

// crashRecovery runs the crash test on the store at target, a Badger
// directory or a PostgreSQL URL.
func crashRecovery(t *testing.T, target string) {
	cmd, lines := startChild(t, "crash", target)
	var (
		last    int
		lastKey SyncKey
	)
	read := func() bool {
		if !lines.Scan() {
			return false
		}
		n, key, _ := strings.Cut(lines.Text(), " ")
		last, _ = strconv.Atoi(n)
		lastKey = SyncKey(key)
		return true
	}
	for last < 40 && read() {
	}
	if last < 40 {
		cmd.Wait()
		t.Fatalf("writer stopped after %d advances", last)
	}
	// Somewhere in the next few Advances.
	time.Sleep(time.Duration(rand.IntN(20_000)) * time.Microsecond)
	if err := cmd.Process.Kill(); err != nil { // SIGKILL, this pid only
		t.Fatal(err)
	}
	for read() {
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("writer exited cleanly, want killed")
	}
	t.Logf("killed after %d printed advances", last)

	s, err := openTarget(target)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	pos, err := s.Position(ctx, inbox, lastKey)
	if err != nil {
		t.Fatalf("Position(%s) = %v", lastKey, err)
	}
	// The writer may have committed one Advance it did not live to print.
	n, _ := strconv.Atoi(pos.State)
	want := last
	if pos.Retry {
		want++
	}
	if n != want {
		t.Fatalf("state after reopen = %d (retry %v), want %d", n, pos.Retry, want)
	}
	window := currentWindow(t, s)
	if want := crashWindow(n); !reflect.DeepEqual(window, want) {
		t.Errorf("window = %+v, want %+v", window, want)
	}
	for _, c := range window {
		if got, err := s.MapID(ctx, inbox, c.ServerID); err != nil || got != c.ItemID {
			t.Errorf("MapID(%s) = %q, %v, want %q", c.ServerID, got, err, c.ItemID)
		}
	}
	// Advance n confirmed window n-1, whose delete was item 2(n-2).
	if n > 2 {
		if _, err := s.MapID(ctx, inbox, crashID(2*(n-2))); !errors.Is(err, ErrNotFound) {
			t.Errorf("MapID(%s) after its delete was confirmed: err = %v, want ErrNotFound", crashID(2*(n-2)), err)
		}
	}
	if _, err := s.Advance(ctx, inbox, pos.Key, SyncState{}); err != nil && !errors.Is(err, ErrRetryPrevious) {
		t.Errorf("Advance after reopen: %v", err)
	}
}

// currentWindow returns the window stored with the current key.
func currentWindow(t *testing.T, s *Store) []Change {
	t.Helper()
	var r syncRec
	err := s.view(context.Background(), func(txn kvTxn) error {
		if _, err := getJSON(txn, collectionKey(inbox), &r); err != nil {
			return err
		}
		return loadWindow(txn, collectionScope(inbox), &r)
	})
	if err != nil {
		t.Fatal(err)
	}
	return fromRecs(r.Pending)
}
