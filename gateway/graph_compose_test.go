package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/internal/graphemu"
	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/graph"
)

// anyPassword lets the test read any mailbox of the emulator.
type anyPassword struct{}

func (anyPassword) CheckUserPassword(context.Context, string, string) (bool, error) { return true, nil }

// graphInbox returns the mails in user's Inbox in the emulator by
// subject: their HTML or text body and their attachments by name.
func graphInbox(t *testing.T, g *testserver.Graph, user string) map[string]struct {
	body  string
	files map[string][]byte
} {
	t.Helper()
	ctx := context.Background()
	b, err := graph.NewBackend(graph.Options{GraphURL: g.URL, AuthorityURL: g.URL, Tenant: g.Tenant, ClientID: g.ClientID,
		ClientSecret: g.Secret, Passwords: anyPassword{}, MailDomain: testserver.GraphDomain})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	src, err := b.Login(ctx, user, "x")
	if err != nil {
		t.Fatal(err)
	}
	fd, err := src.Folders(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]struct {
		body  string
		files map[string][]byte
	})
	for _, f := range fd.Changed {
		if f.Kind != sources.KindInbox {
			continue
		}
		d, err := src.Changes(ctx, f.ID, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		items, err := src.Get(ctx, f.ID, d.Changed, &sources.GetOptions{Text: true, HTML: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			m := it.Mail
			e := out[m.Subject]
			e.files = make(map[string][]byte)
			if m.HTML != nil {
				e.body = m.HTML.Data
			} else if m.Text != nil {
				e.body = m.Text.Data
			}
			for _, a := range m.Attachments {
				_, rc, err := src.(sources.Attachments).OpenAttachment(ctx, sources.AttachmentRef{Folder: f.ID, Item: it.ID, ID: a.ID})
				if err != nil {
					t.Fatal(err)
				}
				e.files[a.Name], _ = io.ReadAll(rc)
				rc.Close()
			}
			out[m.Subject] = e
		}
	}
	return out
}

// TestGraphCompose: through the gateway, a phone's SmartReply and
// SmartForward go out by createReply and createForward (Graph quotes the
// original; the forward keeps its attachment), and a 10 MB SendMail by a
// draft and an upload session; bob receives all three intact.
func TestGraphCompose(t *testing.T) {
	e := graphE2EServer(t, graphemu.Options{}, graph.Options{})
	orig := "From: Bob <bob@example.com>\r\nTo: alice@example.com\r\nSubject: Plans\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nShall we meet?\r\n" +
		"--x\r\nContent-Type: text/plain; name=agenda.txt\r\nContent-Disposition: attachment; filename=agenda.txt\r\n\r\n1. Lunch\r\n--x--\r\n"
	if _, err := e.g.Emu.DeliverMail(e.upn, "inbox", []byte(orig)); err != nil {
		t.Fatal(err)
	}
	for _, v := range []eas.ProtocolVersion{eas.V141, eas.V121} {
		t.Run(v.String(), func(t *testing.T) {
			tag := strings.ReplaceAll(v.String(), ".", "")
			d := e.conv(t).device("graphcompose"+tag, "E2EPhone", v)
			inbox := graphE2EFolders(t, e, d, eas.FolderTypeInbox)[eas.FolderTypeInbox]
			imapE2ESyncStart(t, d, inbox)
			sid, _ := imapE2EFind(inbox, "Plans", imapE2EMailSubject)
			if sid == "" {
				t.Fatal("the phone lacks the mail Plans")
			}
			src := &eas.ComposeSource{FolderID: inbox.cid, ItemID: sid}
			reply := []byte("To: Bob <bob@example.com>\r\nSubject: RE: Plans " + tag + "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nYes, at noon.\r\n")
			fwd := []byte("To: Bob <bob@example.com>\r\nSubject: FW: Plans " + tag + "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nFor you.\r\n")
			big := make([]byte, 10<<20)
			rand.Read(big)
			var large bytes.Buffer
			large.WriteString("To: Bob <bob@example.com>\r\nSubject: Large " + tag + "\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=y\r\n\r\n" +
				"--y\r\nContent-Type: text/plain\r\n\r\nThe file.\r\n--y\r\nContent-Type: application/octet-stream\r\n" +
				"Content-Disposition: attachment; filename=big.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n")
			s := base64.StdEncoding.EncodeToString(big)
			for len(s) > 76 {
				large.WriteString(s[:76] + "\r\n")
				s = s[76:]
			}
			large.WriteString(s + "\r\n--y--\r\n")
			if v >= eas.V140 {
				code, body := d.post("SmartReply", mustMarshal(t, &eas.SmartReplyRequest{ClientID: "r" + tag, Source: src, SaveInSentItems: true, Mime: reply}))
				wantComposeOK(t, code, body)
				code, body = d.post("SmartForward", mustMarshal(t, &eas.SmartForwardRequest{ClientID: "f" + tag, Source: src, SaveInSentItems: true, Mime: fwd}))
				wantComposeOK(t, code, body)
			} else {
				for _, c := range []struct {
					cmd string
					msg []byte
				}{{"SmartReply", reply}, {"SmartForward", fwd}} {
					r, err := http.NewRequest("POST", d.e.ts.URL+Path+"?Cmd="+c.cmd+"&User="+convUser+"&DeviceId="+d.id+"&DeviceType="+d.typ+
						"&ItemId="+url.QueryEscape(sid)+"&CollectionId="+inbox.cid+"&SaveInSent=T", bytes.NewReader(c.msg))
					if err != nil {
						t.Fatal(err)
					}
					r.SetBasicAuth(convUser, convPassword)
					r.Header.Set("MS-ASProtocolVersion", d.v.String())
					r.Header.Set("Content-Type", "message/rfc822")
					resp, err := http.DefaultClient.Do(r)
					if err != nil {
						t.Fatal(err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					wantComposeOK(t, resp.StatusCode, body)
				}
			}
			imapE2ESend(t, d, large.Bytes())
			got := graphInbox(t, e.g, "bob")
			// The emulator's createReply separates its quote with <hr>:
			// Graph wrote it, not the gateway.
			if r := got["RE: Plans "+tag]; !strings.Contains(r.body, "Yes, at noon.") || !strings.Contains(r.body, "<hr><div><b>From:</b>") ||
				!strings.Contains(r.body, "Shall we meet?") {
				t.Errorf("the reply bob got reads %q, want the phone's text above Graph's quote of the original", r.body)
			}
			if f := got["FW: Plans "+tag]; !strings.Contains(f.body, "For you.") || !strings.Contains(string(f.files["agenda.txt"]), "1. Lunch") {
				t.Errorf("the forward bob got reads %q with %d files, want the text and the original's agenda.txt", f.body, len(f.files))
			}
			if l := got["Large "+tag]; !bytes.Equal(l.files["big.bin"], big) {
				t.Errorf("the large mail bob got has big.bin of %d bytes, want the %d sent", len(l.files["big.bin"]), len(big))
			}
		})
	}
}
