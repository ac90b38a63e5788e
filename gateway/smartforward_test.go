package gateway

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

// sentAttachment returns the content of a sent message's attachment named
// name, or nil.
func (f *composeFixture) sentAttachment(t *testing.T, m *sources.Message, id sources.ItemID, name string) []byte {
	t.Helper()
	for _, a := range m.Attachments {
		if a.Name != name {
			continue
		}
		_, rc, err := f.src.OpenAttachment(context.Background(), sources.AttachmentRef{Folder: "sent", Item: id, ID: a.ID})
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return nil
}

func TestSmartForward(t *testing.T) {
	tests := []struct {
		v, by, ctype string
		forwardees   *eas.Forwardees
		wantTo       []string
	}{
		{v: "2.5", by: "itemid", ctype: "text/plain", wantTo: []string{"carol@example.com"}},
		{v: "12.0", by: "itemid", ctype: "text/plain", wantTo: []string{"carol@example.com"}},
		{v: "12.1", by: "itemid", ctype: "text/plain", wantTo: []string{"carol@example.com"}},
		{v: "14.0", by: "itemid", ctype: "text/plain", wantTo: []string{"carol@example.com"}},
		{v: "16.0", by: "itemid", ctype: "text/html", wantTo: []string{"carol@example.com"}},
		{v: "14.1", by: "itemid", ctype: "text/plain", wantTo: []string{"carol@example.com"}},
		{v: "14.1", by: "longid", ctype: "text/html", wantTo: []string{"carol@example.com"}},
		{v: "16.1", by: "itemid", ctype: "text/html", forwardees: &eas.Forwardees{Forwardee: []eas.Forwardee{{Name: "Dave", Email: "dave@example.com"}}},
			wantTo: []string{"carol@example.com", "dave@example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.v+"/"+tt.by+"/"+tt.ctype, func(t *testing.T) {
			f := newComposeFixture(t, nil)
			text := "See below."
			if tt.ctype == "text/html" {
				text = "<html><body><p>See below.</p></body></html>"
			}
			msg := composeClientMIME("Carol <carol@example.com>", "FW: Plans", tt.ctype, text)
			code, body := f.smart(t, "SmartForward", tt.v, msg, tt.by, false, tt.forwardees)
			wantComposeOK(t, code, body)
			m, id := f.oneSent(t)
			var to []string
			for _, a := range m.To {
				to = append(to, a.Email)
			}
			if strings.Join(to, ",") != strings.Join(tt.wantTo, ",") {
				t.Errorf("To %v, want %v", to, tt.wantTo)
			}
			if m.InReplyTo != "" {
				t.Errorf("forward has In-Reply-To %q", m.InReplyTo)
			}
			if m.Text == nil || !strings.HasPrefix(m.Text.Data, "See below.") ||
				!strings.Contains(m.Text.Data, "Forwarded message") || !strings.Contains(m.Text.Data, "Subject: Plans\r\n") ||
				!strings.Contains(m.Text.Data, "\r\nShall we meet on Friday?\r\nBob") {
				t.Errorf("text body %+v, want the client's text, a header block and the original", m.Text)
			}
			if tt.ctype == "text/html" && (m.HTML == nil || !strings.Contains(m.HTML.Data, "<p>See below.</p>") ||
				!strings.Contains(m.HTML.Data, "<b>Friday</b>")) {
				t.Errorf("HTML body %+v, want the client's HTML then the original's", m.HTML)
			}
			if got := f.sentAttachment(t, m, id, "plan.pdf"); !bytes.Equal(got, f.pdf) {
				t.Errorf("attachment plan.pdf has %d bytes, want the original's %d (attachments %+v)", len(got), len(f.pdf), m.Attachments)
			}
			if len(m.Attachments) != 1 {
				t.Errorf("attachments %+v, want plan.pdf only", m.Attachments)
			}
			if orig := f.original(t); !orig.Forwarded || orig.Answered {
				t.Errorf("original forwarded %v, answered %v; want forwarded only", orig.Forwarded, orig.Answered)
			}
		})
	}
}

// TestSmartForwardClientAttachment keeps an attachment the client added
// beside the original's.
func TestSmartForwardClientAttachment(t *testing.T) {
	f := newComposeFixture(t, nil)
	msg := []byte("From: alice@example.com\r\nTo: carol@example.com\r\nSubject: FW: Plans\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=c1\r\n\r\n" +
		"--c1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nWith my notes.\r\n" +
		"--c1\r\nContent-Type: text/plain; name=notes.txt\r\nContent-Disposition: attachment; filename=notes.txt\r\n\r\nmy notes\r\n" +
		"--c1--\r\n")
	code, body := f.smart(t, "SmartForward", "14.1", msg, "itemid", false, nil)
	wantComposeOK(t, code, body)
	m, id := f.oneSent(t)
	if got := f.sentAttachment(t, m, id, "notes.txt"); string(got) != "my notes" {
		t.Errorf("notes.txt = %q, want the client's", got)
	}
	if got := f.sentAttachment(t, m, id, "plan.pdf"); !bytes.Equal(got, f.pdf) {
		t.Errorf("plan.pdf has %d bytes, want %d", len(got), len(f.pdf))
	}
	if m.Text == nil || !strings.HasPrefix(m.Text.Data, "With my notes.") {
		t.Errorf("text body %+v, want the client's text first", m.Text)
	}
}

// TestSmartForwardForwardeesOnly forwards with Forwardees and no Mime, as
// a 16.0 client forwarding a meeting may: the server writes the whole
// message.
func TestSmartForwardForwardeesOnly(t *testing.T) {
	f := newComposeFixture(t, nil)
	req := &eas.SmartForwardRequest{ClientID: "c1", SaveInSentItems: true,
		Source:     &eas.ComposeSource{FolderID: f.inbox, ItemID: f.serverID},
		Forwardees: &eas.Forwardees{Forwardee: []eas.Forwardee{{Email: "dave@example.com"}}}}
	code, body := f.postWBXML(t, "SmartForward", "16.1", req)
	wantComposeOK(t, code, body)
	m, _ := f.oneSent(t)
	if len(m.To) != 1 || m.To[0].Email != "dave@example.com" || m.Subject != "FW: Plans" {
		t.Errorf("To %v, Subject %q; want dave@example.com and FW: Plans", m.To, m.Subject)
	}
}

func TestSmartForwardUnknownOriginal(t *testing.T) {
	for _, v := range []string{"12.1", "14.1"} {
		t.Run(v, func(t *testing.T) {
			f := newComposeFixture(t, nil)
			code, body := f.smart(t, "SmartForward", v, composeClientMIME("carol@example.com", "FW: x", "text/plain", "Hi"), "unknown", false, nil)
			wantComposeStatus(t, v, code, body, eas.StatusItemNotFound, 404)
			if f.original(t).Forwarded {
				t.Error("original marked forwarded")
			}
		})
	}
}
