package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/internal/testserver"
)

// The multi-node tests run what an operator runs: easgate binaries, built
// by the test, as separate processes on one PostgreSQL, with Dovecot and
// Radicale as the store and HAProxy in front, all on loopback. A node is a
// child process, so that it can be killed with SIGKILL like a machine that
// dies.

var build struct {
	once sync.Once
	bin  string
	err  error
	dir  string
}

// easgateBinary builds cmd/easgate once per test run.
func easgateBinary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "easgate-bin")
		if build.err != nil {
			return
		}
		build.bin = filepath.Join(build.dir, "easgate")
		out, err := exec.Command("go", "build", "-o", build.bin, "github.com/easgate/easgate/cmd/easgate").CombinedOutput()
		if err != nil {
			build.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}

// env is a cluster: the store servers, the shared database, the nodes and
// the balancer.
type env struct {
	t     testing.TB
	bin   string
	dbURL string
	dc    *testserver.Dovecot
	dav   *testserver.DAV
	nodes []*node
	lb    *testserver.HAProxy
	extra string // more configuration for every node
}

// node is one easgate process.
type node struct {
	name   string // s1, s2: HAProxy's name for it
	addr   string
	admin  string // the admin listener: /metrics
	config string
	cmd    *exec.Cmd
	log    *syncBuffer
	exited chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 4<<20 {
		return len(p), nil // bounded: the start of the log is what matters
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newEnv starts the store servers, n nodes on the database at dbURL and
// HAProxy over them. extra is added to each node's configuration.
func newEnv(t testing.TB, dbURL string, n int, extra ...string) *env {
	t.Helper()
	e := &env{t: t, bin: easgateBinary(t), dbURL: dbURL, extra: strings.Join(extra, "\n")}
	e.dc = testserver.StartDovecot(t)
	e.dav = testserver.StartRadicale(t)
	var backends []string
	for i := range n {
		nd := e.startNode(fmt.Sprintf("s%d", i+1), "")
		backends = append(backends, nd.addr)
	}
	e.lb = testserver.StartHAProxy(t, backends...)
	return e
}

// freePort returns a port that was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startNode starts an easgate node named name on addr ("" for a free
// port) and waits until it answers OPTIONS.
func (e *env) startNode(name, addr string) *node {
	t := e.t
	t.Helper()
	if addr == "" {
		addr = freePort(t)
	}
	dir := t.TempDir()
	admin := freePort(t)
	cfg := filepath.Join(dir, "easgate.toml")
	conf := fmt.Sprintf(`[server]
listen = %q
log_level = "info"
mail_domain = "example.com"
[admin]
listen = %q
[policy]
mode = "none"
[state]
url = %q
dir = %q
[store]
kind = "imapdav"
[imap]
addr = %q
tls = "none"
submission = %q
[dav]
caldav_url = %q
carddav_url = %q
poll_interval = "10s"
poll_interval_active = "2s"
%s
`, addr, admin, e.dbURL, dir, e.dc.IMAP, e.dc.Submission, e.dav.URL, e.dav.URL, e.extra)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	nd := &node{name: name, addr: addr, admin: admin, config: cfg, log: new(syncBuffer), exited: make(chan struct{})}
	nd.cmd = exec.Command(e.bin, "serve", "-config", cfg)
	nd.cmd.Stdout, nd.cmd.Stderr = nd.log, nd.log
	if err := nd.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		nd.cmd.Wait()
		close(nd.exited)
	}()
	t.Cleanup(func() {
		nd.stop()
		if t.Failed() {
			t.Logf("node %s log:\n%s", nd.name, nd.log)
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodOptions, "http://"+addr+"/Microsoft-Server-ActiveSync", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case <-nd.exited:
			t.Fatalf("node %s exited at start:\n%s", name, nd.log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s did not answer within 60 s:\n%s", name, nd.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.nodes = append(e.nodes, nd)
	return nd
}

// waiting returns the node's waiting requests (easgate_waiting_requests),
// 0 when it does not answer.
func (nd *node) waiting(t testing.TB) int {
	t.Helper()
	resp, err := http.Get("http://" + nd.admin + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "easgate_waiting_requests{") {
			var v float64
			fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v)
			n += int(v)
		}
	}
	return n
}

// stop ends the node with SIGTERM, as systemd would, and waits.
func (nd *node) stop() {
	select {
	case <-nd.exited:
		return
	default:
	}
	nd.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-nd.exited:
	case <-time.After(30 * time.Second):
		nd.cmd.Process.Kill()
		<-nd.exited
	}
}

// kill ends the node with SIGKILL, as a machine that dies, and waits.
func (nd *node) kill() {
	nd.cmd.Process.Kill()
	<-nd.exited
}

// phone is one device of one user, talking to the balancer.
type phone struct {
	t           testing.TB
	url         string
	user, pass  string
	device      string
	version     string
	client      *http.Client
	mu          sync.Mutex
	served      []string // the node that answered each request, in order
	folderKey   string
	inbox, sent string
}

func (e *env) phone(user, device, version string) *phone {
	return &phone{
		t: e.t, url: e.lb.URL + "/Microsoft-Server-ActiveSync", user: user, pass: testserver.Users[user],
		device: device, version: version,
		// each request its own connection's worth of patience; a Ping
		// holds one for its heartbeat
		client: &http.Client{Timeout: 5 * time.Minute},
	}
}

// post sends one command and returns the HTTP status, the node that
// answered and the body. body nil sends an empty request.
func (p *phone) post(ctx context.Context, cmd string, body []byte, query string) (int, string, []byte, error) {
	u := fmt.Sprintf("%s?Cmd=%s&User=%s&DeviceId=%s&DeviceType=TestPhone%s", p.url, cmd, p.user, p.device, query)
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, "", nil, err
	}
	r.SetBasicAuth(p.user, p.pass)
	r.Header.Set("MS-ASProtocolVersion", p.version)
	if cmd == "SendMail" && p.version < "14.0" {
		r.Header.Set("Content-Type", "message/rfc822")
	} else {
		r.Header.Set("Content-Type", "application/vnd.ms-sync.wbxml")
	}
	// The request's place in served is taken when it is sent: the
	// balancer alternates in that order, while a Ping and the request
	// that ends it on the other node may be answered in either.
	p.mu.Lock()
	i := len(p.served)
	p.served = append(p.served, "")
	p.mu.Unlock()
	resp, err := p.client.Do(r)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	by := resp.Header.Get("X-Served-By")
	p.mu.Lock()
	p.served[i] = by
	p.mu.Unlock()
	return resp.StatusCode, by, b, err
}

// do sends req (nil: an empty body) and decodes the answer into resp; it
// fails the test on anything but HTTP 200.
func (p *phone) do(cmd string, req, resp any) string {
	p.t.Helper()
	var body []byte
	if req != nil {
		var err error
		if body, err = eas.Marshal(req); err != nil {
			p.t.Fatal(err)
		}
	}
	code, by, b, err := p.post(context.Background(), cmd, body, "")
	if err != nil || code != http.StatusOK {
		p.t.Fatalf("%s %s: HTTP %d, %v: %s", p.device, cmd, code, err, b)
	}
	if resp != nil && len(b) > 0 {
		if err := eas.Unmarshal(b, resp, nil); err != nil {
			p.t.Fatalf("%s %s: decoding % x: %v", p.device, cmd, b, err)
		}
	}
	return by
}

// folderSync runs the initial FolderSync and finds Inbox and Sent.
func (p *phone) folderSync() string {
	p.t.Helper()
	var fs eas.FolderSyncResponse
	by := p.do("FolderSync", &eas.FolderSyncRequest{SyncKey: "0"}, &fs)
	if fs.Status != eas.FolderSyncStatusSuccess || fs.Changes == nil {
		p.t.Fatalf("FolderSync: %+v", fs)
	}
	p.folderKey = fs.SyncKey
	for _, f := range fs.Changes.Add {
		switch f.Type {
		case eas.FolderTypeInbox:
			p.inbox = f.ServerID
		case eas.FolderTypeSentItems:
			p.sent = f.ServerID
		}
	}
	if p.inbox == "" {
		p.t.Fatalf("FolderSync lists no Inbox: %+v", fs.Changes.Add)
	}
	return by
}

// syncReq is a Sync of one collection with key, asking for MIME bodies cut
// at 512 bytes (the headers, which carry the Message-ID).
func syncReq(collection, key string, window int) *eas.SyncRequest {
	trunc := uint32(512)
	c := eas.SyncCollection{SyncKey: key, CollectionID: collection}
	if key != "0" {
		c.WindowSize = window
		c.Options = []eas.SyncOptions{{MIMESupport: 2, BodyPreference: []eas.BodyPreference{{Type: 4, TruncationSize: &trunc}}}}
	}
	return &eas.SyncRequest{Collections: &eas.SyncCollections{Collection: []eas.SyncCollection{c}}}
}

// item is a mail a phone received: its ServerId and Message-ID.
type item struct{ serverID, messageID string }

// items returns the Adds of a Sync answer's collection.
func items(t testing.TB, c *eas.SyncResponseCollection) []item {
	t.Helper()
	if c.Commands == nil {
		return nil
	}
	var out []item
	for _, a := range c.Commands.Add {
		var m eas.Email
		if err := a.ApplicationData.Decode(&m); err != nil {
			t.Fatalf("Add %s: %v", a.ServerID, err)
		}
		id := ""
		if m.Body != nil && m.Body.Data != nil {
			id = messageID(*m.Body.Data)
		}
		out = append(out, item{a.ServerID, id})
	}
	return out
}

// messageID returns the Message-ID header of a message's start.
func messageID(mime string) string {
	for _, line := range strings.Split(mime, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Message-ID") {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// collection returns the answer's only collection.
func collection(t testing.TB, resp *eas.SyncResponse) *eas.SyncResponseCollection {
	t.Helper()
	if resp.Collections == nil || len(resp.Collections.Collection) != 1 {
		t.Fatalf("Sync answer without its collection: %+v", resp)
	}
	return &resp.Collections.Collection[0]
}

// mail is a test message with a Message-ID of its own.
func mail(id, subject string) []byte {
	return []byte("Message-ID: <" + id + "@cluster.test>\r\nFrom: bob@example.com\r\nTo: alice@example.com\r\nSubject: " + subject +
		"\r\nDate: Sun, 06 Dec 2026 12:00:00 +0000\r\n\r\n" + subject + "\r\n")
}
