package imapdav

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
)

const multipartMsg = "From: Carol <carol@example.com>\r\nTo: Alice <alice@example.com>\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n" +
	"Message-Id: <mp1@example.com>\r\nImportance: high\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=b1\r\n\r\n" +
	"--b1\r\nContent-Type: multipart/alternative; boundary=b2\r\n\r\n" +
	"--b2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhéllo wörld\r\n" +
	"--b2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>hello</p>\r\n--b2--\r\n" +
	"--b1\r\nContent-Type: application/octet-stream; name=a.bin\r\nContent-Disposition: attachment; filename=a.bin\r\n" +
	"Content-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--b1--\r\n"

func TestGetAttachmentSendSearch(t *testing.T) {
	d := testserver.StartDovecot(t)
	h := harness(t, d, nil)
	s := h.Source.(*Source)
	ctx := t.Context()
	oc := dialOther(t, d.IMAP, "alice")
	u, err := appendRaw(oc, string(h.Folder), []byte(multipartMsg))
	if err != nil {
		t.Fatal(err)
	}
	items, err := s.Get(ctx, h.Folder, []sources.ItemID{itemID(u)}, &sources.GetOptions{Text: true, HTML: true, BodyLimit: 3, MIME: true})
	if err != nil || len(items) != 1 {
		t.Fatalf("Get = %v, %v", items, err)
	}
	m := items[0].Mail
	if m.Subject != "café" || m.Importance != sources.ImportanceHigh || m.MessageID != "mp1@example.com" {
		t.Errorf("Get: subject %q, importance %v, id %q", m.Subject, m.Importance, m.MessageID)
	}
	if m.Text == nil || m.Text.Data != "hé" || !m.Text.Truncated || m.HTML == nil {
		t.Errorf("Get: text %+v, html %+v; want \"hé\" truncated (3 bytes) and html", m.Text, m.HTML)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].ID != "2" || m.Attachments[0].Name != "a.bin" || m.Attachments[0].Size != 4 {
		t.Fatalf("Get: attachments %+v, want a.bin as part 2 of 4 bytes", m.Attachments)
	}
	rc, err := m.MIME(ctx)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(rc)
	rc.Close()
	if string(raw) != multipartMsg {
		t.Errorf("MIME = %q, want the message as appended", raw)
	}
	a, r, err := s.OpenAttachment(ctx, sources.AttachmentRef{Folder: h.Folder, Item: itemID(u), ID: "2"})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(data, []byte{0, 1, 2, 3}) || a.Name != "a.bin" {
		t.Errorf("OpenAttachment = %+v, %v", a, data)
	}

	yes := true
	if err := s.UpdateFlags(ctx, h.Folder, itemID(u), sources.FlagUpdate{Read: &yes, Flagged: &yes, SetCategories: true, Categories: []string{"Blue team"}}); err != nil {
		t.Fatal(err)
	}
	items, _ = s.Get(ctx, h.Folder, []sources.ItemID{itemID(u)}, nil)
	if m := items[0].Mail; !m.Read || !m.Flagged || len(m.Categories) != 1 || m.Categories[0] != "Blue team" {
		t.Errorf("after UpdateFlags: %+v", m)
	}

	res, err := s.Search(ctx, sources.SearchQuery{Text: "wörld", Folders: []sources.FolderID{h.Folder, h.Other}})
	if err != nil || res.Total != 1 || res.Hits[0].ID != itemID(u) {
		t.Errorf("Search = %+v, %v; want the one message", res, err)
	}

	sent := "From: alice@example.com\r\nTo: bob@example.com\r\nBcc: dave@example.com\r\nSubject: out\r\n\r\nhi\r\n"
	if err := s.Send(ctx, strings.NewReader(sent), true); err != nil {
		t.Fatalf("Send = %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	var got []byte
	for time.Now().Before(deadline) && got == nil {
		files, _ := filepath.Glob(filepath.Join(d.SinkDir, "*"))
		for _, f := range files {
			if b, _ := os.ReadFile(f); bytes.Contains(b, []byte("Subject: out")) {
				got = b
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got == nil {
		t.Fatalf("Send: nothing in the sink %s", d.SinkDir)
	}
	if bytes.Contains(got, []byte("Bcc:")) || !bytes.Contains(got, []byte("dave@example.com")) {
		t.Errorf("Send: sink has %q; want no Bcc header, dave in the envelope", got)
	}
	res, err = s.Search(ctx, sources.SearchQuery{Text: "out", Folders: []sources.FolderID{"Sent"}})
	if err != nil || res.Total != 1 {
		t.Errorf("Sent copy: Search = %+v, %v", res, err)
	}
}

// TestGetCharsets reads a message written in ISO-8859-1 and one in
// Windows-1252, as much mail still is: text comes out as UTF-8.
func TestGetCharsets(t *testing.T) {
	d := testserver.StartDovecot(t)
	h := harness(t, d, nil)
	s := h.Source.(*Source)
	oc := dialOther(t, d.IMAP, "alice")
	tests := []struct{ name, charset, subject, body, want string }{
		{"latin1", "iso-8859-1", "=?iso-8859-1?q?R=E9sum=E9?=", "Gr=FC=DFe", "Grüße"},
		{"windows-1252", "windows-1252", "=?windows-1252?q?=93quoted=94?=", "50 =80", "50 €"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := "From: a@example.com\r\nTo: alice@example.com\r\nSubject: " + tt.subject + "\r\nMIME-Version: 1.0\r\n" +
				"Content-Type: text/plain; charset=" + tt.charset + "\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" + tt.body + "\r\n"
			u, err := appendRaw(oc, string(h.Folder), []byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			items, err := s.Get(t.Context(), h.Folder, []sources.ItemID{itemID(u)}, &sources.GetOptions{Text: true})
			if err != nil || len(items) != 1 || items[0].Mail.Text == nil {
				t.Fatalf("Get = %+v, %v", items, err)
			}
			if got := strings.TrimSpace(items[0].Mail.Text.Data); got != tt.want {
				t.Errorf("text = %q, want %q", got, tt.want)
			}
			if !utf8.ValidString(items[0].Mail.Subject) || strings.Contains(items[0].Mail.Subject, "=?") {
				t.Errorf("subject %q was not decoded", items[0].Mail.Subject)
			}
		})
	}
}
