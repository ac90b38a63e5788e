// Command pushload measures what store-side push costs the mail server
// (issue 14): n users, each with one phone whose Ping waits on its Inbox,
// on one real Dovecot, first with IMAP IDLE (no event source: one IDLE
// connection, one Dovecot imap process, per user), then with Dovecot's
// push_notification events posted to the gateway's events endpoint
// (configs/dovecot/). For each it reports Dovecot's processes and their
// summed PSS and RSS once every Ping waits and idle command connections
// are gone, and the time from an APPEND (by another IMAP client of the
// user) to the Ping's answer on the phone's connection.
//
// Everything runs on loopback: Dovecot through internal/testserver's
// start-dovecot-push.sh (root, as for the tests), the gateway with the
// imapdav adapter in this process, the phones as raw HTTP connections.
// It stops by itself after -timeout, Dovecot with it.
//
//	go run ./scripts/pushload -n 1000 -appends 200
//	go run ./scripts/pushload -n 1000 -mode events
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/gateway"
	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources/imapdav"
	"github.com/easgate/easgate/statecache"
)

const (
	password = "pushload"
	token    = "pushload-events-token"
)

func main() {
	n := flag.Int("n", 1000, "users, one waiting Ping each")
	appends := flag.Int("appends", 200, "APPENDs whose Ping answer is timed, with events (an eighth of them with IDLE)")
	mode := flag.String("mode", "both", "idle, events or both")
	connIdle := flag.Duration("conn-idle", 5*time.Second, "imapdav ConnIdle: how soon idle command connections close before measuring")
	fast := flag.Bool("fast-login", false, "Dovecot's imap-login in high-performance mode with spare imap processes (docs/OPERATIONS.md)")
	timeout := flag.Duration("timeout", 45*time.Minute, "stop after this long whatever happens")
	flag.Parse()
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var modes []bool
	switch *mode {
	case "idle":
		modes = []bool{false}
	case "events":
		modes = []bool{true}
	case "both":
		modes = []bool{false, true}
	default:
		log.Fatalf("pushload: -mode %q is not idle, events or both", *mode)
	}
	fmt.Printf("pushload: %d users, one waiting Ping each, on one Dovecot (fast login: %v); load before: %s\n", *n, *fast, loadavg())
	var results []result
	for _, events := range modes {
		k := *appends
		if !events {
			k = max(1, k/8) // IDLE is the slow baseline: fewer samples
		}
		r, err := run(ctx, *n, k, events, *connIdle, *fast)
		if err != nil {
			fmt.Fprintln(os.Stderr, "pushload:", err)
			os.Exit(1)
		}
		results = append(results, r)
	}
	fmt.Println()
	fmt.Println("| push | waiting Pings | Dovecot processes | of them imap | Dovecot PSS | Dovecot RSS | easgate IMAP conns (command + IDLE) | APPEND → Ping answer p50 / p99 / max | load (1 min) |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range results {
		fmt.Printf("| %s | %d | %d | %d | %.1f MiB | %.1f MiB | %d + %d | %v / %v / %v (%d APPENDs, %d unanswered in %v) | %s |\n",
			r.name, r.waiting, r.usage.Procs, r.usage.IMAP, mib(r.usage.PSS), mib(r.usage.RSS), r.cmd, r.idle,
			r.p50, r.p99, r.max, r.samples, r.timeouts, answerWait, r.load)
	}
}

type result struct {
	name          string
	waiting       int
	usage         testserver.Usage
	cmd, idle     int
	p50, p99, max time.Duration
	samples       int
	timeouts      int
	dropped       int // POSTs Dovecot logged as failed
	load          string
}

// spareIMAP is Dovecot's imap process_min_avail with -fast-login
// (start-dovecot-push.sh's DOVECOT_FAST_LOGIN).
const spareIMAP = 4

// answerWait is how long a Ping may take to answer an APPEND.
const answerWait = 65 * time.Second

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func user(i int) string { return fmt.Sprintf("u%04d", i) }

