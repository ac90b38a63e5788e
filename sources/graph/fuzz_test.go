package graph

import (
	"bytes"
	"errors"
	"net/http"
	netmail "net/mail"
	"testing"

	"github.com/easgate/easgate/sources"
)

// FuzzDecodeError feeds decodeError, which walks nested innerError
// objects of Graph error bodies: it must terminate, and an expired sync
// state must be recognised however it is spelled.
func FuzzDecodeError(f *testing.F) {
	f.Add(410, []byte(`{"error":{"code":"SyncStateNotFound","message":"generation=149","innerError":{"request-id":"x"}}}`))
	f.Add(400, []byte(`{"error":{"code":"badRequest","innererror":{"code":"syncStateNotFound","innerError":{"code":"x"}}}}`))
	f.Add(404, []byte(`{"error":{"code":"ErrorItemNotFound"}}`))
	f.Add(429, []byte(`{"error":{"code":"ApplicationThrottled","message":"MailboxConcurrency"}}`))
	f.Add(500, []byte(`not json`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := decodeError(status, http.Header{"Retry-After": {"3"}}, body)
		if e.Status != status {
			t.Fatalf("status %d became %d", status, e.Status)
		}
		if status == 410 && !errors.Is(e, sources.ErrStateExpired) {
			t.Fatalf("a 410 is not ErrStateExpired: %v", e)
		}
		_ = e.Error()
	})
}

// FuzzParseState feeds parseState the States phones send back: any
// string is either a position of this journal or expired, never a
// panic.
func FuzzParseState(f *testing.F) {
	s := &feed{epoch: "gabc", seq: 40}
	f.Add("gabc:12")
	f.Add("gabc:12:i")
	f.Add("gold:3")
	f.Add("")
	f.Fuzz(func(t *testing.T, st string) {
		seq, _, _, err := s.parseState(sources.State(st))
		if err != nil && !errors.Is(err, sources.ErrStateExpired) {
			t.Fatalf("parseState(%q) = %v", st, err)
		}
		if err == nil && st != "" && (s.stateOf(seq, "") == "" || seq > s.seq) {
			t.Fatalf("parseState(%q) = %d, a position outside the journal", st, seq)
		}
	})
}

// FuzzDecodeJournal feeds decodeJournal what the state store hands back:
// a journal it accepts loads into a feed whose positions all lie within
// it, anything else is refused, never a panic.
func FuzzDecodeJournal(f *testing.F) {
	fd := newFeed(&Source{b: &Backend{}}, "x", contentMail)
	fd.record("a", "1")
	fd.record("b", "2")
	fd.drop("a")
	f.Add(fd.encode())
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, raw []byte) {
		sj, err := decodeJournal(raw)
		if err != nil {
			return
		}
		for i, q := range sj.Seqs {
			if q > sj.Seq {
				t.Fatalf("entry %d at %d past the end %d", i, q, sj.Seq)
			}
		}
		for _, i := range sj.Removed {
			_ = sj.IDs[i]
		}
	})
}

// FuzzSplitAttachments feeds the MIME splitting of large sends and
// replies the messages phones compose: it must not panic, and what it
// keeps must fit the limit it was given.
func FuzzSplitAttachments(f *testing.F) {
	f.Add([]byte("To: b@example.com\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\npre\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n" +
		"--x\r\nContent-Disposition: attachment; filename=a.bin\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQ=\r\n--x--\r\nepilogue"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: multipart/alternative; boundary=c\n\n--c\n\nx\n--c--\n--b--\n"))
	f.Add([]byte("Subject: x\r\n\r\nbody"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		rest, _, err := splitAttachments(raw, 64)
		if err == nil && len(rest) > 64 {
			t.Fatalf("splitAttachments kept %d bytes, over the limit 64", len(rest))
		}
		if m, err := netmail.ReadMessage(bytes.NewReader(raw)); err == nil {
			newText(raw, m)
		}
	})
}
