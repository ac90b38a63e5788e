package gateway

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources/imapdav"
	"github.com/easgate/easgate/sources/imapdav/dav"
	"github.com/easgate/easgate/statecache"
)

// The DAV push benchmarks (issue 14) run a gateway on Dovecot and
// Radicale with the [dav] polling settings below, production's defaults
// unless the flags say otherwise:
//
//	go test ./gateway -run '^$' -bench DAVWaitCost -benchtime 1x
//	go test ./gateway -run '^$' -bench DAVPushLatency -benchtime 20x
var (
	davIdle   = flag.Duration("davpush.idle", 60*time.Second, "[dav] poll_interval of the DAV push benchmarks")
	davActive = flag.Duration("davpush.active", 5*time.Second, "[dav] poll_interval_active of the DAV push benchmarks")
	davWarm   = flag.Duration("davpush.warmup", 80*time.Second, "BenchmarkDAVWaitCost: wait this long after the Pings park before counting")
	davWindow = flag.Duration("davpush.window", 2*time.Minute, "BenchmarkDAVWaitCost: count DAV requests this long")
)

// davCounter is the DAV client's transport: it counts the requests the
// DAV server receives, the pollers' checks (a Depth 0 PROPFIND of getctag)
// apart from the rest.
type davCounter struct {
	checks, other atomic.Int64
}

func (c *davCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	check := false
	if r.Method == "PROPFIND" && r.Header.Get("Depth") == "0" && r.GetBody != nil {
		if body, err := r.GetBody(); err == nil {
			b, _ := io.ReadAll(body)
			check = bytes.Contains(b, []byte("getctag"))
		}
	}
	if check {
		c.checks.Add(1)
	} else {
		c.other.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// davBench is a gateway on Dovecot and Radicale whose DAV requests are
// counted.
type davBench struct {
	srv   *Server
	ts    *httptest.Server
	rad   *testserver.DAV
	count *davCounter
}

func newDAVBench(b *testing.B) *davBench {
	e := &davBench{count: &davCounter{}}
	dc := testserver.StartDovecot(b)
	e.rad = testserver.StartRadicale(b)
	bk, err := imapdav.NewBackend(&imapdav.Options{
		IMAP: dc.IMAP, TLS: imapdav.TLSNone, Submission: dc.Submission, SubmissionTLS: imapdav.TLSNone,
		DAV: &dav.Options{CalDAV: e.rad.URL, CardDAV: e.rad.URL, HTTPClient: &http.Client{Transport: e.count},
			PollInterval: *davIdle, ActivePollInterval: *davActive, Logger: slog.New(slog.DiscardHandler)},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bk.Close() })
	st, err := statecache.Open("", &statecache.Options{InMemory: true})
	if err != nil {
		b.Fatal(err)
	}
	e.srv, err = New(&Options{Backend: e2eBackend{bk}, State: st, Policy: Policy{Mode: PolicyAllow},
		Limits: Limits{MinHeartbeat: time.Second}})
	if err != nil {
		b.Fatal(err)
	}
	e.ts = httptest.NewUnstartedServer(e.srv)
	e.ts.Listener = e.srv.Listen(e.ts.Listener)
	e.ts.Start()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.srv.Shutdown(ctx)
		e.ts.Close()
		st.Close()
	})
	return e
}

// davPhone is one device of a user, synced to the present state of its
// contacts, calendar and tasks folders.
type davPhone struct {
	e        *davBench
	user, id string
	cids     []string          // contacts, calendar, tasks
	keys     map[string]string // CollectionId → SyncKey
}

func (p *davPhone) send(ctx context.Context, cmd string, req any) (eas.PingResponse, []byte, error) {
	body, err := eas.Marshal(req)
	if err != nil {
		return eas.PingResponse{}, nil, err
	}
	r, err := http.NewRequestWithContext(ctx, "POST", p.e.ts.URL+Path+"?Cmd="+cmd+"&User="+p.user+"&DeviceId="+p.id+"&DeviceType=DAVBench", bytes.NewReader(body))
	if err != nil {
		return eas.PingResponse{}, nil, err
	}
	r.SetBasicAuth(p.user, testserver.Users[p.user])
	r.Header.Set("MS-ASProtocolVersion", eas.V161.String())
	r.Header.Set("Content-Type", wbxmlType)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return eas.PingResponse{}, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s = HTTP %d", cmd, resp.StatusCode)
	}
	var ping eas.PingResponse
	if err == nil && cmd == "Ping" {
		err = eas.Unmarshal(out, &ping, nil)
	}
	return ping, out, err
}

