package gateway

import (
	"bytes"
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/imapdav"
	"github.com/easgate/easgate/sources/jmap"
	"github.com/easgate/easgate/statecache"
)

// The store benchmarks of issue 14 run a phone's Syncs through the whole
// server against a real store: Dovecot through the IMAP adapter, Cyrus
// through JMAP. They measure what the mailbox's size costs: a first Sync
// (windows of 100, HTML cut at 5 KB) and a Sync that finds nothing new, at
// 1,000, 5,000 and 50,000 mails. docs/BENCHMARKS.md lists them.

var storeBenchSizes = flag.String("storebench.sizes", "1000,5000,50000",
	"mailbox sizes of BenchmarkStoreSync, comma-separated")

// storeBenchPrefetch and storeBenchFetchConns set the JMAP adapter's
// prefetch_windows (0: off) and fetch_conns, to compare them.
var (
	storeBenchPrefetch   = flag.Int("storebench.prefetch", 2, "jmap prefetch_windows of BenchmarkStoreSync (0: off)")
	storeBenchFetchConns = flag.Int("storebench.fetchconns", 1, "jmap fetch_conns of BenchmarkStoreSync")
)

// storeBenchNoChange is how many no-change Syncs one iteration of
// nochange sends, so that -benchtime 1x, which the initial Syncs of large
// mailboxes want, still gives a median.
const storeBenchNoChange = 200

// storeBench is a store, a gateway in front of it on loopback HTTP with
// an on-disk statecache, and alice's Source to look folders up.
type storeBench struct {
	ts     *httptest.Server
	state  *statecache.Store
	src    sources.Source
	imap   string // the store's IMAP address, for CREATE and APPEND
	fill   func(ctx context.Context, box string, n int, gen func(int) []byte) error
	cpu    func() (time.Duration, error)
	client *http.Client
	// reqs counts the store's requests: IMAP commands or JMAP HTTP
	// requests.
	reqs atomic.Int64
}

func newStoreBench(b *testing.B, store string) *storeBench {
	ctx := b.Context()
	e := &storeBench{}
	var backend Backend
	switch store {
	case "dovecot":
		d := testserver.StartDovecot(b)
		e.imap, e.cpu = d.IMAP, d.CPU
		e.fill = func(_ context.Context, box string, n int, gen func(int) []byte) error {
			return d.FillMaildir("alice", box, n, func(i int) []byte { return bytes.ReplaceAll(gen(i), []byte("\r\n"), []byte("\n")) })
		}
		be, err := imapdav.NewBackend(&imapdav.Options{IMAP: testserver.LineProxy(b, d.IMAP, func([]byte) { e.reqs.Add(1) }), TLS: imapdav.TLSNone})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { be.Close() })
		backend = be
	case "cyrus":
		cy := testserver.StartCyrus(b, nil)
		e.imap, e.cpu = cy.IMAP, cy.CPU
		e.fill = func(ctx context.Context, box string, n int, gen func(int) []byte) error {
			return cy.FillMailbox(ctx, "alice", box, n, gen)
		}
		be, err := jmap.NewBackend(jmap.Options{URL: cy.JMAP, HTTPClient: &http.Client{Transport: &storeBenchTransport{&e.reqs, jmap.NewTransport(0)}},
			PrefetchWindows: cmp.Or(*storeBenchPrefetch, -1), FetchConns: *storeBenchFetchConns})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { be.Close() })
		backend = be
	}
	var err error
	if e.src, err = backend.Login(ctx, "alice", testserver.Users["alice"]); err != nil {
		b.Fatal(err)
	}
	if e.state, err = statecache.Open(b.TempDir(), nil); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.state.Close() })
	// The phone repeats its no-change Sync faster than any phone would:
	// loop detection must not hold it back.
	srv, err := New(&Options{Backend: backend, State: e.state, Policy: Policy{Mode: PolicyAllow},
		Limits: Limits{LoopRepeats: math.MaxInt32}})
	if err != nil {
		b.Fatal(err)
	}
	e.ts = httptest.NewServer(srv)
	b.Cleanup(e.ts.Close)
	e.client = e.ts.Client()
	return e
}

