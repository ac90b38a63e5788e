package statecache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

func TestRememberRequest(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	a := Account{User: "alice", Device: "dev1"}
	if _, err := s.LastRequest(ctx, a, "Sync"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LastRequest before any = %v, want ErrNotFound", err)
	}
	for _, body := range [][]byte{[]byte("first"), []byte("second"), []byte("second"), {}} {
		if err := s.RememberRequest(ctx, a, "Sync", body); err != nil {
			t.Fatal(err)
		}
		got, err := s.LastRequest(ctx, a, "Sync")
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("LastRequest after remembering %q = %q, %v", body, got, err)
		}
	}
	// Commands and accounts are apart.
	if err := s.RememberRequest(ctx, a, "Ping", []byte("ping")); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.LastRequest(ctx, a, "Sync"); len(got) != 0 {
		t.Errorf("Sync after remembering a Ping = %q, want the empty Sync", got)
	}
	if _, err := s.LastRequest(ctx, Account{User: "alice", Device: "dev2"}, "Ping"); !errors.Is(err, ErrNotFound) {
		t.Errorf("another device's Ping = %v, want ErrNotFound", err)
	}
	// Too large: forgotten, not kept.
	if err := s.RememberRequest(ctx, a, "Ping", make([]byte, MaxRequestSize+1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LastRequest(ctx, a, "Ping"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LastRequest after an oversized one = %v, want ErrNotFound", err)
	}
	// They go with the account.
	if err := s.Seen(ctx, a, Visit{At: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LastRequest(ctx, a, "Sync"); !errors.Is(err, ErrNotFound) {
		t.Errorf("LastRequest after DeleteAccount = %v, want ErrNotFound", err)
	}
}

func TestSubmit(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	a := Account{User: "alice", Device: "dev1"}
	submit := func(id string) bool {
		t.Helper()
		first, err := s.Submit(ctx, a, id)
		if err != nil {
			t.Fatal(err)
		}
		return first
	}
	if !submit("m1") || submit("m1") {
		t.Fatal("Submit m1 twice: want true then false")
	}
	if first, _ := s.Submit(ctx, Account{User: "alice", Device: "dev2"}, "m1"); !first {
		t.Error("m1 on another device counts as a resend")
	}
	if err := s.Unsubmit(ctx, a, "m1"); err != nil {
		t.Fatal(err)
	}
	if !submit("m1") {
		t.Error("m1 after Unsubmit counts as a resend")
	}
	// Bounded: the oldest ids go.
	for i := range SubmittedMemory {
		submit(fmt.Sprint("n", i))
	}
	if !submit("m1") {
		t.Errorf("m1 still remembered after %d newer ids", SubmittedMemory)
	}
	if submit(fmt.Sprint("n", SubmittedMemory-1)) {
		t.Error("the newest id forgotten")
	}

	// Concurrent submissions of one id, as from two nodes: one winner.
	for trial := range 20 {
		id := fmt.Sprint("race", trial)
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				first, err := s.Submit(ctx, a, id)
				if err != nil {
					t.Error(err)
				}
				if first {
					mu.Lock()
					wins++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("trial %d: %d of 4 concurrent Submits won, want 1", trial, wins)
		}
	}
}
