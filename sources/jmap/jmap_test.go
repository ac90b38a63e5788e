package jmap

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/imapdav"
	"github.com/easgate/easgate/sources/sourcetest"
)

// counter counts the HTTP requests a Source makes.
type counter struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

func login(t testing.TB, url, user string, o Options) *Source {
	t.Helper()
	o.URL = url
	b, err := NewBackend(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	src, err := b.Login(context.Background(), user, testserver.Users[user])
	if err != nil {
		t.Fatalf("Login(%s) = %v", user, err)
	}
	return src.(*Source)
}

// mailStore changes a Cyrus mailbox behind the Source's back, over IMAP.
type mailStore struct {
	t    testing.TB
	c    *imapclient.Client
	src  *Source
	mu   sync.Mutex
	name map[sources.FolderID]string
	uid  map[sources.ItemID]imap.UID
}

func newMailStore(t testing.TB, cy *testserver.Cyrus, src *Source) *mailStore {
	c, err := imapclient.DialInsecure(cy.IMAP, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login("alice", testserver.Users["alice"]).Wait(); err != nil {
		t.Fatal(err)
	}
	return &mailStore{t: t, c: c, src: src, name: map[sources.FolderID]string{}, uid: map[sources.ItemID]imap.UID{}}
}

// mkdir creates a mailbox over IMAP and returns its JMAP id.
func (m *mailStore) mkdir(name string) sources.FolderID {
	m.t.Helper()
	if err := m.c.Create(name, nil).Wait(); err != nil {
		m.t.Fatalf("CREATE %s: %v", name, err)
	}
	d, err := m.src.Folders(context.Background(), "")
	if err != nil {
		m.t.Fatal(err)
	}
	for _, f := range d.Changed {
		if f.Name == name {
			m.mu.Lock()
			m.name[f.ID] = name
			m.mu.Unlock()
			return f.ID
		}
	}
	m.t.Fatalf("Folders does not list the new mailbox %s", name)
	return ""
}

// add appends raw and returns its JMAP id, which Cyrus 3.6 derives from
// the message's SHA-1 (its GUID): "M" and 24 hex digits.
func (m *mailStore) add(f sources.FolderID, raw []byte) (sources.ItemID, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cmd := m.c.Append(m.name[f], int64(len(raw)), nil)
	cmd.Write(raw)
	cmd.Close()
	data, err := cmd.Wait()
	if err != nil {
		return "", err
	}
	sum := sha1.Sum(raw)
	id := sources.ItemID("M" + hex.EncodeToString(sum[:])[:24])
	m.uid[id] = data.UID
	return id, nil
}

func (m *mailStore) store(f sources.FolderID, id sources.ItemID, flag imap.Flag, expunge bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.c.Select(m.name[f], nil).Wait(); err != nil {
		return err
	}
	set := imap.UIDSetNum(m.uid[id])
	if err := m.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{flag}}, nil).Close(); err != nil {
		return err
	}
	if expunge {
		return m.c.UIDExpunge(set).Close()
	}
	return nil
}

func message(n int, extra string) []byte {
	return fmt.Appendf(nil, "From: Bob <bob@example.com>\r\nTo: alice@example.com\r\nSubject: test %d\r\n"+
		"Message-ID: <%d.%d@sourcetest>\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\n%s\r\nbody %d\r\n",
		n, n, time.Now().UnixNano(), extra, n)
}

var folderSeq atomic.Int64

