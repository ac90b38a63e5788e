package statecache

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
)

var inbox = CollectionKey{Account: Account{User: "u", Device: "d"}, Collection: "5"}

// start resets inbox and advances it once, as a client does with Sync 0
// and then its first real Sync.
func start(t testing.TB, s *Store) (k1, k2 SyncKey) {
	t.Helper()
	ctx := context.Background()
	k1, err := s.Advance(ctx, inbox, InitialKey, SyncState{State: "s1"})
	if err != nil {
		t.Fatalf("Advance(0): %v", err)
	}
	ids, err := s.ServerIDs(ctx, inbox, []string{"m1", "m2"})
	if err != nil {
		t.Fatal(err)
	}
	k2, err = s.Advance(ctx, inbox, k1, SyncState{State: "s2", Window: []Change{
		{Op: OpAdd, ServerID: ids[0], ItemID: "m1"}, {Op: OpAdd, ServerID: ids[1], ItemID: "m2"},
	}})
	if err != nil {
		t.Fatalf("Advance(%s): %v", k1, err)
	}
	return k1, k2
}

func TestAdvance(t *testing.T) {
	ctx := context.Background()
	window2 := []Change{{Op: OpAdd, ServerID: "5:1", ItemID: "m1"}, {Op: OpAdd, ServerID: "5:2", ItemID: "m2"}}
	tests := []struct {
		name      string
		from      func(k1, k2 SyncKey) SyncKey
		wantErr   error
		wantRetry *RetryError // Key is filled in with k2
		wantPos   Position
	}{
		{
			name:    "current key",
			from:    func(_, k2 SyncKey) SyncKey { return k2 },
			wantPos: Position{State: "s2"},
		},
		{
			name:      "previous key resends the window",
			from:      func(k1, _ SyncKey) SyncKey { return k1 },
			wantErr:   ErrRetryPrevious,
			wantRetry: &RetryError{Resend: SyncState{State: "s2", Window: window2}},
			wantPos:   Position{Retry: true, State: "s2", Window: window2},
		},
		{
			name:    "unknown key",
			from:    func(_, _ SyncKey) SyncKey { return "{00000000-0000-4000-8000-000000000000}2" },
			wantErr: ErrSyncKeyMismatch,
		},
		{
			name:    "empty key",
			from:    func(_, _ SyncKey) SyncKey { return "" },
			wantErr: ErrSyncKeyMismatch,
		},
		{
			name:    "reset",
			from:    func(_, _ SyncKey) SyncKey { return InitialKey },
			wantPos: Position{Reset: true, Key: InitialKey},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			k1, k2 := start(t, s)
			from := tt.from(k1, k2)

			pos, err := s.Position(ctx, inbox, from)
			if tt.wantErr == ErrSyncKeyMismatch {
				if !errors.Is(err, ErrSyncKeyMismatch) {
					t.Errorf("Position(%s) err = %v, want %v", from, err, ErrSyncKeyMismatch)
				}
			} else {
				want := tt.wantPos
				if want.Key == "" {
					want.Key = from
					if want.Retry {
						want.Key = k2
					}
				}
				if err != nil || !reflect.DeepEqual(pos, want) {
					t.Errorf("Position(%s) = %+v, %v, want %+v", from, pos, err, want)
				}
			}

			got, err := s.Advance(ctx, inbox, from, SyncState{State: "s3"})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Advance(%s) err = %v, want %v", from, err, tt.wantErr)
			}
			switch {
			case tt.wantRetry != nil:
				var re *RetryError
				if !errors.As(err, &re) {
					t.Fatalf("Advance(%s) err = %T, want *RetryError", from, err)
				}
				want := *tt.wantRetry
				want.Key = k2
				if got != k2 || !reflect.DeepEqual(*re, want) {
					t.Errorf("Advance(%s) = %s, %+v, want %s, %+v", from, got, *re, k2, want)
				}
				// Nothing changed: the current key still works.
				if _, err := s.Advance(ctx, inbox, k2, SyncState{}); err != nil {
					t.Errorf("Advance(%s) after the retry: %v", k2, err)
				}
			case tt.wantErr == nil:
				if got == "" || got == k1 || got == k2 {
					t.Errorf("Advance(%s) = %q, want a new key", from, got)
				}
			}
		})
	}
}