// run measures one mode: Dovecot, the gateway and n waiting Pings, then
// k timed APPENDs.
func run(ctx context.Context, n, k int, events bool, connIdle time.Duration, fast bool) (r result, err error) {
	r.name = map[bool]string{false: "IMAP IDLE", true: "Dovecot events"}[events]
	log.Printf("%s: starting Dovecot for %d users", r.name, n)
	users := make(map[string]string, n)
	for i := range n {
		users[user(i)] = password
	}
	// The events endpoint's port goes into Dovecot's configuration before
	// the gateway can listen on it.
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	defer adminLn.Close()
	po := &testserver.PushOptions{Users: users, MaxUsers: n, NoPush: !events, Token: token, FastLogin: fast,
		URL: "http://" + adminLn.Addr().String() + imapdav.EventsPath, IdleCheck: 30 * time.Second}
	dc, stop, err := testserver.LaunchDovecotPush(po)
	if err != nil {
		return r, err
	}
	defer func() {
		if serr := stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	// Dovecot must not outlive a run that is killed by -timeout either.
	hard := time.AfterFunc(time.Until(deadline(ctx))+30*time.Second, func() {
		stop()
		log.Fatalf("pushload: timed out")
	})
	defer hard.Stop()

	b, err := imapdav.NewBackend(&imapdav.Options{IMAP: dc.IMAP, TLS: imapdav.TLSNone, MaxUsers: n + 10,
		Events: events, EventCheck: time.Hour, ConnIdle: connIdle, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return r, err
	}
	defer b.Close()
	st, err := statecache.Open("", &statecache.Options{InMemory: true})
	if err != nil {
		return r, err
	}
	defer st.Close()
	gw, err := gateway.New(&gateway.Options{
		Logger:  slog.New(slog.DiscardHandler),
		Backend: b,
		State:   st,
		// every phone is 127.0.0.1, all at once (see scripts/pingload)
		Conns:  gateway.ConnOptions{MaxConns: n + 100, MaxConnsPerAddress: n + 100},
		Limits: gateway.Limits{MaxRequests: n + 100, MaxHeartbeat: 30 * time.Minute},
	})
	if err != nil {
		return r, err
	}
	if events {
		h, err := b.EventsHandler(imapdav.EventsOptions{Token: token})
		if err != nil {
			return r, err
		}
		gw.Admin().Handle(imapdav.EventsPath, h)
	}
	admin := &http.Server{Handler: gw.Admin(), ReadHeaderTimeout: 10 * time.Second}
	go admin.Serve(adminLn)
	defer admin.Close()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	ln := gw.Listen(gw.LimitConns(raw))
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 30 * time.Second}
	go srv.Serve(ln)
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		gw.Shutdown(sctx)
		srv.Shutdown(sctx)
	}()
	addr := ln.Addr().String()

	t0 := time.Now()
	if err := setupAll(ctx, st, b, n); err != nil {
		return r, err
	}
	log.Printf("%s: %d devices synced in %v", r.name, n, time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	// Phones arrive in batches, each parked before the next comes: a
	// thousand logins at once would measure Dovecot's fork storm.
	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	for lo := 0; lo < n; lo += batch {
		hi := min(n, lo+batch)
		if err := openPings(addr, conns, lo, hi); err != nil {
			return r, err
		}
		if r.waiting, err = waitFor(ctx, 2*time.Minute, func() (int, bool) {
			w := waiting(gw)
			return w, w >= hi
		}); err != nil {
			return r, fmt.Errorf("%s: %d of %d Pings wait: %w", r.name, r.waiting, hi, err)
		}
		if hi%200 == 0 || hi == n {
			log.Printf("%s: %d Pings waiting", r.name, r.waiting)
		}
	}
	log.Printf("%s: %d Pings waiting after %v", r.name, r.waiting, time.Since(t0).Round(time.Millisecond))
	// Steady state: command connections closed after ConnIdle; what is
	// left is what waiting costs.
	wantIdle := map[bool]int{false: n, true: 0}[events]
	if _, err = waitFor(ctx, connIdle+2*time.Minute, func() (int, bool) {
		r.cmd, r.idle = b.Conns()
		u, uerr := dc.Usage()
		// -fast-login keeps spareIMAP imap processes ready for logins
		spare := map[bool]int{false: 0, true: spareIMAP}[fast]
		return r.cmd, r.cmd == 0 && r.idle == wantIdle && uerr == nil && u.IMAP <= r.idle+spare
	}); err != nil {
		return r, fmt.Errorf("%s: command/IDLE connections did not settle at 0/%d (now %d/%d): %w", r.name, wantIdle, r.cmd, r.idle, err)
	}
	if r.usage, err = dc.Usage(); err != nil {
		return r, err
	}
	log.Printf("%s: Dovecot %d processes (%d imap), PSS %.1f MiB, RSS %.1f MiB", r.name, r.usage.Procs, r.usage.IMAP, mib(r.usage.PSS), mib(r.usage.RSS))

	// APPEND → Ping answer, one user at a time, each user once.
	// A Ping that does not answer within answerWait counts as a
	// timeout, at answerWait: Dovecot's IDLE falls back to checking
	// every 30 s once the kernel's inotify instances per user (128 by
	// default; every imap process runs as the mail user) are used up.
	var lat []time.Duration
	for _, i := range rand.Perm(n)[:min(k, n)] {
		d, err := appendAndWait(dc.IMAP, conns[i], user(i))
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			r.timeouts++
			d = answerWait
		case err != nil:
			return r, fmt.Errorf("%s: user %s: %w", r.name, user(i), err)
		}
		lat = append(lat, d)
		if len(lat)%25 == 0 {
			log.Printf("%s: %d APPENDs answered", r.name, len(lat))
		}
	}
	slices.Sort(lat)
	r.samples = len(lat)
	r.p50, r.p99, r.max = pct(lat, 50), pct(lat, 99), lat[len(lat)-1]
	r.load = loadavg()
	if b, err := os.ReadFile(dc.Dir + "/log/dovecot.log"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "easgate-push: POST") {
				if r.dropped++; r.dropped <= 3 {
					log.Printf("%s: Dovecot: %s", r.name, l)
				}
			}
		}
	}
	log.Printf("%s: APPEND → Ping p50 %v p99 %v max %v over %d (%d no answer within %v); %d POSTs failed in Dovecot's log; load %s",
		r.name, r.p50, r.p99, r.max, r.samples, r.timeouts, answerWait, r.dropped, r.load)
	return r, nil
}

