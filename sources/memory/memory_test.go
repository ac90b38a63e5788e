package memory_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/memory"
	"github.com/easgate/easgate/sources/sourcetest"
)

func TestSourcetest(t *testing.T) {
	sourcetest.Run(t, func(t *testing.T) sourcetest.Harness {
		src := memory.New(nil).User("alice")
		other, err := src.CreateFolder(t.Context(), "", "Other", sources.KindUserMail)
		if err != nil {
			t.Fatal(err)
		}
		return sourcetest.Harness{
			Source: src,
			Folder: "inbox",
			Other:  other,
			Add: func(ctx context.Context, f sources.FolderID, n int) (sources.ItemID, error) {
				return src.AddMessage(ctx, f, message(n, ""))
			},
			Modify: func(ctx context.Context, f sources.FolderID, id sources.ItemID) error {
				items, err := src.Get(ctx, f, []sources.ItemID{id}, nil)
				if err != nil || len(items) != 1 {
					return fmt.Errorf("get %q: %d items, %v", id, len(items), err)
				}
				read := !items[0].Mail.Read
				return src.UpdateFlags(ctx, f, id, sources.FlagUpdate{Read: &read})
			},
			Remove: src.Delete,
			Expire: func(context.Context) error {
				src.ExpireStates()
				return nil
			},
		}
	})
}

// message returns a plain-text message numbered n, with extra headers.
func message(n int, headers string) []byte {
	return fmt.Appendf(nil, "From: Bob <bob@example.org>\r\nTo: alice@example.org\r\n"+
		"Subject: message %d\r\nMessage-Id: <%d@example.org>\r\n%s\r\nbody of message %d\r\n", n, n, headers, n)
}

func TestStateExpires(t *testing.T) {
	ctx := t.Context()
	other := memory.New(nil).User("alice")
	otherState, err := other.State(ctx, "inbox")
	if err != nil {
		t.Fatal(err)
	}
	src := memory.New(&memory.Options{Tombstones: 4}).User("alice")
	ids := make([]sources.ItemID, 10)
	for i := range ids {
		if ids[i], err = src.AddMessage(ctx, "inbox", message(i, "")); err != nil {
			t.Fatal(err)
		}
	}
	old, _ := src.State(ctx, "inbox")
	for _, id := range ids[:6] {
		if err := src.Delete(ctx, "inbox", id); err != nil {
			t.Fatal(err)
		}
	}
	recent, _ := src.State(ctx, "inbox")
	if err := src.Delete(ctx, "inbox", ids[6]); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		since   sources.State
		wantErr error
	}{
		{"from another store", otherState, sources.ErrStateExpired},
		{"malformed", "garbage", sources.ErrStateExpired},
		{"from the future", sources.State(strings.Replace(string(recent), ".", ".zz", 1)), sources.ErrStateExpired},
		{"before forgotten deletions", old, sources.ErrStateExpired},
		{"after forgotten deletions", recent, nil},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := src.Changes(ctx, "inbox", tt.since, 0)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Changes(%q) = %v, want %v", tt.since, err, tt.wantErr)
			}
		})
	}
}

