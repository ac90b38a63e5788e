package main

import (
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources/imapdav"
)

// TestServeEvents runs serve with configs/imap-dav-push.toml and a Dovecot
// that loads configs/dovecot/ posting to serve's admin listener: an APPEND
// on Dovecot reaches /dovecot/events with the token and is counted, and a
// POST without the token is refused.
func TestServeEvents(t *testing.T) {
	const token = "serve-events-test-token"
	// The admin listener's port must be in Dovecot's configuration before
	// serve starts, and serve needs Dovecot's address: take a free port.
	admin := freeAddr(t)
	d := testserver.StartDovecotPush(t, &testserver.PushOptions{URL: "http://" + admin + imapdav.EventsPath, Token: token})
	url := serveConfig(t, "../../configs/imap-dav-push.toml", map[string]string{
		"EASGATE_ADMIN_LISTEN":        admin,
		"EASGATE_IMAP_ADDR":           d.IMAP,
		"EASGATE_IMAP_SUBMISSION":     d.Submission,
		"EASGATE_IMAP_EVENTS_TOKEN":   token,
		"EASGATE_DAV_CALDAV_URL":      "",
		"EASGATE_DAV_CARDDAV_URL":     "",
		"EASGATE_STATE_DIR":           t.TempDir(),
		"EASGATE_SERVER_LOG_FORMAT":   "text",
		"EASGATE_IMAP_EVENTS_CHECK":   "1m",
		"EASGATE_IMAP_CONNS_PER_USER": "2",
	})
	checkLogin(t, url, "alice", testserver.Users["alice"])

	resp, err := http.Post("http://"+admin+imapdav.EventsPath, "application/json", strings.NewReader(`{"user":"alice","events":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST %s without the token = %d, want 401", imapdav.EventsPath, resp.StatusCode)
	}

	c, err := imapclient.DialInsecure(d.IMAP, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice", testserver.Users["alice"]).Wait(); err != nil {
		t.Fatal(err)
	}
	msg := "Subject: events\r\n\r\nhello\r\n"
	cmd := c.Append("INBOX", int64(len(msg)), nil)
	cmd.Write([]byte(msg))
	cmd.Close()
	if _, err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	// Dovecot posts before it answers the APPEND, so the count is there.
	for _, want := range []string{`easgate_store_events_total{outcome="unauthorized"} 1`, `outcome="unknown_user"} 1`} {
		if m := metricsText(t, admin); !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, grepLines(m, "easgate_store_event"))
		}
	}
}

// freeAddr returns a loopback address whose port was free a moment ago,
// for a listener whose address must be known before it starts.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func metricsText(t *testing.T, admin string) string {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, sub string) string {
	re := regexp.MustCompile("(?m)^.*" + regexp.QuoteMeta(sub) + ".*$")
	return strings.Join(re.FindAllString(s, -1), "\n") + "\n(" + strconv.Itoa(len(s)) + " bytes)"
}
