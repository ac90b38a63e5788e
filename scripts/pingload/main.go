// Command pingload measures what a waiting Ping costs the gateway. It
// starts easgate's gateway in a child process (a memory store and an
// in-memory statecache, one account per Ping, inbox synced), opens n Pings
// to it over loopback from n connections, and once all are parked reports
// the server's live heap, goroutine stacks and RSS per waiting Ping. Then
// it changes the inbox of a few accounts, checks that their Pings answer
// status 2 and how fast, and exits, the child with it. Client and server
// run in separate processes so that neither's memory nor open files count
// against the other (one process may hold 20,000 files here). With -tls
// the Pings come over TLS (a self-signed certificate made at start), and
// what is parked per Ping is a *tls.Conn.
//
// With -real it drives a real `easgate serve` instead (real.go): built from
// ./cmd/easgate, one user per phone on the memory store or on Dovecot
// (-store dovecot, push by mailbox events; dovecot-idle, by IMAP IDLE),
// and it reports easgate's and Dovecot's RSS and PSS per waiting phone.
// Run it from the repository's root.
//
//	go run ./scripts/pingload -n 10000
//	go run ./scripts/pingload -n 10000 -tls
//	go run ./scripts/pingload -real -n 19000
//	go run ./scripts/pingload -real -store dovecot -n 200
package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/gateway"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/memory"
	"github.com/easgate/easgate/statecache"
)

const password = "pingload"

func main() {
	n := flag.Int("n", 10000, "Pings to hold open")
	wake := flag.Int("wake", 5, "Pings to wake with a change")
	timeout := flag.Duration("timeout", 0, "exit after this long whatever happens (0: 3m, with -real 25m)")
	server := flag.Bool("server", false, "run as the server child (internal)")
	useTLS := flag.Bool("tls", false, "Ping over TLS")
	real := flag.Bool("real", false, "drive a real easgate serve process (built from ./cmd/easgate; run from the repository's root)")
	flag.BoolVar(&classicHello, "classic-hello", false, "with -tls: the phones offer X25519 alone, a ClientHello of ~300 bytes instead of ~1.5 KB with Go's default X25519MLKEM768 key share (crypto/tls keeps buffers of the ClientHello's size for the connection's life)")
	store := flag.String("store", "memory", "with -real: the store, memory (in easgate), dovecot (started from internal/testserver, push by its mailbox events) or dovecot-idle (push by IMAP IDLE)")
	flag.Parse()
	if *timeout == 0 {
		*timeout = 3 * time.Minute
		if *real {
			*timeout = 25 * time.Minute
		}
	}
	// What -real started is stopped also when it times out.
	var cleanups cleanupList
	time.AfterFunc(*timeout, func() {
		fmt.Fprintln(os.Stderr, "pingload: timed out")
		cleanups.run()
		os.Exit(2)
	})
	var err error
	if *server && os.Getenv("PINGLOAD_HEAPPROFILE") != "" {
		// Every allocation, so that a profile of a few thousand Pings
		// shows each one's bytes exactly.
		runtime.MemProfileRate = 1
	}
	switch {
	case *real:
		err = driveReal(*n, *wake, *useTLS, *store, &cleanups)
	case *server:
		err = serve(*n, *useTLS)
	default:
		err = drive(*n, *wake, *useTLS)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pingload:", err)
		os.Exit(1)
	}
}

// classicHello is -classic-hello.
var classicHello bool

// phoneTLS is the phones' TLS configuration.
func phoneTLS() *tls.Config {
	c := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}} // our own certificate
	if classicHello {
		c.CurvePreferences = []tls.CurveID{tls.X25519}
	}
	return c
}

// cleanupList holds what stops the processes -real started.
type cleanupList struct {
	mu sync.Mutex
	fs []func()
}

func (l *cleanupList) add(f func()) {
	l.mu.Lock()
	l.fs = append(l.fs, f)
	l.mu.Unlock()
}

