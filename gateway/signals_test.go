package gateway

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources/memory"
	"github.com/easgate/easgate/statecache"
)

// twoNodes are two Servers in one process sharing one state store, one
// mail store and a LocalBus, as two nodes share PostgreSQL; their
// account locks are one in-process lock, as PostgreSQL's would be one.
func twoNodes(t *testing.T) (a, b *pingEnv) {
	t.Helper()
	st, err := statecache.Open("", &statecache.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	store := memory.New(nil)
	bus, locks := &LocalBus{}, &sharedLocks{}
	node := func() *pingEnv {
		return startPingEnv(t, store, st, &Options{Limits: Limits{MinHeartbeat: time.Second}, Bus: bus, Locks: locks})
	}
	return node(), node()
}

// sharedLocks is an AccountLocker in one process, shared by several
// Servers.
type sharedLocks struct{ l accountLocks }

func (s *sharedLocks) LockAccount(_ context.Context, key string) (func(), error) {
	return s.l.lock(statecache.Account{User: key}), nil
}

// answered waits for a Ping's answer.
func answered(t *testing.T, ch <-chan *eas.PingResponse, what string) *eas.PingResponse {
	t.Helper()
	select {
	case pr := <-ch:
		return pr
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no answer within 10 s", what)
		return nil
	}
}

// TestSignalsAcrossNodes checks what one node's waits learn from the
// other: a new Ping of the device on node b ends its Ping parked on node
// a, and repeats, without parameters, those given on a; an
// administrator's action on a reaches the Ping parked on b.
func TestSignalsAcrossNodes(t *testing.T) {
	a, b := twoNodes(t)
	ids := a.pingSync(t, "alice", "dev1", "inbox")
	body := pingBody(t, 300, eas.PingFolder{ID: ids["inbox"], Class: "Email"})
	ping := func(e *pingEnv, body []byte) <-chan *eas.PingResponse {
		ch := make(chan *eas.PingResponse, 1)
		go func() { ch <- pingDo(t, http.DefaultClient, e.pingRequest(t, "alice", "dev1", eas.V161, body)) }()
		return ch
	}

	first := ping(a, body)
	a.pingWaiting(t, 1)
	second := ping(b, nil)
	if pr := answered(t, first, "the Ping on node a superseded on node b"); pr.Status != eas.PingStatusExpired {
		t.Errorf("superseded Ping = %+v, want status %d", pr, eas.PingStatusExpired)
	}
	b.pingWaiting(t, 1)
	a.pingWaiting(t, 0)

	third := ping(a, nil)
	answered(t, second, "the Ping on node b superseded on node a")
	a.pingWaiting(t, 1)
	a.pingAddMail(t, "alice", "inbox")
	if pr := answered(t, third, "the repeated Ping"); pr.Status != eas.PingStatusChanges {
		t.Errorf("repeated Ping on the other node = %+v, want changes (status %d)", pr, eas.PingStatusChanges)
	}

	// A resync requested on node a reaches the Ping parked on node b.
	b.pingSync(t, "alice", "dev1", "inbox")
	fourth := ping(b, body)
	b.pingWaiting(t, 1)
	if _, err := a.s.DeviceAction(context.Background(), "dev1", "resync", ActionRequest{}); err != nil {
		t.Fatal(err)
	}
	if pr := answered(t, fourth, "the Ping on node b after a resync on node a"); pr.Status == eas.PingStatusExpired {
		t.Errorf("Ping after a resync on the other node = %+v, want the device sent to resync", pr)
	}
}

// lossyBus is a Bus that reports a loss when told to.
type lossyBus struct{ lose chan struct{} }

func (lossyBus) Publish(context.Context, string) error { return nil }

func (b lossyBus) Subscribe(ctx context.Context, _ func(string), lost func()) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-b.lose:
			lost()
		}
	}
}

// TestSignalsLost checks that a node whose bus may have lost signals ends
// its waits: their phones ask again, and the next request reads whatever
// a lost signal said from the shared state.
func TestSignalsLost(t *testing.T) {
	e := pingTestServer(t, Limits{})
	bus := lossyBus{lose: make(chan struct{})}
	e.s.signals.bus = bus
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.s.subscribe(ctx)
	ids := e.pingSync(t, "alice", "dev1", "inbox")
	ch := make(chan *eas.PingResponse, 1)
	go func() {
		ch <- pingDo(t, http.DefaultClient, e.pingRequest(t, "alice", "dev1", eas.V161, pingBody(t, 300, eas.PingFolder{ID: ids["inbox"], Class: "Email"})))
	}()
	e.pingWaiting(t, 1)
	bus.lose <- struct{}{}
	if pr := answered(t, ch, "a Ping on a node that lost signals"); pr.Status != eas.PingStatusExpired {
		t.Errorf("Ping after lost signals = %+v, want status %d", pr, eas.PingStatusExpired)
	}
}