// idleLogin gives Options.Idle an IMAP adapter on cy's IMAP, as cmd
// does; only the test wires the two adapters together.
func idleLogin(t testing.TB, cy *testserver.Cyrus) func(ctx context.Context, user, password string) (sources.Source, error) {
	t.Helper()
	b, err := imapdav.NewBackend(&imapdav.Options{IMAP: cy.IMAP, TLS: imapdav.TLSNone, PollInterval: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.Login
}

func harness(t *testing.T, cy *testserver.Cyrus, o Options) sourcetest.Harness {
	src := login(t, cy.JMAP, "alice", o)
	m := newMailStore(t, cy, src)
	n := folderSeq.Add(1)
	return sourcetest.Harness{
		Source: src,
		Folder: m.mkdir(fmt.Sprintf("st%da", n)),
		Other:  m.mkdir(fmt.Sprintf("st%db", n)),
		Add: func(ctx context.Context, f sources.FolderID, n int) (sources.ItemID, error) {
			return m.add(f, message(n, ""))
		},
		Modify: func(ctx context.Context, f sources.FolderID, id sources.ItemID) error {
			return m.store(f, id, imap.FlagFlagged, false)
		},
		Remove: func(ctx context.Context, f sources.FolderID, id sources.ItemID) error {
			return m.store(f, id, imap.FlagDeleted, true)
		},
		Expire: expirer(t, cy, m),
	}
}

// cyrusTool returns a command running one of Cyrus's admin tools on
// cy's config as the cyrus user, or nil without root to do that.
func cyrusTool(ctx context.Context, cy *testserver.Cyrus, tool string, args ...string) *exec.Cmd {
	prefix := "/opt/cyrus-3.6"
	if b, err := os.ReadFile(filepath.Join(cy.Dir, "cyrus.conf")); err == nil && strings.Contains(string(b), "/opt/cyrus-3.6-push/") {
		prefix = "/opt/cyrus-3.6-push"
	}
	bin := prefix + "/usr/lib/cyrus/bin/" + tool
	if _, err := exec.LookPath("setpriv"); err != nil || os.Getuid() != 0 {
		return nil
	}
	if _, err := os.Stat(bin); err != nil {
		return nil
	}
	args = append([]string{"--reuid=cyrus", "--regid=mail", "--clear-groups", bin, "-C", filepath.Join(cy.Dir, "imapd.conf")}, args...)
	cmd := exec.CommandContext(ctx, "setpriv", args...)
	cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+prefix+"/usr/lib/x86_64-linux-gnu")
	return cmd
}

// expirer returns a Harness.Expire for Cyrus: a message is expunged and
// cyr_expire -X 0 purges it at once, which raises the account's deleted
// modseq, so Email/changes since any earlier state answers
// cannotCalculateChanges. Without root, nil.
func expirer(t *testing.T, cy *testserver.Cyrus, m *mailStore) func(context.Context) error {
	if cyrusTool(t.Context(), cy, "cyr_expire") == nil {
		return nil
	}
	return func(ctx context.Context) error {
		scratch := m.mkdir(fmt.Sprintf("expire%d", folderSeq.Add(1)))
		id, err := m.add(scratch, message(0, ""))
		if err != nil {
			return err
		}
		if err := m.store(scratch, id, imap.FlagDeleted, true); err != nil {
			return err
		}
		if out, err := cyrusTool(ctx, cy, "cyr_expire", "-X", "0").CombinedOutput(); err != nil {
			return fmt.Errorf("cyr_expire: %v: %s", err, out)
		}
		return nil
	}
}

func TestSourceCyrus(t *testing.T) {
	cy := testserver.StartCyrus(t, nil)
	sourcetest.Run(t, func(t *testing.T) sourcetest.Harness {
		// Listings of 4 ids at a time: the suite's pages cross them.
		return harness(t, cy, Options{PollInterval: 300 * time.Millisecond, ListChunk: 4})
	})
}

func TestSourceCyrusPush(t *testing.T) {
	cy := testserver.StartCyrus(t, &testserver.CyrusOptions{Push: true})
	sourcetest.Run(t, func(t *testing.T) sourcetest.Harness {
		// A poll interval longer than the suite's patience: only push
		// can wake Watch in time.
		return harness(t, cy, Options{PollInterval: time.Hour})
	})
}

// TestSourceCyrusIdle runs the suite with Watch woken by IMAP IDLE too.
func TestSourceCyrusIdle(t *testing.T) {
	cy := testserver.StartCyrus(t, &testserver.CyrusOptions{Push: true})
	sourcetest.Run(t, func(t *testing.T) sourcetest.Harness {
		return harness(t, cy, Options{PollInterval: time.Hour, Idle: idleLogin(t, cy)})
	})
}

func TestWrongPassword(t *testing.T) {
	cy := testserver.StartCyrus(t, nil)
	b, err := NewBackend(Options{URL: cy.JMAP})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Login(t.Context(), "alice", "wrong"); !errors.Is(err, sources.ErrAuth) || sources.Temporary(err) {
		t.Errorf("Login(wrong password) = %v, want ErrAuth", err)
	}
	// The base URL works too, through /.well-known/jmap.
	b2, _ := NewBackend(Options{URL: cy.HTTP})
	if _, err := b2.Login(t.Context(), "alice", "alice-pass"); err != nil {
		t.Errorf("Login via %s/.well-known/jmap = %v", cy.HTTP, err)
	}
	// A cached login does not accept another password.
	if _, err := b.Login(t.Context(), "alice", "alice-pass"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Login(t.Context(), "alice", "wrong"); !errors.Is(err, sources.ErrAuth) {
		t.Errorf("Login(wrong password) after a good one = %v, want ErrAuth", err)
	}
}

// TestStoreDown stops Cyrus under a Source: calls fail as temporary.
func TestStoreDown(t *testing.T) {
	cy := testserver.StartCyrus(t, nil)
	src := login(t, cy.JMAP, "alice", Options{})
	d, err := src.Folders(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	stopCyrus(t, cy)
	_, err = src.Changes(t.Context(), d.Changed[0].ID, "", 10)
	if err == nil || !sources.Temporary(err) {
		t.Errorf("Changes with Cyrus stopped = %v, want a temporary error", err)
	}
	b, _ := NewBackend(Options{URL: cy.JMAP})
	if _, err := b.Login(t.Context(), "alice", "alice-pass"); err == nil || !sources.Temporary(err) || errors.Is(err, sources.ErrAuth) {
		t.Errorf("Login with Cyrus stopped = %v, want a temporary error", err)
	}
}

// stopCyrus stops the instance by its own script, as its cleanup would.
func stopCyrus(t *testing.T, cy *testserver.Cyrus) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cy.Dir, "cyrus.pids"))
	if err != nil {
		t.Fatalf("cannot find Cyrus's pids: %v", err)
	}
	for _, f := range strings.Fields(string(b)) {
		var pid int
		fmt.Sscan(f, &pid)
		if p, err := os.FindProcess(pid); err == nil && pid > 0 {
			p.Signal(os.Interrupt)
		}
	}
	time.Sleep(500 * time.Millisecond)
}

