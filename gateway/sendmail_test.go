package gateway

import (
	"bytes"
	"net/http"
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
