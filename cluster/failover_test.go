package cluster

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/internal/testserver"
)

// retrySync sends one Sync page as a phone does: a failed exchange (a
// connection cut, a 5xx from the balancer, a retry status) is sent again,
// with the same key, until it is answered. It returns the collection and
// how many attempts failed.
func (p *phone) retrySync(key string, window int) (*eas.SyncResponseCollection, int) {
	p.t.Helper()
	body, err := eas.Marshal(syncReq(p.inbox, key, window))
	if err != nil {
		p.t.Fatal(err)
	}
	failed := 0
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		code, _, b, err := p.post(context.Background(), "Sync", body, "")
		if err == nil && code == http.StatusOK {
			var resp eas.SyncResponse
			if err := eas.Unmarshal(b, &resp, nil); err != nil {
				p.t.Fatalf("Sync %s: % x: %v", key, b, err)
			}
			// A failure before the collection is reached (the state
			// store still reconnecting) is a top-level status the phone
			// retries, as retryable() takes it.
			if resp.Collections != nil || !retryable(code, b) {
				switch c := collection(p.t, &resp); c.Status {
				case eas.SyncStatusSuccess:
					return c, failed
				case eas.SyncStatusServerError:
					// retry
				default:
					p.t.Fatalf("Sync %s after a failure: status %d", key, c.Status)
				}
			}
		} else if err == nil && code < 500 {
			p.t.Fatalf("Sync %s: HTTP %d: %s", key, code, b)
		}
		failed++
		time.Sleep(100 * time.Millisecond) // a phone's back-off, shortened
	}
	p.t.Fatalf("Sync %s not answered within 2 minutes", key)
	return nil, failed
}

// bulkDeliver puts msgs into user's INBOX as Dovecot's own delivery
// would, but as files in the Maildir's new/ (which Dovecot takes in at the
// next look): LMTP costs tens of milliseconds a message on a busy machine,
// and the test needs thousands.
func bulkDeliver(t testing.TB, dc *testserver.Dovecot, user string, msgs [][]byte) {
	t.Helper()
	// One real delivery makes the Maildir.
	testserver.Deliver(t, dc.LMTP, user, msgs[0])
	dir := filepath.Join(dc.Dir, "mail", user, "Maildir")
	fi, err := os.Stat(filepath.Join(dir, "new"))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	for i, m := range msgs[1:] {
		name := fmt.Sprintf("%d.M%dP%d.cluster-test", time.Now().Unix(), i, os.Getpid())
		tmp := filepath.Join(dir, "tmp", name)
		if err := os.WriteFile(tmp, bytes.ReplaceAll(m, []byte("\r\n"), []byte("\n")), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(tmp, int(st.Uid), int(st.Gid)); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "new", name)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestKillNode kills one of two nodes with SIGKILL while a phone pages
// through an initial Sync of 2,000 mails, and while other phones wait in
// Pings on both nodes. The phone continues on the survivor with nothing
// lost and nothing twice (by ServerId and by Message-ID); the phones that
// waited on the dead node ask again and are served by the survivor.
func TestKillNode(t *testing.T) {
	e := newEnv(t, shared.Get(t).Database(t), 2)
	const total = 2000
	want := make(map[string]bool, total)
	t0 := time.Now()
	var msgs [][]byte
	for i := range total {
		id := fmt.Sprintf("bulk-%04d", i)
		msgs = append(msgs, mail(id, id))
		want["<"+id+"@cluster.test>"] = true
	}
	bulkDeliver(t, e.dc, "alice", msgs)
	t.Logf("delivered %d mails in %v", total, time.Since(t0).Round(time.Millisecond))

	// Phones of bob wait in Pings, spread over both nodes.
	const waiting = 4
	type waiter struct {
		p    *phone
		done chan *eas.PingResponse
	}
	var ws []waiter
	for i := range waiting {
		p := e.phone("bob", fmt.Sprintf("waiter%d", i), "14.1")
		p.folderSync()
		var resp eas.SyncResponse
		p.do("Sync", syncReq(p.inbox, "0", 0), &resp)
		p.inboxSync(collection(t, &resp).SyncKey, 100)
		ws = append(ws, waiter{p: p, done: make(chan *eas.PingResponse, 1)})
	}
	var wg sync.WaitGroup
	// ping waits as a phone does: a Ping cut by the node's death is sent
	// again, and lands on the survivor.
	for _, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, _ := eas.Marshal(&eas.PingRequest{HeartbeatInterval: 600, Folders: &eas.PingFolders{Folder: []eas.PingFolder{{ID: w.p.inbox, Class: "Email"}}}})
			deadline := time.Now().Add(3 * time.Minute)
			for time.Now().Before(deadline) {
				code, _, b, err := w.p.post(context.Background(), "Ping", body, "")
				if err == nil && code == http.StatusOK {
					var pr eas.PingResponse
					if err := eas.Unmarshal(b, &pr, nil); err == nil && pr.Status == eas.PingStatusChanges {
						w.done <- &pr
						return
					}
				}
				time.Sleep(100 * time.Millisecond)
			}
			w.done <- nil
		}()
	}
	waitParked(t, e, waiting)

	p := e.phone("alice", "pager", "16.1")
	p.folderSync()
	var resp eas.SyncResponse
	p.do("Sync", syncReq(p.inbox, "0", 0), &resp)
	key := collection(t, &resp).SyncKey
	var got []item
	killed, failures := false, 0
	for page := 0; ; page++ {
		if page > 500 {
			t.Fatal("the paged Sync never ended")
		}
		if page == 10 {
			// Kill the node this page goes to (round-robin: not the one
			// that answered the last), while its request is in flight.
			p.mu.Lock()
			last := p.served[len(p.served)-1]
			p.mu.Unlock()
			victim := e.nodes[0]
			if last == victim.name {
				victim = e.nodes[1]
			}
			go victim.kill() // as the request leaves, or while it runs

			killed = true
			t.Logf("killing node %s during page %d", victim.name, page)
		}
		c, failed := p.retrySync(key, 50)
		failures += failed
		key = c.SyncKey
		got = append(got, items(t, c)...)
		if !c.MoreAvailable {
			break
		}
	}
	if !killed {
		t.Fatal("the Sync ended before a node was killed")
	}
	t.Logf("%d items in %d requests, %d failed and were sent again", len(got), len(p.served), failures)
	checkOnce(t, got, want)

	// The phones that waited on the dead node are waiting again on the
	// survivor: a new mail for bob answers them all.
	waitParked(t, e, waiting)
	testserver.Deliver(t, e.dc.LMTP, "bob", mail("for-bob", "for bob"))
	for _, w := range ws {
		select {
		case pr := <-w.done:
			if pr == nil {
				t.Errorf("%s: no Ping answered a new mail", w.p.device)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("%s: no Ping answered a new mail within 60 s", w.p.device)
		}
	}
	wg.Wait()
}
