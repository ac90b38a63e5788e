package gateway

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

// Helpers shared by the end-to-end tests against real stores
// (jmap_e2e_test.go, imapdav_e2e_test.go).

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
	for deadline := time.Now().Add(5 * time.Second); d.e.srv.waiters.count() == waiting; {
		if time.Now().After(deadline) {
			t.Fatalf("Ping at %s is not waiting after 5 s", d.v)
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
	case <-time.After(15 * time.Second):
		t.Fatalf("Ping at %s did not answer a change within 15 s", d.v)
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
