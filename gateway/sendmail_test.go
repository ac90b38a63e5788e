package gateway

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/easgate/easgate/eas"
)

func TestSendMail(t *testing.T) {
	msg := composeClientMIME("Bob <bob@example.com>", "Lunch", "text/plain", "Lunch at noon?")
	for _, v := range []string{"2.5", "12.1", "14.1", "16.1"} {
		for _, save := range []bool{true, false} {
			name := v + "/no-save"
			if save {
				name = v + "/save"
			}
			t.Run(name, func(t *testing.T) {
				f := newComposeFixture(t, nil)
				var (
					code int
					body []byte
				)
				if composeLegacy(t, v) {
					params := ""
					if save {
						params = "&SaveInSent=T"
					}
					code, body = f.postMIME(t, "SendMail", v, params, msg)
				} else {
					code, body = f.postWBXML(t, "SendMail", v, &eas.SendMailRequest{ClientID: "c1", SaveInSentItems: save, Mime: msg})
				}
				wantComposeOK(t, code, body)
				sent := f.src.Sent()
				if len(sent) != 1 || !bytes.Equal(sent[0], msg) {
					t.Fatalf("store sent %q, want the client's message as is", sent)
				}
				saved := f.sentItems(t)
				switch {
				case !save && len(saved) != 0:
					t.Errorf("Sent Items holds %d messages, want none", len(saved))
				case save && (len(saved) != 1 || saved[0].Subject != "Lunch"):
					t.Errorf("Sent Items holds %+v, want the one message", saved)
				}
			})
		}
	}
}

func TestSendMailStatuses(t *testing.T) {
	tests := []struct {
		name     string
		msg      []byte
		wantSt   eas.Status
		wantHTTP int // before 14.0
	}{
		{"no-recipient", []byte("From: alice@example.com\r\nSubject: x\r\n\r\nHi\r\n"), eas.StatusMessageHasNoRecipient, http.StatusInternalServerError},
		{"invalid-mime", []byte("this is no header\r\n\r\nHi\r\n"), eas.StatusInvalidMIME, http.StatusBadRequest},
	}
	for _, tt := range tests {
		for _, v := range []string{"12.1", "14.1"} {
			t.Run(tt.name+"/"+v, func(t *testing.T) {
				f := newComposeFixture(t, nil)
				var (
					code int
					body []byte
				)
				if v == "12.1" {
					code, body = f.postMIME(t, "SendMail", v, "&SaveInSent=T", tt.msg)
				} else {
					code, body = f.postWBXML(t, "SendMail", v, &eas.SendMailRequest{ClientID: "c1", Mime: tt.msg})
				}
				wantComposeStatus(t, v, code, body, tt.wantSt, tt.wantHTTP)
				if n := len(f.src.Sent()); n != 0 {
					t.Errorf("store sent %d messages, want 0", n)
				}
			})
		}
	}
}

// TestSendMailResent sends one message twice with the same ClientId, as a
// phone does when our first answer was lost: it goes out once, and the
// second request is told so (118).
func TestSendMailResent(t *testing.T) {
	msg := composeClientMIME("Bob <bob@example.com>", "Lunch", "text/plain", "Lunch at noon?")
	f := newComposeFixture(t, nil)
	req := &eas.SendMailRequest{ClientID: "c-42", Mime: msg}
	code, body := f.postWBXML(t, "SendMail", "14.1", req)
	wantComposeOK(t, code, body)
	code, body = f.postWBXML(t, "SendMail", "14.1", req)
	if code != http.StatusOK {
		t.Fatalf("resent SendMail = HTTP %d", code)
	}
	var resp eas.SendMailResponse
	if err := eas.Unmarshal(body, &resp, nil); err != nil || resp.Status != eas.StatusMessagePreviouslySent {
		t.Errorf("resent SendMail = %+v, %v; want status 118", resp, err)
	}
	if n := len(f.src.Sent()); n != 1 {
		t.Errorf("store sent %d messages, want 1", n)
	}
	// Another message goes out.
	req.ClientID = "c-43"
	code, body = f.postWBXML(t, "SendMail", "14.1", req)
	wantComposeOK(t, code, body)
	if n := len(f.src.Sent()); n != 2 {
		t.Errorf("store sent %d messages, want 2", n)
	}
}

