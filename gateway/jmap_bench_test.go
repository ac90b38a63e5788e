package gateway

import (
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/internal/testserver"
)

// BenchmarkJMAPPushLatency measures push through the gateway from a real
// Cyrus with JMAP push (issue 5): from an LMTP delivery to alice to the
// Ping response read by the phone over loopback. The Backend wakes mail
// Pings from IMAP IDLE on the same Cyrus (jmap.Options.Idle), ~50 ms;
// its EventSource alone polls every second (jmap_pushpoll's minimum). The
// floor is a p99 under 1 s. Run with -benchtime 20x or more.
func BenchmarkJMAPPushLatency(b *testing.B) {
	e := jmapE2EServer(b, true)
	user, pw := "alice", testserver.Users["alice"]
	send := func(cmd string, body []byte) (int, []byte) {
		return jmapE2EPost(b, e, user, pw, cmd, eas.V161, body)
	}
	// Cyrus polls on a 1 s tick: deliveries at random moments of it.
	e2ePushBench(b, e.srv, send, time.Second, func() {
		testserver.Deliver(b, e.cy.LMTP, user, jmapE2EMail("Push "+time.Now().String(), "ping me"))
	})
}
