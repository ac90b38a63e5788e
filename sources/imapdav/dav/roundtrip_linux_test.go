package dav

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
)

// quickAckConn sets TCP_QUICKACK after every read, as sources/jmap's
// transport does against Cyrus (quickack_linux.go there): the benchmark
// below compares round trips with and without it.
type quickAckConn struct {
	net.Conn
	raw syscall.RawConn
}

func (c *quickAckConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.raw.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1) })
	return n, err
}

// timedTransport records each round trip, from the request's start to
// the end of its response body, and counts the connections it dials.
type timedTransport struct {
	http.Transport
	mu    sync.Mutex
	trips []time.Duration
	dials int
}

func newTimedTransport(quickAck bool) *timedTransport {
	t := &timedTransport{Transport: *http.DefaultTransport.(*http.Transport).Clone()}
	var d net.Dialer
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		t.mu.Lock()
		t.dials++
		t.mu.Unlock()
		c, err := d.DialContext(ctx, network, addr)
		if err != nil || !quickAck {
			return c, err
		}
		raw, err := c.(*net.TCPConn).SyscallConn()
		if err != nil {
			c.Close()
			return nil, err
		}
		return &quickAckConn{Conn: c, raw: raw}, nil
	}
	return t
}

func (t *timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.Transport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &timedBody{ReadCloser: resp.Body, done: func() {
		t.mu.Lock()
		t.trips = append(t.trips, time.Since(start))
		t.mu.Unlock()
	}}
	return resp, nil
}

// reset forgets the round trips and dials so far.
func (t *timedTransport) reset() {
	t.mu.Lock()
	t.trips, t.dials = nil, 0
	t.mu.Unlock()
}

// timedBody calls done once, at the body's end or close.
type timedBody struct {
	io.ReadCloser
	done func()
	once sync.Once
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.once.Do(b.done)
	}
	return n, err
}

func (b *timedBody) Close() error {
	b.once.Do(b.done)
	return b.ReadCloser.Close()
}

// benchCard is the n-th contact of the benchmark address book.
func benchCard(n int) string {
	return fmt.Sprintf("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:rt-%05d\r\nFN:Contact %d\r\nN:Last%d;First%d;;;\r\n"+
		"EMAIL;TYPE=INTERNET:c%d@example.org\r\nTEL;TYPE=CELL:+49 30 %07d\r\nORG:Example %d\r\nNOTE:note %d\r\nEND:VCARD\r\n",
		n, n, n, n, n, n, n%50, n)
}

// BenchmarkFirstListingRoundTrips times every HTTP round trip of a first
// listing of an address book (Changes from the empty State in windows of
// 100, each followed by its Get: one sync-collection REPORT, then a
// multiget per window), with and without TCP_QUICKACK on the client's
// sockets, alternating. It looks for the stall sources/jmap had against
// Cyrus: a server that holds a response's last segment (Nagle) until the
// previous one is acknowledged, and Linux delaying that ACK 40 ms, which
// shows as a second mode near 40 ms that quick ACKs remove. Radicale
// holds 1,500 contacts; Xandikos 300, as each PUT there is a git commit
// and 1,500 took over ten minutes.
// Run: go test ./sources/imapdav/dav -run - -bench FirstListingRoundTrips -benchtime 8x -v
func BenchmarkFirstListingRoundTrips(b *testing.B) {
	for _, sv := range servers {
		b.Run(sv.name, func(b *testing.B) {
			n, coll := 1500, "/alice/contacts/"
			if sv.name == "Xandikos" {
				n, coll = 300, "/alice/contacts/addressbook/"
			}
			srv := sv.start(b)
			ctx := b.Context()
			r := raw{b, strings.TrimSuffix(srv.URL, "/"), "alice"}
			var wg sync.WaitGroup
			sem := make(chan struct{}, 4)
			for i := range n {
				sem <- struct{}{}
				wg.Go(func() {
					defer func() { <-sem }()
					if _, _, err := r.do(ctx, "PUT", fmt.Sprintf("%srt-%05d.vcf", coll, i), "text/vcard", benchCard(i)); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
			if b.Failed() {
				b.FailNow()
			}
			f := sources.FolderID("dav:" + coll)

			type mode struct {
				name  string
				trips []time.Duration
				items int
				took  time.Duration
			}
			modes := [2]mode{{name: "off"}, {name: "on"}}
			list := func(m *mode, quickAck bool) {
				tr := newTimedTransport(quickAck)
				defer tr.CloseIdleConnections()
				s, err := Open(ctx, &Options{CardDAV: srv.URL, HTTPClient: &http.Client{Transport: tr}}, "alice", testserver.Users["alice"])
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.Folders(ctx); err != nil {
					b.Fatal(err)
				}
				tr.reset() // discovery is not part of the listing
				start := time.Now()
				var st sources.State
				for {
					d, err := s.Changes(ctx, f, st, 100)
					if err != nil {
						b.Fatal(err)
					}
					items, err := s.Get(ctx, f, d.Changed, nil)
					if err != nil {
						b.Fatal(err)
					}
					m.items += len(items)
					if st = d.Next; !d.More {
						break
					}
				}
				m.took += time.Since(start)
				tr.mu.Lock()
				defer tr.mu.Unlock()
				m.trips = append(m.trips, tr.trips...)
				ms := make([]string, len(tr.trips))
				for i, d := range tr.trips {
					ms[i] = fmt.Sprintf("%.1f", float64(d.Microseconds())/1000)
				}
				b.Logf("quick ACKs %s: %d round trips on %d connections, ms: %s", m.name, len(tr.trips), tr.dials, strings.Join(ms, " "))
			}
			for i := 0; b.Loop(); i++ {
				first := i % 2 // alternate which goes first
				list(&modes[first], first == 1)
				list(&modes[1-first], first == 0)
			}
			for _, m := range modes {
				if m.items != n*b.N {
					b.Fatalf("quick ACKs %s: listed %d contacts in %d passes, want %d each", m.name, m.items, b.N, n)
				}
				slices.Sort(m.trips)
				slow := 0
				for _, d := range m.trips {
					if d >= 35*time.Millisecond {
						slow++
					}
				}
				q := func(p float64) float64 { return float64(m.trips[int(p*float64(len(m.trips)-1))].Microseconds()) / 1000 }
				b.ReportMetric(q(0.5), m.name+"-p50-ms")
				b.ReportMetric(q(0.9), m.name+"-p90-ms")
				b.ReportMetric(float64(slow)/float64(len(m.trips)), m.name+"-share≥35ms")
				b.ReportMetric(float64(m.items)/m.took.Seconds(), m.name+"-items/s")
			}
		})
	}
}
