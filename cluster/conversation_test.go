package cluster

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/internal/testserver"
)

// inboxSync pages through the phone's Inbox from key until nothing more is
// available, and returns the new key and the items received.
func (p *phone) inboxSync(key string, window int) (string, []item) {
	p.t.Helper()
	var got []item
	for page := 0; ; page++ {
		if page > 1000 {
			p.t.Fatal("Sync never ended its MoreAvailable")
		}
		var resp eas.SyncResponse
		p.do("Sync", syncReq(p.inbox, key, window), &resp)
		c := collection(p.t, &resp)
		if c.Status != eas.SyncStatusSuccess {
			p.t.Fatalf("Sync %s: status %d", key, c.Status)
		}
		key = c.SyncKey
		got = append(got, items(p.t, c)...)
		if !c.MoreAvailable {
			return key, got
		}
	}
}

// checkOnce fails unless got holds each of want exactly once, by ServerId
// and by Message-ID.
func checkOnce(t testing.TB, got []item, want map[string]bool) {
	t.Helper()
	byServer, byMsg := map[string]int{}, map[string]int{}
	for _, it := range got {
		byServer[it.serverID]++
		byMsg[it.messageID]++
	}
	for id, n := range byServer {
		if n != 1 {
			t.Errorf("ServerId %s received %d times", id, n)
		}
	}
	lost := 0
	for id := range want {
		switch byMsg[id] {
		case 0:
			lost++
		case 1:
		default:
			t.Errorf("Message-ID %s received %d times", id, byMsg[id])
		}
	}
	for id := range byMsg {
		if !want[id] {
			t.Errorf("received %q, which was never delivered", id)
		}
	}
	if lost > 0 || len(got) != len(want) {
		t.Errorf("received %d items, %d of the %d delivered lost", len(got), lost, len(want))
	}
}

// sentCount counts the messages Dovecot's submission relayed whose Subject
// is subject.
func sentCount(t testing.TB, dc *testserver.Dovecot, subject string) int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dc.SinkDir, "*.eml"))
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "\nSubject: "+subject+"\r\n") || strings.Contains(string(b), "\nSubject: "+subject+"\n") {
			n++
		}
	}
	return n
}