// TestChangesDuringFirstListing changes the folder between the pages of a
// first listing: what was listed and then deleted must show as removed,
// what was deleted before the listing began must not show at all.
func TestChangesDuringFirstListing(t *testing.T) {
	ctx := t.Context()
	src := memory.New(nil).User("alice")
	var ids []sources.ItemID
	for i := range 6 {
		id, err := src.AddMessage(ctx, "inbox", message(i, ""))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	goneEarly, _ := src.AddMessage(ctx, "inbox", message(99, ""))
	if err := src.Delete(ctx, "inbox", goneEarly); err != nil {
		t.Fatal(err)
	}
	d1, err := src.Changes(ctx, "inbox", "", 2)
	if err != nil || !d1.More || !slices.Equal(d1.Changed, ids[:2]) {
		t.Fatalf("first page = %+v, %v; want %v and More", d1, err, ids[:2])
	}
	read := true
	if err := src.UpdateFlags(ctx, "inbox", ids[0], sources.FlagUpdate{Read: &read}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []sources.ItemID{ids[1], ids[4]} {
		if err := src.Delete(ctx, "inbox", id); err != nil {
			t.Fatal(err)
		}
	}
	var changed, removed []sources.ItemID
	for st := d1.Next; ; {
		d, err := src.Changes(ctx, "inbox", st, 2)
		if err != nil {
			t.Fatal(err)
		}
		changed, removed = append(changed, d.Changed...), append(removed, d.Removed...)
		if st = d.Next; !d.More {
			break
		}
	}
	if want := []sources.ItemID{ids[2], ids[3], ids[5], ids[0]}; !slices.Equal(changed, want) {
		t.Errorf("changed after the first page = %v, want %v", changed, want)
	}
	// ids[4] may show as removed: the contract allows a removal the
	// caller never saw, and the state does not record which pages it saw.
	if !slices.Contains(removed, ids[1]) || slices.Contains(removed, goneEarly) || len(removed) > 2 {
		t.Errorf("removed after the first page = %v, want %v, perhaps %v, and not %v", removed, ids[1], ids[4], goneEarly)
	}
}

func TestUnseenDeletes(t *testing.T) {
	ctx := t.Context()
	src := memory.New(nil).User("alice")
	st, _ := src.State(ctx, "inbox")
	id, _ := src.AddMessage(ctx, "inbox", message(1, ""))
	if err := src.Delete(ctx, "inbox", id); err != nil {
		t.Fatal(err)
	}
	d, err := src.Changes(ctx, "inbox", st, 0)
	if err != nil || len(d.Changed)+len(d.Removed) != 0 {
		t.Errorf("Changes after add and delete = %+v, %v; want nothing", d, err)
	}
}

const multipartMessage = "From: =?utf-8?q?B=C3=B6b?= <bob@example.org>\r\n" +
	"To: Alice <alice@example.org>, carol@example.org\r\n" +
	"Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\n" +
	"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n" +
	"Message-Id: <m1@example.org>\r\n" +
	"In-Reply-To: <m0@example.org>\r\n" +
	"References: <r1@example.org> <m0@example.org>\r\n" +
	"Importance: High\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=outer\r\n" +
	"\r\n" +
	"--outer\r\n" +
	"Content-Type: multipart/alternative; boundary=inner\r\n" +
	"\r\n" +
	"--inner\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Gr=C3=BC=C3=9Fe aus Berlin\r\n" +
	"--inner\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"\r\n" +
	"<p>Hello <img src=\"cid:logo@x\"></p>\r\n" +
	"--inner--\r\n" +
	"--outer\r\n" +
	"Content-Type: image/png\r\n" +
	"Content-Id: <logo@x>\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"iVBORw0K\r\n" +
	"--outer\r\n" +
	"Content-Type: text/plain; name=notes.txt\r\n" +
	"Content-Disposition: attachment; filename=notes.txt\r\n" +
	"\r\n" +
	"some notes\r\n" +
	"--outer--\r\n"

func TestAddMessage(t *testing.T) {
	ctx := t.Context()
	src := memory.New(nil).User("alice")
	id, err := src.AddMessage(ctx, "inbox", []byte(multipartMessage))
	if err != nil {
		t.Fatal(err)
	}
	items, err := src.Get(ctx, "inbox", []sources.ItemID{id}, &sources.GetOptions{Text: true, HTML: true, BodyLimit: 5, MIME: true})
	if err != nil || len(items) != 1 {
		t.Fatalf("Get = %d items, %v", len(items), err)
	}
	m := items[0].Mail
	raw := m.MIME
	m.MIME, m.Received = nil, time.Time{}
	want := &sources.Message{
		From:       []sources.Address{{Name: "Böb", Email: "bob@example.org"}},
		To:         []sources.Address{{Name: "Alice", Email: "alice@example.org"}, {Email: "carol@example.org"}},
		Subject:    "grüße",
		Date:       time.Date(2006, 1, 2, 15, 4, 5, 0, time.FixedZone("", 0)),
		MessageID:  "m1@example.org",
		InReplyTo:  "m0@example.org",
		References: []string{"r1@example.org", "m0@example.org"},
		Importance: sources.ImportanceHigh,
		Size:       int64(len(multipartMessage)),
		// "Grü" is 4 bytes; the limit of 5 falls inside "ß".
		Text: &sources.Body{Data: "Grü", Size: 18, Truncated: true},
		HTML: &sources.Body{Data: "<p>He", Size: 35, Truncated: true},
		Attachments: []sources.Attachment{
			{ID: "1", ContentType: "image/png", Size: 6, ContentID: "logo@x", Inline: true},
			{ID: "2", Name: "notes.txt", ContentType: "text/plain", Size: 10},
		},
	}
	if !m.Date.Equal(want.Date) {
		t.Errorf("Date = %v, want %v", m.Date, want.Date)
	}
	m.Date = want.Date
	if !reflect.DeepEqual(m, want) {
		t.Errorf("AddMessage parsed\n%+v\nwant\n%+v", m, want)
	}
	if raw == nil {
		t.Fatal("MIME = nil with GetOptions.MIME")
	}
	if got := readAll(t, raw); got != multipartMessage {
		t.Errorf("MIME read %q, want the message", got)
	}
	tests := []struct {
		name, id, want string
		err            error
	}{
		{"inline image", "1", "\x89PNG\r\n", nil},
		{"attachment", "2", "some notes", nil},
		{"missing", "3", "", sources.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, rc, err := src.OpenAttachment(ctx, sources.AttachmentRef{Folder: "inbox", Item: id, ID: tt.id})
			if !errors.Is(err, tt.err) {
				t.Fatalf("OpenAttachment(%s) = %v, want %v", tt.id, err, tt.err)
			}
			if err != nil {
				return
			}
			defer rc.Close()
			if b, _ := io.ReadAll(rc); string(b) != tt.want {
				t.Errorf("OpenAttachment(%s) read %q, want %q", tt.id, b, tt.want)
			}
		})
	}
	plain, _ := src.Get(ctx, "inbox", []sources.ItemID{id}, nil)
	if m := plain[0].Mail; m.Text != nil || m.HTML != nil || m.MIME != nil {
		t.Errorf("Get with nil options returned bodies or MIME: %+v", m)
	}
}

func readAll(t *testing.T, open sources.OpenFunc) string {
	t.Helper()
	rc, err := open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSend(t *testing.T) {
	ctx := t.Context()
	src := memory.New(&memory.Options{MaxMessageSize: 1000}).User("alice")
	tests := []struct {
		name      string
		msg       []byte
		save      bool
		wantErr   error
		wantSent  int
		wantFiled int
	}{
		{"saved", message(1, ""), true, nil, 1, 1},
		{"not saved", message(2, ""), false, nil, 2, 1},
		{"too large", message(3, "X-Pad: "+strings.Repeat("x", 1000)+"\r\n"), true, sources.ErrTooLarge, 2, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := src.Send(ctx, strings.NewReader(string(tt.msg)), tt.save)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Send = %v, want %v", err, tt.wantErr)
			}
			if n := len(src.Sent()); n != tt.wantSent {
				t.Errorf("Sent() has %d messages, want %d", n, tt.wantSent)
			}
			d, _ := src.Changes(ctx, "sent", "", 0)
			if len(d.Changed) != tt.wantFiled {
				t.Errorf("sent folder has %d messages, want %d", len(d.Changed), tt.wantFiled)
			}
		})
	}
}

