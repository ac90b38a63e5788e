package statecache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
)

// TestAdvanceConcurrentRepeated races two Advances from the same key many
// times: each time exactly one stores its state and the other answers
// with the winner's key and window.
func TestAdvanceConcurrentRepeated(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	_, key := start(t, s)
	for trial := range 30 {
		var (
			wg      sync.WaitGroup
			ready   sync.WaitGroup
			gate    = make(chan struct{})
			keys    [2]SyncKey
			errs    [2]error
			windows [2][]Change
		)
		ready.Add(2)
		for i := range 2 {
			windows[i] = []Change{{Op: OpAdd, ItemID: fmt.Sprintf("item-%d-%d", trial, i)}}
			wg.Go(func() {
				ready.Done()
				<-gate
				keys[i], errs[i] = s.Advance(ctx, inbox, key, SyncState{State: fmt.Sprint(trial, "-", i), Window: windows[i]})
			})
		}
		ready.Wait()
		close(gate)
		wg.Wait()
		var winners []int
		for i, err := range errs {
			if err == nil {
				winners = append(winners, i)
			} else if !errors.Is(err, ErrRetryPrevious) {
				t.Fatalf("trial %d: request %d: %v", trial, i, err)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("trial %d: %d winners, want 1 (errs %v)", trial, len(winners), errs)
		}
		w := winners[0]
		var re *RetryError
		errors.As(errs[1-w], &re)
		if keys[1-w] != keys[w] || re.Resend.State != fmt.Sprint(trial, "-", w) || len(re.Resend.Window) != 1 ||
			re.Resend.Window[0].ItemID != windows[w][0].ItemID || re.Resend.Window[0].ServerID == "" {
			t.Fatalf("trial %d: loser resends %s %+v, want the winner's %s %+v", trial, keys[1-w], re.Resend, keys[w], windows[w])
		}
		// Only the winner's item was mapped.
		known, err := s.KnownIDs(ctx, inbox, []string{windows[0][0].ItemID, windows[1][0].ItemID})
		if err != nil {
			t.Fatal(err)
		}
		if known[w] == "" || known[1-w] != "" {
			t.Fatalf("trial %d: KnownIDs = %q, want only the winner's item", trial, known)
		}
		key = keys[w]
	}
}

// TestReplayPrevious checks the retry of a lost response: the previous
// key gives the same key and window again, as often as asked, until the
// client moves on; then the previous key no longer matches.
func TestReplayPrevious(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	_, k2 := start(t, s)
	win := []Change{{Op: OpAdd, ItemID: "m1"}, {Op: OpAdd, ItemID: "m2"}, {Op: OpChange, ServerID: "5:9", ItemID: "m9"}}
	k3, err := s.Advance(ctx, inbox, k2, SyncState{State: "s3", Window: win, More: true})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		got, err := s.Advance(ctx, inbox, k2, SyncState{State: "other", Window: []Change{{Op: OpAdd, ItemID: "x"}}})
		var re *RetryError
		if !errors.As(err, &re) || got != k3 {
			t.Fatalf("Advance(previous) = %s, %v, want %s and a RetryError", got, err, k3)
		}
		if !reflect.DeepEqual(re.Resend.Window, win) || !re.Resend.More || re.Resend.State != "s3" {
			t.Fatalf("resend = %+v, want %+v with More", re.Resend, win)
		}
		pos, err := s.Position(ctx, inbox, k2)
		if err != nil || !pos.Retry || pos.Key != k3 || !reflect.DeepEqual(pos.Window, win) {
			t.Fatalf("Position(previous) = %+v, %v", pos, err)
		}
	}
	if known, _ := s.KnownIDs(ctx, inbox, []string{"x"}); known[0] != "" {
		t.Errorf("a replay mapped the item of its own window: %q", known)
	}
	k4, err := s.Advance(ctx, inbox, k3, SyncState{State: "s4"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Advance(ctx, inbox, k2, SyncState{}); !errors.Is(err, ErrSyncKeyMismatch) {
		t.Errorf("Advance(two keys back) = %v, want ErrSyncKeyMismatch", err)
	}
	if _, err := s.Position(ctx, inbox, k3); err != nil {
		t.Errorf("Position(previous after moving on) = %v", err)
	}
	_ = k4
}

// TestExportImport moves a state to Badger and to the backend under test
// and back: every record arrives, the phones' keys work on the copy, and
// an import refuses a store that is not empty.
func TestExportImport(t *testing.T) {
	ctx := context.Background()
	src := newStore(t)
	folders := []string{"INBOX", "Sent"}
	items := []string{"m1", "m2", "m3"}
	for i := range 3 {
		if err := fillDevice(ctx, src, i, folders, items); err != nil {
			t.Fatal(err)
		}
	}
	a := Account{User: "user1@example.org", Device: "device-1"}
	if err := src.RequestWipe(ctx, a, WipeFull, "admin", t0); err != nil {
		t.Fatal(err)
	}
	ck := CollectionKey{Account: a, Collection: "1"}
	key, _, err := src.CurrentState(ctx, ck)
	if err != nil {
		t.Fatal(err)
	}
	var dump bytes.Buffer
	n, err := src.Export(ctx, &dump)
	if err != nil || n < 30 {
		t.Fatalf("Export = %d, %v", n, err)
	}
	badgerCopy, err := Open("", &Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer badgerCopy.Close()
	for _, dst := range []*Store{badgerCopy, newStore(t)} {
		got, err := dst.Import(ctx, bytes.NewReader(dump.Bytes()), nil)
		if err != nil || got != n {
			t.Fatalf("Import = %d, %v, want %d", got, err, n)
		}
		var again bytes.Buffer
		if _, err := dst.Export(ctx, &again); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again.Bytes(), dump.Bytes()) {
			t.Errorf("export of the copy differs from the original (%d and %d bytes)", again.Len(), dump.Len())
		}
		// The phone goes on with its key on the copy.
		next, err := dst.Advance(ctx, ck, key, SyncState{State: "s2", Window: []Change{{Op: OpAdd, ItemID: "m4"}}})
		if err != nil {
			t.Fatalf("Advance on the copy: %v", err)
		}
		if next == key {
			t.Error("Advance on the copy kept the key")
		}
		sid, err := dst.ServerIDs(ctx, ck, []string{"m1", "m4"})
		if err != nil || sid[0] != "1:1" || sid[1] != "1:4" {
			t.Errorf("ServerIDs on the copy = %q, %v, want 1:1 and 1:4 (the counter came along)", sid, err)
		}
		info, err := dst.Account(ctx, a)
		if err != nil || info.Wipe.State() != "pending" || info.Policy.State() != "acknowledged" {
			t.Errorf("Account on the copy = %+v, %v", info, err)
		}
		if _, err := dst.Import(ctx, bytes.NewReader(dump.Bytes()), nil); err == nil {
			t.Error("Import into a store that is not empty succeeded")
		}
		if _, err := dst.Import(ctx, bytes.NewReader(dump.Bytes()), &ImportOptions{Overwrite: true}); err != nil {
			t.Errorf("Import with Overwrite: %v", err)
		}
	}
	// A cut or damaged stream is refused before its end is trusted.
	for _, bad := range [][]byte{dump.Bytes()[:dump.Len()-1], append([]byte("x"), dump.Bytes()...), flip(dump.Bytes(), dump.Len()/2)} {
		dst, err := Open("", &Options{InMemory: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dst.Import(ctx, bytes.NewReader(bad), nil); !errors.Is(err, ErrBadExport) {
			t.Errorf("Import of a damaged stream: err = %v, want ErrBadExport", err)
		}
		dst.Close()
	}
}

func flip(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x40
	return b
}

// FuzzReadExport feeds the import decoder arbitrary streams: it must
// return, without a panic and without allocating past the stream.
func FuzzReadExport(f *testing.F) {
	s, err := Open("", &Options{InMemory: true})
	if err != nil {
		f.Fatal(err)
	}
	if err := fillDevice(context.Background(), s, 1, []string{"INBOX"}, []string{"m1"}); err != nil {
		f.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := s.Export(context.Background(), &b); err != nil {
		f.Fatal(err)
	}
	s.Close()
	f.Add(b.Bytes())
	f.Add([]byte(exportHeader))
	f.Add([]byte(exportHeader + "\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		err := readExport(bytes.NewReader(data), func(k, v []byte) error {
			if len(k) == 0 || len(k) > maxExportKey || len(v) > maxExportValue {
				t.Fatalf("record of %d and %d bytes", len(k), len(v))
			}
			n++
			return nil
		})
		if err != nil && !errors.Is(err, ErrBadExport) {
			t.Fatalf("err = %v, want ErrBadExport", err)
		}
	})
}
