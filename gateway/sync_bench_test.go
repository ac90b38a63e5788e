package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/memory"
	"github.com/easgate/easgate/statecache"
)

// The Sync benchmarks run the whole path a phone's request takes: HTTP,
// admission, the memory store, a statecache on disk whose every Advance
// is fsynced, and WBXML both ways. docs/BENCHMARKS.md lists them.

// syncBenchVersion is the protocol version of the benchmarks' phone.
const syncBenchVersion = "14.1"

// syncBenchHTML is an HTML body of about 6 KB, over the 5 KB a phone
// asks for, so that every body is truncated.
var syncBenchHTML = strings.Repeat("<p>Hello Alice, the quarterly figures are attached. Let me know what you think &amp; reply by Friday.</p>\r\n", 60)

// syncBenchMail returns the ith message of a benchmark or of the crash
// test: the same bytes for the same i, with an HTML body when html is set
// and a one-line text body otherwise.
func syncBenchMail(i int, html bool) []byte {
	ctype, body := "text/plain; charset=utf-8", fmt.Sprintf("Body of message %d.\r\n", i)
	if html {
		ctype, body = "text/html; charset=utf-8", syncBenchHTML
	}
	return fmt.Appendf(nil, "From: Bob <bob@example.net>\r\nTo: alice@example.org\r\nSubject: Message %d\r\n"+
		"Date: Mon, 30 Nov 2026 09:%02d:00 +0000\r\nMessage-ID: <m%d@example.net>\r\nContent-Type: %s\r\n\r\n%s",
		i, i%60, i, ctype, body)
}

// syncBenchFill adds n messages to src's inbox, in order.
func syncBenchFill(src *memory.Source, n int, html bool) error {
	for i := range n {
		if _, err := src.AddMessage(context.Background(), "inbox", syncBenchMail(i, html)); err != nil {
			return err
		}
	}
	return nil
}

// syncBenchHierarchy leaves account a's hierarchy as a FolderSync would,
// the way newSyncEnv does, and returns each folder's CollectionId. Where
// the hierarchy is there already it only reads the map, so a restarted
// server finds the ids it handed out before.
func syncBenchHierarchy(ctx context.Context, st *statecache.Store, a statecache.Account, src sources.Source) (map[sources.FolderID]string, error) {
	d, err := src.Folders(ctx, "")
	if err != nil {
		return nil, err
	}
	fids := make([]string, len(d.Changed))
	for i, f := range d.Changed {
		fids[i] = string(f.ID)
	}
	cids, err := st.CollectionIDs(ctx, a, fids)
	if errors.Is(err, statecache.ErrNotFound) {
		if _, err = st.AdvanceHierarchy(ctx, a, statecache.InitialKey, statecache.SyncState{}); err == nil {
			cids, err = st.CollectionIDs(ctx, a, fids)
		}
	}
	if err != nil {
		return nil, err
	}
	ids := make(map[sources.FolderID]string, len(fids))
	for i, f := range fids {
		ids[sources.FolderID(f)] = cids[i]
	}
	return ids, nil
}

