package gateway

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

// Helpers shared by the end-to-end tests and push benchmarks against real
// stores (jmap_*_test.go, imapdav_*_test.go).

// e2eBackend gives the conversation helpers' fixed convPassword the
// user's real password on the test servers, so that convDevice and
// convSyncAll drive these conversations unchanged. Any other password
// goes to the store as it is.
type e2eBackend struct{ Backend }

func (b e2eBackend) Login(ctx context.Context, user, password string) (sources.Source, error) {
	if password == convPassword {
		password = testserver.Users[user]
	}
	return b.Backend.Login(ctx, user, password)
}

// e2ePushBench measures push through srv. The phone (send posts one EAS
// command at its version) syncs its Inbox; then each iteration parks a
// Ping on it, waits past Ping's own recheck of the states plus a random
// part of jitter (so that the loop does not lock onto a store's polling
// phase), calls change, which returns once the store holds a new message,
// and times the Ping's answer. It reports min, p50, p99 and max in ms; the
// floor is read from the report, not asserted.
func e2ePushBench(b *testing.B, srv *Server, send func(cmd string, body []byte) (int, []byte), jitter time.Duration, change func()) {
	post := func(cmd string, req, resp any) {
		body, err := eas.Marshal(req)
		if err != nil {
			b.Fatal(err)
		}
		code, out := send(cmd, body)
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
	// catchUp syncs the Inbox to the store's present state.
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
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		got := make(chan eas.PingResponse, 1)
		go func() {
			var resp eas.PingResponse
			code, body := send("Ping", ping)
			if code != http.StatusOK || eas.Unmarshal(body, &resp, nil) != nil {
				b.Errorf("Ping = HTTP %d, % x", code, body)
			}
			got <- resp
		}()
		for deadline := time.Now().Add(5 * time.Second); srv.waiters.count() == 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatal("Ping is not waiting after 5 s")
			}
		}
		time.Sleep(pingRecheck + 50*time.Millisecond + time.Duration(rand.Int64N(int64(jitter))))
		b.StartTimer()
		change()
		changed := time.Now()
		var resp eas.PingResponse
		select {
		case resp = <-got:
		case <-time.After(15 * time.Second):
			b.Fatalf("Ping did not answer change %d within 15 s", i)
		}
		lat = append(lat, time.Since(changed))
		b.StopTimer()
		if resp.Status != eas.PingStatusChanges {
			b.Fatalf("Ping status %d after change %d, want 2", resp.Status, i)
		}
		catchUp()
		b.StartTimer()
	}
	reportLatency(b, lat)
}

// reportLatency reports the minimum, median, 99th percentile and maximum
// of lat, in milliseconds.
func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0), "min-ms")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
}

// e2eItem returns the item the device knows as sid in f, read from the
// store through src, or nil if it is not there.
func e2eItem(t *testing.T, state *statecache.Store, src sources.Source, d *convDevice, f *convFolder, sid string) *sources.Item {
	t.Helper()
	ctx := context.Background()
	id, err := state.MapID(ctx, statecache.CollectionKey{Account: d.account(), Collection: f.cid}, sid)
	if err != nil {
		t.Errorf("MapID(%s, %s): %v", f.cid, sid, err)
		return nil
	}
	items, err := src.Get(ctx, f.id, []sources.ItemID{sources.ItemID(id)}, nil)
	if err != nil || len(items) != 1 {
		return nil
	}
	return &items[0]
}

// e2ePing sends a Ping on folders, makes change once the gateway
// waits on the store's push (past Ping's own recheck), and returns the folders the answer names and the time from
// change to answer.
func e2ePing(t *testing.T, d *convDevice, change func(), folders ...*convFolder) ([]string, time.Duration) {
	t.Helper()
	var pf []eas.PingFolder
	for _, f := range folders {
		pf = append(pf, eas.PingFolder{ID: f.cid, Class: f.class})
	}
	body := mustMarshal(t, &eas.PingRequest{HeartbeatInterval: 60, Folders: &eas.PingFolders{Folder: pf}})
	type answer struct {
		code int
		body []byte
		err  error
		at   time.Time
	}
	done := make(chan answer, 1)
	waiting := d.e.srv.waiters.count()
	go func() {
		code, b, err := d.send("Ping", body)
		done <- answer{code, b, err, time.Now()}
	}()
	for deadline := time.Now().Add(20 * time.Second); d.e.srv.waiters.count() == waiting; {
		if time.Now().After(deadline) {
			t.Fatalf("Ping at %s is not waiting after 20 s", d.v)
		}
		time.Sleep(time.Millisecond)
	}
	// Past Ping's one recheck of the states, only push wakes it.
	time.Sleep(pingRecheck + 100*time.Millisecond)
	start := time.Now()
	change()
	select {
	case a := <-done:
		var resp eas.PingResponse
		if a.err != nil || a.code != http.StatusOK {
			t.Fatalf("Ping at %s = HTTP %d, %v", d.v, a.code, a.err)
		}
		if err := eas.Unmarshal(a.body, &resp, nil); err != nil {
			t.Fatalf("decoding the Ping response % x: %v", a.body, err)
		}
		if resp.Status != eas.PingStatusChanges || resp.Folders == nil {
			t.Fatalf("Ping at %s = %+v, want status 2", d.v, resp)
		}
		return resp.Folders.Folder, a.at.Sub(start)
	case <-time.After(45 * time.Second):
		// Above Dovecot's 30 s fallback check (an IDLE past the inotify
		// limit of a busy machine), below the 60 s heartbeat.
		t.Fatalf("Ping at %s did not answer a change within 45 s", d.v)
		return nil, 0
	}
}

// e2eSink waits up to 5 s for a message with subject in the SMTP
// sink.
func e2eSink(t *testing.T, dir, subject string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte("Subject: "+subject)) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("no message %q in the SMTP sink %s after 5 s (%d files)", subject, dir, len(files))
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
