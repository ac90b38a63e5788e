package gateway

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/internal/testserver"
)

// BenchmarkIMAPPushLatency measures push through the gateway from a real
// Dovecot (issue 6): from an IMAP APPEND to alice's INBOX on a connection
// of its own to the Ping response read by the phone over loopback. The
// gateway waits in IMAP IDLE; Dovecot wakes IDLE about 0.5 s after a
// change (inotify plus its notify delay). The floor is a p99 under 1 s.
// Run with -benchtime 20x or more.
func BenchmarkIMAPPushLatency(b *testing.B) {
	e := imapE2EServer(b, "")
	user, pw := convUser, testserver.Users[convUser]
	post := func(cmd string, req, resp any) {
		body, err := eas.Marshal(req)
		if err != nil {
			b.Fatal(err)
		}
		code, out := imapE2EPost(b, e, user, pw, cmd, body)
		if code != http.StatusOK {
			b.Fatalf("%s = HTTP %d", cmd, code)
		}
		if err := eas.Unmarshal(out, resp, nil); err != nil {
			b.Fatalf("%s: %v", cmd, err)
		}
	}
	var fs eas.FolderSyncResponse
	post("FolderSync", &eas.FolderSyncRequest{SyncKey: "0"}, &fs)
	inbox := ""
	for _, f := range fs.Changes.Add {
		if f.Type == eas.FolderTypeInbox {
			inbox = f.ServerID
		}
	}
	key := "0"
	// catchUp syncs the Inbox to Dovecot's present state.
	catchUp := func() {
		for more := true; more; {
			var resp eas.SyncResponse
			post("Sync", &eas.SyncRequest{Collections: &eas.SyncCollections{Collection: []eas.SyncCollection{
				{SyncKey: key, CollectionID: inbox, WindowSize: 100}}}}, &resp)
			c := resp.Collections.Collection[0]
			if c.Status != eas.SyncStatusSuccess {
				b.Fatalf("Sync = %+v", c)
			}
			key, more = c.SyncKey, c.MoreAvailable || key == "0"
		}
	}
	catchUp()
	ping, err := eas.Marshal(&eas.PingRequest{HeartbeatInterval: 60, Folders: &eas.PingFolders{Folder: []eas.PingFolder{{ID: inbox, Class: "Email"}}}})
	if err != nil {
		b.Fatal(err)
	}
	// The appending connection is opened once, so that the figure is the
	// APPEND and the push, not a login.
	c, err := imapclient.DialInsecure(e.dc.IMAP, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pw).Wait(); err != nil {
		b.Fatal(err)
	}

	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		got := make(chan eas.PingResponse, 1)
		go func() {
			var resp eas.PingResponse
			code, body := imapE2EPost(b, e, user, pw, "Ping", ping)
			if code != http.StatusOK || eas.Unmarshal(body, &resp, nil) != nil {
				b.Errorf("Ping = HTTP %d, % x", code, body)
			}
			got <- resp
		}()
		for deadline := time.Now().Add(5 * time.Second); e.srv.waiters.count() == 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatal("Ping is not waiting after 5 s")
			}
		}
		// Past Ping's one recheck of the states only push can answer; a
		// random delay keeps the loop off any polling phase.
		time.Sleep(pingRecheck + 50*time.Millisecond + time.Duration(rand.Int64N(int64(300*time.Millisecond))))
		b.StartTimer()
		start := time.Now()
		imapE2EAppendOn(b, c, "INBOX", imapE2EMail("Push "+time.Now().String(), "ping me"))
		var resp eas.PingResponse
		select {
		case resp = <-got:
		case <-time.After(15 * time.Second):
			b.Fatalf("Ping did not answer APPEND %d within 15 s", i)
		}
		lat = append(lat, time.Since(start))
		b.StopTimer()
		if resp.Status != eas.PingStatusChanges {
			b.Fatalf("Ping status %d after APPEND %d, want 2", resp.Status, i)
		}
		catchUp()
		b.StartTimer()
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0), "min-ms")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
	if p99 := pct(0.99); p99 >= 1000 {
		b.Errorf("push latency p99 %.0f ms, want under 1 s", p99)
	}
}
