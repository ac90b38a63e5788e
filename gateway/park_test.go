package gateway

import (
	"bufio"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/easgate/easgate/eas"
)

// TestParkedPingHoldsLittle checks what a waiting Ping on a store that
// calls back (the memory store) keeps: not the request, not net/http's
// 4 KB read and write buffers of its connection, and no goroutine. Each
// of those would cost every waiting phone kilobytes (docs/BENCHMARKS.md,
// pingload). Then the parked Ping still answers a change.
func TestParkedPingHoldsLittle(t *testing.T) {
	e := pingTestServer(t, Limits{})
	ids := e.pingSync(t, "alice", "dev1", "inbox")
	seen := make(chan [3]func() bool, 1)
	e.s.parkHook = func(r *http.Request, brw *bufio.ReadWriter) {
		wr, wbr, wbw := weak.Make(r), weak.Make(brw.Reader), weak.Make(brw.Writer)
		seen <- [3]func() bool{
			func() bool { return wr.Value() != nil },
			func() bool { return wbr.Value() != nil },
			func() bool { return wbw.Value() != nil },
		}
	}
	got := make(chan *eas.PingResponse, 1)
	go func() {
		got <- pingDo(t, http.DefaultClient, e.pingRequest(t, "alice", "dev1", eas.V141,
			pingBody(t, 60, eas.PingFolder{ID: ids["inbox"], Class: "Email"})))
	}()
	var alive [3]func() bool
	select {
	case alive = <-seen:
	case <-time.After(10 * time.Second):
		t.Fatal("the Ping was not parked within 10 s")
	}
	e.pingWaiting(t, 1)
	names := []string{"the request", "its connection's read buffer", "its connection's write buffer"}
	var held []string
	stacks := make([]byte, 1<<20)
	for deadline := time.Now().Add(10 * time.Second); ; {
		// The handler's goroutine returns just after parking: collect
		// until it is gone and nothing it held survives.
		runtime.GC()
		held = held[:0]
		for i, a := range alive {
			if a() {
				held = append(held, names[i])
			}
		}
		n := runtime.Stack(stacks, true)
		for _, g := range strings.Split(string(stacks[:n]), "\n\n") {
			if strings.Contains(g, "gateway.(*Server)") || strings.Contains(g, "gateway.(*parked)") {
				held = append(held, "a goroutine:\n"+g)
			}
		}
		if len(held) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a parked Ping still holds %s", strings.Join(held, ", "))
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.pingAddMail(t, "alice", "inbox")
	select {
	case pr := <-got:
		if pr.Status != eas.PingStatusChanges {
			t.Errorf("Ping = %+v, want status 2", pr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the parked Ping did not answer a change within 10 s")
	}
}