// TestConversationAcrossNodes is a device's conversation through the
// balancer at 12.1, 14.1 and 16.1, each request landing on the other node
// than the one before: FolderSync, a paged initial Sync, a Ping that a
// new mail wakes on one node followed by the Sync on the other, a Ping
// and a hanging Sync that the device's next request, on the other node,
// ends at once, an empty Sync answered from the state, and a SendMail
// that, resent to the other node, is not sent twice.
func TestConversationAcrossNodes(t *testing.T) {
	e := newEnv(t, shared.Get(t).Database(t), 2)
	delivered := map[string]bool{}
	deliver := func(n int, tag string) {
		var msgs [][]byte
		for i := range n {
			id := fmt.Sprintf("%s-%04d", tag, i)
			msgs = append(msgs, mail(id, id))
			delivered["<"+id+"@cluster.test>"] = true
		}
		testserver.DeliverMany(t, e.dc.LMTP, "alice", msgs)
	}
	deliver(250, "first")

	for _, v := range []string{"12.1", "14.1", "16.1"} {
		t.Run(v, func(t *testing.T) {
			p := e.phone("alice", "conv"+strings.ReplaceAll(v, ".", ""), v)
			p.t = t
			p.folderSync()
			var resp eas.SyncResponse
			p.do("Sync", syncReq(p.inbox, "0", 0), &resp)
			key, got := p.inboxSync(collection(t, &resp).SyncKey, 100)
			checkOnce(t, got, delivered)

			// An empty Sync repeats the last one, kept in the shared
			// state: nothing new.
			code, _, body, err := p.post(context.Background(), "Sync", nil, "")
			if err != nil || code != http.StatusOK {
				t.Fatalf("empty Sync: HTTP %d, %v", code, err)
			}
			if len(body) > 0 {
				var er eas.SyncResponse
				if err := eas.Unmarshal(body, &er, nil); err != nil || er.Status == eas.SyncStatusIncompleteRequest {
					t.Fatalf("empty Sync on the other node = %+v, %v; want the last Sync repeated", er, err)
				}
			}

			// A Ping waits on one node; a new mail wakes it; the Sync
			// that follows runs on the other node.
			// The goroutine reports to the test rather than failing it:
			// it may answer after the test has given up on it.
			type pingResult struct {
				*eas.PingResponse
				err error
			}
			ping := func(req *eas.PingRequest) <-chan pingResult {
				ch := make(chan pingResult, 1)
				var body []byte
				if req != nil {
					var err error
					if body, err = eas.Marshal(req); err != nil {
						t.Fatal(err)
					}
				}
				go func() {
					r := pingResult{PingResponse: new(eas.PingResponse)}
					code, _, b, err := p.post(context.Background(), "Ping", body, "")
					switch {
					case err != nil:
						r.err = err
					case code != http.StatusOK:
						r.err = fmt.Errorf("HTTP %d: %s", code, b)
					case len(b) > 0:
						r.err = eas.Unmarshal(b, r.PingResponse, nil)
					}
					ch <- r
				}()
				return ch
			}
			// Generous: once the machine's inotify instances (128 per
			// user) are taken by the other packages' Dovecots running at
			// once, an IDLE gets only Dovecot's fallback check, every 2 s
			// in the test servers (30 s by Dovecot's default).
			const pingWait = 45 * time.Second
			pingReq := &eas.PingRequest{HeartbeatInterval: 300, Folders: &eas.PingFolders{Folder: []eas.PingFolder{{ID: p.inbox, Class: "Email"}}}}
			woken := ping(pingReq)
			waitParked(t, e, 1)
			tag := "ping" + strings.ReplaceAll(v, ".", "")
			before := len(delivered)
			deliver(1, tag)
			select {
			case pr := <-woken:
				if pr.err != nil || pr.Status != eas.PingStatusChanges {
					t.Fatalf("Ping after a new mail = %+v, %v; want status 2", pr.PingResponse, pr.err)
				}
			case <-time.After(pingWait):
				t.Fatalf("the Ping did not answer a new mail within %v", pingWait)
			}
			key, got = p.inboxSync(key, 100)
			if len(got) != 1 || got[0].messageID != "<"+tag+"-0000@cluster.test>" || len(delivered) != before+1 {
				t.Fatalf("Sync after the Ping = %+v, want the one new mail", got)
			}

			// A Ping without parameters (they are in the state) waits
			// on one node; the device's next request, on the other node,
			// ends it.
			parked := ping(nil)
			waitParked(t, e, 1)
			t0 := time.Now()
			key, _ = p.inboxSync(key, 100)
			select {
			case pr := <-parked:
				if pr.err != nil || pr.Status != eas.PingStatusExpired {
					t.Errorf("superseded Ping = %+v, %v; want status 1", pr.PingResponse, pr.err)
				}
				t.Logf("the Ping on the other node answered %v after the new request was sent", time.Since(t0).Round(time.Millisecond))
			case <-time.After(pingWait):
				t.Fatal("the Ping parked on one node was not ended by the device's request on the other")
			}

			// A hanging Sync waits on one node; the device's next request,
			// on the other node, ends it (with the empty answer of a
			// Sync that saw nothing).
			hanging := make(chan int, 1)
			go func() {
				req := syncReq(p.inbox, key, 100)
				req.Wait = 5
				body, _ := eas.Marshal(req)
				code, _, _, err := p.post(context.Background(), "Sync", body, "")
				if err != nil {
					t.Error(err)
				}
				hanging <- code
			}()
			waitParked(t, e, 1)
			t0 = time.Now()
			key, _ = p.inboxSync(key, 100)
			select {
			case code := <-hanging:
				if code != http.StatusOK {
					t.Errorf("superseded hanging Sync: HTTP %d", code)
				}
				t.Logf("the hanging Sync on the other node answered %v after the new request was sent", time.Since(t0).Round(time.Millisecond))
			case <-time.After(30 * time.Second):
				t.Fatal("the hanging Sync parked on one node was not ended by the device's request on the other")
			}

			// SendMail, resent to the other node after a lost answer.
			subject := "sent at " + v
			msg := []byte("From: alice@example.com\r\nTo: bob@example.com\r\nSubject: " + subject + "\r\n\r\nhello\r\n")
			if v < "14.0" {
				// No ClientId before 14.0: nothing tells a resend apart.
				code, _, b, err := p.post(context.Background(), "SendMail", msg, "&SaveInSent=F")
				if err != nil || code != http.StatusOK {
					t.Fatalf("SendMail: HTTP %d, %v: %s", code, err, b)
				}
			} else {
				req := &eas.SendMailRequest{ClientID: "msg-" + v, Mime: msg}
				var first, second eas.SendMailResponse
				by1 := p.do("SendMail", req, &first)
				by2 := p.do("SendMail", req, &second)
				if by1 == by2 {
					t.Fatalf("both SendMails went to %s", by1)
				}
				if first.Status != 0 && first.Status != 1 {
					t.Fatalf("SendMail: status %d", first.Status)
				}
				if second.Status != eas.StatusMessagePreviouslySent {
					t.Errorf("SendMail resent to the other node: status %d, want %d", second.Status, eas.StatusMessagePreviouslySent)
				}
			}
			deadline := time.Now().Add(30 * time.Second)
			for sentCount(t, e.dc, subject) == 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if n := sentCount(t, e.dc, subject); n != 1 {
				t.Errorf("%q relayed %d times, want once", subject, n)
			}

			p.mu.Lock()
			defer p.mu.Unlock()
			for i := 1; i < len(p.served); i++ {
				if p.served[i] == p.served[i-1] || p.served[i] == "" {
					t.Fatalf("requests %d and %d both went to %q (all: %v)", i-1, i, p.served[i], p.served)
				}
			}
			t.Logf("%d requests, alternating: %v", len(p.served), p.served)
		})
	}
}

// waitParked waits until n requests (Pings, hanging Syncs) wait across
// the nodes, by their easgate_waiting_requests gauges: only a parked
// request is reached by signals, and a request sent before the one it
// should end is parked is the device's own race, not the cluster's.
func waitParked(t testing.TB, e *env, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := 0
		for _, nd := range e.nodes {
			got += nd.waiting(t)
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests waiting at the nodes after 30 s, want %d", got, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
