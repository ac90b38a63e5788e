package testserver

import (
	"net"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Deliver delivers msg to rcpt's INBOX through the LMTP unix socket of a
// Dovecot or Cyrus (their LMTP field); rcpt is a user name such as "alice".
// Line endings may be LF or CRLF; lines starting with "." are stuffed.
// Deliver fails the test unless the server accepts the message for rcpt.
func Deliver(t testing.TB, lmtpSocket, rcpt string, msg []byte) {
	t.Helper()
	DeliverMany(t, lmtpSocket, rcpt, [][]byte{msg})
}

// DeliverMany delivers msgs in order, as Deliver does, in one LMTP session:
// thousands of messages take seconds rather than minutes.
func DeliverMany(t testing.TB, lmtpSocket, rcpt string, msgs [][]byte) {
	t.Helper()
	conn, err := net.DialTimeout("unix", lmtpSocket, 10*time.Second)
	if err != nil {
		t.Fatalf("testserver: LMTP: %v", err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	c.CommandTimeout = 30 * time.Second
	c.SubmissionTimeout = 30 * time.Second
	if err := c.Hello("localhost"); err != nil {
		t.Fatalf("testserver: LMTP LHLO: %v", err)
	}
	for _, msg := range msgs {
		if err := c.Mail("sender@localhost", nil); err != nil {
			t.Fatalf("testserver: LMTP MAIL FROM: %v", err)
		}
		if err := c.Rcpt(rcpt, nil); err != nil {
			t.Fatalf("testserver: LMTP RCPT TO:<%s>: %v", rcpt, err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatalf("testserver: LMTP DATA: %v", err)
		}
		if _, err := w.Write(msg); err != nil {
			t.Fatalf("testserver: LMTP DATA: %v", err)
		}
		// one reply per accepted recipient; with a single recipient an
		// error is that recipient's
		if _, err := w.CloseWithLMTPResponse(); err != nil {
			t.Fatalf("testserver: LMTP delivery to %s: %v", rcpt, err)
		}
	}
	if err := c.Quit(); err != nil {
		t.Logf("testserver: LMTP QUIT: %v", err)
	}
}