// syncBenchRequest builds alice's Sync of one collection from device to
// base, a server's URL.
func syncBenchRequest(base, device string, c eas.SyncCollection) (*http.Request, error) {
	body, err := eas.Marshal(&eas.SyncRequest{Collections: &eas.SyncCollections{Collection: []eas.SyncCollection{c}}})
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequest("POST", base+Path+"?Cmd=Sync&User=alice&DeviceId="+device+"&DeviceType=BenchPhone", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.SetBasicAuth("alice", "alice-pw")
	hr.Header.Set("MS-ASProtocolVersion", syncBenchVersion)
	hr.Header.Set("Content-Type", wbxmlType)
	return hr, nil
}

// syncBenchOne decodes a Sync response of one collection.
func syncBenchOne(body []byte) (eas.SyncResponseCollection, error) {
	var resp eas.SyncResponse
	if err := eas.Unmarshal(body, &resp, nil); err != nil {
		return eas.SyncResponseCollection{}, err
	}
	if resp.Collections == nil || len(resp.Collections.Collection) != 1 {
		return eas.SyncResponseCollection{}, fmt.Errorf("sync response %+v, want one collection", resp)
	}
	c := resp.Collections.Collection[0]
	if c.Status != eas.SyncStatusSuccess {
		return c, fmt.Errorf("sync status %d", c.Status)
	}
	return c, nil
}

// syncBench is a Server on a memory store and an on-disk statecache.
type syncBench struct {
	srv   *Server
	state *statecache.Store
	src   *memory.Source
}

func newSyncBench(b *testing.B) *syncBench {
	st, err := statecache.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	return newSyncBenchOn(b, st)
}

// newSyncBenchOn is newSyncBench on the state st, which it closes at the
// end.
func newSyncBenchOn(b *testing.B, st *statecache.Store) *syncBench {
	b.Cleanup(func() { st.Close() })
	store := memory.New(nil)
	// A benchmark repeats one request on purpose: no loop detection
	// (a window shorter than any two requests), or its answers are held
	// back after five.
	srv, err := New(&Options{Backend: syncBackend{store}, State: st, Limits: Limits{LoopWindow: time.Nanosecond}})
	if err != nil {
		b.Fatal(err)
	}
	return &syncBench{srv: srv, state: st, src: store.User("alice")}
}

// inbox gives device its hierarchy and returns the inbox's CollectionId.
func (e *syncBench) inbox(b *testing.B, device string) string {
	ids, err := syncBenchHierarchy(context.Background(), e.state, statecache.Account{User: "alice", Device: device}, e.src)
	if err != nil {
		b.Fatal(err)
	}
	return ids["inbox"]
}

// serve answers one Sync through ServeHTTP and returns the body.
func (e *syncBench) serve(b *testing.B, device string, c eas.SyncCollection) []byte {
	hr, err := syncBenchRequest("", device, c)
	if err != nil {
		b.Fatal(err)
	}
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, hr)
	if w.Code != http.StatusOK {
		b.Fatalf("Sync = HTTP %d", w.Code)
	}
	return w.Body.Bytes()
}

// BenchmarkSyncInitial5000 measures a phone's first Sync of an inbox of
// 5,000 mails: key 0, then windows of 100 with HTML bodies cut at 5 KB,
// over loopback HTTP. Each iteration is a new device, so that it starts
// from nothing; the client's decoding of each response is not timed.
func BenchmarkSyncInitial5000(b *testing.B) {
	benchSyncInitial(b, newSyncBench(b))
}