func deadline(ctx context.Context) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Now().Add(time.Hour)
	}
	return d
}

// pct returns the p-th percentile of sorted d (nearest rank).
func pct(d []time.Duration, p int) time.Duration {
	i := (len(d)*p + 99) / 100
	return d[max(0, min(len(d)-1, i-1))].Round(10 * time.Microsecond)
}

// waitFor polls cond every 200 ms until it holds, ctx ends or d passes;
// it returns cond's last value.
func waitFor(ctx context.Context, d time.Duration, cond func() (int, bool)) (int, error) {
	end := time.Now().Add(d)
	for {
		v, ok := cond()
		if ok {
			return v, nil
		}
		if time.Now().After(end) {
			return v, errors.New("gave up waiting")
		}
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// setupAll logs every user in and gives the user's device a synced
// hierarchy and Inbox (CollectionId 1), as FolderSync and Sync would,
// 16 users at a time.
func setupAll(ctx context.Context, st *statecache.Store, b *imapdav.Backend, n int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := setup(ctx, st, b, user(i)); err != nil {
					mu.Lock()
					first = cmp(first, fmt.Errorf("setup %s: %w", user(i), err))
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return cmp(first, ctx.Err())
}

func cmp(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func setup(ctx context.Context, st *statecache.Store, b *imapdav.Backend, u string) error {
	src, err := b.Login(ctx, u, password)
	if err != nil {
		return err
	}
	a := statecache.Account{User: u, Device: "dev"}
	if _, err := st.AdvanceHierarchy(ctx, a, statecache.InitialKey, statecache.SyncState{}); err != nil {
		return err
	}
	if _, err := st.CollectionIDs(ctx, a, []string{"INBOX"}); err != nil {
		return err
	}
	cur, err := src.(*imapdav.Source).State(ctx, "INBOX")
	if err != nil {
		return err
	}
	_, err = st.Advance(ctx, statecache.CollectionKey{Account: a, Collection: "1"}, statecache.InitialKey,
		statecache.SyncState{State: string(cur)})
	return err
}

// waiting reads the Pings parked in gw.
func waiting(gw *gateway.Server) int {
	mfs, err := gw.Registry().Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() != "easgate_waiting_requests" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "command" && l.GetValue() == "Ping" {
					return int(m.GetGauge().GetValue())
				}
			}
		}
	}
	return 0
}

// batch is how many phones send their Ping together.
const batch = 50

// openPings dials conns[lo:hi] and sends one Ping on each: user i's phone
// watches its Inbox.
func openPings(addr string, conns []net.Conn, lo, hi int) error {
	body, err := eas.Marshal(&eas.PingRequest{HeartbeatInterval: 1500,
		Folders: &eas.PingFolders{Folder: []eas.PingFolder{{ID: "1", Class: "Email"}}}})
	if err != nil {
		return err
	}
	var next atomic.Int64
	next.Store(int64(lo))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= hi {
					return
				}
				c, err := net.Dial("tcp", addr)
				if err == nil {
					_, err = c.Write(request(addr, user(i), body))
				}
				if err != nil {
					mu.Lock()
					first = cmp(first, err)
					mu.Unlock()
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	return first
}

func request(addr, u string, body []byte) []byte {
	auth := base64.StdEncoding.EncodeToString([]byte(u + ":" + password))
	return fmt.Appendf(nil, "POST %s?Cmd=Ping&User=%s&DeviceId=dev&DeviceType=Load HTTP/1.1\r\n"+
		"Host: %s\r\nAuthorization: Basic %s\r\nMS-ASProtocolVersion: 14.1\r\n"+
		"Content-Type: application/vnd.ms-sync.wbxml\r\nContent-Length: %d\r\n\r\n%s",
		gateway.Path, u, addr, auth, len(body), body)
}

// appendAndWait logs in as u (untimed), APPENDs to u's Inbox and returns
// the time from sending the APPEND to reading the Ping's answer, status 2,
// on c.
func appendAndWait(imapAddr string, c net.Conn, u string) (time.Duration, error) {
	ic, err := imapclient.DialInsecure(imapAddr, nil)
	if err != nil {
		return 0, err
	}
	defer ic.Close()
	if err := ic.Login(u, password).Wait(); err != nil {
		return 0, err
	}
	msg := []byte("From: a@example.com\r\nTo: " + u + "@example.com\r\nSubject: pushload\r\n\r\nhello\r\n")
	start := time.Now()
	cmd := ic.Append("INBOX", int64(len(msg)), nil)
	cmd.Write(msg)
	cmd.Close()
	if _, err := cmd.Wait(); err != nil {
		return 0, err
	}
	st, err := readPing(c)
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	if st != eas.PingStatusChanges {
		return 0, fmt.Errorf("Ping answered status %d, want 2", st)
	}
	ic.Logout().Wait()
	return took, nil
}

// readPing reads one Ping response from c.
func readPing(c net.Conn) (eas.PingStatus, error) {
	c.SetReadDeadline(time.Now().Add(answerWait))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	var pr eas.PingResponse
	if err := eas.Unmarshal(body, &pr, nil); err != nil {
		return 0, err
	}
	return pr.Status, nil
}

// loadavg returns the load averages from /proc/loadavg.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
