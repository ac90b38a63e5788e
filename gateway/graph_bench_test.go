package gateway

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/internal/graphemu"
	"github.com/easgate/easgate/sources/graph"
)

// graphE2EPost sends body as cmd for device at 16.1 and returns the HTTP
// status and body.
func graphE2EPost(tb testing.TB, e *graphE2EEnv, device, cmd string, body []byte) (int, []byte) {
	tb.Helper()
	r, err := http.NewRequest("POST", e.ts.URL+Path+"?Cmd="+cmd+"&User="+convUser+"&DeviceId="+device+"&DeviceType=BenchPhone", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	r.SetBasicAuth(convUser, convPassword)
	r.Header.Set("MS-ASProtocolVersion", "16.1")
	r.Header.Set("Content-Type", wbxmlType)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// graphBenchInbox runs FolderSync 0 for device and returns the Inbox's
// CollectionId.
func graphBenchInbox(b *testing.B, e *graphE2EEnv, device string) string {
	body, _ := eas.Marshal(&eas.FolderSyncRequest{SyncKey: "0"})
	code, out := graphE2EPost(b, e, device, "FolderSync", body)
	var fs eas.FolderSyncResponse
	if err := eas.Unmarshal(out, &fs, nil); code != 200 || err != nil || fs.Changes == nil {
		b.Fatalf("FolderSync = HTTP %d, %v", code, err)
	}
	for _, f := range fs.Changes.Add {
		if f.Type == eas.FolderTypeInbox {
			return f.ServerID
		}
	}
	b.Fatal("no Inbox")
	return ""
}

// BenchmarkGraphInitialSync5000 measures a new phone's first Sync of an
// Inbox of 5,000 mails (HTML of about 6 KB, cut at 5 KB) through easgate
// to the Graph emulator over loopback: windows of 100, each one delta
// answer from the mailbox's journal and a $batch of 20 message GETs per
// 20 mails. The first phone also pays for the journal's first delta
// round, logged as the cold pass; the timed loop is later phones of the
// same mailbox. It reports msgs/s, Graph requests per 100 mails (what
// Graph's throttling counts: each request of a $batch) and HTTP round
// trips per 100 mails. Both budgets are lifted: one phone's first sync
// of 5,000 mails spends half of Graph's 10,000 requests per 10 minutes.
func BenchmarkGraphInitialSync5000(b *testing.B) {
	const n, window = 5000, 100
	e := graphE2EServer(b, graphemu.Options{Budget: 1 << 30}, graph.Options{Budget: 1 << 30})
	for i := range n {
		if _, err := e.g.Emu.DeliverMail(e.upn, "inbox", syncBenchMail(i, true)); err != nil {
			b.Fatal(err)
		}
	}
	trunc := uint32(5120)
	opts := []eas.SyncOptions{{BodyPreference: []eas.BodyPreference{{Type: int(eas.BodyHTML), TruncationSize: &trunc}}}}
	sync := func(device, inbox string) int {
		post := func(c eas.SyncCollection) eas.SyncResponseCollection {
			body, _ := eas.Marshal(&eas.SyncRequest{Collections: &eas.SyncCollections{Collection: []eas.SyncCollection{c}}})
			code, out := graphE2EPost(b, e, device, "Sync", body)
			r, err := syncBenchOne(out)
			if code != 200 || err != nil {
				b.Fatalf("Sync = HTTP %d, %v", code, err)
			}
			return r
		}
		key, got := post(eas.SyncCollection{SyncKey: "0", CollectionID: inbox}).SyncKey, 0
		for {
			c := post(eas.SyncCollection{SyncKey: key, CollectionID: inbox, WindowSize: window, Options: opts})
			if c.Commands != nil {
				got += len(c.Commands.Add)
			}
			key = c.SyncKey
			if !c.MoreAvailable {
				return got
			}
		}
	}
	inbox := graphBenchInbox(b, e, "graphcold")
	before, trips, start := e.g.Emu.Requests(), e.g.Emu.RoundTrips(), time.Now()
	if got := sync("graphcold", inbox); got != n {
		b.Fatalf("the cold pass synced %d mails, want %d", got, n)
	}
	cold := time.Since(start)
	b.Logf("cold pass: %d mails in %v (%.0f msgs/s), %.1f Graph requests and %.1f round trips per 100 mails", n, cold.Round(time.Millisecond),
		n/cold.Seconds(), float64(e.g.Emu.Requests()-before)/(n/100), float64(e.g.Emu.RoundTrips()-trips)/(n/100))
	msgs, reqs, rts := 0, 0, 0
	var elapsed time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		device := fmt.Sprintf("graphbench%d", i)
		inbox := graphBenchInbox(b, e, device)
		before, trips := e.g.Emu.Requests(), e.g.Emu.RoundTrips()
		b.StartTimer()
		start := time.Now()
		msgs += sync(device, inbox)
		elapsed += time.Since(start)
		reqs += e.g.Emu.Requests() - before
		rts += e.g.Emu.RoundTrips() - trips
	}
	b.ReportMetric(float64(msgs)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(reqs)/(float64(msgs)/100), "requests/100msgs")
	b.ReportMetric(float64(rts)/(float64(msgs)/100), "roundtrips/100msgs")
}

// BenchmarkGraphPushLatency measures push with webhooks on: from a
// delivery in the emulator, which posts the change notification to
// easgate's webhook, to the Ping answer read by the phone. Polling is an
// hour apart, so only the notification can wake the Ping; the figure is
// what easgate adds to Graph's own notification latency (under a minute
// on average, documented). Run with -benchtime 20x or more.
func BenchmarkGraphPushLatency(b *testing.B) {
	hook := httptest.NewUnstartedServer(nil)
	e := graphE2EServer(b, graphemu.Options{}, graph.Options{PollInterval: time.Hour, MaxPollInterval: time.Hour,
		NotificationURL: "http://" + hook.Listener.Addr().String() + "/graph/notify"})
	hook.Config.Handler = e.b.NotificationHandler()
	hook.Start()
	defer hook.Close()
	send := func(cmd string, body []byte) (int, []byte) { return graphE2EPost(b, e, "graphpush", cmd, body) }
	e2ePushBench(b, e.srv, send, 100*time.Millisecond, func() {
		if _, err := e.g.Emu.DeliverMail(e.upn, "inbox", graphE2EMail("Push "+time.Now().String(), "ping me")); err != nil {
			b.Fatal(err)
		}
	})
}