// BenchmarkSyncInitialPostgres5000 is BenchmarkSyncInitial5000 with the
// state on PostgreSQL, which shares the machine: each window is then an
// Advance of 100 new ServerIds committed there, and the look-up of the
// window's items before it.
func BenchmarkSyncInitialPostgres5000(b *testing.B) {
	pg := testserver.StartPostgres(b)
	st, err := statecache.OpenPostgres(context.Background(), pg.Schema(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	benchSyncInitial(b, newSyncBenchOn(b, st))
}

func benchSyncInitial(b *testing.B, e *syncBench) {
	const n, window = 5000, 100
	start := time.Now()
	if err := syncBenchFill(e.src, n, true); err != nil {
		b.Fatal(err)
	}
	b.Logf("setup: %d mails in %v", n, time.Since(start).Round(time.Millisecond))
	ts := httptest.NewServer(e.srv)
	defer ts.Close()
	client := ts.Client()
	trunc := uint32(5120)
	opts := []eas.SyncOptions{{BodyPreference: []eas.BodyPreference{{Type: int(eas.BodyHTML), TruncationSize: &trunc}}}}
	post := func(device string, c eas.SyncCollection) []byte {
		hr, err := syncBenchRequest(ts.URL, device, c)
		if err != nil {
			b.Fatal(err)
		}
		resp, err := client.Do(hr)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("Sync = HTTP %d, %v", resp.StatusCode, err)
		}
		return body
	}
	decode := func(body []byte) eas.SyncResponseCollection {
		b.StopTimer()
		defer b.StartTimer()
		c, err := syncBenchOne(body)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		device := fmt.Sprintf("bench%d", i)
		inbox := e.inbox(b, device)
		b.StartTimer()
		key := decode(post(device, eas.SyncCollection{SyncKey: "0", CollectionID: inbox})).SyncKey
		got := 0
		for {
			c := decode(post(device, eas.SyncCollection{SyncKey: key, CollectionID: inbox, WindowSize: window, Options: opts}))
			b.StopTimer()
			if c.Commands == nil || len(c.Commands.Add) == 0 || len(c.Commands.Add) > window {
				b.Fatalf("window after %d mails: %+v", got, c.Commands)
			}
			if i == 0 && got == 0 {
				var m eas.Email
				err := c.Commands.Add[0].ApplicationData.Decode(&m)
				if err != nil || m.Body == nil || m.Body.Data == nil || m.Body.Truncated == nil || !*m.Body.Truncated || len(*m.Body.Data) > int(trunc) {
					b.Fatalf("first mail = %+v, %v; want an HTML body truncated at %d bytes", m.Body, err, trunc)
				}
			}
			got += len(c.Commands.Add)
			key = c.SyncKey
			b.StartTimer()
			if !c.MoreAvailable {
				break
			}
		}
		if got != n {
			b.Fatalf("initial sync gave %d mails, want %d", got, n)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkSyncNoChange measures a Sync that finds nothing new in a primed
// inbox, through ServeHTTP. Its cost must not depend on the inbox's size.
// Both inboxes are primed in windows of 100, so that the window kept with
// the current key, which each request reads back, is the same size.
func BenchmarkSyncNoChange(b *testing.B) {
	benchSyncNoChange(b, newSyncBench, 5000, 50000)
}

// BenchmarkSyncNoChangePostgres is BenchmarkSyncNoChange with the state
// in PostgreSQL (state.url), as several nodes keep it: each of the
// request's state transactions is a round trip or two to the database.
func BenchmarkSyncNoChangePostgres(b *testing.B) {
	pg := testserver.StartPostgres(b)
	benchSyncNoChange(b, func(b *testing.B) *syncBench {
		st, err := statecache.OpenPostgres(context.Background(), pg.Schema(b), nil)
		if err != nil {
			b.Fatal(err)
		}
		return newSyncBenchOn(b, st)
	}, 5000)
}

func benchSyncNoChange(b *testing.B, newBench func(*testing.B) *syncBench, sizes ...int) {
	for _, n := range sizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			e := newBench(b)
			start := time.Now()
			if err := syncBenchFill(e.src, n, false); err != nil {
				b.Fatal(err)
			}
			filled := time.Since(start)
			inbox := e.inbox(b, "phone1")
			c, err := syncBenchOne(e.serve(b, "phone1", eas.SyncCollection{SyncKey: "0", CollectionID: inbox}))
			if err != nil {
				b.Fatal(err)
			}
			for got := 0; ; {
				c, err = syncBenchOne(e.serve(b, "phone1", eas.SyncCollection{SyncKey: c.SyncKey, CollectionID: inbox, WindowSize: 100}))
				if err != nil {
					b.Fatal(err)
				}
				if c.Commands != nil {
					got += len(c.Commands.Add)
				}
				if !c.MoreAvailable {
					if got != n {
						b.Fatalf("priming gave %d mails, want %d", got, n)
					}
					break
				}
			}
			b.Logf("setup: %d mails in %v, primed in %v", n, filled.Round(time.Millisecond), (time.Since(start) - filled).Round(time.Millisecond))
			req := eas.SyncCollection{SyncKey: c.SyncKey, CollectionID: inbox, WindowSize: 100}
			want := e.serve(b, "phone1", req)
			if c, err := syncBenchOne(want); err != nil || c.Commands != nil || c.SyncKey != req.SyncKey {
				b.Fatalf("no-change Sync = %+v, %v; want key %s and no commands", c, err, req.SyncKey)
			}
			want = bytes.Clone(want)
			b.ReportAllocs()
			for b.Loop() {
				if got := e.serve(b, "phone1", req); !bytes.Equal(got, want) {
					b.Fatalf("no-change Sync answered % x, want % x", got, want)
				}
			}
		})
	}
}