// mailbox creates mailbox box holding n mails of syncBenchMail and
// returns its folder id.
func (e *storeBench) mailbox(b *testing.B, box string, n int) sources.FolderID {
	ctx := b.Context()
	c, err := imapclient.DialInsecure(e.imap, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice", testserver.Users["alice"]).Wait(); err != nil {
		b.Fatal(err)
	}
	if err := c.Create(box, nil).Wait(); err != nil {
		b.Fatalf("CREATE %s: %v", box, err)
	}
	gen := func(i int) []byte { return syncBenchMail(i, true) }
	start := time.Now()
	how := "written into the store's directory"
	if err := e.fill(ctx, box, n, gen); err == testserver.ErrNotRoot {
		how = "appended"
		for i := 0; i < n; i += 200 {
			var cmds []*imapclient.AppendCommand
			for j := i; j < min(n, i+200); j++ {
				raw := gen(j)
				cmd := c.Append(box, int64(len(raw)), nil)
				cmd.Write(raw)
				cmd.Close()
				cmds = append(cmds, cmd)
			}
			for _, cmd := range cmds {
				if _, err := cmd.Wait(); err != nil {
					b.Fatalf("APPEND: %v", err)
				}
			}
		}
	} else if err != nil {
		b.Fatal(err)
	}
	d, err := e.src.Folders(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range d.Changed {
		if f.Name == box {
			b.Logf("setup: %d mails %s in %v", n, how, time.Since(start).Round(time.Millisecond))
			return f.ID
		}
	}
	b.Fatalf("Folders does not list %s", box)
	return ""
}

// sync posts one Sync of collection c from device and decodes the answer.
func (e *storeBench) sync(b *testing.B, device string, c eas.SyncCollection) (eas.SyncResponseCollection, []byte) {
	body, err := eas.Marshal(&eas.SyncRequest{Collections: &eas.SyncCollections{Collection: []eas.SyncCollection{c}}})
	if err != nil {
		b.Fatal(err)
	}
	hr, err := http.NewRequest("POST", e.ts.URL+Path+"?Cmd=Sync&User=alice&DeviceId="+device+"&DeviceType=BenchPhone", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	hr.SetBasicAuth("alice", testserver.Users["alice"])
	hr.Header.Set("MS-ASProtocolVersion", syncBenchVersion)
	hr.Header.Set("Content-Type", wbxmlType)
	resp, err := e.client.Do(hr)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("Sync = HTTP %d, %v", resp.StatusCode, err)
	}
	b.StopTimer()
	defer b.StartTimer()
	got, err := syncBenchOne(raw)
	if err != nil {
		b.Fatal(err)
	}
	return got, raw
}

// collection gives device its hierarchy and returns f's CollectionId.
func (e *storeBench) collection(b *testing.B, device string, f sources.FolderID) string {
	ids, err := syncBenchHierarchy(b.Context(), e.state, statecache.Account{User: "alice", Device: device}, e.src)
	if err != nil {
		b.Fatal(err)
	}
	return ids[f]
}

// cpuNow is this process's and the store's processor time so far. The
// store's is read by scanning /proc (tens of milliseconds of this
// process's time on a busy machine), so that scan is kept outside the
// measured span: before reading this process's own time at the start of
// a span (start), after it at the end.
func (e *storeBench) cpuNow(b *testing.B, start bool) (self, store time.Duration) {
	var err error
	if start {
		if store, err = e.cpu(); err != nil {
			b.Fatal(err)
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if !start {
		if store, err = e.cpu(); err != nil {
			b.Fatal(err)
		}
	}
	return self, store
}

// BenchmarkStoreSync measures, per store and mailbox size, a new phone's
// first Sync of the mailbox (initial: SyncKey 0, then windows of 100 with
// HTML cut at 5 KB, until MoreAvailable ends; msgs/s) and then the same
// phone's Syncs that find nothing new (nochange: 200 per iteration,
// p50-ms is their median and the CPU figures are per Sync).
// Both report the processor time per operation of easgate (this process,
// the benchmark's client included) and of the store's processes. As root
// the mails are written into the store's directories; otherwise they are
// appended, which takes long at 50,000. -storebench.sizes picks sizes:
//
//	go test ./gateway -run '^$' -bench StoreSync -benchtime 1x -timeout 60m
func BenchmarkStoreSync(b *testing.B) {
	var sizes []int
	for _, s := range strings.Split(*storeBenchSizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			b.Fatalf("-storebench.sizes: %q", s)
		}
		sizes = append(sizes, n)
	}
	trunc := uint32(5120)
	opts := []eas.SyncOptions{{BodyPreference: []eas.BodyPreference{{Type: int(eas.BodyHTML), TruncationSize: &trunc}}}}
	for _, store := range []string{"dovecot", "cyrus"} {
		b.Run(store, func(b *testing.B) {
			e := newStoreBench(b, store)
			for _, n := range sizes {
				b.Run(fmt.Sprint(n), func(b *testing.B) {
					f := e.mailbox(b, fmt.Sprintf("Bench%d", n), n)
					var device, key, cid string
					b.Run("initial", func(b *testing.B) {
						self0, store0 := e.cpuNow(b, true)
						reqs0 := e.reqs.Load()
						for i := 0; b.Loop(); i++ {
							b.StopTimer()
							device = fmt.Sprintf("%s%dinit%d", store, n, i)
							cid = e.collection(b, device, f)
							pass, pself, pstore := time.Now(), self0, store0
							if i > 0 {
								pself, pstore = e.cpuNow(b, true)
							}
							b.StartTimer()
							c, _ := e.sync(b, device, eas.SyncCollection{SyncKey: "0", CollectionID: cid})
							got := 0
							for {
								c, _ = e.sync(b, device, eas.SyncCollection{SyncKey: c.SyncKey, CollectionID: cid, WindowSize: 100, Options: opts})
								if c.Commands != nil {
									got += len(c.Commands.Add)
								}
								if !c.MoreAvailable {
									break
								}
							}
							if key = c.SyncKey; got != n {
								b.Fatalf("initial Sync gave %d mails, want %d", got, n)
							}
							// The first pass after a fill finds the store's
							// caches cold, as after a migration; later ones
							// warm, as for a user's next phone.
							b.StopTimer()
							self, st := e.cpuNow(b, false)
							b.Logf("pass %d: %d mails in %v (%.0f msgs/s), CPU easgate %v, store %v", i+1, n,
								time.Since(pass).Round(time.Millisecond), float64(n)/time.Since(pass).Seconds(),
								(self - pself).Round(time.Millisecond), (st - pstore).Round(time.Millisecond))
							b.StartTimer()
						}
						self1, store1 := e.cpuNow(b, false)
						msgs := float64(n * b.N)
						b.ReportMetric(msgs/b.Elapsed().Seconds(), "msgs/s")
						b.ReportMetric(float64(self1-self0)/1e3/msgs, "easgate-cpu-µs/msg")
						b.ReportMetric(float64(store1-store0)/1e3/msgs, "store-cpu-µs/msg")
						b.ReportMetric(float64(e.reqs.Load()-reqs0)*100/msgs, "store-requests/window")
					})
					b.Run("nochange", func(b *testing.B) {
						if key == "" {
							b.Skip("no primed phone")
						}
						req := eas.SyncCollection{SyncKey: key, CollectionID: cid, WindowSize: 100, Options: opts}
						var times []time.Duration
						self0, store0 := e.cpuNow(b, true)
						reqs0 := e.reqs.Load()
						for b.Loop() {
							for range storeBenchNoChange {
								t0 := time.Now()
								c, _ := e.sync(b, device, req)
								times = append(times, time.Since(t0))
								if c.Commands != nil || c.SyncKey != key {
									b.Fatalf("no-change Sync = %+v; want key %s and no commands", c, key)
								}
							}
						}
						self1, store1 := e.cpuNow(b, false)
						slices.Sort(times)
						ops := float64(len(times))
						b.ReportMetric(float64(times[len(times)/2])/1e6, "p50-ms")
						b.ReportMetric(float64(self1-self0)/1e6/ops, "easgate-cpu-ms/op")
						b.ReportMetric(float64(store1-store0)/1e6/ops, "store-cpu-ms/op")
						b.ReportMetric(float64(e.reqs.Load()-reqs0)/ops, "store-requests/op")
					})
				})
			}
		})
	}
}

// storeBenchTransport counts JMAP's HTTP requests, sent through the
// transport serve's JMAP adapter uses.
type storeBenchTransport struct {
	n    *atomic.Int64
	base http.RoundTripper
}

func (t *storeBenchTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.base.RoundTrip(r)
}
