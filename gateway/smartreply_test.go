package gateway

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

// smart names the fixture's original in the form of version v and
// sends cmd with msg: query parameters before 14.0, Source after.
func (f *composeFixture) smart(t *testing.T, cmd, v string, msg []byte, by string, replace bool, fw *eas.Forwardees) (int, []byte) {
	t.Helper()
	src := &eas.ComposeSource{FolderID: f.inbox, ItemID: f.serverID}
	switch by {
	case "longid":
		src = &eas.ComposeSource{LongID: longID(sources.ItemRef{Folder: "inbox", ID: f.item})}
	case "itemid-only":
		src = &eas.ComposeSource{ItemID: f.serverID}
	case "unknown":
		src = &eas.ComposeSource{FolderID: f.inbox, ItemID: f.inbox + ":999"}
	}
	if composeLegacy(t, v) {
		q := url.Values{"SaveInSent": {"T"}}
		for k, val := range map[string]string{"CollectionId": src.FolderID, "ItemId": src.ItemID, "LongId": src.LongID} {
			if val != "" {
				q.Set(k, val)
			}
		}
		return f.postMIME(t, cmd, v, "&"+q.Encode(), msg)
	}
	var req any
	if cmd == "SmartReply" {
		req = &eas.SmartReplyRequest{ClientID: "c1", Source: src, SaveInSentItems: true, ReplaceMime: replace, Mime: msg}
	} else {
		req = &eas.SmartForwardRequest{ClientID: "c1", Source: src, SaveInSentItems: true, ReplaceMime: replace, Mime: msg, Forwardees: fw}
	}
	return f.postWBXML(t, cmd, v, req)
}

func TestSmartReply(t *testing.T) {
	tests := []struct {
		v, by, ctype string
	}{
		{"2.5", "itemid", "text/plain"},
		{"12.0", "itemid", "text/plain"},
		{"12.1", "itemid", "text/plain"},
		{"12.1", "itemid-only", "text/plain"},
		{"14.0", "itemid", "text/plain"},
		{"14.1", "itemid", "text/plain"},
		{"14.1", "longid", "text/plain"},
		{"16.0", "itemid", "text/html"},
		{"16.1", "itemid", "text/html"},
		{"16.1", "itemid-only", "text/html"},
	}
	for _, tt := range tests {
		t.Run(tt.v+"/"+tt.by+"/"+tt.ctype, func(t *testing.T) {
			f := newComposeFixture(t, nil)
			text := "Friday works."
			if tt.ctype == "text/html" {
				text = "<html><body><p>Friday works.</p></body></html>"
			}
			code, body := f.smart(t, "SmartReply", tt.v, composeClientMIME("Bob <bob@example.com>", "RE: Plans", tt.ctype, text), tt.by, false, nil)
			wantComposeOK(t, code, body)
			m, _ := f.oneSent(t)
			if m.InReplyTo != "orig@example.com" || !reflect.DeepEqual(m.References, []string{"root@example.com", "orig@example.com"}) {
				t.Errorf("In-Reply-To %q, References %q; want orig@example.com and [root orig]", m.InReplyTo, m.References)
			}
			if m.Subject != "RE: Plans" || len(m.To) != 1 || m.To[0].Email != "bob@example.com" {
				t.Errorf("Subject %q, To %v: want the client's", m.Subject, m.To)
			}
			if m.Text == nil || !strings.HasPrefix(m.Text.Data, "Friday works.") ||
				!strings.Contains(m.Text.Data, "\r\n> Shall we meet on Friday?\r\n> Bob\r\n") {
				t.Errorf("text body %+v, want the client's text then the original quoted", m.Text)
			}
			if tt.ctype == "text/html" {
				if m.HTML == nil || !strings.Contains(m.HTML.Data, "<p>Friday works.</p>") ||
					!strings.Contains(m.HTML.Data, "<blockquote") || !strings.Contains(m.HTML.Data, "<b>Friday</b>") {
					t.Errorf("HTML body %+v, want the client's HTML then the original in a blockquote", m.HTML)
				}
			} else if m.HTML != nil {
				t.Errorf("HTML body %q, want none for a plain-text reply", m.HTML.Data)
			}
			if len(m.Attachments) != 0 {
				t.Errorf("reply carries attachments %+v, want none", m.Attachments)
			}
			if orig := f.original(t); !orig.Answered || orig.Forwarded {
				t.Errorf("original answered %v, forwarded %v; want answered only", orig.Answered, orig.Forwarded)
			}
		})
	}
}

func TestSmartReplyReplaceMime(t *testing.T) {
	f := newComposeFixture(t, nil)
	msg := composeClientMIME("bob@example.com", "RE: Plans", "text/plain", "Whole reply, written by the device.")
	code, body := f.smart(t, "SmartReply", "14.1", msg, "itemid", true, nil)
	wantComposeOK(t, code, body)
	if sent := f.src.Sent(); len(sent) != 1 || string(sent[0]) != string(msg) {
		t.Errorf("store sent %q, want the client's message as is", sent)
	}
	if !f.original(t).Answered {
		t.Error("original not answered")
	}
}

func TestSmartReplyUnknownOriginal(t *testing.T) {
	for _, v := range []string{"12.1", "14.1", "16.1"} {
		for _, by := range []string{"unknown", "bad-longid"} {
			t.Run(v+"/"+by, func(t *testing.T) {
				f := newComposeFixture(t, nil)
				msg := composeClientMIME("bob@example.com", "RE: x", "text/plain", "Hi")
				var code int
				var body []byte
				if by == "bad-longid" {
					if composeLegacy(t, v) {
						code, body = f.postMIME(t, "SmartReply", v, "&LongId=nonsense", msg)
					} else {
						code, body = f.postWBXML(t, "SmartReply", v, &eas.SmartReplyRequest{ClientID: "c1",
							Source: &eas.ComposeSource{LongID: "nonsense"}, Mime: msg})
					}
				} else {
					code, body = f.smart(t, "SmartReply", v, msg, by, false, nil)
				}
				wantComposeStatus(t, v, code, body, eas.StatusItemNotFound, http.StatusNotFound)
				if n := len(f.src.Sent()); n != 0 {
					t.Errorf("store sent %d messages, want 0", n)
				}
			})
		}
	}
}
