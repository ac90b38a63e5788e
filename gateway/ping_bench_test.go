package gateway

import (
	"context"
	"math"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/statecache"
)

// BenchmarkPingWake measures how long a parked Ping takes to answer a store
// change: from the store write to the response read by the client over
// loopback. It reports the median and 99th percentile.
func BenchmarkPingWake(b *testing.B) {
	// The same Ping again and again is what loop detection slows down.
	e := pingTestServer(b, Limits{LoopRepeats: math.MaxInt32})
	ids := e.pingSync(b, "alice", "dev1", "inbox")
	key := statecache.CollectionKey{Account: statecache.Account{User: "alice", Device: "dev1"}, Collection: ids["inbox"]}
	body := pingBody(b, 300, eas.PingFolder{ID: ids["inbox"], Class: "Email"})
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer c.CloseIdleConnections()
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		got := make(chan *eas.PingResponse, 1)
		go func() { got <- pingDo(b, c, e.pingRequest(b, "alice", "dev1", eas.V141, body)) }()
		e.pingWaiting(b, 1)
		time.Sleep(2 * time.Millisecond) // until Watch has begun
		b.StartTimer()
		start := time.Now()
		e.pingAddMail(b, "alice", "inbox")
		pr := <-got
		lat = append(lat, time.Since(start))
		b.StopTimer()
		if pr.Status != eas.PingStatusChanges {
			b.Fatalf("Ping status %d, want 2", pr.Status)
		}
		// Sync: the device now has the change.
		e.pingCaughtUp(b, key)
		b.StartTimer()
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// pingCaughtUp advances key to alice's Inbox as the store has it now, as
// the Sync that follows a Ping's answer does.
func (e *pingEnv) pingCaughtUp(b *testing.B, key statecache.CollectionKey) {
	ctx := context.Background()
	k, _, err := e.state.CurrentState(ctx, key)
	if err != nil {
		b.Fatal(err)
	}
	cur, err := e.store.User("alice").State(ctx, "inbox")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.state.Advance(ctx, key, k, statecache.SyncState{State: string(cur)}); err != nil {
		b.Fatal(err)
	}
}
