package graph

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/easgate/easgate/internal/graphemu"
)

// countingObserver records what an Observer is told.
type countingObserver struct {
	mu        sync.Mutex
	codes     map[int]int
	throttled int
	waited    time.Duration
	tenants   map[string]bool
}

func (o *countingObserver) GraphRequest(tenant string, status int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.codes[status]++
	o.tenants[tenant] = true
}

func (o *countingObserver) GraphThrottled(tenant string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.throttled++
	o.tenants[tenant] = true
}

func (o *countingObserver) GraphWaited(tenant string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.waited += d
}

// TestObserver: a 429 with Retry-After is counted by tenant (the only
// label), its wait measured, and the mailbox that drew it leads
// Mailboxes.
func TestObserver(t *testing.T) {
	g, b := newBackend(t, graphemu.Options{}, Options{})
	o := &countingObserver{codes: make(map[int]int), tenants: make(map[string]bool)}
	b.SetObserver(o)
	ctx := context.Background()
	alice, bob := login(t, b, "alice"), login(t, b, "bob")
	if _, err := bob.Folders(ctx, ""); err != nil {
		t.Fatal(err)
	}
	g.Emu.InjectFailure(1, 429)
	if _, err := alice.Folders(ctx, ""); err != nil {
		t.Fatalf("Folders through a 429 = %v", err)
	}
	o.mu.Lock()
	// The first request of Folders is a $batch: its 429 is an inner one.
	if o.codes[200] == 0 || o.throttled != 1 || o.waited < 900*time.Millisecond || len(o.tenants) != 1 || !o.tenants[g.Tenant] {
		t.Errorf("observed codes %v, %d throttled, waited %v, tenants %v; want one 429 waited out (1 s), tenant %s",
			o.codes, o.throttled, o.waited, o.tenants, g.Tenant)
	}
	o.mu.Unlock()
	top := b.Mailboxes(1)
	if len(top) != 1 || top[0].Mailbox != "alice@example.com" || top[0].Throttled != 1 || top[0].Waited < 900*time.Millisecond {
		t.Errorf("Mailboxes(1) = %+v, want alice, throttled once", top)
	}
	if all := b.Mailboxes(0); len(all) < 2 {
		t.Errorf("Mailboxes(0) = %+v, want alice and bob at least", all)
	}
}
