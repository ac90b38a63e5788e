package gateway

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/easgate/easgate/internal/testserver"
)

// BenchmarkIMAPPushLatency measures push through the gateway from a real
// Dovecot (issue 6): from an IMAP APPEND to alice's INBOX on a connection
// of its own to the Ping response read by the phone over loopback. The
// gateway waits in IMAP IDLE; Dovecot wakes IDLE about 0.5 s after a
// change (inotify plus its notify delay). The floor is a p99 under 1 s.
// Run with -benchtime 20x or more.
func BenchmarkIMAPPushLatency(b *testing.B) {
	e := imapE2EServer(b, "")
	user, pw := convUser, testserver.Users[convUser]
	send := func(cmd string, body []byte) (int, []byte) { return imapE2EPost(b, e, user, pw, cmd, body) }
	// The appending connection is opened once, so that the figure is the
	// APPEND and the push, not a login.
	c, err := imapclient.DialInsecure(e.dc.IMAP, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pw).Wait(); err != nil {
		b.Fatal(err)
	}
	e2ePushBench(b, e.srv, send, 300*time.Millisecond, func() {
		imapE2EAppendOn(b, c, "INBOX", imapE2EMail("Push "+time.Now().String(), "ping me"))
	})
}
