package statecache

import (
	"context"
	"testing"
	"time"
)

func TestPendingWipes(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	now := time.Now()
	accounts := []Account{{"anna", "d1"}, {"anna", "d2"}, {"bob", "d3"}}
	for _, a := range accounts {
		if err := s.Seen(ctx, a, Visit{Type: "Phone", At: now}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(want int) {
		t.Helper()
		if n, err := s.PendingWipes(ctx); err != nil || n != want {
			t.Errorf("PendingWipes = %d, %v; want %d", n, err, want)
		}
	}
	count(0)
	for _, a := range accounts[:2] {
		if err := s.RequestWipe(ctx, a, WipeFull, "admin", now); err != nil {
			t.Fatal(err)
		}
	}
	count(2)
	if err := s.AcknowledgeWipe(ctx, accounts[0], now); err != nil {
		t.Fatal(err)
	}
	count(1)
	if err := s.CancelWipe(ctx, accounts[1]); err != nil {
		t.Fatal(err)
	}
	count(0)
}