func (p *davPhone) do(b *testing.B, cmd string, req, resp any) {
	b.Helper()
	_, out, err := p.send(context.Background(), cmd, req)
	if err != nil {
		b.Fatal(err)
	}
	if err := eas.Unmarshal(out, resp, nil); err != nil {
		b.Fatalf("%s: %v", cmd, err)
	}
}

func newDAVPhone(b *testing.B, e *davBench, user, id string) *davPhone {
	p := &davPhone{e: e, user: user, id: id, keys: map[string]string{}}
	var fs eas.FolderSyncResponse
	p.do(b, "FolderSync", &eas.FolderSyncRequest{SyncKey: "0"}, &fs)
	byType := map[eas.FolderType]string{}
	for _, f := range fs.Changes.Add {
		byType[f.Type] = f.ServerID
	}
	for _, ty := range []eas.FolderType{eas.FolderTypeContacts, eas.FolderTypeCalendar, eas.FolderTypeTasks} {
		if byType[ty] == "" {
			b.Fatalf("FolderSync: no folder of type %d in %+v", ty, fs.Changes.Add)
		}
		p.cids = append(p.cids, byType[ty])
		p.keys[byType[ty]] = "0"
	}
	p.catchUp(b, p.cids...)
	return p
}

// catchUp syncs cids to the store's present state.
func (p *davPhone) catchUp(b *testing.B, cids ...string) {
	for _, cid := range cids {
		for more := true; more; {
			var resp eas.SyncResponse
			p.do(b, "Sync", &eas.SyncRequest{Collections: &eas.SyncCollections{Collection: []eas.SyncCollection{
				{SyncKey: p.keys[cid], CollectionID: cid, WindowSize: 100}}}}, &resp)
			if resp.Collections == nil || len(resp.Collections.Collection) != 1 {
				b.Fatalf("Sync %s = %+v", cid, resp)
			}
			c := resp.Collections.Collection[0]
			if c.Status != eas.SyncStatusSuccess {
				b.Fatalf("Sync %s = status %d", cid, c.Status)
			}
			more = c.MoreAvailable || p.keys[cid] == "0"
			p.keys[cid] = c.SyncKey
		}
	}
}

// ping parks a Ping on cids and returns where its answer arrives.
func (p *davPhone) ping(ctx context.Context, heartbeat int, cids ...string) <-chan eas.PingResponse {
	classes := map[int]string{0: "Contacts", 1: "Calendar", 2: "Tasks"}
	var fs []eas.PingFolder
	for _, cid := range cids {
		fs = append(fs, eas.PingFolder{ID: cid, Class: classes[slices.Index(p.cids, cid)]})
	}
	ch := make(chan eas.PingResponse, 1)
	go func() {
		resp, _, err := p.send(ctx, "Ping", &eas.PingRequest{HeartbeatInterval: heartbeat, Folders: &eas.PingFolders{Folder: fs}})
		if err != nil && ctx.Err() == nil {
			resp.Status = 0 // no valid answer
		}
		ch <- resp
	}()
	return ch
}

// waitParked waits until n Pings wait in the gateway.
func (e *davBench) waitParked(b *testing.B, n int) {
	for deadline := time.Now().Add(30 * time.Second); e.srv.waiters.count() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d Pings waiting after 30 s", e.srv.waiters.count(), n)
		}
	}
}

