package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/gateway"
	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources/imapdav"
)

// realRun is pingload -real: a real `easgate serve` process, built from
// ./cmd/easgate, on a real store with n distinct users, one phone each.
type realRun struct {
	n, wake     int
	useTLS      bool
	store       string // memory or dovecot
	dir         string // temporary: binary, config, state, logs
	addr        string // the EAS listener
	admin       string // the admin listener
	pid         int    // easgate's
	dovecot     string // Dovecot's work directory; "" without
	imap        string // Dovecot's IMAP address
	stopDovecot func()
	inbox       []string
	sent        []string
	client      *http.Client
}

// driveReal runs pingload -real.
func driveReal(n, wake int, useTLS bool, store string, cleanups *cleanupList) (err error) {
	r := &realRun{n: n, wake: wake, useTLS: useTLS, store: store}
	defer cleanups.run()
	if r.dir, err = os.MkdirTemp("", "pingload"); err != nil {
		return err
	}
	defer os.RemoveAll(r.dir)
	// Dovecot's mail user must enter the work directory.
	if err := os.Chmod(r.dir, 0o755); err != nil {
		return err
	}
	log.Printf("building easgate")
	bin := filepath.Join(r.dir, "easgate")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/easgate/easgate/cmd/easgate").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	r.addr, r.admin = "127.0.0.1:"+strconv.Itoa(ports[0]), "127.0.0.1:"+strconv.Itoa(ports[1])
	storeConf := ""
	switch store {
	case "memory":
		var b strings.Builder
		b.WriteString("[store]\nkind = \"memory\"\n\n[memory]\nusers = {")
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s = %q", user(i), password)
		}
		b.WriteString("}\n")
		storeConf = b.String()
	case "dovecot", "dovecot-idle":
		if storeConf, err = r.startDovecot(store == "dovecot-idle"); err != nil {
			return err
		}
		cleanups.add(r.stopDovecot)
	default:
		return fmt.Errorf("-store %q: memory, dovecot or dovecot-idle", store)
	}
	tlsConf := ""
	if useTLS {
		if tlsConf, err = r.writeCert(); err != nil {
			return err
		}
	}
	cfg := fmt.Sprintf(`[server]
listen = %q
log_level = "warn"
mail_domain = "example.com"
max_conns = %d
max_conns_per_address = %d
%s
[admin]
listen = %q

[login]
cache_size = %d

[limits]
max_accounts = %d

[policy]
mode = "none"

[state]
dir = %q

%s`, r.addr, n+1000, n+1000, tlsConf, r.admin, n+1000, n+1000, filepath.Join(r.dir, "state"), storeConf)
	conf := filepath.Join(r.dir, "easgate.toml")
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(r.dir, "easgate.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "serve", "-config", conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if os.Getenv("PINGLOAD_HEAPPROFILE") != "" {
		// A sample every 4 KB allocated rather than every 512 KB, so
		// that the profile shows what each waiting phone holds.
		cmd.Env = append(os.Environ(), "GODEBUG=memprofilerate=4096")
	}
	// Should pingload die, easgate goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	r.pid = cmd.Process.Pid
	var stopOnce sync.Once
	cleanups.add(func() { stopOnce.Do(func() { cmd.Process.Kill() }) })
	defer func() {
		// Stop easgate by its pid: SIGTERM answers the parked Pings.
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if err != nil {
			if b, rerr := os.ReadFile(logf.Name()); rerr == nil {
				fmt.Fprintf(os.Stderr, "easgate's log (last 2 KB):\n%s\n", tailBytes(b, 2048))
			}
			if r.dovecot != "" {
				if b, rerr := os.ReadFile(filepath.Join(r.dovecot, "log", "dovecot.log")); rerr == nil {
					fmt.Fprintf(os.Stderr, "Dovecot's log (last 2 KB):\n%s\n", tailBytes(b, 2048))
				}
			}
		}
	}()
	tr := &http.Transport{MaxIdleConnsPerHost: 32, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // our own certificate
	r.client = &http.Client{Transport: tr, Timeout: time.Minute}
	defer tr.CloseIdleConnections()
	if err := r.waitUp(); err != nil {
		return err
	}
	return r.measureRun()
}

func tailBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// freePorts returns n ports free a moment ago.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// writeCert writes a self-signed certificate for the server section.
func (r *realRun) writeCert() (string, error) {
	cert, err := selfSigned()
	if err != nil {
		return "", err
	}
	certFile, keyFile := filepath.Join(r.dir, "cert.pem"), filepath.Join(r.dir, "key.pem")
	key, err := marshalKey(cert)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		return "", err
	}
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		return "", err
	}
	return fmt.Sprintf("tls_cert = %q\ntls_key = %q\n", certFile, keyFile), nil
}

func (r *realRun) url() string {
	if r.useTLS {
		return "https://" + r.addr + gateway.Path
	}
	return "http://" + r.addr + gateway.Path
}

// waitUp waits until easgate answers on its admin listener.
func (r *realRun) waitUp() error {
	for deadline := time.Now().Add(2 * time.Minute); ; {
		resp, err := http.Get("http://" + r.admin + "/metrics")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("easgate did not come up: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// post sends one EAS command of user i's device dev and decodes the answer
// into resp (nil: none expected).
func (r *realRun) post(i int, dev, cmd string, req, resp any) error {
	body, err := eas.Marshal(req)
	if err != nil {
		return err
	}
	hr, err := http.NewRequest("POST", r.url()+"?Cmd="+cmd+"&User="+user(i)+"&DeviceId="+dev+"&DeviceType=Load", bytes.NewReader(body))
	if err != nil {
		return err
	}
	hr.SetBasicAuth(user(i), password)
	hr.Header.Set("MS-ASProtocolVersion", "14.1")
	hr.Header.Set("Content-Type", "application/vnd.ms-sync.wbxml")
	res, err := r.client.Do(hr)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s of %s: HTTP %d %s", cmd, user(i), res.StatusCode, tailBytes(b, 200))
	}
	if resp == nil || len(b) == 0 {
		return nil
	}
	return eas.Unmarshal(b, resp, nil)
}

// prime runs every user's first FolderSync, as a new phone does, and
// notes the CollectionIds of its Inbox and Sent Items.
func (r *realRun) prime() error {
	r.inbox, r.sent = make([]string, r.n), make([]string, r.n)
	return parallel(r.n, 16, func(i int) error {
		var fs eas.FolderSyncResponse
		if err := r.post(i, "dev", "FolderSync", &eas.FolderSyncRequest{SyncKey: "0"}, &fs); err != nil {
			return err
		}
		if fs.Status != eas.FolderSyncStatusSuccess || fs.Changes == nil {
			return fmt.Errorf("FolderSync of %s: status %d", user(i), fs.Status)
		}
		for _, f := range fs.Changes.Add {
			switch f.Type {
			case eas.FolderTypeInbox:
				r.inbox[i] = f.ServerID
			case eas.FolderTypeSentItems:
				r.sent[i] = f.ServerID
			}
		}
		if r.inbox[i] == "" || r.sent[i] == "" {
			return fmt.Errorf("FolderSync of %s: no Inbox or Sent Items", user(i))
		}
		return nil
	})
}

// parallel runs f(0..n-1) on w workers and returns the first error.
func parallel(n, w int, f func(i int) error) error {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range w {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					first = cmpErr(first, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// procMem is a process tree's memory: resident (RSS) and proportional
// (PSS, shared pages divided among their users) bytes, and processes.
type procMem struct {
	rss, pss uint64
	procs    int
}

// memOf reads /proc/pid/smaps_rollup of pid and its descendants.
func memOf(pid int) procMem {
	var m procMem
	for _, p := range append([]int{pid}, descendants(pid)...) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/smaps_rollup")
		if err != nil {
			continue
		}
		m.procs++
		for line := range strings.SplitSeq(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			switch f[0] {
			case "Rss:":
				m.rss += kb << 10
			case "Pss:":
				m.pss += kb << 10
			}
		}
	}
	return m
}

// descendants lists the processes below pid.
func descendants(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	children := make(map[int][]int)
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		children[pp] = append(children[pp], p)
	}
	var out []int
	todo := []int{pid}
	for len(todo) > 0 {
		p := todo[0]
		todo = todo[1:]
		out = append(out, children[p]...)
		todo = append(todo, children[p]...)
	}
	return out
}

// gauges reads easgate's waiting Pings and goroutines from /metrics.
func (r *realRun) gauges() (waiting, goroutines int, err error) {
	g, err := r.goGauges()
	return g.waiting, g.goroutines, err
}

// goFigures are easgate's figures from /metrics: waiting Pings,
// goroutines and the Go runtime's memory.
type goFigures struct {
	waiting, goroutines int
	heapAlloc, stacks   uint64 // live heap (after a GC: reachable), goroutine stacks
}

func (r *realRun) goGauges() (g goFigures, err error) {
	resp, err := http.Get("http://" + r.admin + "/metrics")
	if err != nil {
		return g, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, val, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, _ := strconv.ParseFloat(val, 64)
		switch {
		case strings.HasPrefix(name, "easgate_waiting_requests{"):
			g.waiting += int(v)
		case name == "go_goroutines":
			g.goroutines = int(v)
		case name == "go_memstats_heap_alloc_bytes":
			g.heapAlloc = uint64(v)
		case name == "go_memstats_stack_inuse_bytes":
			g.stacks = uint64(v)
		}
	}
	return g, sc.Err()
}

// openFiles counts the files (sockets included) process pid holds.
func openFiles(pid int) int {
	ents, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	return len(ents)
}

// sample is easgate's memory and the store's at one moment.
type realSample struct {
	easgate, store procMem
	goroutines     int
	heap, stacks   uint64 // Go's live heap and goroutine stacks
	files          int    // easgate's open files
}

func (r *realRun) sample() realSample {
	s := realSample{easgate: memOf(r.pid), files: openFiles(r.pid)}
	if r.dovecot != "" {
		s.store = r.dovecotMem()
	}
	g, _ := r.goGauges()
	s.goroutines, s.heap, s.stacks = g.goroutines, g.heapAlloc, g.stacks
	return s
}

// settle forces a GC in easgate (through pprof on the admin listener) and
// waits until its RSS stops falling, as it does by itself at the next
// periodic GC (every 2 minutes) and the scavenger after it.
func (r *realRun) settle() realSample {
	if resp, err := http.Get("http://" + r.admin + "/debug/pprof/heap?gc=1"); err == nil {
		resp.Body.Close()
	}
	last := r.sample()
	for deadline, calm := time.Now().Add(2*time.Minute), 0; calm < 3 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Second)
		s := r.sample()
		// Dovecot's idle imap processes end 15 s after their last
		// client (start-dovecot-push.sh's DOVECOT_REUSE_IMAP).
		if s.easgate.rss+s.easgate.rss/200 >= last.easgate.rss && s.store.procs >= last.store.procs {
			calm++
		} else {
			calm = 0
		}
		last = s
	}
	return last
}

func (r *realRun) measureRun() error {
	base0 := r.sample()
	t0 := time.Now()
	if err := r.prime(); err != nil {
		return err
	}
	log.Printf("%d users' first FolderSync in %v", r.n, time.Since(t0).Round(time.Millisecond))
	r.client.Transport.(*http.Transport).CloseIdleConnections()
	base := r.settle()

	t0 = time.Now()
	body := func(i int) []byte {
		// The longest heartbeat (59 min): on a loaded machine parking
		// 19,000 Pings on Dovecot took over 15 minutes, and a Ping that
		// expires before the last is parked spoils the count.
		b, _ := eas.Marshal(&eas.PingRequest{HeartbeatInterval: 3540, Folders: &eas.PingFolders{Folder: []eas.PingFolder{
			{ID: r.inbox[i], Class: "Email"}, {ID: r.sent[i], Class: "Email"}}}})
		return b
	}
	// Phones come a few hundred at a time, as the server parks them,
	// not all at once: a burst of 19,000 Pings in flight together would
	// hold net/http's buffers and a goroutine each, and the runtime keeps
	// that peak's memory long after (and max_requests would answer most
	// of them 503, to come back later).
	var parked atomic.Int64
	stopPoll := make(chan struct{})
	go func() {
		for {
			if w, _, err := r.gauges(); err == nil {
				parked.Store(int64(w))
			}
			select {
			case <-stopPoll:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	conns, err := dialPings(r.addr, r.n, r.useTLS, body, func(sent int) {
		for int64(sent)-parked.Load() > pingWindow {
			time.Sleep(10 * time.Millisecond)
		}
	})
	close(stopPoll)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(5 * time.Minute); ; {
		w, g, err := r.gauges()
		if err != nil {
			return err
		}
		if w >= r.n && g < base.goroutines+r.n/2 || time.Now().After(deadline) {
			if w < r.n {
				return fmt.Errorf("only %d of %d Pings wait; the first answers: %s", w, r.n, early(conns))
			}
			break
		}
		time.Sleep(time.Second)
	}
	log.Printf("%d Pings waiting after %v", r.n, time.Since(t0).Round(time.Millisecond))
	now := r.sample()
	steady := r.settle()
	if f := os.Getenv("PINGLOAD_HEAPPROFILE"); f != "" {
		if err := r.saveHeap(f); err != nil {
			return err
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")

	per := func(a, b uint64) string { return fmt.Sprintf("%.1f KB", float64(int64(a)-int64(b))/float64(r.n)/1000) }
	fmt.Printf("easgate serve, store %s, %d users each with one waiting phone (TLS: %v), load %s", r.store, r.n, r.useTLS, load)
	fmt.Printf("easgate goroutines: %d after the FolderSyncs, %d with the Pings waiting\n", base.goroutines, steady.goroutines)
	fmt.Printf("easgate RSS: %d MB at start, %d MB after the FolderSyncs, %d MB as the last Ping parked, %d MB settled\n",
		base0.easgate.rss>>20, base.easgate.rss>>20, now.easgate.rss>>20, steady.easgate.rss>>20)
	fmt.Printf("easgate per waiting phone, settled: RSS %s, PSS %s (over the FolderSyncs' state: RSS %s, PSS %s)\n",
		per(steady.easgate.rss, base0.easgate.rss), per(steady.easgate.pss, base0.easgate.pss),
		per(steady.easgate.rss, base.easgate.rss), per(steady.easgate.pss, base.easgate.pss))
	fmt.Printf("easgate per waiting phone as the last Ping parked: RSS %s\n", per(now.easgate.rss, base0.easgate.rss))
	fmt.Printf("easgate Go heap (live, after a GC): %d MB at start, %d MB after the FolderSyncs, %d MB settled: per user's FolderSync state %s, per waiting phone %s; goroutine stacks %d KB, %d KB, %d KB\n",
		base0.heap>>20, base.heap>>20, steady.heap>>20, per(base.heap, base0.heap), per(steady.heap, base.heap),
		base0.stacks>>10, base.stacks>>10, steady.stacks>>10)
	fmt.Printf("easgate per user's FolderSync state: RSS %s, PSS %s\n", per(base.easgate.rss, base0.easgate.rss), per(base.easgate.pss, base0.easgate.pss))
	fmt.Printf("easgate open files: %d at start, %d after the FolderSyncs, %d settled\n", base0.files, base.files, steady.files)
	if r.dovecot != "" {
		fmt.Printf("Dovecot: %d processes, RSS %d MB, PSS %d MB at start; %d processes, RSS %d MB, PSS %d MB with the Pings waiting: per waiting phone PSS %s, RSS %s\n",
			base0.store.procs, base0.store.rss>>20, base0.store.pss>>20,
			steady.store.procs, steady.store.rss>>20, steady.store.pss>>20,
			per(steady.store.pss, base0.store.pss), per(steady.store.rss, base0.store.rss))
	}
	for _, i := range rand.Perm(r.n)[:min(r.wake, r.n)] {
		start := time.Now()
		want := r.sent[i]
		if r.dovecot != "" {
			want = r.inbox[i]
			if err := r.appendMail(i); err != nil {
				return err
			}
		} else {
			msg := "From: " + user(i) + "@example.com\r\nTo: x@example.com\r\nSubject: wake\r\n\r\nhi\r\n"
			if err := r.post(i, "waker", "SendMail", &eas.SendMailRequest{ClientID: strconv.Itoa(i), SaveInSentItems: true, Mime: []byte(msg)}, nil); err != nil {
				return err
			}
		}
		st, folders, err := readPingFolders(conns[i])
		if err != nil {
			return fmt.Errorf("Ping %d: %w", i, err)
		}
		fmt.Printf("woke Ping %d: status %d %v after %v\n", i, st, folders, time.Since(start).Round(time.Microsecond))
		if st != eas.PingStatusChanges || len(folders) != 1 || folders[0] != want {
			return fmt.Errorf("Ping %d answered status %d %v, want 2 [%s]", i, st, folders, want)
		}
	}
	return nil
}

// pingWindow is how many Pings may be sent and not yet parked: half of
// the default limits.max_requests (256), past which easgate answers 503.
const pingWindow = 128

// dialPings dials n connections and sends user i's Ping on the i-th,
// calling pace(i) before each.
func dialPings(addr string, n int, useTLS bool, body func(i int) []byte, pace func(i int)) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	err := parallel(n, 32, func(i int) error {
		pace(i)
		c, err := net.Dial("tcp", addr)
		if err == nil && useTLS {
			tc := tls.Client(c, phoneTLS())
			err = tc.Handshake()
			c = tc
		}
		if err == nil {
			_, err = c.Write(request(addr, i, body(i)))
		}
		if err != nil {
			if c != nil {
				c.Close()
			}
			return err
		}
		conns[i] = c
		return nil
	})
	return conns, err
}

// early returns the status lines of Pings answered already, which should
// be waiting: the first few.
func early(conns []net.Conn) string {
	var got []string
	for i, c := range conns {
		if c == nil || len(got) >= 5 {
			continue
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err == nil {
			got = append(got, fmt.Sprintf("Ping %d: %q", i, line))
		}
	}
	return strings.Join(got, ", ")
}

// readPingFolders reads one Ping response from c.
func readPingFolders(c net.Conn) (eas.PingStatus, []string, error) {
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	var pr eas.PingResponse
	if err := eas.Unmarshal(b, &pr, nil); err != nil {
		return 0, nil, err
	}
	var fs []string
	if pr.Folders != nil {
		fs = pr.Folders.Folder
	}
	return pr.Status, fs, nil
}

// startDovecot starts Dovecot (internal/testserver) with n users, posting
// its mailbox events to easgate's admin listener, or without events for
// store "dovecot-idle", and returns easgate's [store] and [imap] sections.
func (r *realRun) startDovecot(idle bool) (string, error) {
	const token = "pingload-events-token-0123456789"
	d, stop, err := testserver.LaunchDovecotPush(&testserver.PushOptions{
		URL:       "http://" + r.admin + imapdav.EventsPath,
		Token:     token,
		NoPush:    idle,
		MaxUsers:  dovecotUsers(r.n, idle),
		IdleCheck: 30 * time.Second, // Dovecot's default, as in production
		// Logins by the thousand: with a process started per login
		// Dovecot managed 4–6 a second at load 16 (an hour for 19,000
		// users' FolderSync and Ping), with reused processes ~300.
		FastLogin: true,
		ReuseIMAP: !idle,
		// Under load an imap process may take longer than the shipped
		// 200 ms to post, and a dropped event leaves a woken phone to
		// the 5 minutes' check.
		Timeout: 2 * time.Second,
	})
	if err != nil {
		return "", fmt.Errorf("starting Dovecot (run pingload from the repository's root): %w", err)
	}
	r.dovecot, r.imap, r.stopDovecot = d.Dir, d.IMAP, func() {
		if err := stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping Dovecot:", err)
		}
	}
	// The users, appended to the passwd-file, which Dovecot reads again
	// when it changes (too many for the start script's environment).
	var b strings.Builder
	for i := range r.n {
		fmt.Fprintf(&b, "%s:{PLAIN}%s::::::\n", user(i), password)
	}
	f, err := os.OpenFile(filepath.Join(d.Dir, "users"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.WriteString(b.String()); err != nil {
		return "", err
	}
	f.Close()
	// Dovecot reads the file again at a later login: wait for that.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		c, err := imapclient.DialInsecure(d.IMAP, nil)
		if err == nil {
			err = c.Login(user(r.n-1), password).Wait()
			c.Close()
		}
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("Dovecot does not know the new users: %w", err)
		}
	}
	// The safety check for lost events compares each waiting user's
	// folders every events_check (5 min by default): a login and a
	// STATUS per user, ~63 a second at 19,000 users of one phone each
	// (the default events_check_rate stretches that to 50), which would
	// be most of the run's work. An hour keeps it out of the measurement.
	events := fmt.Sprintf("events_token = %q\nevents_check = \"1h\"\n", token)
	if idle {
		events = ""
	}
	// A command connection is logged out after conn_idle: 5 s rather
	// than the default minute, so that the users' first requests, a few
	// hundred a second, do not hold thousands of connections (easgate and
	// the phones share 20,000 open files) on the way to the steady state,
	// in which a waiting phone holds none.
	return fmt.Sprintf(`[store]
kind = "imapdav"
max_users = %d

[imap]
addr = %q
tls = "none"
submission = %q
conn_idle = "5s"
%s`, r.n+1000, d.IMAP, d.Submission, events), nil
}

// dovecotMem is the memory of Dovecot's master and its children.
func (r *realRun) dovecotMem() procMem {
	b, err := os.ReadFile(filepath.Join(r.dovecot, "dovecot.pids"))
	if err != nil {
		return procMem{}
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return procMem{}
	}
	pid, _ := strconv.Atoi(f[0])
	return memOf(pid)
}

// appendMail appends a message to user i's INBOX over IMAP.
func (r *realRun) appendMail(i int) error {
	c, err := imapclient.DialInsecure(r.imap, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Login(user(i), password).Wait(); err != nil {
		return err
	}
	msg := []byte("From: x@example.com\r\nTo: " + user(i) + "@example.com\r\nSubject: wake\r\n\r\nhi\r\n")
	cmd := c.Append("INBOX", int64(len(msg)), &imap.AppendOptions{})
	if _, err := cmd.Write(msg); err != nil {
		return err
	}
	if err := cmd.Close(); err != nil {
		return err
	}
	if _, err := cmd.Wait(); err != nil {
		return err
	}
	return c.Logout().Wait()
}

// marshalKey returns the PEM of cert's private key.
func marshalKey(cert tls.Certificate) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// saveHeap writes easgate's heap profile to file f, and its Go memory
// figures beside it (f.memstats).
func (r *realRun) saveHeap(f string) error {
	for _, q := range []struct{ url, file string }{
		{"/debug/pprof/heap?gc=1", f},
		{"/metrics", f + ".memstats"},
		{"/debug/pprof/goroutine?debug=1", f + ".goroutines"},
	} {
		resp, err := http.Get("http://" + r.admin + q.url)
		if err != nil {
			return err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if err := os.WriteFile(q.file, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// dovecotUsers is the process and client limit Dovecot needs for n phones:
// one command connection a user with events, and with IDLE one connection
// a watched folder (each phone pings Inbox and Sent Items), plus room for
// the check's and the run's own logins.
func dovecotUsers(n int, idle bool) int {
	if idle {
		return 2*n + 100
	}
	return n + 100
}
