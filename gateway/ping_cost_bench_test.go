package gateway

import (
	"math"
	"net/http"
	"testing"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/statecache"
)

// BenchmarkPingCost measures a whole Ping with -benchmem (issue 14's fixed
// cost per Ping): the request over loopback, its parse, the park, the
// wake-up by a new mail in the memory store and the answer read by the
// client. Only the device's catch-up Sync between iterations is left out.
// Allocations include the benchmark's HTTP client.
func BenchmarkPingCost(b *testing.B) {
	// The same Ping again and again is what loop detection slows down.
	e := pingTestServer(b, Limits{LoopRepeats: math.MaxInt32})
	ids := e.pingSync(b, "alice", "dev1", "inbox")
	key := statecache.CollectionKey{Account: statecache.Account{User: "alice", Device: "dev1"}, Collection: ids["inbox"]}
	body := pingBody(b, 300, eas.PingFolder{ID: ids["inbox"], Class: "Email"})
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer c.CloseIdleConnections()
	b.ReportAllocs()
	for b.Loop() {
		got := make(chan *eas.PingResponse, 1)
		go func() { got <- pingDo(b, c, e.pingRequest(b, "alice", "dev1", eas.V141, body)) }()
		e.pingWaiting(b, 1)
		e.pingAddMail(b, "alice", "inbox")
		pr := <-got
		b.StopTimer()
		if pr.Status != eas.PingStatusChanges {
			b.Fatalf("Ping status %d, want 2", pr.Status)
		}
		e.pingCaughtUp(b, key)
		b.StartTimer()
	}
}