func TestSearch(t *testing.T) {
	ctx := t.Context()
	src := memory.New(nil).User("alice")
	var ids []sources.ItemID
	for i, f := range []sources.FolderID{"inbox", "inbox", "sent", "inbox"} {
		id, err := src.AddMessage(ctx, f, message(i, ""))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		time.Sleep(2 * time.Millisecond) // distinct Received times
	}
	cut := time.Now()
	late, _ := src.AddMessage(ctx, "inbox", message(4, ""))
	ref := func(f sources.FolderID, id sources.ItemID) sources.ItemRef { return sources.ItemRef{Folder: f, ID: id} }
	tests := []struct {
		name      string
		q         sources.SearchQuery
		want      []sources.ItemRef
		wantTotal int
	}{
		{"word", sources.SearchQuery{Text: "MESSAGE 2"}, []sources.ItemRef{ref("sent", ids[2])}, 1},
		{"address", sources.SearchQuery{Text: "bob@example", Folders: []sources.FolderID{"sent"}}, []sources.ItemRef{ref("sent", ids[2])}, 1},
		{"before", sources.SearchQuery{Before: cut, Folders: []sources.FolderID{"inbox"}}, []sources.ItemRef{ref("inbox", ids[3]), ref("inbox", ids[1]), ref("inbox", ids[0])}, 3},
		{"since", sources.SearchQuery{Since: cut}, []sources.ItemRef{ref("inbox", late)}, 1},
		{"page", sources.SearchQuery{Text: "body", Offset: 1, Limit: 2}, []sources.ItemRef{ref("inbox", ids[3]), ref("sent", ids[2])}, 5},
		{"no match", sources.SearchQuery{Text: "nothing"}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := src.Search(ctx, tt.q)
			if err != nil || !slices.Equal(r.Hits, tt.want) || r.Total != tt.wantTotal {
				t.Errorf("Search(%+v) = %v (total %d), %v; want %v (total %d)", tt.q, r.Hits, r.Total, err, tt.want, tt.wantTotal)
			}
		})
	}
}

