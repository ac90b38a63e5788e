package graph

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"strings"
	"testing"

	"github.com/easgate/easgate/internal/graphemu"
	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
)

// multipartMail is a message from alice to bob with a text body and the
// given attachments, base64 in 76-character lines.
func multipartMail(subject string, files map[string][]byte) []byte {
	var b bytes.Buffer
	b.WriteString("From: alice@example.com\r\nTo: Bob <bob@example.com>\r\nSubject: " + subject +
		"\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b0undary\"\r\n\r\npreamble\r\n" +
		"--b0undary\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the files.\r\n")
	for name, data := range files {
		b.WriteString("--b0undary\r\nContent-Type: application/octet-stream; name=\"" + name + "\"\r\n" +
			"Content-Disposition: attachment; filename=\"" + name + "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
		s := base64.StdEncoding.EncodeToString(data)
		for len(s) > 76 {
			b.WriteString(s[:76] + "\r\n")
			s = s[76:]
		}
		b.WriteString(s + "\r\n")
	}
	b.WriteString("--b0undary--\r\n")
	return b.Bytes()
}

// receivedBy returns the messages of user's Inbox, with their attachments'
// bytes by name.
func receivedBy(t *testing.T, b *Backend, user string) map[string]map[string][]byte {
	t.Helper()
	ctx := context.Background()
	src := login(t, b, user)
	fd, err := src.Folders(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var inbox sources.FolderID
	for _, f := range fd.Changed {
		if f.Kind == sources.KindInbox {
			inbox = f.ID
		}
	}
	d, err := src.Changes(ctx, inbox, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	items, err := src.Get(ctx, inbox, d.Changed, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]map[string][]byte)
	for _, it := range items {
		files := make(map[string][]byte)
		for _, a := range it.Mail.Attachments {
			_, rc, err := src.OpenAttachment(ctx, sources.AttachmentRef{Folder: inbox, Item: it.ID, ID: a.ID})
			if err != nil {
				t.Fatal(err)
			}
			files[a.Name], _ = io.ReadAll(rc)
			rc.Close()
		}
		out[it.Mail.Subject] = files
	}
	return out
}

// TestLargeSend: a 10 MB SendMail goes out by the draft route (§4.2):
// the big attachment by an upload session, the small one by one POST,
// and bob receives both intact; nothing is left in Drafts.
func TestLargeSend(t *testing.T) {
	_, b := newBackend(t, graphemu.Options{}, Options{})
	big, small := make([]byte, 10<<20), make([]byte, 100<<10)
	rand.Read(big)
	rand.Read(small)
	msg := multipartMail("Large", map[string][]byte{"big.bin": big, "small.bin": small})
	src := login(t, b, "alice")
	ctx := context.Background()
	before := b.Requests()
	if err := src.Send(ctx, bytes.NewReader(msg), true); err != nil {
		t.Fatalf("Send of %d bytes = %v", len(msg), err)
	}
	t.Logf("a %d-byte SendMail took %d requests (draft, attachment, upload session and its PUTs, send)", len(msg), b.Requests()-before)
	got := receivedBy(t, b, "bob")["Large"]
	if !bytes.Equal(got["big.bin"], big) || !bytes.Equal(got["small.bin"], small) {
		t.Errorf("bob received attachments of %d and %d bytes, want %d and %d", len(got["big.bin"]), len(got["small.bin"]), len(big), len(small))
	}
	alice := "alice@" + testserver.GraphDomain
	fd, _ := src.Folders(ctx, "")
	for _, f := range fd.Changed {
		if f.Kind == sources.KindDrafts {
			if d, err := src.Changes(ctx, f.ID, "", 0); err != nil || len(d.Changed) != 0 {
				t.Errorf("Drafts of %s after the send: %v, %v; want empty", alice, d.Changed, err)
			}
		}
	}
	// A single-part message over 3 MB cannot be split: too large.
	huge := []byte("To: bob@example.com\r\nSubject: huge\r\n\r\n" + strings.Repeat("x", 4<<20))
	if err := src.Send(ctx, bytes.NewReader(huge), true); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("Send of a 4 MB single part = %v, want too large", err)
	}
}

// TestReply: SmartReply and SmartForward through createReply and
// createForward (§4.3): Graph quotes the original, the reply threads to
// it, a forward keeps the original's attachment and adds the client's.
func TestReply(t *testing.T) {
	g, b := newBackend(t, graphemu.Options{}, Options{})
	alice := "alice@" + testserver.GraphDomain
	orig := multipartMail("Question", map[string][]byte{"orig.txt": []byte("original file")})
	orig = bytes.Replace(orig, []byte("From: alice@example.com\r\nTo: Bob <bob@example.com>"), []byte("From: Bob <bob@example.com>\r\nTo: alice@example.com"), 1)
	id, err := g.Emu.DeliverMail(alice, "inbox", orig)
	if err != nil {
		t.Fatal(err)
	}
	src := login(t, b, "alice")
	ctx := context.Background()
	fd, _ := src.Folders(ctx, "")
	var inbox sources.FolderID
	for _, f := range fd.Changed {
		if f.Kind == sources.KindInbox {
			inbox = f.ID
		}
	}
	ref := sources.ItemRef{Folder: inbox, ID: sources.ItemID(id)}
	reply := []byte("To: Bob <bob@example.com>\r\nSubject: RE: Question\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nYes, gladly.\r\n")
	if err := src.Reply(ctx, ref, reply, sources.ReplyOptions{}); err != nil {
		t.Fatalf("Reply = %v", err)
	}
	fwd := multipartMail("FW: Question", map[string][]byte{"mine.txt": []byte("my file")})
	fwd = bytes.Replace(fwd, []byte("Bob <bob@example.com>"), []byte("Bob <bob@example.com>, Carol <carol@example.org>"), 1)
	if err := src.Reply(ctx, ref, fwd, sources.ReplyOptions{Forward: true}); err != nil {
		t.Fatalf("Reply (forward) = %v", err)
	}
	got := receivedBy(t, b, "bob")
	if _, ok := got["RE: Question"]; !ok {
		t.Errorf("bob's inbox %v lacks the reply", got)
	}
	if f := got["FW: Question"]; string(f["orig.txt"]) != "original file" || string(f["mine.txt"]) != "my file" {
		t.Errorf("the forward carries %v, want the original's attachment and the client's", f)
	}
	bsrc := login(t, b, "bob")
	bfd, _ := bsrc.Folders(ctx, "")
	for _, f := range bfd.Changed {
		if f.Kind != sources.KindInbox {
			continue
		}
		d, _ := bsrc.Changes(ctx, f.ID, "", 0)
		items, _ := bsrc.Get(ctx, f.ID, d.Changed, &sources.GetOptions{Text: true, HTML: true})
		for _, it := range items {
			body := ""
			if it.Mail.HTML != nil {
				body = it.Mail.HTML.Data
			}
			if it.Mail.Subject == "RE: Question" && (!strings.Contains(body, "Yes, gladly.") || !strings.Contains(body, "See the files.")) {
				t.Errorf("the reply's body %q lacks the client's text or the quote", body)
			}
		}
	}
	// Not mail: the caller composes.
	if err := src.Reply(ctx, sources.ItemRef{Folder: prefixCalendar + "x", ID: "y"}, reply, sources.ReplyOptions{}); err == nil ||
		!strings.Contains(err.Error(), "not supported") && !strings.Contains(err.Error(), "unsupported") {
		t.Errorf("Reply to an event = %v, want ErrUnsupported", err)
	}
}