// smimeMessages are real S/MIME messages (gateway/testdata/smime/README.md):
// a clear-signed one, whose signature covers bytes a server must not touch,
// and an encrypted one.
var smimeMessages = []struct{ file, class string }{
	{"signed.eml", "IPM.Note.SMIME.MultipartSigned"},
	{"encrypted.eml", "IPM.Note.SMIME"},
}

// TestSMIMEPassThrough checks that S/MIME mail passes easgate byte for
// byte in both directions: SendMail (the 2.5 message/rfc822 body and the
// 14.1 and 16.1 WBXML Mime) hands the store exactly the client's bytes,
// and Sync with MIMESupport 1 (S/MIME only) gives the client exactly the
// stored bytes, as MIMEData at 2.5 and as a type 4 Body later, with the
// S/MIME message class.
func TestSMIMEPassThrough(t *testing.T) {
	for _, m := range smimeMessages {
		raw, err := os.ReadFile(filepath.Join("testdata", "smime", m.file))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []eas.ProtocolVersion{eas.V25, eas.V120, eas.V121, eas.V140, eas.V141, eas.V160, eas.V161} {
			t.Run(m.file+"/"+v.String(), func(t *testing.T) {
				f := newComposeFixture(t, nil)
				var code int
				if v < eas.V140 {
					code, _ = f.postMIME(t, "SendMail", v.String(), "&SaveInSent=T", raw)
				} else {
					code, _ = f.postWBXML(t, "SendMail", v.String(), &eas.SendMailRequest{ClientID: "smime-" + m.file, Mime: raw, SaveInSentItems: true})
				}
				if code != http.StatusOK {
					t.Fatalf("SendMail = HTTP %d", code)
				}
				sent := f.src.Sent()
				if len(sent) != 1 || !bytes.Equal(sent[0], raw) {
					t.Fatalf("the store was handed %d messages, the first %d bytes; want the client's %d bytes unchanged", len(sent), len(sent[0]), len(raw))
				}

				e := convServer(t, Options{})
				if _, err := e.src.AddMessage(context.Background(), "inbox", raw); err != nil {
					t.Fatal(err)
				}
				d := e.device("smime1", "TestPhone", v)
				d.folderSync("0")
				cid := devicesCollection(d, "inbox")
				key := d.sync(eas.SyncCollection{SyncKey: "0", CollectionID: cid})[cid].SyncKey
				o := &eas.SyncOptions{MIMESupport: 1}
				if v >= eas.V120 { // AirSyncBase, and with it BodyPreference, came with 12.0
					o.BodyPreference = []eas.BodyPreference{{Type: int(eas.BodyMIME)}}
				}
				c := d.sync(eas.SyncCollection{SyncKey: key, CollectionID: cid, GetChanges: ptr(true), Options: []eas.SyncOptions{*o}})[cid]
				if c.Commands == nil || len(c.Commands.Add) != 1 {
					t.Fatalf("Sync = %+v, want one Add", c)
				}
				var em eas.Email
				if err := c.Commands.Add[0].ApplicationData.Decode(&em); err != nil {
					t.Fatal(err)
				}
				var got string
				switch {
				case v < eas.V120 && em.MIMEData25 != nil:
					got = *em.MIMEData25
				case em.Body != nil && em.Body.Type == eas.BodyMIME && em.Body.Data != nil:
					got = *em.Body.Data
				}
				if got != string(raw) {
					t.Errorf("Sync gave %d bytes of MIME, want the stored %d bytes unchanged", len(got), len(raw))
				}
				if em.MessageClass != m.class {
					t.Errorf("MessageClass = %q, want %q", em.MessageClass, m.class)
				}
			})
		}
	}
}
