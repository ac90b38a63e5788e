package cluster

import (
	"context"
	"net/http"
	"testing"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/internal/testserver"
)

// retryable reports whether a phone would simply try again later: the
// balancer's or the node's 5xx, or a Sync or common status that says so.
// Anything else (an invalid sync key, a hierarchy reset, 401) would make
// the phone resync or ask for a password, which a database outage must
// never cause.
func retryable(code int, body []byte) bool {
	if code >= 500 {
		return true
	}
	if code != http.StatusOK {
		return false
	}
	var resp eas.SyncResponse
	if err := eas.Unmarshal(body, &resp, nil); err != nil {
		return false
	}
	switch {
	case resp.Status == eas.SyncStatusServerError || resp.Status == eas.SyncStatus(eas.StatusServerErrorRetryLater):
		return true
	case resp.Collections != nil && len(resp.Collections.Collection) == 1:
		return resp.Collections.Collection[0].Status == eas.SyncStatusServerError
	}
	return false
}

// TestPostgresRestart stops PostgreSQL under a conversation through two
// nodes: while it is down every Sync is answered with a status a phone
// retries; once it is back, the phone continues with the key it held,
// receives what arrived meanwhile exactly once, and nothing else changed.
func TestPostgresRestart(t *testing.T) {
	pg := testserver.StartPostgres(t)
	e := newEnv(t, pg.URL, 2)
	testserver.Deliver(t, e.dc.LMTP, "alice", mail("before", "before"))
	p := e.phone("alice", "restart", "14.1")
	p.folderSync()
	var resp eas.SyncResponse
	p.do("Sync", syncReq(p.inbox, "0", 0), &resp)
	key, got := p.inboxSync(collection(t, &resp).SyncKey, 100)
	checkOnce(t, got, map[string]bool{"<before@cluster.test>": true})

	pg.Stop(t)
	testserver.Deliver(t, e.dc.LMTP, "alice", mail("during", "during"))
	body, err := eas.Marshal(syncReq(p.inbox, key, 100))
	if err != nil {
		t.Fatal(err)
	}
	// Both nodes, twice each.
	for range 4 {
		code, by, b, err := p.post(context.Background(), "Sync", body, "")
		if err != nil {
			t.Fatalf("Sync while the database is down: %v", err)
		}
		if !retryable(code, b) {
			t.Fatalf("Sync on %s while the database is down: HTTP %d % x; want a status the phone retries", by, code, b)
		}
		t.Logf("Sync on %s while the database is down: HTTP %d, %d bytes", by, code, len(b))
	}

	pg.Start(t)
	// The nodes reconnect by themselves; the phone retries with its key.
	c, failed := p.retrySync(key, 100)
	t.Logf("the Sync after the restart was answered after %d more retries", failed)
	got = items(t, c)
	key = c.SyncKey
	for c.MoreAvailable {
		c, _ = p.retrySync(key, 100)
		got, key = append(got, items(t, c)...), c.SyncKey
	}
	checkOnce(t, got, map[string]bool{"<during@cluster.test>": true})

	// The state went on: the next key works on both nodes, and an
	// unchanged folder has nothing.
	for range 2 {
		k, more := p.inboxSync(key, 100)
		if len(more) != 0 {
			t.Errorf("Sync after catching up = %v, want nothing", more)
		}
		key = k
	}
}
