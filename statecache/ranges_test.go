package statecache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestIDRangeEncoding(t *testing.T) {
	for _, r := range []idRange{
		{first: 1, ids: []string{"m1"}},
		{first: 101, ids: []string{"a", "", "ccc"}},
		{first: 1 << 40, ids: []string{"x", "y"}},
	} {
		got, err := decodeRange(r.encode())
		if err != nil || !reflect.DeepEqual(got, r) {
			t.Errorf("decodeRange(encode(%+v)) = %+v, %v", r, got, err)
		}
	}
	good := idRange{first: 3, ids: []string{"ab"}}.encode()
	for name, b := range map[string][]byte{
		"empty":           nil,
		"version":         {9, 1, 1, 0},
		"no count":        {valueVersion, 1},
		"count zero":      {valueVersion, 1, 0},
		"count too large": append([]byte{valueVersion, 1, 0x81, 0x02}, bytes.Repeat([]byte{0}, 257)...),
		"short id":        good[:len(good)-1],
		"trailing bytes":  append(good[:len(good):len(good)], 0),
		"wraps":           {valueVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 2, 0, 0},
	} {
		if r, err := decodeRange(b); !errors.Is(err, errBadRange) {
			t.Errorf("%s: decodeRange(%x) = %+v, %v; want errBadRange", name, b, r, err)
		}
	}
}

// FuzzDecodeRange: a stored range row, damaged or not, decodes to an
// error or to a range that encodes back to the same range.
func FuzzDecodeRange(f *testing.F) {
	f.Add(idRange{first: 101, ids: []string{"a", "", "ccc"}}.encode())
	f.Add([]byte{valueVersion, 1, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRange(b)
		if err != nil {
			return
		}
		if len(r.ids) == 0 || len(r.ids) > maxRangeIDs || r.last() < r.first {
			t.Fatalf("decodeRange(%x) = %+v: out of bounds", b, r)
		}
		again, err := decodeRange(r.encode())
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Fatalf("round trip of %+v: %+v, %v", r, again, err)
		}
	})
}

// newCollection resets collection 7 of alice's phone d1 on s, as a
// phone's Sync with key 0 does, and returns it with its first key.
func newCollection(t *testing.T, s *Store) (CollectionKey, SyncKey) {
	t.Helper()
	ck := CollectionKey{Account: Account{User: "alice", Device: "d1"}, Collection: "7"}
	k, err := s.Advance(context.Background(), ck, InitialKey, SyncState{})
	if err != nil {
		t.Fatal(err)
	}
	return ck, k
}