// run runs the cleanups, last added first, once.
func (l *cleanupList) run() {
	l.mu.Lock()
	fs := l.fs
	l.fs = nil
	l.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// serve is the child: it sets up n accounts, listens on loopback, prints
// "addr ADDR" and answers commands on stdin until it closes:
// "measure" prints "waiting W heap H stacks S rss R" (bytes, after a GC);
// "wake I" adds a message to the inbox of account I.
func serve(n int, useTLS bool) error {
	ctx := context.Background()
	st, err := statecache.Open("", &statecache.Options{InMemory: true})
	if err != nil {
		return err
	}
	store := memory.New(nil)
	for i := range n {
		if err := setup(ctx, st, store, i); err != nil {
			return err
		}
	}
	gw, err := gateway.New(&gateway.Options{
		Logger:  slog.New(slog.DiscardHandler),
		Backend: backend{store},
		State:   st,
		// Every Ping comes from 127.0.0.1, all at once: the caps would
		// turn most away with 503 (as they would phones reconnecting
		// together after a restart, to come back after Retry-After).
		Conns:  gateway.ConnOptions{MaxConns: n + 100, MaxConnsPerAddress: n + 100},
		Limits: gateway.Limits{MaxRequests: n + 100},
	})
	if err != nil {
		return err
	}
	lc := net.ListenConfig{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 5 * time.Minute, Interval: time.Minute, Count: 4}}
	raw, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// The listener chain of easgate serve.
	inner := gw.LimitConns(raw)
	if useTLS {
		cert, err := selfSigned()
		if err != nil {
			return err
		}
		inner = tls.NewListener(inner, &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"},
			Certificates: []tls.Certificate{cert}})
	}
	ln := gw.Listen(inner)
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 30 * time.Second}
	go srv.Serve(ln)
	fmt.Printf("addr %s\n", ln.Addr())

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		switch cmd {
		case "measure":
			w, err := waiting(gw)
			if err != nil {
				return err
			}
			heap, stacks := heapBytes()
			if f := os.Getenv("PINGLOAD_HEAPPROFILE"); f != "" {
				if w == 0 {
					f += ".base"
				}
				if err := writeProfile(f); err != nil {
					return err
				}
				classes := []metrics.Sample{}
				for _, d := range metrics.All() {
					if strings.HasPrefix(d.Name, "/memory/classes/") {
						classes = append(classes, metrics.Sample{Name: d.Name})
					}
				}
				metrics.Read(classes)
				mc, err := os.Create(f + ".classes")
				if err != nil {
					return err
				}
				for _, c := range classes {
					fmt.Fprintf(mc, "%s %d\n", c.Name, c.Value.Uint64())
				}
				mc.Close()
				g, err := os.Create(f + ".goroutines")
				if err != nil {
					return err
				}
				pprof.Lookup("goroutine").WriteTo(g, 1)
				g.Close()
			}
			fmt.Printf("waiting %d heap %d stacks %d rss %d goroutines %d\n", w, heap, stacks, rss(), runtime.NumGoroutine())
		case "wake":
			i, _ := strconv.Atoi(arg)
			raw := "From: a@example.com\r\nTo: b@example.com\r\nSubject: wake\r\n\r\nhi\r\n"
			if _, err := store.User(user(i)).AddMessage(ctx, "inbox", []byte(raw)); err != nil {
				return err
			}
			fmt.Println("ok")
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	gw.Shutdown(sctx)
	return srv.Shutdown(sctx)
}

func user(i int) string { return "u" + strconv.Itoa(i) }

// setup gives account i a synced hierarchy (the inbox is CollectionId 1)
// and a synced inbox, as FolderSync and Sync would.
func setup(ctx context.Context, st *statecache.Store, store *memory.Store, i int) error {
	a := statecache.Account{User: user(i), Device: "dev"}
	if _, err := st.AdvanceHierarchy(ctx, a, statecache.InitialKey, statecache.SyncState{}); err != nil {
		return err
	}
	if _, err := st.CollectionIDs(ctx, a, []string{"inbox"}); err != nil {
		return err
	}
	cur, err := store.User(a.User).State(ctx, "inbox")
	if err != nil {
		return err
	}
	_, err = st.Advance(ctx, statecache.CollectionKey{Account: a, Collection: "1"}, statecache.InitialKey,
		statecache.SyncState{State: string(cur)})
	return err
}

type backend struct{ store *memory.Store }

func (b backend) Login(_ context.Context, user, pw string) (sources.Source, error) {
	if pw != password {
		return nil, sources.ErrAuth
	}
	return b.store.User(user), nil
}

// waiting reads how many requests wait for a change (parked Pings).
func waiting(gw *gateway.Server) (int, error) {
	mfs, err := gw.Registry().Gather()
	if err != nil {
		return 0, err
	}
	for _, mf := range mfs {
		if mf.GetName() == "easgate_waiting_requests" {
			n := 0
			for _, m := range mf.GetMetric() {
				n += int(m.GetGauge().GetValue())
			}
			return n, nil
		}
	}
	return 0, nil // none yet
}

