package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/memory"
	"github.com/easgate/easgate/statecache"
)

const pingPassword = "ping-pw"

// pingBackend opens the memory store's user for pingPassword.
type pingBackend struct{ store *memory.Store }

func (b pingBackend) Login(_ context.Context, user, password string) (sources.Source, error) {
	if password != pingPassword {
		return nil, fmt.Errorf("bad password: %w", sources.ErrAuth)
	}
	return b.store.User(user), nil
}

// pingEnv is a Server on real loopback TCP, served through its Listener,
// with a memory store and an in-memory statecache.
type pingEnv struct {
	s     *Server
	ts    *httptest.Server
	store *memory.Store
	state *statecache.Store
}

// pingTestServer starts a Server whose heartbeats may be as short as 1 s.
func pingTestServer(t testing.TB, limits Limits) *pingEnv {
	t.Helper()
	st, err := statecache.Open("", &statecache.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if limits.MinHeartbeat == 0 {
		limits.MinHeartbeat = time.Second
	}
	return startPingEnv(t, memory.New(nil), st, &Options{Limits: limits})
}

// startPingEnv starts a Server configured by o with store and st, serving
// through its Listener; it is shut down at cleanup.
func startPingEnv(t testing.TB, store *memory.Store, st *statecache.Store, o *Options) *pingEnv {
	t.Helper()
	e := &pingEnv{store: store, state: st}
	o.Backend, o.State = pingBackend{store}, st
	var err error
	if e.s, err = New(o); err != nil {
		t.Fatal(err)
	}
	e.ts = httptest.NewUnstartedServer(e.s)
	e.ts.Listener = e.s.Listen(e.ts.Listener)
	e.ts.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		e.ts.Close()
	})
	return e
}

