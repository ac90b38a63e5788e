package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"reflect"
	"testing"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/memory"
	"github.com/easgate/easgate/statecache"
)

// composeBackend logs testUser into one memory store.
type composeBackend struct{ src *memory.Source }

func (b composeBackend) Login(_ context.Context, user, password string) (sources.Source, error) {
	if user == testUser && password == testPassword {
		return b.src, nil
	}
	return nil, fmt.Errorf("bad credentials: %w", sources.ErrAuth)
}

// composeFixture is a server over a memory store whose inbox holds one
// message, with plain and HTML text and an attachment, that the device has
// synced.
type composeFixture struct {
	s        *Server
	src      *memory.Source
	inbox    string // CollectionId
	serverID string
	item     sources.ItemID
	pdf      []byte // the original's attachment
}

// composeOriginal is the message replied to and forwarded.
func composeOriginal(pdf []byte) []byte {
	return []byte("From: Bob <bob@example.com>\r\nTo: Alice <alice@example.com>\r\nSubject: Plans\r\n" +
		"Date: Mon, 02 Feb 2026 10:00:00 +0000\r\nMessage-ID: <orig@example.com>\r\nReferences: <root@example.com>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n" +
		"--b1\r\nContent-Type: multipart/alternative; boundary=b2\r\n\r\n" +
		"--b2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nShall we meet on Friday?\r\nBob\r\n" +
		"--b2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>Shall we meet on <b>Friday</b>?</p></body></html>\r\n" +
		"--b2--\r\n" +
		"--b1\r\nContent-Type: application/pdf; name=\"plan.pdf\"\r\nContent-Disposition: attachment; filename=\"plan.pdf\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString(pdf) + "\r\n--b1--\r\n")
}

// composeClientMIME is the client's part of a reply or forward: its own
// text only.
func composeClientMIME(to, subject, ctype, text string) []byte {
	return []byte("From: Alice <alice@example.com>\r\nTo: " + to + "\r\nSubject: " + subject +
		"\r\nMIME-Version: 1.0\r\nContent-Type: " + ctype + "; charset=utf-8\r\n\r\n" + text + "\r\n")
}

func newComposeFixture(t *testing.T, o *Options) *composeFixture {
	t.Helper()
	ctx := context.Background()
	st, err := statecache.Open("", &statecache.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &composeFixture{src: memory.New(nil).User("alice"), pdf: bytes.Repeat([]byte("%PDF-1.7 plan "), 400)}
	if f.item, err = f.src.AddMessage(ctx, "inbox", composeOriginal(f.pdf)); err != nil {
		t.Fatal(err)
	}
	acct := statecache.Account{User: testUser, Device: "dev01"}
	if _, err := st.AdvanceHierarchy(ctx, acct, statecache.InitialKey, statecache.SyncState{}); err != nil {
		t.Fatal(err)
	}
	cids, err := st.CollectionIDs(ctx, acct, []string{"inbox"})
	if err != nil {
		t.Fatal(err)
	}
	f.inbox = cids[0]
	key := statecache.CollectionKey{Account: acct, Collection: f.inbox}
	if _, err := st.Advance(ctx, key, statecache.InitialKey, statecache.SyncState{}); err != nil {
		t.Fatal(err)
	}
	sids, err := st.ServerIDs(ctx, key, []string{string(f.item)})
	if err != nil {
		t.Fatal(err)
	}
	f.serverID = sids[0]
	if o == nil {
		o = &Options{}
	}
	o.Backend, o.State = composeBackend{f.src}, st
	f.s = newTestServer(t, o, nil)
	return f
}

// postWBXML sends cmd at version v (14.0 or later) with req as its body.
func (f *composeFixture) postWBXML(t *testing.T, cmd, v string, req any) (int, []byte) {
	t.Helper()
	w := post(f.s, Path+plainQuery+cmd, mustMarshal(t, req), "MS-ASProtocolVersion", v)
	return w.Code, w.Body.Bytes()
}

// postMIME sends cmd at version v (before 14.0) with msg as a
// message/rfc822 body and params added to the query.
func (f *composeFixture) postMIME(t *testing.T, cmd, v, params string, msg []byte) (int, []byte) {
	t.Helper()
	w := post(f.s, Path+plainQuery+cmd+params, msg, "MS-ASProtocolVersion", v, "Content-Type", "message/rfc822")
	return w.Code, w.Body.Bytes()
}

// sentItems returns the messages filed in Sent Items, with text bodies.
func (f *composeFixture) sentItems(t *testing.T) []*sources.Message {
	t.Helper()
	ctx := context.Background()
	d, err := f.src.Changes(ctx, "sent", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	items, err := f.src.Get(ctx, "sent", d.Changed, &sources.GetOptions{Text: true, HTML: true})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*sources.Message, len(items))
	for i, it := range items {
		out[i] = it.Mail
	}
	return out
}

// oneSent returns the one message sent and saved, and its id in Sent Items.
func (f *composeFixture) oneSent(t *testing.T) (*sources.Message, sources.ItemID) {
	t.Helper()
	if n := len(f.src.Sent()); n != 1 {
		t.Fatalf("store sent %d messages, want 1", n)
	}
	ctx := context.Background()
	d, err := f.src.Changes(ctx, "sent", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Changed) != 1 {
		t.Fatalf("Sent Items holds %d messages, want 1", len(d.Changed))
	}
	items, err := f.src.Get(ctx, "sent", d.Changed, &sources.GetOptions{Text: true, HTML: true})
	if err != nil || len(items) != 1 {
		t.Fatalf("Get(sent) = %d items, %v", len(items), err)
	}
	return items[0].Mail, items[0].ID
}

// original returns the original message as the store has it now.
func (f *composeFixture) original(t *testing.T) *sources.Message {
	t.Helper()
	items, err := f.src.Get(context.Background(), "inbox", []sources.ItemID{f.item}, nil)
	if err != nil || len(items) != 1 {
		t.Fatalf("Get(original) = %d items, %v", len(items), err)
	}
	return items[0].Mail
}

// wantComposeOK checks the empty HTTP 200 that answers a successful
// ComposeMail command.
func wantComposeOK(t *testing.T, code int, body []byte) {
	t.Helper()
	if code != http.StatusOK || len(body) != 0 {
		t.Fatalf("response %d with %d bytes (% x), want an empty 200", code, len(body), body[:min(len(body), 16)])
	}
}

// composeLegacy reports whether v sends message/rfc822 bodies.
func composeLegacy(t *testing.T, v string) bool {
	t.Helper()
	ver, err := eas.ParseVersion(v)
	if err != nil {
		t.Fatal(err)
	}
	return ver < eas.V140
}

// wantComposeStatus checks a failed ComposeMail command: a Status element
// from 14.0, an HTTP status before.
func wantComposeStatus(t *testing.T, v string, code int, body []byte, st eas.Status, httpCode int) {
	t.Helper()
	if composeLegacy(t, v) {
		if code != httpCode {
			t.Errorf("HTTP status %d, want %d", code, httpCode)
		}
		return
	}
	if code != http.StatusOK {
		t.Fatalf("HTTP status %d, want 200", code)
	}
	if _, got := decodeStatus(t, body); got != int(st) {
		t.Errorf("Status %d, want %d", got, st)
	}
}

func TestMIMERequest(t *testing.T) {
	msg := []byte("To: bob@example.com\r\n\r\nHi\r\n")
	tests := []struct {
		name    string
		q       Request
		body    []byte
		want    request
		wantErr bool
	}{
		{"sendmail", Request{Command: eas.CmdSendMail, Params: Params{SaveInSent: true}}, msg,
			&eas.SendMailRequest{SaveInSentItems: true, Mime: msg}, false},
		{"smartreply", Request{Command: eas.CmdSmartReply, Params: Params{ItemID: "1:3", CollectionID: "1"}}, msg,
			&eas.SmartReplyRequest{Source: &eas.ComposeSource{FolderID: "1", ItemID: "1:3"}, Mime: msg}, false},
		{"smartforward-longid", Request{Command: eas.CmdSmartForward, Params: Params{LongID: "a:b", Occurrence: "x"}}, msg,
			&eas.SmartForwardRequest{Source: &eas.ComposeSource{LongID: "a:b", InstanceID: "x"}, Mime: msg}, false},
		{"no-source", Request{Command: eas.CmdSmartReply}, msg, nil, true},
		{"empty", Request{Command: eas.CmdSendMail}, nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mimeRequest(&tt.q, bytes.NewReader(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("mimeRequest = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("mimeRequest = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestComposeOversizeBody(t *testing.T) {
	for _, v := range []string{"12.1", "14.1"} {
		t.Run(v, func(t *testing.T) {
			f := newComposeFixture(t, &Options{MaxBodySize: 1024})
			msg := composeClientMIME("bob@example.com", "Big", "text/plain", string(bytes.Repeat([]byte("x"), 2048)))
			var code int
			if v == "12.1" {
				code, _ = f.postMIME(t, "SendMail", v, "", msg)
			} else {
				code, _ = f.postWBXML(t, "SendMail", v, &eas.SendMailRequest{ClientID: "c1", Mime: msg})
			}
			if code != http.StatusRequestEntityTooLarge {
				t.Errorf("HTTP status %d, want 413", code)
			}
			if n := len(f.src.Sent()); n != 0 {
				t.Errorf("store sent %d messages, want 0", n)
			}
		})
	}
}
