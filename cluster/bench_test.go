package cluster

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
)

// BenchmarkPingHandover measures the cross-node hand-over of a waiting
// Ping: a phone's Ping waits on one node, the phone sends its next Ping,
// which the balancer gives to the other node, and the first Ping must
// answer at once (its node learns of the new request by a PostgreSQL
// NOTIFY). The latency is from sending the new Ping to receiving the old
// one's answer, as the phone sees it, through HAProxy; p50 and p99 are
// reported. One benchmark run starts the whole cluster (PostgreSQL,
// Dovecot, Radicale, two easgate processes, HAProxy):
//
//	go test ./cluster -run '^$' -bench PingHandover -benchtime 500x
func BenchmarkPingHandover(b *testing.B) {
	// The same Ping again and again is what a looping device sends:
	// the loop brake must not delay this one.
	e := newEnv(b, shared.Get(b).Database(b), 2, "[limits]\nloop_repeats = 1000000")
	p := e.phone("alice", "handover", "16.1")
	p.folderSync()
	var resp eas.SyncResponse
	p.do("Sync", syncReq(p.inbox, "0", 0), &resp)
	p.inboxSync(collection(b, &resp).SyncKey, 100)
	body, err := eas.Marshal(&eas.PingRequest{HeartbeatInterval: 600, Folders: &eas.PingFolders{Folder: []eas.PingFolder{{ID: p.inbox, Class: "Email"}}}})
	if err != nil {
		b.Fatal(err)
	}
	// ping sends a Ping and reports when its answer arrived.
	ping := func() <-chan time.Time {
		ch := make(chan time.Time, 1)
		go func() {
			code, _, b2, err := p.post(context.Background(), "Ping", body, "")
			at := time.Now()
			var pr eas.PingResponse
			if err != nil || code != http.StatusOK || eas.Unmarshal(b2, &pr, nil) != nil || pr.Status != eas.PingStatusExpired {
				b.Errorf("a superseded Ping: HTTP %d, %v, %+v", code, err, pr)
			}
			ch <- at
		}()
		return ch
	}
	prev := ping()
	var lat []time.Duration
	for b.Loop() {
		b.StopTimer()
		waitParked(b, e, 1)
		b.StartTimer()
		t0 := time.Now()
		next := ping()
		select {
		case at := <-prev:
			lat = append(lat, at.Sub(t0))
		case <-time.After(30 * time.Second):
			b.Fatal("a Ping parked on the other node did not answer within 30 s")
		}
		prev = next
	}
	slices.Sort(lat)
	pct := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	served := map[string]int{}
	p.mu.Lock()
	for _, s := range p.served {
		served[s]++
	}
	p.mu.Unlock()
	b.Logf("%d hand-overs; requests per node %v", len(lat), served)
	// The last Ping still waits: end it with the device's next request,
	// once it is parked (a request that overtakes a Ping still starting
	// on another node is not seen by it).
	waitParked(b, e, 1)
	p.post(context.Background(), "Sync", nil, "")
	<-prev
}