// BenchmarkDAVWaitCost states what waiting users cost the DAV server
// (issue 14): alice and bob each park Pings on their contacts, calendar
// and tasks (two Radicale collections: the calendar holds the tasks) from
// 1 and from 4 devices, and the DAV requests are counted per user and
// minute once the Pings have waited -davpush.warmup, for -davpush.window.
// checks/min/user are the pollers' requests; dav-req/Ping the requests
// each Ping makes to compare the device's states when it begins. The
// figures should not depend on the number of devices.
func BenchmarkDAVWaitCost(b *testing.B) {
	e := newDAVBench(b)
	users := []string{"alice", "bob"}
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			for b.Loop() {
				var phones []*davPhone
				for _, u := range users {
					for d := range n {
						phones = append(phones, newDAVPhone(b, e, u, fmt.Sprintf("cost%d%s%d", n, u, d)))
					}
				}
				ctx, cancel := context.WithCancel(context.Background())
				before := e.count.checks.Load() + e.count.other.Load()
				var wg sync.WaitGroup
				for _, p := range phones {
					ch := p.ping(ctx, 1800, p.cids...)
					wg.Go(func() {
						if r := <-ch; r.Status != 0 && ctx.Err() == nil {
							b.Errorf("Ping of %s answered status %d while idle", p.id, r.Status)
						}
					})
				}
				e.waitParked(b, len(phones))
				time.Sleep(pingRecheck + time.Second) // the Pings' own comparisons are over
				perPing := float64(e.count.checks.Load()+e.count.other.Load()-before) / float64(len(phones))
				time.Sleep(*davWarm)
				c0, o0 := e.count.checks.Load(), e.count.other.Load()
				start := time.Now()
				time.Sleep(*davWindow)
				mins := time.Since(start).Minutes()
				checks, other := e.count.checks.Load()-c0, e.count.other.Load()-o0
				cancel()
				wg.Wait()
				// The gateway learns that a phone left from its next
				// request, which ends the parked Ping.
				for _, p := range phones {
					p.catchUp(b, p.cids[0])
				}
				for deadline := time.Now().Add(30 * time.Second); e.srv.waiters.count() > 0; time.Sleep(5 * time.Millisecond) {
					if time.Now().After(deadline) {
						b.Fatalf("%d Pings still waiting 30 s after their phones left", e.srv.waiters.count())
					}
				}
				perUser := float64(len(users)) * mins
				b.ReportMetric(float64(checks)/perUser, "checks/min/user")
				b.ReportMetric(float64(checks+other)/perUser, "dav-req/min/user")
				b.ReportMetric(perPing, "dav-req/Ping")
				b.Logf("%d users × %d devices: %d checks and %d other DAV requests in %.1f min (poll_interval %v, active %v)",
					len(users), n, checks, other, mins, *davIdle, *davActive)
			}
		})
	}
}

// BenchmarkDAVPushLatency measures a Ping's wake from a DAV change:
// "server" from a vCard PUT on Radicale (made at a random moment of the
// poller's schedule, within poll_interval_active after the previous
// change, so the check interval is the active one), "device" from
// another device of the same user adding a contact with Sync to the Ping
// answer. Each iteration parks alice's Ping on her contacts, changes
// them, and syncs after the answer.
func BenchmarkDAVPushLatency(b *testing.B) {
	e := newDAVBench(b)
	for _, how := range []string{"server", "device"} {
		b.Run(how, func(b *testing.B) {
			a := newDAVPhone(b, e, "alice", "lat"+how+"A")
			other := newDAVPhone(b, e, "alice", "lat"+how+"B")
			book := a.cids[0]
			lat := make([]time.Duration, 0, b.N)
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				ch := a.ping(context.Background(), 600, book)
				e.waitParked(b, 1)
				time.Sleep(pingRecheck + 50*time.Millisecond + rand.N(*davActive))
				b.StartTimer()
				start := time.Now()
				switch how {
				case "server":
					uid := fmt.Sprintf("lat%d", time.Now().UnixNano())
					card := "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:" + uid + "\r\nFN:Latency " + uid + "\r\nN:" + uid + ";Latency;;;\r\nEND:VCARD\r\n"
					req, _ := http.NewRequest("PUT", e.rad.URL+"alice/contacts/"+uid+".vcf", strings.NewReader(card))
					req.SetBasicAuth("alice", testserver.Users["alice"])
					req.Header.Set("Content-Type", "text/vcard")
					resp, err := http.DefaultClient.Do(req)
					if err != nil || resp.StatusCode/100 != 2 {
						b.Fatalf("PUT = %v, %v", resp, err)
					}
					resp.Body.Close()
				case "device":
					var resp eas.SyncResponse
					other.do(b, "Sync", &eas.SyncRequest{Collections: &eas.SyncCollections{Collection: []eas.SyncCollection{
						{SyncKey: other.keys[book], CollectionID: book, Commands: &eas.SyncCommands{
							Add: []eas.SyncAdd{{ClientID: fmt.Sprint("lat", i), ApplicationData: eas.RawValue(
								&eas.Contact{FirstName: "Latency", LastName: fmt.Sprint(i), FileAs: fmt.Sprint("Latency ", i)})}}}}}}}, &resp)
					if resp.Collections == nil || resp.Collections.Collection[0].Status != eas.SyncStatusSuccess {
						b.Fatalf("Sync Add = %+v", resp)
					}
					other.keys[book] = resp.Collections.Collection[0].SyncKey
				}
				var r eas.PingResponse
				select {
				case r = <-ch:
				case <-time.After(*davIdle + 30*time.Second):
					b.Fatalf("Ping not answered %v after change %d", *davIdle+30*time.Second, i)
				}
				lat = append(lat, time.Since(start))
				b.StopTimer()
				if r.Status != eas.PingStatusChanges {
					b.Fatalf("Ping status %d after change %d, want 2", r.Status, i)
				}
				a.catchUp(b, book)
				other.catchUp(b, book)
				b.StartTimer()
			}
			reportLatency(b, lat)
		})
	}
}
