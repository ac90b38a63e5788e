package testserver

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testMsg = "From: sender@localhost\nTo: alice@localhost\nSubject: testserver\n\n" +
	"hello\n.a line that needs dot-stuffing\n.\n"

func TestDovecot(t *testing.T) {
	t.Parallel()
	d := StartDovecot(t)
	if got := imapStatus(t, d.IMAP, "alice"); got != 0 {
		t.Fatalf("STATUS INBOX before delivery = %d messages, want 0", got)
	}
	Deliver(t, d.LMTP, "alice", []byte(testMsg))
	if got := imapStatus(t, d.IMAP, "alice"); got != 1 {
		t.Errorf("STATUS INBOX after delivery = %d messages, want 1", got)
	}
	checkBody(t, d.IMAP, "alice")
	if got := imapStatus(t, d.IMAP, "bob"); got != 0 {
		t.Errorf("bob's STATUS INBOX = %d messages, want 0", got)
	}
	greeting(t, d.Submission, "220 ")
	// IDLE without inotify (used up by parallel test packages) still
	// wakes within seconds.
	out, err := exec.Command("doveconf", "-c", filepath.Join(d.Dir, "dovecot.conf"), "-h", "mailbox_idle_check_interval").CombinedOutput()
	if got := strings.TrimSpace(string(out)); err != nil || got != "2 secs" {
		t.Errorf("mailbox_idle_check_interval = %q, %v; want 2 secs", got, err)
	}
}

func TestCyrus(t *testing.T) {
	t.Parallel()
	c := StartCyrus(t, nil)
	Deliver(t, c.LMTP, "alice", []byte(testMsg))
	if got := imapStatus(t, c.IMAP, "alice"); got != 1 {
		t.Errorf("STATUS INBOX after delivery = %d messages, want 1", got)
	}
	checkBody(t, c.IMAP, "alice")
	checkJMAP(t, c.JMAP)
	for _, u := range []string{c.CalDAV, c.CardDAV} {
		if got := davStatus(t, u, ""); got != http.StatusUnauthorized {
			t.Errorf("PROPFIND %s without auth = %d, want 401", u, got)
		}
		if got := davStatus(t, u+"user/alice/", "alice"); got != http.StatusMultiStatus {
			t.Errorf("PROPFIND %suser/alice/ = %d, want 207", u, got)
		}
	}
}

func TestCyrusPush(t *testing.T) {
	t.Parallel()
	c := StartCyrus(t, &CyrusOptions{Push: true})
	checkJMAP(t, c.JMAP)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.HTTP+"/jmap/eventsource/?types=*&closeafter=state&ping=0", nil)
	req.SetBasicAuth("alice", Users["alice"])
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-Id", "0") // the current state at once, then the end
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("EventSource: %s, Content-Type %q; want 200 text/event-stream", resp.Status, resp.Header.Get("Content-Type"))
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "event: state") {
		t.Errorf("EventSource stream %q has no state event", body)
	}
}

func TestRadicale(t *testing.T) {
	t.Parallel()
	checkDAV(t, StartRadicale(t), "calendar/", "contacts/")
}

func TestXandikos(t *testing.T) {
	t.Parallel()
	checkDAV(t, StartXandikos(t), "calendars/calendar/", "contacts/addressbook/")
}

func checkDAV(t *testing.T, d *DAV, collections ...string) {
	t.Helper()
	if got := davStatus(t, d.URL+"alice/", ""); got != http.StatusUnauthorized {
		t.Errorf("PROPFIND without auth = %d, want 401", got)
	}
	for _, c := range collections {
		if got := davStatus(t, d.URL+"alice/"+c, "alice"); got != http.StatusMultiStatus {
			t.Errorf("PROPFIND alice/%s = %d, want 207", c, got)
		}
	}
}