func inbox(t testing.TB, src *Source, kind sources.FolderKind) sources.FolderID {
	t.Helper()
	d, err := src.Folders(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range d.Changed {
		if f.Kind == kind {
			return f.ID
		}
	}
	t.Fatalf("no %s folder", kind)
	return ""
}

// TestMail covers what the suite does not: bodies, MIME, attachments,
// flags, broken MIME, search, send, drafts and delete to trash.
func TestMail(t *testing.T) {
	cy := testserver.StartCyrus(t, nil)
	ctx := t.Context()
	src := login(t, cy.JMAP, "alice", Options{})
	in := inbox(t, src, sources.KindInbox)
	mixed := "From: Bob <bob@example.com>\r\nTo: alice@example.com\r\nSubject: with attachment\r\n" +
		"Importance: high\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + strings.Repeat("hello world ", 100) + "\r\n" +
		"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
	broken := "From: Bob <bob@example.com>\r\nSubject: broken\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64 at all\r\n--zz\r\nContent-Type: text/html\r\n\r\n<p>truncated"
	testserver.Deliver(t, cy.LMTP, "alice", []byte(mixed))
	testserver.Deliver(t, cy.LMTP, "alice", []byte(broken))
	d, err := src.Changes(ctx, in, "", 0)
	if err != nil || len(d.Changed) != 2 {
		t.Fatalf("Changes(inbox) = %+v, %v; want 2 messages", d, err)
	}
	items, err := src.Get(ctx, in, d.Changed, &sources.GetOptions{Text: true, HTML: true, BodyLimit: 100, MIME: true})
	if err != nil || len(items) != 2 {
		t.Fatalf("Get = %d items, %v", len(items), err)
	}
	bySubject := map[string]*sources.Message{}
	ids := map[string]sources.ItemID{}
	for _, it := range items {
		bySubject[it.Mail.Subject] = it.Mail
		ids[it.Mail.Subject] = it.ID
	}
	m := bySubject["with attachment"]
	if m == nil || m.Text == nil || !m.Text.Truncated || len(m.Text.Data) > 100 || m.Text.Size < 1000 {
		t.Fatalf("Get(with attachment) text = %+v, want 100 bytes of more than 1000, truncated", m)
	}
	if m.Importance != sources.ImportanceHigh || len(m.From) != 1 || m.From[0].Email != "bob@example.com" {
		t.Errorf("Get: importance %v, from %v", m.Importance, m.From)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].Name != "a.pdf" {
		t.Fatalf("Get: attachments %+v, want a.pdf", m.Attachments)
	}
	a, rc, err := src.OpenAttachment(ctx, sources.AttachmentRef{Folder: in, Item: ids["with attachment"], ID: m.Attachments[0].ID})
	if err != nil {
		t.Fatalf("OpenAttachment = %v", err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if string(data) != "%PDF-1.4\n" || a.ContentType != "application/pdf" {
		t.Errorf("OpenAttachment = %+v %q, want the decoded PDF", a, data)
	}
	rc, err = m.MIME(ctx)
	if err != nil {
		t.Fatalf("MIME = %v", err)
	}
	raw, _ := io.ReadAll(rc)
	rc.Close()
	if !strings.Contains(string(raw), "JVBERi0xLjQK") {
		t.Errorf("MIME = %q, want the raw message", raw)
	}
	b := bySubject["broken"]
	if b == nil || b.Subject != "broken" || b.From[0].Email != "bob@example.com" {
		t.Errorf("Get(broken MIME) = %+v, want its headers at least", b)
	}

	// Flags both ways.
	id := ids["with attachment"]
	yes := true
	if err := src.UpdateFlags(ctx, in, id, sources.FlagUpdate{Read: &yes, Flagged: &yes, SetCategories: true, Categories: []string{"Work Items"}}); err != nil {
		t.Fatal(err)
	}
	items, _ = src.Get(ctx, in, []sources.ItemID{id}, nil)
	if len(items) != 1 || !items[0].Mail.Read || !items[0].Mail.Flagged || len(items[0].Mail.Categories) != 1 {
		t.Errorf("after UpdateFlags: %+v", items[0].Mail)
	}

	// Delete moves to the trash.
	trash := inbox(t, src, sources.KindDeleted)
	if err := src.Delete(ctx, in, id); err != nil {
		t.Fatal(err)
	}
	if items, _ := src.Get(ctx, trash, []sources.ItemID{id}, nil); len(items) != 1 {
		t.Errorf("Delete did not move %s to the trash", id)
	}

	// Search by text needs Xapian's rolling indexer: allow it a moment.
	var res sources.SearchResult
	for range 20 {
		if res, err = src.Search(ctx, sources.SearchQuery{Text: "broken", Folders: []sources.FolderID{in}}); err != nil || res.Total > 0 {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err != nil || res.Total != 1 || len(res.Hits) != 1 || res.Hits[0].Folder != in {
		t.Errorf("Search(broken) = %+v, %v; want 1 hit in the inbox", res, err)
	}
	if res, err := src.Search(ctx, sources.SearchQuery{Since: time.Now().Add(time.Hour)}); err != nil || res.Total != 0 {
		t.Errorf("Search(future) = %+v, %v", res, err)
	}

	// Send reaches the SMTP sink and files a copy in Sent.
	msg := "From: alice@example.com\r\nTo: carol@example.com\r\nSubject: sent by easgate\r\n\r\nhi\r\n"
	if err := src.Send(ctx, strings.NewReader(msg), true); err != nil {
		t.Fatalf("Send = %v", err)
	}
	sent := inbox(t, src, sources.KindSent)
	if d, err := src.Changes(ctx, sent, "", 0); err != nil || len(d.Changed) != 1 {
		t.Errorf("Sent after Send: %+v, %v; want 1 message", d, err)
	}
	var sunk []byte
	for range 20 {
		sunk, _ = os.ReadFile(filepath.Join(cy.SinkDir, "1.eml"))
		if len(sunk) > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(string(sunk), "sent by easgate") {
		t.Errorf("SMTP sink got %q, want the message", sunk)
	}

	// A draft written by a device.
	drafts := inbox(t, src, sources.KindDrafts)
	did, etag, err := src.Put(ctx, drafts, &sources.Item{Mail: &sources.Message{
		Subject: "draft ü", To: []sources.Address{{Email: "x@example.com"}}, Text: &sources.Body{Data: "draft body"}}}, "")
	if err != nil || did == "" || etag == "" {
		t.Fatalf("Put(draft) = %q, %q, %v", did, etag, err)
	}
	items, _ = src.Get(ctx, drafts, []sources.ItemID{did}, &sources.GetOptions{Text: true})
	if len(items) != 1 || items[0].Mail.Subject != "draft ü" || items[0].Mail.Text == nil || strings.TrimSpace(items[0].Mail.Text.Data) != "draft body" {
		t.Errorf("Get(draft) = %+v", items[0].Mail)
	}

	// Folder writes.
	fid, err := src.CreateFolder(ctx, "", "Projects", sources.KindUserMail)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.CreateFolder(ctx, "", "Projects", sources.KindUserMail); !errors.Is(err, sources.ErrConflict) {
		t.Errorf("CreateFolder(existing) = %v, want ErrConflict", err)
	}
	if err := src.RenameFolder(ctx, fid, in, "Old projects"); err != nil {
		t.Errorf("RenameFolder = %v", err)
	}
	if err := src.DeleteFolder(ctx, fid); err != nil {
		t.Errorf("DeleteFolder = %v", err)
	}
}

// TestPollFallback: Debian's Cyrus has no push (204), so Watch polls.
func TestPollFallback(t *testing.T) {
	cy := testserver.StartCyrus(t, nil)
	src := login(t, cy.JMAP, "alice", Options{PollInterval: 200 * time.Millisecond})
	in := inbox(t, src, sources.KindInbox)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	done := make(chan []sources.FolderID, 1)
	go func() {
		fs, _ := src.Watch(ctx, []sources.FolderID{in})
		done <- fs
	}()
	time.Sleep(300 * time.Millisecond)
	testserver.Deliver(t, cy.LMTP, "alice", message(1, ""))
	start := time.Now()
	select {
	case fs := <-done:
		if len(fs) != 1 || fs[0] != in {
			t.Errorf("Watch = %v, want [%s]", fs, in)
		}
		t.Logf("poll fallback woke %v after delivery", time.Since(start))
	case <-ctx.Done():
		t.Fatal("Watch did not wake within 10s of a delivery")
	}
	if !src.push.polling {
		t.Error("the hub did not fall back to polling")
	}
}

// TestPushLatency: with push, Watch wakes within about 2 s of an LMTP
// delivery (Cyrus polls its own counters every second), and all
// watchers of a user share one connection.
func TestPushLatency(t *testing.T) {
	cy := testserver.StartCyrus(t, &testserver.CyrusOptions{Push: true})
	cnt := &counter{base: http.DefaultTransport}
	src := login(t, cy.JMAP, "alice", Options{PollInterval: time.Hour, HTTPClient: &http.Client{Transport: cnt}})
	in := inbox(t, src, sources.KindInbox)
	var worst time.Duration
	for i := range 5 {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		done := make(chan time.Time, 3)
		for range 3 { // three devices of one user
			go func() {
				if fs, err := src.Watch(ctx, []sources.FolderID{in}); err == nil && len(fs) == 1 {
					done <- time.Now()
				}
			}()
		}
		time.Sleep(1500 * time.Millisecond)
		start := time.Now()
		testserver.Deliver(t, cy.LMTP, "alice", message(i, ""))
		for range 3 {
			select {
			case at := <-done:
				worst = max(worst, at.Sub(start))
			case <-ctx.Done():
				t.Fatalf("Watch did not wake within 10s of delivery %d", i)
			}
		}
		cancel()
	}
	t.Logf("push: worst wake-up %v after LMTP delivery (5 deliveries, 3 watchers each)", worst)
	if worst > 2500*time.Millisecond {
		t.Errorf("push woke %v after delivery, want under 2.5 s", worst)
	}
	src.push.mu.Lock()
	defer src.push.mu.Unlock()
	if src.push.polling || src.push.connects != 1 {
		t.Errorf("hub: polling %v, %d streams opened; want push on one stream", src.push.polling, src.push.connects)
	}
}

// TestPushReconnect: Cyrus ends EventSource streams after httptimeout
// (5 min; 4 s here); the hub reopens them and Watch still wakes.
func TestPushReconnect(t *testing.T) {
	t.Setenv("CYRUS_HTTPTIMEOUT", "4s")
	cy := testserver.StartCyrus(t, &testserver.CyrusOptions{Push: true})
	src := login(t, cy.JMAP, "alice", Options{PollInterval: time.Hour, Ping: 2 * time.Second})
	in := inbox(t, src, sources.KindInbox)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	done := make(chan []sources.FolderID, 1)
	go func() {
		fs, _ := src.Watch(ctx, []sources.FolderID{in})
		done <- fs
	}()
	time.Sleep(9 * time.Second) // two stream ends
	start := time.Now()
	testserver.Deliver(t, cy.LMTP, "alice", message(1, ""))
	select {
	case fs := <-done:
		if len(fs) != 1 {
			t.Errorf("Watch = %v, want [%s]", fs, in)
		}
		t.Logf("woke %v after delivery", time.Since(start))
		if d := time.Since(start); d > 2500*time.Millisecond {
			t.Errorf("Watch woke %v after delivery, want under 2.5 s", d)
		}
	case <-ctx.Done():
		t.Fatal("Watch did not wake after a delivery")
	}
	src.push.mu.Lock()
	defer src.push.mu.Unlock()
	if src.push.connects < 2 {
		t.Errorf("%d streams opened in 9 s with httptimeout 4s; want a reconnect", src.push.connects)
	}
}

// TestPIMRouting: contacts and calendars folders come from package pim
// under "pim:" ids, beside the mailboxes, and their calls reach it.
func TestPIMRouting(t *testing.T) {
	cy := testserver.StartCyrus(t, nil)
	src := login(t, cy.JMAP, "alice", Options{})
	d, err := src.Folders(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	var pims []sources.Folder
	for _, f := range d.Changed {
		if isPIM(f.ID) {
			pims = append(pims, f)
		}
	}
	if len(pims) == 0 {
		t.Fatalf("Folders = %+v, want contacts and calendars under pim: ids", d.Changed)
	}
	for _, f := range pims {
		if _, err := src.Changes(t.Context(), f.ID, "", 0); err != nil {
			t.Errorf("Changes(%s %s) = %v", f.Kind, f.ID, err)
		}
	}
	if _, err := src.Changes(t.Context(), "pim:nosuch", "", 0); !errors.Is(err, sources.ErrNotFound) {
		t.Errorf("Changes(pim:nosuch) = %v, want ErrNotFound", err)
	}
}

// TestIdleLatency: with Options.Idle, Watch wakes from IMAP IDLE on the same
// Cyrus, well before its EventSource's one-second poll; folders map by
// name and parent, including a child and a new top-level mailbox.
func TestIdleLatency(t *testing.T) {
	cy := testserver.StartCyrus(t, &testserver.CyrusOptions{Push: true})
	src := login(t, cy.JMAP, "alice", Options{PollInterval: time.Hour, Idle: idleLogin(t, cy)})
	in := inbox(t, src, sources.KindInbox)
	m := newMailStore(t, cy, src)
	top := m.mkdir("idletop")
	if err := m.c.Create("idletop/kid", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	d, err := src.Folders(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	var child sources.FolderID
	for _, f := range d.Changed {
		if f.Name == "kid" && f.ParentID == top {
			child = f.ID
		}
	}

	is, names, err := src.idle.source(t.Context(), []sources.FolderID{in, top, child, "pim:x"})
	if err != nil || is == nil {
		t.Fatalf("idle source = %v, %v", is, err)
	}
	want := []sources.FolderID{"INBOX", "idletop", "idletop/kid"}
	if !slices.Equal(names, want) {
		t.Errorf("IMAP names of inbox, idletop, idletop/kid, pim:x = %q, want %q", names, want)
	}

	var lat []time.Duration
	for i := range 5 {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		done := make(chan []sources.FolderID, 1)
		go func() {
			fs, _ := src.Watch(ctx, []sources.FolderID{in, top})
			done <- fs
		}()
		time.Sleep(700 * time.Millisecond) // the IDLE is up by then
		start := time.Now()
		testserver.Deliver(t, cy.LMTP, "alice", message(i, ""))
		select {
		case fs := <-done:
			lat = append(lat, time.Since(start))
			if !slices.Equal(fs, []sources.FolderID{in}) {
				t.Errorf("Watch = %v, want [%s]", fs, in)
			}
		case <-ctx.Done():
			t.Fatalf("Watch did not wake within 10s of delivery %d", i)
		}
		cancel()
	}
	slices.Sort(lat)
	t.Logf("idle: wake-up after LMTP delivery, 5 deliveries: min %v, median %v, max %v", lat[0], lat[2], lat[4])
	if lat[4] > 5*time.Second {
		t.Errorf("Watch woke %v after delivery, want well under 5 s", lat[4])
	}
}

// TestPushNotify: Notify waits on the user's one push connection (and,
// with Options.Idle, the user's shared IMAP IDLE) without a goroutine per
// registration: a delivery calls back every registration of the user's
// three phones once, and stopping them all leaves no watcher.
func TestPushNotify(t *testing.T) {
	cy := testserver.StartCyrus(t, &testserver.CyrusOptions{Push: true})
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"push", Options{PollInterval: time.Hour}},
		{"push+idle", Options{PollInterval: time.Hour, Idle: idleLogin(t, cy)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := login(t, cy.JMAP, "alice", tc.o)
			in := inbox(t, src, sources.KindInbox)
			const phones = 3
			var calls atomic.Int32
			var wg sync.WaitGroup
			stops := make([]func(), phones)
			g0 := runtime.NumGoroutine()
			for i := range stops {
				wg.Add(1)
				var err error
				if stops[i], err = src.Notify([]sources.FolderID{in}, func() { calls.Add(1); wg.Done() }); err != nil {
					t.Fatal(err)
				}
			}
			// The hub's stream (and the IDLE connection's), not one per phone.
			if n := runtime.NumGoroutine() - g0; n > 6 {
				t.Errorf("%d more goroutines for %d registrations", n, phones)
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			// The stream (or IDLE) may not be up yet: deliver until called.
			for i := 0; ; i++ {
				testserver.Deliver(t, cy.LMTP, "alice", message(100+i, ""))
				if waitDone(done, 2*time.Second) {
					break
				}
				if i == 10 {
					t.Fatalf("%d of %d registrations called back after 11 deliveries", calls.Load(), phones)
				}
			}
			for _, stop := range stops {
				stop()
				stop()
			}
			if n := calls.Load(); n != phones {
				t.Errorf("%d calls, want one per registration (%d)", n, phones)
			}
			src.push.mu.Lock()
			defer src.push.mu.Unlock()
			if src.push.watchers != 0 || len(src.push.fns) != 0 {
				t.Errorf("after every stop: %d watchers, %d callbacks; want none", src.push.watchers, len(src.push.fns))
			}
		})
	}
}

// waitDone reports whether ch closes within d.
func waitDone(ch <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}