// rangeRows returns the number of range rows of ck's current generation.
func rangeRows(t *testing.T, s *Store, ck CollectionKey) int {
	t.Helper()
	n := 0
	err := s.view(context.Background(), func(txn kvTxn) error {
		var r syncRec
		if _, err := getJSON(txn, collectionKey(ck), &r); err != nil {
			return err
		}
		return scanPrefix(txn, itemsKey(ck).u64(r.Gen).tag(pRange), func(_, _ []byte) error { n++; return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRangeDeletes: a window of new items keeps their reverse entries in
// range rows; confirmed Deletes blank their entries, a range left empty is
// deleted, and the others still resolve.
func TestRangeDeletes(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	ck, k := newCollection(t, s)
	var err error
	const n = maxRangeIDs + 44 // two rows
	win := make([]Change, n)
	for i := range win {
		win[i] = Change{Op: OpAdd, ItemID: fmt.Sprint("m", i+1)}
	}
	if k, err = s.Advance(ctx, ck, k, SyncState{State: "s1", Window: win}); err != nil {
		t.Fatal(err)
	}
	if got := rangeRows(t, s, ck); got != 2 {
		t.Fatalf("%d range rows for %d new items, want 2", got, n)
	}
	for _, i := range []int{1, 200, maxRangeIDs, maxRangeIDs + 1, n} {
		sid := fmt.Sprint("7:", i)
		if got, err := s.MapID(ctx, ck, sid); err != nil || got != fmt.Sprint("m", i) {
			t.Errorf("MapID(%s) = %q, %v; want m%d", sid, got, err, i)
		}
	}
	for _, sid := range []string{"7:0", "7:301", "7:x", "8:1", ""} {
		if got, err := s.MapID(ctx, ck, sid); !errors.Is(err, ErrNotFound) {
			t.Errorf("MapID(%q) = %q, %v; want ErrNotFound", sid, got, err)
		}
	}
	// Delete 7:2 from the first row and the whole second row.
	dels := []Change{{Op: OpDelete, ServerID: "7:2", ItemID: "m2"}}
	for i := maxRangeIDs + 1; i <= n; i++ {
		dels = append(dels, Change{Op: OpDelete, ServerID: fmt.Sprint("7:", i), ItemID: fmt.Sprint("m", i)})
	}
	if k, err = s.Advance(ctx, ck, k, SyncState{State: "s2", Window: dels}); err != nil {
		t.Fatal(err)
	}
	if _, err = s.Advance(ctx, ck, k, SyncState{State: "s3"}); err != nil {
		t.Fatal(err)
	}
	if got := rangeRows(t, s, ck); got != 1 {
		t.Errorf("%d range rows after the second row's items were deleted, want 1", got)
	}
	for _, sid := range []string{"7:2", fmt.Sprint("7:", maxRangeIDs+1), fmt.Sprint("7:", n)} {
		if got, err := s.MapID(ctx, ck, sid); !errors.Is(err, ErrNotFound) {
			t.Errorf("MapID(%s) after its delete = %q, %v; want ErrNotFound", sid, got, err)
		}
	}
	if got, err := s.MapID(ctx, ck, "7:3"); err != nil || got != "m3" {
		t.Errorf("MapID(7:3) = %q, %v; want m3", got, err)
	}
	if got, err := s.KnownIDs(ctx, ck, []string{"m1", "m2"}); err != nil || !reflect.DeepEqual(got, []string{"7:1", ""}) {
		t.Errorf("KnownIDs(m1, m2) = %q, %v; want [7:1 \"\"]", got, err)
	}
}

// TestReverseEntriesBeforeRanges: an item map written before range rows,
// with one reverse row per item, still resolves and is deleted, beside
// items mapped since in ranges.
func TestReverseEntriesBeforeRanges(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	ck, k := newCollection(t, s)
	var err error
	// What an older easgate wrote for 7:1 and 7:2.
	err = s.update(ctx, func(txn kvTxn) error {
		var r syncRec
		if _, err := getJSON(txn, collectionKey(ck), &r); err != nil {
			return err
		}
		for i, id := range []string{"old1", "old2"} {
			sid := fmt.Sprint("7:", i+1)
			if err := txn.set(itemKey(ck, r.Gen, pByStore, id), encodeID(sid)); err != nil {
				return err
			}
			if err := txn.set(itemKey(ck, r.Gen, pByEAS, sid), encodeID(id)); err != nil {
				return err
			}
		}
		r.NextID = 2
		return setJSON(txn, collectionKey(ck), &r)
	})
	if err != nil {
		t.Fatal(err)
	}
	win := []Change{{Op: OpAdd, ItemID: "old1"}, {Op: OpAdd, ItemID: "new3"}}
	if k, err = s.Advance(ctx, ck, k, SyncState{State: "s1", Window: win}); err != nil {
		t.Fatal(err)
	}
	if win[0].ServerID != "7:1" || win[1].ServerID != "7:3" {
		t.Fatalf("ServerIds %q, %q; want 7:1 (mapped before) and 7:3", win[0].ServerID, win[1].ServerID)
	}
	for sid, want := range map[string]string{"7:1": "old1", "7:2": "old2", "7:3": "new3"} {
		if got, err := s.MapID(ctx, ck, sid); err != nil || got != want {
			t.Errorf("MapID(%s) = %q, %v; want %s", sid, got, err, want)
		}
	}
	dels := []Change{{Op: OpDelete, ServerID: "7:2", ItemID: "old2"}, {Op: OpDelete, ServerID: "7:3", ItemID: "new3"}}
	if k, err = s.Advance(ctx, ck, k, SyncState{State: "s2", Window: dels}); err != nil {
		t.Fatal(err)
	}
	if _, err = s.Advance(ctx, ck, k, SyncState{State: "s3"}); err != nil {
		t.Fatal(err)
	}
	for _, sid := range []string{"7:2", "7:3"} {
		if got, err := s.MapID(ctx, ck, sid); !errors.Is(err, ErrNotFound) {
			t.Errorf("MapID(%s) after its delete = %q, %v; want ErrNotFound", sid, got, err)
		}
	}
	if got, err := s.MapID(ctx, ck, "7:1"); err != nil || got != "old1" {
		t.Errorf("MapID(7:1) = %q, %v; want old1", got, err)
	}
	err = s.view(ctx, func(txn kvTxn) error {
		_, ok, err := txn.get(itemKey(ck, 0, pByEAS, "7:2"))
		if err == nil && ok {
			err = errors.New("the old reverse row of 7:2 is still there")
		}
		return err
	})
	if err != nil {
		t.Error(err)
	}
}