func TestFolderWriter(t *testing.T) {
	ctx := t.Context()
	src := memory.New(nil).User("alice")
	start, _ := src.Folders(ctx, "")
	if len(start.Changed) != 10 {
		t.Errorf("new user has %d folders, want 10", len(start.Changed))
	}
	work, err := src.CreateFolder(ctx, "inbox", "Work", sources.KindUserMail)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := src.CreateFolder(ctx, work, "Projects", sources.KindUserMail)
	if err != nil {
		t.Fatal(err)
	}
	watched := make(chan []sources.FolderID, 1)
	go func() {
		fs, _ := src.Watch(ctx, []sources.FolderID{sub})
		watched <- fs
	}()
	tests := []struct {
		name    string
		do      func() error
		wantErr error
	}{
		{"duplicate name", func() error { _, err := src.CreateFolder(ctx, "inbox", "Work", 0); return err }, sources.ErrConflict},
		{"missing parent", func() error { _, err := src.CreateFolder(ctx, "nope", "X", 0); return err }, sources.ErrNotFound},
		{"rename", func() error { return src.RenameFolder(ctx, work, "", "Job") }, nil},
		{"under itself", func() error { return src.RenameFolder(ctx, work, sub, "Job") }, sources.ErrConflict},
		{"delete default", func() error { return src.DeleteFolder(ctx, "inbox") }, sources.ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, tt.wantErr) {
				t.Errorf("got %v, want %v", err, tt.wantErr)
			}
		})
	}
	mid, _ := src.Folders(ctx, start.Next)
	if len(mid.Changed) != 2 || len(mid.Removed) != 0 {
		t.Errorf("Folders after create and rename = %+v, want 2 changed", mid)
	}
	// Give the watcher time to start; if it has not, it returns at the
	// deletion anyway, since the folder is gone.
	time.Sleep(10 * time.Millisecond)
	if err := src.DeleteFolder(ctx, work); err != nil {
		t.Fatal(err)
	}
	d, _ := src.Folders(ctx, mid.Next)
	if got := slices.Sorted(slices.Values(d.Removed)); !slices.Equal(got, slices.Sorted(slices.Values([]sources.FolderID{work, sub}))) {
		t.Errorf("Folders after delete removed %v, want %v and %v", got, work, sub)
	}
	select {
	case fs := <-watched:
		if !slices.Equal(fs, []sources.FolderID{sub}) {
			t.Errorf("Watch of a deleted folder = %v, want [%s]", fs, sub)
		}
	case <-time.After(5 * time.Second):
		t.Error("Watch did not return when its folder was deleted")
	}
}

func TestUpdateFlags(t *testing.T) {
	ctx := t.Context()
	src := memory.New(nil).User("alice")
	id, _ := src.AddMessage(ctx, "inbox", message(1, ""))
	yes := true
	due := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		u     sources.FlagUpdate
		check func(m *sources.Message) bool
	}{
		{"read", sources.FlagUpdate{Read: &yes}, func(m *sources.Message) bool { return m.Read && !m.Flagged }},
		{"follow-up", sources.FlagUpdate{Flagged: &yes, SetFollowUp: true, FollowUp: &sources.FollowUp{Due: due}},
			func(m *sources.Message) bool {
				return m.Read && m.Flagged && m.FollowUp != nil && m.FollowUp.Due.Equal(due)
			}},
		{"categories", sources.FlagUpdate{SetCategories: true, Categories: []string{"red"}},
			func(m *sources.Message) bool { return m.FollowUp != nil && slices.Equal(m.Categories, []string{"red"}) }},
		{"clear follow-up", sources.FlagUpdate{SetFollowUp: true}, func(m *sources.Message) bool { return m.FollowUp == nil && m.Flagged }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := src.Get(ctx, "inbox", []sources.ItemID{id}, nil)
			if err := src.UpdateFlags(ctx, "inbox", id, tt.u); err != nil {
				t.Fatal(err)
			}
			after, _ := src.Get(ctx, "inbox", []sources.ItemID{id}, nil)
			if !tt.check(after[0].Mail) {
				t.Errorf("UpdateFlags(%+v) left %+v", tt.u, after[0].Mail)
			}
			if after[0].ETag == before[0].ETag {
				t.Errorf("UpdateFlags kept ETag %q", after[0].ETag)
			}
		})
	}
}

// TestConcurrent is for the race detector: writers, readers and watchers
// of one user at once.
func TestConcurrent(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	src := memory.New(&memory.Options{Tombstones: 16}).User("alice")
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				id, err := src.AddMessage(ctx, "inbox", message(w*1000+i, ""))
				if err != nil {
					t.Error(err)
					return
				}
				if i%2 == 0 {
					_ = src.Delete(ctx, "inbox", id)
				}
			}
		})
	}
	wg.Go(func() {
		var st sources.State
		for range 200 {
			d, err := src.Changes(ctx, "inbox", st, 7)
			if errors.Is(err, sources.ErrStateExpired) {
				st = ""
				continue
			}
			if err != nil {
				t.Error(err)
				return
			}
			st = d.Next
		}
	})
	wg.Go(func() {
		for range 20 {
			wctx, c := context.WithTimeout(ctx, 5*time.Millisecond)
			_, _ = src.Watch(wctx, []sources.FolderID{"inbox"})
			c()
		}
	})
	wg.Wait()
}
