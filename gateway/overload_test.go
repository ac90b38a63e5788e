package gateway

import (
	"bytes"
	"context"
	"hash/fnv"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/statecache"
)

// fnvOf is the loop hash of a request of cmd with body, as a rateBody
// and loopSum compute it.
func fnvOf(cmd string, body []byte) uint64 {
	h := fnv.New64a()
	h.Write(body)
	return loopSum(cmd, h)
}

// postDevice posts a FolderSync of device dev with body in a goroutine and
// returns a channel of its answer.
func postDevice(s *Server, dev string, body []byte) <-chan *httptest.ResponseRecorder {
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		r := httptest.NewRequest("POST", Path+"?User=alice&DeviceType=TestPhone&Cmd=FolderSync&DeviceId="+dev, bytes.NewReader(body))
		r.SetBasicAuth(testUser, testPassword)
		r.Header.Set("MS-ASProtocolVersion", "14.1")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		done <- w
	}()
	return done
}

// TestRequestCaps: past the per-device and the total cap a request is
// answered 503 with Retry-After and X-MS-ASThrottle; other devices and
// later requests are served.
func TestRequestCaps(t *testing.T) {
	s := newTestServer(t, &Options{Limits: Limits{MaxDeviceRequests: 2, MaxRequests: 3, RetryAfter: 7 * time.Second}}, nil)
	entered := make(chan struct{}, 10)
	unblock := make(chan struct{})
	install(s, eas.CmdFolderSync, func(_ *Server, ctx context.Context, sess *Session, _ *eas.FolderSyncRequest) (*eas.FolderSyncResponse, error) {
		entered <- struct{}{}
		<-unblock
		return &eas.FolderSyncResponse{Status: eas.FolderSyncStatusSuccess}, nil
	})
	body := mustMarshal(t, &eas.FolderSyncRequest{SyncKey: "0"})
	wait := func(n int) {
		t.Helper()
		for range n {
			select {
			case <-entered:
			case <-time.After(10 * time.Second):
				t.Fatal("handler not entered after 10 s")
			}
		}
	}
	refused := func(ch <-chan *httptest.ResponseRecorder, what string) {
		t.Helper()
		select {
		case w := <-ch:
			if w.Code != 503 || w.Header().Get("Retry-After") != "7" || w.Header().Get("X-MS-ASThrottle") != "OutOfBudgets" {
				t.Errorf("%s = %d, Retry-After %q, X-MS-ASThrottle %q; want 503, 7, OutOfBudgets",
					what, w.Code, w.Header().Get("Retry-After"), w.Header().Get("X-MS-ASThrottle"))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no answer after 10 s", what)
		}
	}
	a1, a2 := postDevice(s, "phoneA", body), postDevice(s, "phoneA", body)
	wait(2)
	refused(postDevice(s, "phoneA", body), "a third request of phoneA")
	b1 := postDevice(s, "phoneB", body)
	wait(1)
	refused(postDevice(s, "phoneC", body), "a fourth request in all")
	close(unblock)
	for _, ch := range []<-chan *httptest.ResponseRecorder{a1, a2, b1} {
		if w := <-ch; w.Code != 200 {
			t.Errorf("a request within the caps = %d, want 200", w.Code)
		}
	}
	if w := <-postDevice(s, "phoneA", body); w.Code != 200 {
		t.Errorf("phoneA after its requests ended = %d, want 200", w.Code)
	}
	fams := gather(t, s)
	for reason, want := range map[string]float64{"device_requests": 1, "requests": 1} {
		if n := counter(fams, "easgate_throttled_requests_total", "reason", reason); n != want {
			t.Errorf("easgate_throttled_requests_total{reason=%s} = %v, want %v", reason, n, want)
		}
	}
	if s.slots.total != 0 || len(s.slots.devices) != 0 {
		t.Errorf("slots after every request ended: %d in all, %v by device; want none", s.slots.total, s.slots.devices)
	}
}

// TestWaitingFreesSlot: a Ping that waits holds no slot, so the device's
// other requests go on.
func TestWaitingFreesSlot(t *testing.T) {
	s := newTestServer(t, &Options{Limits: Limits{MaxDeviceRequests: 1}}, nil)
	waiting := make(chan struct{})
	s.route(eas.CmdPing).stream = func(s *Server, ctx context.Context, sess *Session, _ request, w http.ResponseWriter) error {
		return s.wait(ctx, w, sess, time.Minute, func(ctx context.Context) (any, error) {
			close(waiting)
			<-ctx.Done()
			return &eas.PingResponse{Status: eas.PingStatusExpired}, nil
		}, nil)
	}
	install(s, eas.CmdFolderSync, folderSyncOK)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pinged := make(chan int, 1)
	go func() {
		r := httptest.NewRequestWithContext(ctx, "POST", Path+plainQuery+"Ping", nil)
		r.SetBasicAuth(testUser, testPassword)
		r.Header.Set("MS-ASProtocolVersion", "14.1")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		pinged <- w.Code
	}()
	select {
	case <-waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("Ping not waiting after 10 s")
	}
	if w := post(s, Path+plainQuery+"FolderSync", mustMarshal(t, &eas.FolderSyncRequest{SyncKey: "0"})); w.Code != 200 {
		t.Errorf("FolderSync while the device's Ping waits = %d, want 200", w.Code)
	}
	s.Shutdown(context.Background())
	if code := <-pinged; code != 200 {
		t.Errorf("Ping = %d, want 200", code)
	}
}

// TestLoopSlowed: the same Sync again and again is answered, normally,
// but later and later; a different request, or one after the window, is
// not held.
func TestLoopSlowed(t *testing.T) {
	c := &clock{t: time.Now()}
	s := newTestServer(t, &Options{Now: c.now, Limits: Limits{LoopRepeats: 3, LoopWindow: 10 * time.Second, LoopDelay: 30 * time.Second}}, nil)
	install(s, eas.CmdFolderSync, folderSyncOK)
	same := mustMarshal(t, &eas.FolderSyncRequest{SyncKey: "0"})
	other := mustMarshal(t, &eas.FolderSyncRequest{SyncKey: "1"})
	acct := statecache.Account{User: testUser, Device: "dev01"}
	tests := []struct {
		body    []byte
		advance time.Duration
		want    time.Duration
	}{
		{same, 0, 0},
		{same, time.Second, 0},
		{same, time.Second, 0},
		{same, time.Second, time.Second},     // the 4th: a loop
		{same, time.Second, 2 * time.Second}, // doubling
		{same, time.Second, 4 * time.Second},
		{other, time.Second, 0}, // the phone moved on
		{same, time.Second, 0},
		{same, 11 * time.Second, 0}, // a heartbeat's wait apart: no loop
	}
	for i, tt := range tests {
		c.add(tt.advance)
		h := fnvOf("FolderSync", tt.body)
		if d, _ := s.loopDelay(acct, h); d != tt.want {
			t.Errorf("request %d: delay %v, want %v", i, d, tt.want)
		}
	}
	for range 40 {
		s.loopDelay(acct, fnvOf("FolderSync", same))
	}
	if d, _ := s.loopDelay(acct, fnvOf("FolderSync", same)); d != 30*time.Second {
		t.Errorf("after 40 more repeats: delay %v, want LoopDelay 30s", d)
	}

	// Through servePost: the looping request still gets its answer.
	s2 := newTestServer(t, &Options{Limits: Limits{LoopRepeats: 1, LoopDelay: 10 * time.Millisecond}}, nil)
	install(s2, eas.CmdFolderSync, folderSyncOK)
	for i := range 3 {
		if w := post(s2, Path+plainQuery+"FolderSync", same); w.Code != 200 || w.Body.Len() == 0 {
			t.Fatalf("repeat %d = %d with %d bytes, want 200 with the answer", i, w.Code, w.Body.Len())
		}
	}
	if n := counter(gather(t, s2), "easgate_throttled_requests_total", "reason", "loop"); n != 2 {
		t.Errorf("easgate_throttled_requests_total{reason=loop} = %v, want 2", n)
	}
}