// pingSync gives user's device the hierarchy of the store (CollectionIds
// "1", "2", ... in the store's folder order) and syncs the collections of
// the named store folders to the store's current state, as FolderSync and
// Sync would. It returns the CollectionId of each store folder.
func (e *pingEnv) pingSync(t testing.TB, user, device string, synced ...sources.FolderID) map[sources.FolderID]string {
	t.Helper()
	ctx := context.Background()
	src := e.store.User(user)
	a := statecache.Account{User: user, Device: device}
	fd, err := src.Folders(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.state.AdvanceHierarchy(ctx, a, statecache.InitialKey, statecache.SyncState{State: string(fd.Next)}); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(fd.Changed))
	for i, f := range fd.Changed {
		ids[i] = string(f.ID)
	}
	cids, err := e.state.CollectionIDs(ctx, a, ids)
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[sources.FolderID]string)
	for i, id := range ids {
		m[sources.FolderID(id)] = cids[i]
	}
	for _, f := range synced {
		cur, err := src.State(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		key := statecache.CollectionKey{Account: a, Collection: m[f]}
		if _, err := e.state.Advance(ctx, key, statecache.InitialKey, statecache.SyncState{State: string(cur)}); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// pingAddMail adds a message to folder f of user's store.
func (e *pingEnv) pingAddMail(t testing.TB, user string, f sources.FolderID) {
	t.Helper()
	raw := "From: bob@example.com\r\nTo: alice@example.com\r\nSubject: hello\r\n\r\nhi\r\n"
	if _, err := e.store.User(user).AddMessage(context.Background(), f, []byte(raw)); err != nil {
		t.Fatal(err)
	}
}

// pingRequest builds a Ping POST of user's device at version v.
func (e *pingEnv) pingRequest(t testing.TB, user, device string, v eas.ProtocolVersion, body []byte) *http.Request {
	t.Helper()
	r, err := http.NewRequest("POST", e.ts.URL+Path+"?Cmd=Ping&User="+user+"&DeviceId="+device+"&DeviceType=TestPhone",
		bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.SetBasicAuth(user, pingPassword)
	r.Header.Set("MS-ASProtocolVersion", v.String())
	r.Header.Set("Content-Type", wbxmlType)
	return r
}

// pingDo sends r and decodes the Ping response.
func pingDo(t testing.TB, c *http.Client, r *http.Request) *eas.PingResponse {
	t.Helper()
	resp, err := c.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Ping: HTTP %d", resp.StatusCode)
	}
	var pr eas.PingResponse
	if err := eas.Unmarshal(body, &pr, nil); err != nil {
		t.Fatalf("decoding Ping response % x: %v", body, err)
	}
	return &pr
}

func pingBody(t testing.TB, hb int, folders ...eas.PingFolder) []byte {
	t.Helper()
	req := &eas.PingRequest{HeartbeatInterval: hb}
	if folders != nil {
		req.Folders = &eas.PingFolders{Folder: folders}
	}
	b, err := eas.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pingWaiting waits until n requests wait.
func (e *pingEnv) pingWaiting(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for e.s.waiters.count() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests waiting, want %d", e.s.waiters.count(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

var pingVersions = []eas.ProtocolVersion{eas.V25, eas.V120, eas.V121, eas.V140, eas.V141, eas.V160, eas.V161}

func TestPingWakesOnChange(t *testing.T) {
	for _, v := range pingVersions {
		t.Run(v.String(), func(t *testing.T) {
			e := pingTestServer(t, Limits{})
			ids := e.pingSync(t, "alice", "dev1", "inbox", "calendar")
			body := pingBody(t, 60, eas.PingFolder{ID: ids["inbox"], Class: "Email"},
				eas.PingFolder{ID: ids["calendar"], Class: "Calendar"})
			got := make(chan *eas.PingResponse, 1)
			go func() { got <- pingDo(t, http.DefaultClient, e.pingRequest(t, "alice", "dev1", v, body)) }()
			e.pingWaiting(t, 1)
			e.pingAddMail(t, "alice", "inbox")
			select {
			case pr := <-got:
				want := &eas.PingResponse{Status: eas.PingStatusChanges, Folders: &eas.PingChangedFolders{Folder: []string{ids["inbox"]}}}
				if !reflect.DeepEqual(pr, want) {
					t.Errorf("Ping = %+v, want %+v", pr, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Ping did not answer a change within 5 s")
			}
		})
	}
}

func TestPingAnswers(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, e *pingEnv, ids map[sources.FolderID]string) []byte
		want  *eas.PingResponse
	}{
		{
			name: "heartbeat passes",
			setup: func(t *testing.T, e *pingEnv, ids map[sources.FolderID]string) []byte {
				return pingBody(t, 1, eas.PingFolder{ID: ids["inbox"], Class: "Email"})
			},
			want: &eas.PingResponse{Status: eas.PingStatusExpired},
		},
		{
			name: "changes already there",
			setup: func(t *testing.T, e *pingEnv, ids map[sources.FolderID]string) []byte {
				e.pingAddMail(t, "alice", "inbox")
				return pingBody(t, 60, eas.PingFolder{ID: ids["inbox"], Class: "Email"})
			},
			want: &eas.PingResponse{Status: eas.PingStatusChanges, Folders: &eas.PingChangedFolders{Folder: []string{"inbox"}}},
		},
		{
			name: "heartbeat too short",
			setup: func(t *testing.T, e *pingEnv, ids map[sources.FolderID]string) []byte {
				return pingBody(t, 5, eas.PingFolder{ID: ids["inbox"], Class: "Email"})
			},
			want: &eas.PingResponse{Status: eas.PingStatusInvalidHeartbeat, HeartbeatInterval: 10},
		},
		{
			name: "heartbeat too long",
			setup: func(t *testing.T, e *pingEnv, ids map[sources.FolderID]string) []byte {
				return pingBody(t, 3600, eas.PingFolder{ID: ids["inbox"], Class: "Email"})
			},
			want: &eas.PingResponse{Status: eas.PingStatusInvalidHeartbeat, HeartbeatInterval: 600},
		},
		{
			name: "too many folders",
			setup: func(t *testing.T, e *pingEnv, ids map[sources.FolderID]string) []byte {
				return pingBody(t, 60, eas.PingFolder{ID: ids["inbox"], Class: "Email"},
					eas.PingFolder{ID: ids["calendar"], Class: "Calendar"}, eas.PingFolder{ID: ids["contacts"], Class: "Contacts"})
			},
			want: &eas.PingResponse{Status: eas.PingStatusTooManyFolders, MaxFolders: 2},
		},
		{
			name: "unknown folder",
			setup: func(t *testing.T, e *pingEnv, ids map[sources.FolderID]string) []byte {
				return pingBody(t, 60, eas.PingFolder{ID: "99", Class: "Email"})
			},
			want: &eas.PingResponse{Status: eas.PingStatusFolderHierarchyChanged},
		},
		{
			name: "folder deleted in the store",
			setup: func(t *testing.T, e *pingEnv, ids map[sources.FolderID]string) []byte {
				src := e.store.User("alice")
				f, err := src.CreateFolder(context.Background(), "", "Old", sources.KindUserMail)
				if err != nil {
					t.Fatal(err)
				}
				ids = e.pingSync(t, "alice", "dev1", f)
				if err := src.DeleteFolder(context.Background(), f); err != nil {
					t.Fatal(err)
				}
				return pingBody(t, 60, eas.PingFolder{ID: ids[f], Class: "Email"})
			},
			want: &eas.PingResponse{Status: eas.PingStatusFolderHierarchyChanged},
		},
		{
			name: "empty body, nothing to repeat",
			setup: func(t *testing.T, e *pingEnv, ids map[sources.FolderID]string) []byte {
				return nil
			},
			want: &eas.PingResponse{Status: eas.PingStatusMissingParameters},
		},
		{
			name: "folders without heartbeat, nothing to repeat",
			setup: func(t *testing.T, e *pingEnv, ids map[sources.FolderID]string) []byte {
				return pingBody(t, 0, eas.PingFolder{ID: ids["inbox"], Class: "Email"})
			},
			want: &eas.PingResponse{Status: eas.PingStatusMissingParameters},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := pingTestServer(t, Limits{MinHeartbeat: time.Second, MaxHeartbeat: 10 * time.Minute, MaxPingFolders: 2})
			if tt.name == "heartbeat too short" {
				e.s.limits.MinHeartbeat = 10 * time.Second
			}
			ids := e.pingSync(t, "alice", "dev1", "inbox", "calendar")
			body := tt.setup(t, e, ids)
			got := pingDo(t, http.DefaultClient, e.pingRequest(t, "alice", "dev1", eas.V141, body))
			if tt.want.Folders != nil {
				// Named by store folder in the table.
				tt.want.Folders.Folder = []string{ids[sources.FolderID(tt.want.Folders.Folder[0])]}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Ping = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestPingSupersededAndRepeated(t *testing.T) {
	e := pingTestServer(t, Limits{})
	ids := e.pingSync(t, "alice", "dev1", "inbox")
	first := make(chan *eas.PingResponse, 1)
	body := pingBody(t, 300, eas.PingFolder{ID: ids["inbox"], Class: "Email"})
	go func() { first <- pingDo(t, http.DefaultClient, e.pingRequest(t, "alice", "dev1", eas.V161, body)) }()
	e.pingWaiting(t, 1)

	// The same device pings again with an empty body: the first Ping
	// answers status 1 at once, the second repeats its parameters.
	second := make(chan *eas.PingResponse, 1)
	go func() { second <- pingDo(t, http.DefaultClient, e.pingRequest(t, "alice", "dev1", eas.V161, nil)) }()
	select {
	case pr := <-first:
		if want := (&eas.PingResponse{Status: eas.PingStatusExpired}); !reflect.DeepEqual(pr, want) {
			t.Errorf("superseded Ping = %+v, want %+v", pr, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the superseded Ping did not answer")
	}
	e.pingWaiting(t, 1)
	e.pingAddMail(t, "alice", "inbox")
	select {
	case pr := <-second:
		want := &eas.PingResponse{Status: eas.PingStatusChanges, Folders: &eas.PingChangedFolders{Folder: []string{ids["inbox"]}}}
		if !reflect.DeepEqual(pr, want) {
			t.Errorf("repeated Ping = %+v, want %+v", pr, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the repeated Ping did not answer the change")
	}
}

// TestPingKeepAlive checks that a connection taken over by a parked Ping
// carries the device's next requests.
func TestPingKeepAlive(t *testing.T) {
	e := pingTestServer(t, Limits{})
	ids := e.pingSync(t, "alice", "dev1", "inbox")
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer c.CloseIdleConnections()
	var conns, reused atomic.Int32
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		conns.Add(1)
		if info.Reused {
			reused.Add(1)
		}
	}}
	body := pingBody(t, 1, eas.PingFolder{ID: ids["inbox"], Class: "Email"})
	for i := range 3 {
		r := e.pingRequest(t, "alice", "dev1", eas.V141, body)
		r = r.WithContext(httptrace.WithClientTrace(r.Context(), trace))
		if pr := pingDo(t, c, r); pr.Status != eas.PingStatusExpired {
			t.Fatalf("Ping %d: status %d, want 1", i, pr.Status)
		}
	}
	if conns.Load() != 3 || reused.Load() != 2 {
		t.Errorf("3 Pings used %d connections of which %d reused, want 3 and 2", conns.Load(), reused.Load())
	}
}

func TestPingShutdown(t *testing.T) {
	e := pingTestServer(t, Limits{})
	ids := e.pingSync(t, "alice", "dev1", "inbox")
	got := make(chan *http.Response, 1)
	go func() {
		resp, err := http.DefaultClient.Do(e.pingRequest(t, "alice", "dev1", eas.V141,
			pingBody(t, 300, eas.PingFolder{ID: ids["inbox"], Class: "Email"})))
		if err != nil {
			t.Error(err)
		}
		got <- resp
	}()
	e.pingWaiting(t, 1)
	if err := e.s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp := <-got
	if resp == nil {
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var pr eas.PingResponse
	if err := eas.Unmarshal(body, &pr, nil); err != nil || pr.Status != eas.PingStatusExpired || !resp.Close {
		t.Errorf("Ping at shutdown = %+v, %v, close %v; want status 1 and Connection: close", pr, err, resp.Close)
	}
}

// TestPingDeviceCapture replays a Ping captured from a client: six folders
// of three classes, heartbeat 120 s.
func TestPingDeviceCapture(t *testing.T) {
	body, err := os.ReadFile("../eas/testdata/devices/unidentified-client/ping-heartbeat-120-six-folders.wbxml")
	if err != nil {
		t.Fatal(err)
	}
	e := pingTestServer(t, Limits{})
	src := e.store.User("alice")
	// The capture names CollectionIds 4 to 8 and 14: add mail folders
	// until the store has 14.
	for i := range 4 {
		if _, err := src.CreateFolder(context.Background(), "", fmt.Sprintf("F%d", i), sources.KindUserMail); err != nil {
			t.Fatal(err)
		}
	}
	var last sources.FolderID
	for f, id := range e.pingSync(t, "alice", "dev1") {
		if id == "14" {
			last = f
		}
	}
	got := make(chan *eas.PingResponse, 1)
	go func() { got <- pingDo(t, http.DefaultClient, e.pingRequest(t, "alice", "dev1", eas.V121, body)) }()
	e.pingWaiting(t, 1)
	e.pingAddMail(t, "alice", last)
	select {
	case pr := <-got:
		want := &eas.PingResponse{Status: eas.PingStatusChanges, Folders: &eas.PingChangedFolders{Folder: []string{"14"}}}
		if !reflect.DeepEqual(pr, want) {
			t.Errorf("Ping = %+v, want %+v", pr, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Ping did not answer the change")
	}
}

// TestPingInHandler covers connections that cannot be taken over: the
// Ping waits in the handler and answers the same way.
func TestPingInHandler(t *testing.T) {
	e := pingTestServer(t, Limits{})
	ids := e.pingSync(t, "alice", "dev1", "inbox")
	r := httptest.NewRequest("POST", Path+"?Cmd=Ping&User=alice&DeviceId=dev1&DeviceType=TestPhone",
		bytes.NewReader(pingBody(t, 1, eas.PingFolder{ID: ids["inbox"], Class: "Email"})))
	r.SetBasicAuth("alice", pingPassword)
	r.Header.Set("MS-ASProtocolVersion", "14.1")
	r.Header.Set("Content-Type", wbxmlType)
	w := httptest.NewRecorder()
	e.s.ServeHTTP(w, r)
	var pr eas.PingResponse
	if err := eas.Unmarshal(w.Body.Bytes(), &pr, nil); err != nil || pr.Status != eas.PingStatusExpired {
		t.Errorf("Ping in the handler = HTTP %d %+v, %v; want status 1", w.Code, pr, err)
	}
}

// TestPingParkedAccessLine checks that a parked Ping is logged and counted
// once, when it is answered.
func TestPingParkedAccessLine(t *testing.T) {
	e := pingTestServer(t, Limits{})
	var logs bytes.Buffer
	var mu sync.Mutex
	e.s.log = slog.New(slog.NewJSONHandler(&lockedWriter{mu: &mu, w: &logs}, nil))
	ids := e.pingSync(t, "alice", "dev1", "inbox")
	pingDo(t, http.DefaultClient, e.pingRequest(t, "alice", "dev1", eas.V141,
		pingBody(t, 1, eas.PingFolder{ID: ids["inbox"], Class: "Email"})))
	// The line and the count follow the answer.
	var lines []map[string]any
	inFlight := -1.0
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		mu.Lock()
		lines = nil
		for _, l := range bytes.Split(bytes.TrimSpace(logs.Bytes()), []byte("\n")) {
			var m map[string]any
			if json.Unmarshal(l, &m) == nil && m["msg"] == "request" {
				lines = append(lines, m)
			}
		}
		mu.Unlock()
		mfs, err := e.s.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "easgate_requests_in_flight" {
				inFlight = mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		if len(lines) > 0 && inFlight == 0 {
			break
		}
	}
	if len(lines) != 1 || lines[0]["cmd"] != "Ping" || lines[0]["status"] != float64(200) || lines[0]["device_id"] != "dev1" {
		t.Errorf("access lines = %v, want one for Ping with status 200", lines)
	}
	if inFlight != 0 {
		t.Errorf("requests in flight after the answer = %v, want 0", inFlight)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