// davStatus sends PROPFIND Depth 0 to url, as user unless it is "".
func davStatus(t *testing.T, url, user string) int {
	t.Helper()
	req, _ := http.NewRequest("PROPFIND", url, nil)
	req.Header.Set("Depth", "0")
	if user != "" {
		req.SetBasicAuth(user, Users[user])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func checkJMAP(t *testing.T, sessionURL string) {
	t.Helper()
	req, _ := http.NewRequest("GET", sessionURL, nil)
	req.SetBasicAuth("alice", Users["alice"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var session struct {
		Capabilities map[string]json.RawMessage `json:"capabilities"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&session); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", sessionURL, resp.Status, err)
	}
	if _, ok := session.Capabilities["urn:ietf:params:jmap:mail"]; !ok {
		t.Errorf("JMAP session lacks urn:ietf:params:jmap:mail: %v", session.Capabilities)
	}
}

// greeting checks that the server at addr greets with prefix.
func greeting(t *testing.T, addr, prefix string) {
	t.Helper()
	c, err := textproto.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	line, err := c.ReadLine()
	if err != nil || !strings.HasPrefix(line, prefix) {
		t.Errorf("greeting of %s = %q, %v; want %q...", addr, line, err, prefix)
	}
}

// imapLogin logs in as user and returns a function that sends one command
// and returns its untagged responses, failing the test unless it ends in OK.
func imapLogin(t *testing.T, addr, user string) func(format string, args ...any) []string {
	t.Helper()
	c, err := textproto.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if line, err := c.ReadLine(); err != nil || !strings.HasPrefix(line, "* OK") {
		t.Fatalf("IMAP greeting = %q, %v", line, err)
	}
	n := 0
	cmd := func(format string, args ...any) []string {
		t.Helper()
		n++
		tag := "a" + strconv.Itoa(n)
		if err := c.PrintfLine(tag+" "+format, args...); err != nil {
			t.Fatal(err)
		}
		var untagged []string
		for {
			line, err := c.ReadLine()
			if err != nil {
				t.Fatalf("IMAP %s: %v", format, err)
			}
			if rest, ok := strings.CutPrefix(line, tag+" "); ok {
				if !strings.HasPrefix(rest, "OK") {
					t.Fatalf("IMAP %s: %s", format, line)
				}
				return untagged
			}
			untagged = append(untagged, line)
		}
	}
	cmd("LOGIN %s %s", user, Users[user])
	return cmd
}

// imapStatus returns the number of messages in user's INBOX.
func imapStatus(t *testing.T, addr, user string) int {
	t.Helper()
	for _, line := range imapLogin(t, addr, user)("STATUS INBOX (MESSAGES)") {
		// * STATUS INBOX (MESSAGES 1)
		if _, rest, ok := strings.Cut(line, "(MESSAGES "); ok && strings.HasPrefix(line, "* STATUS ") {
			n, err := strconv.Atoi(strings.TrimSuffix(rest, ")"))
			if err != nil {
				t.Fatalf("IMAP STATUS: %q", line)
			}
			return n
		}
	}
	t.Fatalf("IMAP STATUS INBOX: no STATUS response")
	return 0
}

// checkBody checks that the first message in user's INBOX has testMsg's body,
// its lines starting with "." intact.
func checkBody(t *testing.T, addr, user string) {
	t.Helper()
	cmd := imapLogin(t, addr, user)
	cmd("SELECT INBOX")
	lines := cmd("FETCH 1 BODY.PEEK[TEXT]")
	// * 1 FETCH (BODY[TEXT] {n}, the literal's lines, )
	if len(lines) < 2 {
		t.Fatalf("FETCH 1 BODY[TEXT] = %q", lines)
	}
	got := strings.Join(lines[1:len(lines)-1], "\n")
	if want := "hello\n.a line that needs dot-stuffing\n."; got != want {
		t.Errorf("delivered body = %q, want %q", got, want)
	}
}

// TestDovecotPush checks that the shipped configs/dovecot files, as
// start-dovecot-push.sh installs them, post an LMTP delivery to the URL
// with the token, and that Usage counts the server's processes.
func TestDovecotPush(t *testing.T) {
	t.Parallel()
	type post struct{ auth, query, body string }
	posts := make(chan post, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		posts <- post{r.Header.Get("Authorization"), r.URL.RawQuery, string(b)}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	d := StartDovecotPush(t, &PushOptions{URL: srv.URL + "/dovecot/events", Token: "testserver-token-123"})
	Deliver(t, d.LMTP, "alice", []byte(testMsg))
	select {
	case p := <-posts:
		if p.auth != "Bearer testserver-token-123" {
			t.Errorf("Authorization = %q, want the token", p.auth)
		}
		if want := "user=alice&mailbox=INBOX"; p.query != want || p.body != "" {
			t.Errorf("POST ?%s with body %q, want ?%s without a body", p.query, p.body, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no POST within 10 s of the delivery")
	}
	u, err := d.Usage()
	if err != nil {
		t.Fatal(err)
	}
	if u.Procs < 3 || u.PSS <= 0 || u.RSS < u.PSS {
		t.Errorf("Usage = %+v, want the master, log and config processes with their memory", u)
	}
}
