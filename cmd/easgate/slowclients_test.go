package main

import (
	"bufio"
	"encoding/base64"
	"flag"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
)

// slowClients is how many hostile connections TestSlowClients opens. Each
// costs two of the process's 20,000 files (client and server side), so
// the heavy run stays at 8,000:
//
//	go test ./cmd/easgate -run TestSlowClients -slowclients 8000 -v
var slowClients = flag.Int("slowclients", 1500, "hostile connections in TestSlowClients")

// TestSlowClients opens many slow connections against serve, as the
// attacks of issue 9 did, while a phone syncs: a third stall in their
// headers, a third announce a body without credentials and send two
// bytes of it, a third log in and then trickle the body. The phone's
// FolderSync and Sync must answer within a second, and the server must
// close every hostile connection: the unauthenticated ones at once with a
// 401, the others at their header or body deadline.
func TestSlowClients(t *testing.T) {
	const headerTimeout, bodyTimeout = 5 * time.Second, 3 * time.Second
	// A loaded machine accepts thousands of connections slowly, and the
	// clock of each starts at the client's connect: slack for that, and
	// the client's own deadline past it, so that a close seen before it
	// is the server's.
	slack := 3*time.Second + time.Duration(*slowClients)*2*time.Millisecond
	clientDeadline := headerTimeout + slack + 5*time.Second
	url, _ := serveAddrs(t, "../../configs/memory.toml", map[string]string{
		"EASGATE_STATE_DIR":             t.TempDir(),
		"EASGATE_SERVER_HEADER_TIMEOUT": headerTimeout.String(),
		"EASGATE_SERVER_BODY_TIMEOUT":   bodyTimeout.String(),
		"EASGATE_SERVER_MAX_CONNS":      "15000",
	})
	host := strings.TrimPrefix(strings.TrimSuffix(url, "/Microsoft-Server-ActiveSync"), "http://")
	_, port, _ := net.SplitHostPort(host)
	target := "/Microsoft-Server-ActiveSync?Cmd=FolderSync&User=alice&DeviceId=slow&DeviceType=X"
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:alice-pass"))
	kinds := []struct {
		name string
		head string
		// closedBy is when the server must have closed the connection,
		// counted from when it was opened.
		closedBy time.Duration
		want401  bool
	}{
		{"stalled-headers", "POST " + target + " HTTP/1.1\r\nHost: x\r\nMS-ASProtocolVersion: 14.1\r\n", headerTimeout, false},
		{"no-credentials-body", "POST " + target + " HTTP/1.1\r\nHost: x\r\nMS-ASProtocolVersion: 14.1\r\n" +
			"Content-Type: application/vnd.ms-sync.wbxml\r\nContent-Length: 1000\r\n\r\n\x03\x01", 0, true},
		{"trickled-body", "POST " + target + " HTTP/1.1\r\nHost: x\r\nMS-ASProtocolVersion: 14.1\r\nAuthorization: " + auth + "\r\n" +
			"Content-Type: application/vnd.ms-sync.wbxml\r\nContent-Length: 100000\r\n\r\n\x03\x01", bodyTimeout, false},
	}

	type result struct {
		kind   int
		opened time.Time
		closed time.Duration // from opened to the server's close; -1: still open at the client's deadline
		got401 bool
		err    error
	}
	// The phone has synced before: its first login and hierarchy are
	// not what is measured.
	phone := &memoryPhone{url: url, user: "alice@example.com", password: "alice-pass"}
	var fs eas.FolderSyncResponse
	if code := phone.call(t, "FolderSync", &eas.FolderSyncRequest{SyncKey: "0"}, &fs); code != http.StatusOK {
		t.Fatalf("FolderSync: HTTP %d", code)
	}

	results := make(chan result, *slowClients)
	var opened sync.WaitGroup
	opened.Add(*slowClients)
	start := time.Now()
	for i := range *slowClients {
		go func() {
			k := i % len(kinds)
			// Spread over loopback addresses, as from many hosts, below
			// the cap of connections per address.
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1+byte(i/200), byte(2+i%200))}, Timeout: 10 * time.Second}
			c, err := d.Dial("tcp", net.JoinHostPort("127.0.0.1", port))
			r := result{kind: k, opened: time.Now()}
			if err == nil {
				_, err = io.WriteString(c, kinds[k].head)
			}
			opened.Done()
			if err != nil {
				r.err = err
				results <- r
				return
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(clientDeadline))
			br := bufio.NewReader(c)
			if res, err := http.ReadResponse(br, nil); err == nil {
				r.got401 = res.StatusCode == http.StatusUnauthorized && res.Close // Connection: close
			}
			_, err = io.Copy(io.Discard, br)
			r.closed = time.Since(r.opened)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				r.closed = -1
			}
			results <- r
		}()
	}
	opened.Wait()
	t.Logf("%d hostile connections opened in %v", *slowClients, time.Since(start))
	// Those without credentials are answered at once; collect them, so
	// that the phone runs while the others hang on.
	var all []result
	for len(all) < *slowClients/len(kinds) {
		select {
		case r := <-results:
			all = append(all, r)
		case <-time.After(bodyTimeout):
			t.Fatalf("%d connections closed %v after the last was opened, want the %d without credentials", len(all), bodyTimeout, *slowClients/len(kinds))
		}
	}

	t0 := time.Now()
	if code := phone.call(t, "FolderSync", &eas.FolderSyncRequest{SyncKey: "0"}, &fs); code != http.StatusOK {
		t.Fatalf("FolderSync under attack: HTTP %d", code)
	}
	fsDur := time.Since(t0)
	inbox := ""
	if fs.Changes != nil {
		for _, f := range fs.Changes.Add {
			if f.Type == eas.FolderTypeInbox {
				inbox = f.ServerID
			}
		}
	}
	var sync eas.SyncResponse
	t0 = time.Now()
	if code := phone.call(t, "Sync", &eas.SyncRequest{Collections: &eas.SyncCollections{Collection: []eas.SyncCollection{
		{Class: "Email", SyncKey: "0", CollectionID: inbox},
	}}}, &sync); code != http.StatusOK {
		t.Fatalf("Sync under attack: HTTP %d", code)
	}
	syncDur := time.Since(t0)
	t.Logf("under %d hostile connections: FolderSync %v, Sync %v", *slowClients, fsDur, syncDur)
	if fsDur > time.Second || syncDur > time.Second {
		t.Errorf("FolderSync took %v and Sync %v under attack, want both within 1 s", fsDur, syncDur)
	}

	worst := make([]time.Duration, len(kinds))
	for len(all) < *slowClients {
		all = append(all, <-results)
	}
	for _, r := range all {
		k := kinds[r.kind]
		switch {
		case r.err != nil:
			t.Fatalf("%s: %v", k.name, r.err)
		case r.closed < 0:
			t.Fatalf("%s: still open %v after it was opened; the server must close it", k.name, clientDeadline)
		case k.want401 && !r.got401:
			t.Errorf("%s: no 401 with Connection: close", k.name)
		}
		worst[r.kind] = max(worst[r.kind], r.closed)
	}
	for i, k := range kinds {
		t.Logf("%s: all closed by the server, the last %v after opening", k.name, worst[i])
		if limit := k.closedBy + slack; worst[i] > limit {
			t.Errorf("%s: the last closed %v after opening, want within %v", k.name, worst[i], limit)
		}
	}
}