// heapBytes returns the live heap objects and goroutine stacks after a GC.
func heapBytes() (heap, stacks uint64) {
	runtime.GC()
	debug.FreeOSMemory()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

// writeProfile writes the heap profile to file f.
func writeProfile(f string) error {
	out, err := os.Create(f)
	if err != nil {
		return err
	}
	defer out.Close()
	return pprof.Lookup("heap").WriteTo(out, 0)
}

// rss returns VmRSS from /proc/self/status, in bytes.
func rss() uint64 {
	b, _ := os.ReadFile("/proc/self/status")
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// child is the server process as the driver sees it.
type child struct {
	in  io.Writer
	out *bufio.Scanner
}

func (c *child) ask(cmd string) (string, error) {
	if _, err := fmt.Fprintln(c.in, cmd); err != nil {
		return "", err
	}
	if !c.out.Scan() {
		return "", fmt.Errorf("server: %q: no answer: %v", cmd, c.out.Err())
	}
	return c.out.Text(), nil
}

type sample struct{ waiting, heap, stacks, rss, goroutines uint64 }

func (c *child) measure() (sample, error) {
	line, err := c.ask("measure")
	if err != nil {
		return sample{}, err
	}
	var s sample
	_, err = fmt.Sscanf(line, "waiting %d heap %d stacks %d rss %d goroutines %d", &s.waiting, &s.heap, &s.stacks, &s.rss, &s.goroutines)
	return s, err
}

// drive starts the child, opens n Pings, measures and wakes a few.
func drive(n, wake int, useTLS bool) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "-server", "-n", strconv.Itoa(n), "-tls="+strconv.FormatBool(useTLS))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		in.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
		}
	}()
	c := &child{in: in, out: bufio.NewScanner(out)}
	t0 := time.Now()
	if !c.out.Scan() {
		return errors.New("server did not start")
	}
	addr, ok := strings.CutPrefix(c.out.Text(), "addr ")
	if !ok {
		return fmt.Errorf("server said %q", c.out.Text())
	}
	log.Printf("server at %s, %d accounts set up in %v", addr, n, time.Since(t0).Round(time.Millisecond))
	base, err := c.measure()
	if err != nil {
		return err
	}

	t0 = time.Now()
	conns, err := openPings(addr, n, useTLS)
	if err != nil {
		return err
	}
	// All n wait once the gauge says so and the goroutines that served
	// them are gone (a parked Ping holds none, or one).
	var s sample
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if s, err = c.measure(); err != nil {
			return err
		}
		if s.waiting >= uint64(n) && s.goroutines <= base.goroutines+uint64(n)+50 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if s.goroutines <= base.goroutines+uint64(n)/2 {
		// No goroutine per Ping: wait until the handlers' are gone too.
		for deadline := time.Now().Add(time.Minute); s.goroutines > base.goroutines+50 && time.Now().Before(deadline); {
			time.Sleep(200 * time.Millisecond)
			if s, err = c.measure(); err != nil {
				return err
			}
		}
	}
	log.Printf("%d Pings waiting after %v", s.waiting, time.Since(t0).Round(time.Millisecond))
	if s.waiting != uint64(n) {
		return fmt.Errorf("only %d of %d Pings wait", s.waiting, n)
	}
	per := func(a, b uint64) string { return fmt.Sprintf("%.1f KB", float64(int64(a)-int64(b))/float64(n)/1000) }
	fmt.Printf("waiting Pings: %d (TLS: %v)\n", n, useTLS)
	fmt.Printf("server heap objects: %d MB -> %d MB, %s per Ping\n", base.heap>>20, s.heap>>20, per(s.heap, base.heap))
	fmt.Printf("server stacks:       %d MB -> %d MB, %s per Ping\n", base.stacks>>20, s.stacks>>20, per(s.stacks, base.stacks))
	fmt.Printf("server RSS:          %d MB -> %d MB, %s per Ping\n", base.rss>>20, s.rss>>20, per(s.rss, base.rss))
	fmt.Printf("server goroutines:   %d -> %d\n", base.goroutines, s.goroutines)

	for _, i := range rand.Perm(n)[:min(wake, n)] {
		start := time.Now()
		if _, err := c.ask("wake " + strconv.Itoa(i)); err != nil {
			return err
		}
		st, err := readPing(conns[i])
		if err != nil {
			return fmt.Errorf("Ping %d: %w", i, err)
		}
		fmt.Printf("woke Ping %d: status %d after %v\n", i, st, time.Since(start).Round(time.Microsecond))
		if st != eas.PingStatusChanges {
			return fmt.Errorf("Ping %d answered status %d, want 2", i, st)
		}
	}
	return nil
}

// openPings dials n connections and sends one Ping on each.
func openPings(addr string, n int, useTLS bool) ([]net.Conn, error) {
	body, err := eas.Marshal(&eas.PingRequest{HeartbeatInterval: 900,
		Folders: &eas.PingFolders{Folder: []eas.PingFolder{{ID: "1", Class: "Email"}}}})
	if err != nil {
		return nil, err
	}
	return dialPings(addr, n, useTLS, func(int) []byte { return body }, func(int) {})
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func request(addr string, i int, body []byte) []byte {
	auth := base64.StdEncoding.EncodeToString([]byte(user(i) + ":" + password))
	return fmt.Appendf(nil, "POST %s?Cmd=Ping&User=%s&DeviceId=dev&DeviceType=Load HTTP/1.1\r\n"+
		"Host: %s\r\nAuthorization: Basic %s\r\nMS-ASProtocolVersion: 14.1\r\n"+
		"Content-Type: application/vnd.ms-sync.wbxml\r\nContent-Length: %d\r\n\r\n%s",
		gateway.Path, user(i), addr, auth, len(body), body)
}

// readPing reads one Ping response from c.
func readPing(c net.Conn) (eas.PingStatus, error) {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var pr eas.PingResponse
	if err := eas.Unmarshal(b, &pr, nil); err != nil {
		return 0, err
	}
	return pr.Status, nil
}

// selfSigned returns a new self-signed certificate for 127.0.0.1.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