func TestAdvanceConfirmsDeletes(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	_, k2 := start(t, s)
	k3, err := s.Advance(ctx, inbox, k2, SyncState{State: "s3", Window: []Change{{Op: OpDelete, ServerID: "5:1", ItemID: "m1"}, {Op: OpSoftDelete, ServerID: "5:2", ItemID: "m2"}}})
	if err != nil {
		t.Fatal(err)
	}
	// Until the client moves past k3, the deleted item keeps its id.
	if got, err := s.MapID(ctx, inbox, "5:1"); err != nil || got != "m1" {
		t.Fatalf("MapID(5:1) before confirmation = %q, %v", got, err)
	}
	if _, err := s.Advance(ctx, inbox, k3, SyncState{State: "s4"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MapID(ctx, inbox, "5:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("MapID(5:1) after confirmation: err = %v, want ErrNotFound", err)
	}
	if got, err := s.MapID(ctx, inbox, "5:2"); err != nil || got != "m2" {
		t.Errorf("MapID(5:2) after soft delete = %q, %v, want m2", got, err)
	}
	// A new item never gets a deleted item's id.
	ids, err := s.ServerIDs(ctx, inbox, []string{"m1", "m3"})
	if err != nil || !reflect.DeepEqual(ids, []string{"5:3", "5:4"}) {
		t.Errorf("ServerIDs = %q, %v, want [5:3 5:4]", ids, err)
	}
}

func TestServerIDs(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if _, err := s.ServerIDs(ctx, inbox, []string{"m1"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ServerIDs before sync: err = %v, want ErrNotFound", err)
	}
	start(t, s)
	tests := []struct {
		name  string
		items []string
		want  []string
	}{
		{"known", []string{"m2", "m1"}, []string{"5:2", "5:1"}},
		{"new and repeated", []string{"m3", "m1", "m3"}, []string{"5:3", "5:1", "5:3"}},
		{"empty", nil, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ServerIDs(ctx, inbox, tt.items)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ServerIDs(%q) = %q, %v, want %q", tt.items, got, err, tt.want)
			}
			for i, id := range got {
				if item, err := s.MapID(ctx, inbox, id); err != nil || item != tt.items[i] {
					t.Errorf("MapID(%s) = %q, %v, want %q", id, item, err, tt.items[i])
				}
			}
		})
	}
}

func TestResetStartsANewMap(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	k1, _ := start(t, s)
	if _, err := s.Advance(ctx, inbox, InitialKey, SyncState{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MapID(ctx, inbox, "5:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("MapID after reset: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Advance(ctx, inbox, k1, SyncState{}); !errors.Is(err, ErrSyncKeyMismatch) {
		t.Errorf("Advance with a key from before the reset: err = %v, want ErrSyncKeyMismatch", err)
	}
	ids, err := s.ServerIDs(ctx, inbox, []string{"m1"})
	if err != nil || ids[0] != "5:3" {
		t.Errorf("ServerIDs after reset = %q, %v, want [5:3]", ids, err)
	}
	// The old generation was purged.
	if n := countPrefix(t, s, itemsKey(inbox)); n != 2 {
		t.Errorf("item map entries after reset = %d, want 2", n)
	}
	if n := countPrefix(t, s, newKey(tPurge)); n != 0 {
		t.Errorf("purge queue = %d entries, want 0", n)
	}
}

func countPrefix(t testing.TB, s *Store, p []byte) int {
	t.Helper()
	n := 0
	err := s.view(context.Background(), func(txn kvTxn) error {
		return scanPrefix(txn, p, func(_, _ []byte) error { n++; return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestHierarchy(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a := inbox.Account
	if _, err := s.CollectionIDs(ctx, a, []string{"INBOX"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("CollectionIDs before FolderSync: err = %v, want ErrNotFound", err)
	}
	h1, err := s.AdvanceHierarchy(ctx, a, InitialKey, SyncState{State: "f1"})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := s.CollectionIDs(ctx, a, []string{"INBOX", "Sent"})
	if err != nil || !reflect.DeepEqual(ids, []string{"1", "2"}) {
		t.Fatalf("CollectionIDs = %q, %v", ids, err)
	}
	sent := CollectionKey{Account: a, Collection: "2"}
	if _, err := s.Advance(ctx, sent, InitialKey, SyncState{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ServerIDs(ctx, sent, []string{"m1"}); err != nil {
		t.Fatal(err)
	}
	h2, err := s.AdvanceHierarchy(ctx, a, h1, SyncState{State: "f2", Window: []Change{{Op: OpDelete, ServerID: "2", ItemID: "Sent"}}})
	if err != nil {
		t.Fatal(err)
	}
	if pos, err := s.HierarchyPosition(ctx, a, h1); err != nil || !pos.Retry || pos.Key != h2 {
		t.Errorf("HierarchyPosition(previous) = %+v, %v, want a retry of %s", pos, err, h2)
	}
	if _, err := s.AdvanceHierarchy(ctx, a, h2, SyncState{State: "f3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.FolderID(ctx, a, "2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("FolderID(2) after a confirmed delete: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Position(ctx, sent, InitialKey); err != nil {
		t.Errorf("Position(0) of the deleted folder: %v", err)
	}
	if _, err := s.MapID(ctx, sent, "2:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("MapID in the deleted folder: err = %v, want ErrNotFound", err)
	}
	if n := countPrefix(t, s, itemsKey(sent)); n != 0 {
		t.Errorf("item map entries of the deleted folder = %d, want 0", n)
	}
	// A FolderSync reset keeps CollectionIds.
	if _, err := s.AdvanceHierarchy(ctx, a, InitialKey, SyncState{}); err != nil {
		t.Fatal(err)
	}
	if f, err := s.FolderID(ctx, a, "1"); err != nil || f != "INBOX" {
		t.Errorf("FolderID(1) after reset = %q, %v, want INBOX", f, err)
	}
}

// Two requests from one device with the same key: exactly one wins, the
// others answer with the winner's window.
func TestAdvanceConcurrent(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	_, k2 := start(t, s)
	const n = 8
	var (
		wg   sync.WaitGroup
		keys [n]SyncKey
		errs [n]error
	)
	for i := range n {
		wg.Go(func() {
			keys[i], errs[i] = s.Advance(ctx, inbox, k2, SyncState{State: fmt.Sprint("winner-", i)})
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				t.Fatalf("requests %d and %d both advanced", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("no request advanced: %v", errs)
	}
	for i, err := range errs {
		if i == winner {
			continue
		}
		var re *RetryError
		if !errors.As(err, &re) {
			t.Fatalf("request %d: err = %v, want RetryError", i, err)
		}
		if keys[i] != keys[winner] || re.Resend.State != fmt.Sprint("winner-", winner) {
			t.Errorf("request %d resends %s %q, want the winner's %s", i, keys[i], re.Resend.State, keys[winner])
		}
	}
}

func TestContextCanceled(t *testing.T) {
	s := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Advance(ctx, inbox, InitialKey, SyncState{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Advance with a canceled context: err = %v", err)
	}
}

func BenchmarkAdvance(b *testing.B) {
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		window int
	}{{"empty", 0}, {"window100", 100}} {
		b.Run(tt.name, func(b *testing.B) {
			s, err := Open(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			win := make([]Change, tt.window)
			for i := range win {
				win[i] = Change{Op: OpAdd, ServerID: fmt.Sprintf("5:%d", i), ItemID: fmt.Sprintf("M%08d", i)}
			}
			key, err := s.Advance(ctx, inbox, InitialKey, SyncState{})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if key, err = s.Advance(ctx, inbox, key, SyncState{State: "state", Window: win}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMapID(b *testing.B) {
	ctx := context.Background()
	s := newStore(b)
	if _, err := s.Advance(ctx, inbox, InitialKey, SyncState{}); err != nil {
		b.Fatal(err)
	}
	const n = 10000
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf("M%08d", i)
	}
	var ids []string
	for i := 0; i < n; i += 500 {
		got, err := s.ServerIDs(ctx, inbox, items[i:i+500])
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, got...)
	}
	b.Run("MapID", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := s.MapID(ctx, inbox, ids[i%n]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("ServerIDs-known-100", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			j := i % (n - 100)
			if _, err := s.ServerIDs(ctx, inbox, items[j:j+100]); err != nil {
				b.Fatal(err)
			}
			i += 100
		}
	})
}

func TestKnownIDsAndClientAdds(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	ck := CollectionKey{Account: Account{User: "alice", Device: "d1"}, Collection: "5"}
	if got, err := s.KnownIDs(ctx, ck, []string{"a"}); err != nil || got[0] != "" {
		t.Fatalf("KnownIDs before any sync = %q, %v; want empty", got, err)
	}
	k1, err := s.Advance(ctx, ck, InitialKey, SyncState{})
	if err != nil {
		t.Fatal(err)
	}
	sids, err := s.ServerIDs(ctx, ck, []string{"a"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.KnownIDs(ctx, ck, []string{"a", "b"})
	if err != nil || got[0] != sids[0] || got[1] != "" {
		t.Fatalf("KnownIDs = %q, %v; want [%s \"\"]", got, err, sids[0])
	}
	win := []Change{{Op: OpClientAdd, ServerID: sids[0], ItemID: "a", ClientID: "c-1"}}
	if _, err := s.Advance(ctx, ck, k1, SyncState{State: "s2", Window: win}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Advance(ctx, ck, k1, SyncState{State: "s3"})
	var re *RetryError
	if !errors.As(err, &re) || !reflect.DeepEqual(re.Resend.Window, win) {
		t.Fatalf("Advance from the previous key = %v; want a RetryError with window %+v", err, win)
	}
}

func TestCurrentState(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if _, _, err := s.CurrentState(ctx, inbox); !errors.Is(err, ErrNotFound) {
		t.Errorf("CurrentState(never synced) = %v, want ErrNotFound", err)
	}
	_, k2 := start(t, s)
	key, state, err := s.CurrentState(ctx, inbox)
	if err != nil || key != k2 || state != "s2" {
		t.Errorf("CurrentState = %q, %q, %v; want %q, %q, nil", key, state, err, k2, "s2")
	}
}

// TestAdvanceAssignsServerIDs checks that an item gets its ServerId only
// with the window that sends it, and that a resent window keeps its ids
// and its More.
func TestAdvanceAssignsServerIDs(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	ck := CollectionKey{Account: Account{User: "alice", Device: "d1"}, Collection: "7"}
	k1, err := s.Advance(ctx, ck, InitialKey, SyncState{})
	if err != nil {
		t.Fatal(err)
	}
	win := []Change{{Op: OpAdd, ItemID: "m1"}, {Op: OpAdd, ItemID: "m2"}}
	if got, _ := s.KnownIDs(ctx, ck, []string{"m1"}); got[0] != "" {
		t.Fatalf("KnownIDs before the window is stored = %q, want none", got)
	}
	k2, err := s.Advance(ctx, ck, k1, SyncState{State: "s2", Window: win, More: true})
	if err != nil {
		t.Fatal(err)
	}
	if win[0].ServerID != "7:1" || win[1].ServerID != "7:2" {
		t.Fatalf("assigned ServerIds %q, %q; want 7:1, 7:2", win[0].ServerID, win[1].ServerID)
	}
	if got, _ := s.KnownIDs(ctx, ck, []string{"m1", "m2"}); got[0] != "7:1" || got[1] != "7:2" {
		t.Errorf("KnownIDs after = %q", got)
	}
	pos, err := s.Position(ctx, ck, k1)
	if err != nil || !pos.Retry || pos.Key != k2 || !pos.More || !reflect.DeepEqual(pos.Window, win) {
		t.Errorf("Position(previous key) = %+v, %v; want the window %+v with More", pos, err, win)
	}
	// An item mapped before keeps its id in a later window.
	again := []Change{{Op: OpAdd, ItemID: "m1"}}
	if _, err := s.Advance(ctx, ck, k2, SyncState{State: "s3", Window: again}); err != nil {
		t.Fatal(err)
	}
	if again[0].ServerID != "7:1" {
		t.Errorf("re-added item got %q, want 7:1", again[0].ServerID)
	}
}

// TestEchoKept: the client's own writes stored with a key come back with
// its Position, and are gone once a later Advance stores none.
func TestEchoKept(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	_, k2 := start(t, s)
	echo := []Echo{{ItemID: "m9", ETag: `"e9"`}, {ItemID: "m8"}}
	k3, err := s.Advance(ctx, inbox, k2, SyncState{State: "s3", More: true, Echo: echo})
	if err != nil {
		t.Fatal(err)
	}
	pos, err := s.Position(ctx, inbox, k3)
	if err != nil || !reflect.DeepEqual(pos.Echo, echo) {
		t.Fatalf("Position(%s) = %+v, %v; want Echo %+v", k3, pos, err, echo)
	}
	k4, err := s.Advance(ctx, inbox, k3, SyncState{State: "s4"})
	if err != nil {
		t.Fatal(err)
	}
	if pos, err := s.Position(ctx, inbox, k4); err != nil || pos.Echo != nil {
		t.Errorf("Position(%s) = %+v, %v; want no Echo", k4, pos, err)
	}
}

// TestAdvanceStaleGenerationHint: an Advance reads the map entries of its
// new items in the generation its process last saw (genHints). After a
// reset made elsewhere (another node), or a hint from another collection,
// that guess is wrong, and the items must still be looked up in the
// collection's own generation: an item of the old generation gets a new
// ServerId, and an item of the current one keeps its id.
func TestAdvanceStaleGenerationHint(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	ck := CollectionKey{Account: Account{User: "alice", Device: "d1"}, Collection: "7"}
	rec := collectionKey(ck)
	k, err := s.Advance(ctx, ck, InitialKey, SyncState{})
	if err != nil {
		t.Fatal(err)
	}
	win := []Change{{Op: OpAdd, ItemID: "m1"}}
	if k, err = s.Advance(ctx, ck, k, SyncState{Window: win}); err != nil || win[0].ServerID != "7:1" {
		t.Fatalf("first Advance: %q, %v; want 7:1", win[0].ServerID, err)
	}
	// A reset, then a process whose hint still says generation 0.
	if k, err = s.Advance(ctx, ck, InitialKey, SyncState{}); err != nil {
		t.Fatal(err)
	}
	s.gens.set(rec, 0)
	win = []Change{{Op: OpAdd, ItemID: "m1"}, {Op: OpAdd, ItemID: "m2"}}
	if k, err = s.Advance(ctx, ck, k, SyncState{Window: win}); err != nil {
		t.Fatal(err)
	}
	if win[0].ServerID != "7:2" || win[1].ServerID != "7:3" {
		t.Fatalf("after a reset with a stale hint: %q, %q; want 7:2, 7:3 (new ids in the new generation)", win[0].ServerID, win[1].ServerID)
	}
	// A hint ahead of the collection: the items of the current
	// generation keep their ids.
	for _, hint := range []uint64{7, 1} {
		s.gens.set(rec, hint)
		again := []Change{{Op: OpAdd, ItemID: "m2"}, {Op: OpAdd, ItemID: "m3"}}
		if k, err = s.Advance(ctx, ck, k, SyncState{Window: again}); err != nil {
			t.Fatal(err)
		}
		if again[0].ServerID != "7:3" || again[1].ServerID != "7:4" {
			t.Fatalf("hint %d: %q, %q; want 7:3, 7:4", hint, again[0].ServerID, again[1].ServerID)
		}
	}
	if got, err := s.KnownIDs(ctx, ck, []string{"m1", "m2", "m3"}); err != nil || !reflect.DeepEqual(got, []string{"7:2", "7:3", "7:4"}) {
		t.Errorf("KnownIDs = %q, %v; want [7:2 7:3 7:4]", got, err)
	}
}
