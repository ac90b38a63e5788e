package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/memory"
	"github.com/easgate/easgate/statecache"
)

// ioVersions are the versions ItemOperations and Search are tested at.
var ioVersions = []string{"12.0", "12.1", "14.0", "14.1", "16.0", "16.1"}

// ioBackend logs testUser into one memory store.
type ioBackend struct{ src *memory.Source }

func (b ioBackend) Login(_ context.Context, user, password string) (sources.Source, error) {
	if user == testUser && password == testPassword {
		return b.src, nil
	}
	return nil, fmt.Errorf("bad credentials: %w", sources.ErrAuth)
}

// ioFixture is a server over a memory store with one message in the inbox
// that the device has synced: its CollectionId and ServerId are known.
type ioFixture struct {
	s          *Server
	src        *memory.Source
	state      *statecache.Store
	acct       statecache.Account
	inbox      string // CollectionId
	serverID   string
	item       sources.ItemID
	attachment []byte
	fileRef    string
}

const ioHTML = "<html><body><p>Hello Alice, this is a long enough HTML body to be cut short.</p></body></html>"

// ioMessage returns a message with an HTML body and an attachment.
func ioMessage(subject string, att []byte) []byte {
	return []byte("From: Bob <bob@example.com>\r\nTo: Alice <alice@example.com>\r\nSubject: " + subject +
		"\r\nDate: Mon, 02 Feb 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=b1\r\n\r\n" +
		"--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + ioHTML + "\r\n" +
		"--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"data.bin\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString(att) + "\r\n--b1--\r\n")
}

func newIOFixture(t *testing.T, attSize int) *ioFixture {
	t.Helper()
	ctx := context.Background()
	st, err := statecache.Open("", &statecache.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &ioFixture{src: memory.New(nil).User("alice"), state: st, acct: statecache.Account{User: testUser, Device: "dev01"}}
	f.attachment = make([]byte, attSize)
	for i := range f.attachment {
		f.attachment[i] = byte(i*7 + i/251)
	}
	if f.item, err = f.src.AddMessage(ctx, "inbox", ioMessage("Greetings", f.attachment)); err != nil {
		t.Fatal(err)
	}
	f.fileRef = fileReference(sources.AttachmentRef{Folder: "inbox", Item: f.item, ID: "1"})
	if _, err := st.AdvanceHierarchy(ctx, f.acct, statecache.InitialKey, statecache.SyncState{}); err != nil {
		t.Fatal(err)
	}
	cids, err := st.CollectionIDs(ctx, f.acct, []string{"inbox", "trash"})
	if err != nil {
		t.Fatal(err)
	}
	f.inbox = cids[0]
	key := statecache.CollectionKey{Account: f.acct, Collection: f.inbox}
	if _, err := st.Advance(ctx, key, statecache.InitialKey, statecache.SyncState{}); err != nil {
		t.Fatal(err)
	}
	sids, err := st.ServerIDs(ctx, key, []string{string(f.item)})
	if err != nil {
		t.Fatal(err)
	}
	f.serverID = sids[0]
	f.s = newTestServer(t, &Options{Backend: ioBackend{f.src}, State: st}, nil)
	return f
}

// ioPost sends cmd at version v with the given body and extra headers.
func (f *ioFixture) post(t *testing.T, cmd, v string, req any, headers ...string) *http.Response {
	t.Helper()
	var body []byte
	if req != nil {
		body = mustMarshal(t, req)
	}
	return post(f.s, Path+plainQuery+cmd, body, append([]string{"MS-ASProtocolVersion", v}, headers...)...).Result()
}

// ioDecode decodes a WBXML response body.
func ioDecode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := eas.NewDecoder(bytes.NewReader(b), &eas.DecoderOptions{MaxStringSize: 64 << 20}).Decode(v); err != nil {
		t.Fatalf("Decode(% x...) = %v", b[:min(len(b), 32)], err)
	}
}

func ioReadAll(t *testing.T, r *http.Response) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := b.ReadFrom(r.Body); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// oneFetch decodes an inline ItemOperations response holding one Fetch.
func oneFetch(t *testing.T, r *http.Response) *eas.FetchResult {
	t.Helper()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("HTTP status %d", r.StatusCode)
	}
	var resp eas.ItemOperationsResponse
	ioDecode(t, ioReadAll(t, r), &resp)
	if resp.Status != eas.ItemOperationsStatusSuccess || resp.Response == nil || len(resp.Response.Results) != 1 || resp.Response.Results[0].Fetch == nil {
		t.Fatalf("response %+v, want Status 1 and one Fetch", resp)
	}
	return resp.Response.Results[0].Fetch
}

func fetchRequest(fe eas.Fetch) *eas.ItemOperationsRequest {
	return &eas.ItemOperationsRequest{Operations: []eas.ItemOperation{{Fetch: &fe}}}
}

func TestItemOperationsFetchItem(t *testing.T) {
	f := newIOFixture(t, 100)
	for _, v := range ioVersions {
		t.Run(v+"/html truncated", func(t *testing.T) {
			res := oneFetch(t, f.post(t, "ItemOperations", v, fetchRequest(eas.Fetch{
				Store: "Mailbox", CollectionID: f.inbox, ServerID: f.serverID,
				Options: &eas.FetchOptions{BodyPreference: []eas.BodyPreference{{Type: int(eas.BodyHTML), TruncationSize: ptr(uint32(20))}}},
			})))
			if res.Status != eas.ItemOperationsStatusSuccess || res.Class != "Email" || res.ServerID != f.serverID {
				t.Fatalf("Fetch = %+v, want Status 1 of Email %s", res, f.serverID)
			}
			var m eas.Email
			if err := res.Properties.Decode(&m); err != nil {
				t.Fatal(err)
			}
			if m.Subject != "Greetings" || m.Body == nil || m.Body.Type != eas.BodyHTML || m.Body.Data == nil ||
				*m.Body.Data != ioHTML[:20] || m.Body.Truncated == nil || !*m.Body.Truncated {
				t.Errorf("Email = %+v, body %+v; want the HTML cut at 20 bytes", m, m.Body)
			}
		})
		t.Run(v+"/mime", func(t *testing.T) {
			res := oneFetch(t, f.post(t, "ItemOperations", v, fetchRequest(eas.Fetch{
				Store: "Mailbox", CollectionID: f.inbox, ServerID: f.serverID,
				Options: &eas.FetchOptions{MIMESupport: 2, BodyPreference: []eas.BodyPreference{{Type: int(eas.BodyMIME)}}},
			})))
			var m eas.Email
			if err := res.Properties.Decode(&m); err != nil {
				t.Fatal(err)
			}
			want := string(ioMessage("Greetings", f.attachment))
			if m.Body == nil || m.Body.Type != eas.BodyMIME || m.Body.Data == nil || *m.Body.Data != want {
				t.Errorf("Body = %+v, want the whole MIME message", m.Body)
			}
		})
		t.Run(v+"/schema", func(t *testing.T) {
			schema := eas.Raw{}
			ioDecode(t, mustMarshal(t, &struct {
				_       struct{} `wbxml:"ItemOperations:Schema"`
				Subject bool     `wbxml:"Email:Subject,empty"`
			}{Subject: true}), &schema)
			res := oneFetch(t, f.post(t, "ItemOperations", v, fetchRequest(eas.Fetch{
				Store: "Mailbox", CollectionID: f.inbox, ServerID: f.serverID, Options: &eas.FetchOptions{Schema: schema},
			})))
			var m eas.Email
			if err := res.Properties.Decode(&m); err != nil {
				t.Fatal(err)
			}
			if m.Subject != "Greetings" || m.Body != nil || m.From != "" {
				t.Errorf("Email = %+v, want the Subject alone", m)
			}
		})
		t.Run(v+"/unknown item", func(t *testing.T) {
			res := oneFetch(t, f.post(t, "ItemOperations", v, fetchRequest(eas.Fetch{
				Store: "Mailbox", CollectionID: f.inbox, ServerID: f.inbox + ":999",
			})))
			if res.Status != eas.ItemOperationsStatusNotFound || !res.Properties.IsZero() {
				t.Errorf("Fetch = %+v, want Status 6 without Properties", res)
			}
		})
		t.Run(v+"/document library", func(t *testing.T) {
			res := oneFetch(t, f.post(t, "ItemOperations", v, fetchRequest(eas.Fetch{
				Store: "DocumentLibrary", LinkID: `\\server\share\file.txt`,
			})))
			if res.Status != eas.ItemOperationsStatusUnknownStore {
				t.Errorf("Fetch Status = %d, want 9", res.Status)
			}
		})
	}
}

func TestItemOperationsFetchAttachment(t *testing.T) {
	for _, size := range []int{100, 600 << 10} { // in memory, and spooled to a file
		f := newIOFixture(t, size)
		for _, v := range ioVersions {
			tests := []struct {
				name      string
				rng       string
				wantRange string
				want      []byte
				status    eas.ItemOperationsStatus
			}{
				{name: "whole", want: f.attachment},
				{name: "range", rng: "10-41", wantRange: "10-41", want: f.attachment[10:42]},
				{name: "range past the end", rng: fmt.Sprintf("%d-%d", size-5, size+100), wantRange: fmt.Sprintf("%d-%d", size-5, size-1), want: f.attachment[size-5:]},
				{name: "range after the end", rng: fmt.Sprintf("%d-%d", size+1, size+100), status: eas.ItemOperationsStatusBadByteRange},
			}
			for _, tc := range tests {
				fe := eas.Fetch{Store: "Mailbox", FileReference: f.fileRef}
				if tc.rng != "" {
					fe.Options = &eas.FetchOptions{Range: tc.rng}
				}
				name := fmt.Sprintf("%d/%s/%s", size, v, tc.name)
				t.Run(name+"/inline", func(t *testing.T) {
					res := oneFetch(t, f.post(t, "ItemOperations", v, fetchRequest(fe)))
					if tc.status != 0 {
						if res.Status != tc.status {
							t.Errorf("Status = %d, want %d", res.Status, tc.status)
						}
						return
					}
					var p eas.FetchFileProperties
					if err := res.Properties.Decode(&p); err != nil {
						t.Fatal(err)
					}
					data, err := base64.StdEncoding.DecodeString(p.Data)
					if err != nil {
						t.Fatal(err)
					}
					if res.Status != 1 || res.FileReference != f.fileRef || p.ContentType != "application/octet-stream" ||
						p.Total == nil || *p.Total != int64(size) || p.Range != tc.wantRange || !bytes.Equal(data, tc.want) {
						t.Errorf("Fetch = %+v, Properties %+v with %d bytes; want Total %d, Range %q, %d bytes",
							res, p, len(data), size, tc.wantRange, len(tc.want))
					}
				})
				t.Run(name+"/multipart", func(t *testing.T) {
					r := f.post(t, "ItemOperations", v, fetchRequest(fe), "MS-ASAcceptMultiPart", "T")
					resp, parts := ioMultipart(t, r)
					res := resp.Response.Results[0].Fetch
					if tc.status != 0 {
						if res.Status != tc.status || len(parts) != 0 {
							t.Errorf("Status = %d with %d parts, want %d and none", res.Status, len(parts), tc.status)
						}
						return
					}
					var p eas.FetchFileProperties
					if err := res.Properties.Decode(&p); err != nil {
						t.Fatal(err)
					}
					if p.Part != 1 || p.Data != "" || len(parts) != 1 || !bytes.Equal(parts[0], tc.want) || p.Range != tc.wantRange {
						t.Errorf("Properties %+v, %d parts; want Part 1 holding %d bytes", p, len(parts), len(tc.want))
					}
				})
			}
		}
	}
}

// ioMultipart splits a multipart ItemOperations response (MS-ASCMD
// 2.2.1.10.1.1), decodes its WBXML part and returns the binary parts.
func ioMultipart(t *testing.T, r *http.Response) (*eas.ItemOperationsResponse, [][]byte) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); r.StatusCode != 200 || ct != multipartType {
		t.Fatalf("HTTP %d, Content-Type %q; want 200 and %s", r.StatusCode, ct, multipartType)
	}
	b := ioReadAll(t, r)
	n := int(binary.LittleEndian.Uint32(b))
	var parts [][]byte
	end := 4 + 8*n
	for i := range n {
		off := int(binary.LittleEndian.Uint32(b[4+8*i:]))
		size := int(binary.LittleEndian.Uint32(b[8+8*i:]))
		if off != end || off+size > len(b) {
			t.Fatalf("part %d at %d+%d, want it at %d within %d bytes", i, off, size, end, len(b))
		}
		parts = append(parts, b[off:off+size])
		end = off + size
	}
	if end != len(b) {
		t.Fatalf("parts end at %d of %d bytes", end, len(b))
	}
	var resp eas.ItemOperationsResponse
	ioDecode(t, parts[0], &resp)
	if resp.Status != 1 || resp.Response == nil || len(resp.Response.Results) == 0 {
		t.Fatalf("response %+v, want Status 1 and results", resp)
	}
	return &resp, parts[1:]
}

func TestItemOperationsMultipartItemAndAttachment(t *testing.T) {
	f := newIOFixture(t, 1000)
	for _, v := range ioVersions {
		t.Run(v, func(t *testing.T) {
			req := &eas.ItemOperationsRequest{Operations: []eas.ItemOperation{
				{Fetch: &eas.Fetch{Store: "Mailbox", CollectionID: f.inbox, ServerID: f.serverID,
					Options: &eas.FetchOptions{BodyPreference: []eas.BodyPreference{{Type: int(eas.BodyHTML)}}}}},
				{Fetch: &eas.Fetch{Store: "Mailbox", CollectionID: f.inbox, ServerID: "nope"}},
				{Fetch: &eas.Fetch{Store: "Mailbox", FileReference: f.fileRef}},
			}}
			// The query form of AcceptMultiPart is the base64 Options bit;
			// the header stands for both here.
			resp, parts := ioMultipart(t, f.post(t, "ItemOperations", v, req, "MS-ASAcceptMultiPart", "T"))
			rs := resp.Response.Results
			if len(rs) != 3 || len(parts) != 2 {
				t.Fatalf("%d results, %d parts; want 3 and 2", len(rs), len(parts))
			}
			var m eas.Email
			if err := rs[0].Fetch.Properties.Decode(&m); err != nil {
				t.Fatal(err)
			}
			if m.Body == nil || m.Body.Data != nil || m.Body.Part == nil || *m.Body.Part != 1 || string(parts[0]) != ioHTML {
				t.Errorf("Body %+v, part 1 %q; want the HTML in part 1", m.Body, parts[0])
			}
			if rs[1].Fetch.Status != eas.ItemOperationsStatusNotFound {
				t.Errorf("second Fetch Status = %d, want 6", rs[1].Fetch.Status)
			}
			var p eas.FetchFileProperties
			if err := rs[2].Fetch.Properties.Decode(&p); err != nil {
				t.Fatal(err)
			}
			if p.Part != 2 || !bytes.Equal(parts[1], f.attachment) {
				t.Errorf("attachment Part %d, want 2 holding the attachment", p.Part)
			}
		})
	}
}

func TestItemOperationsEmptyFolderContents(t *testing.T) {
	ctx := context.Background()
	for _, v := range ioVersions {
		t.Run(v, func(t *testing.T) {
			f := newIOFixture(t, 10)
			for i := range 3 {
				if _, err := f.src.AddMessage(ctx, "trash", ioMessage(fmt.Sprint("old ", i), nil)); err != nil {
					t.Fatal(err)
				}
			}
			sub, err := f.src.CreateFolder(ctx, "trash", "Old stuff", sources.KindUserMail)
			if err != nil {
				t.Fatal(err)
			}
			cids, err := f.state.CollectionIDs(ctx, f.acct, []string{"trash"})
			if err != nil {
				t.Fatal(err)
			}
			req := &eas.ItemOperationsRequest{Operations: []eas.ItemOperation{
				{EmptyFolderContents: &eas.EmptyFolderContents{CollectionID: cids[0],
					Options: &eas.EmptyFolderContentsOptions{DeleteSubFolders: true}}},
				{EmptyFolderContents: &eas.EmptyFolderContents{CollectionID: "404"}},
			}}
			r := f.post(t, "ItemOperations", v, req)
			var resp eas.ItemOperationsResponse
			ioDecode(t, ioReadAll(t, r), &resp)
			if resp.Status != 1 || resp.Response == nil || len(resp.Response.Results) != 2 {
				t.Fatalf("response %+v, want two results", resp)
			}
			if got := resp.Response.Results[0].EmptyFolderContents; got == nil || got.Status != 1 || got.CollectionID != cids[0] {
				t.Errorf("first result %+v, want Status 1 for %s", got, cids[0])
			}
			if got := resp.Response.Results[1].EmptyFolderContents; got == nil || got.Status != eas.ItemOperationsStatusNotFound {
				t.Errorf("second result %+v, want Status 6", got)
			}
			if ids, err := folderItemIDs(ctx, f.src, "trash"); err != nil || len(ids) != 0 {
				t.Errorf("trash holds %v (%v), want nothing", ids, err)
			}
			if _, err := f.src.Changes(ctx, sub, "", 0); err == nil {
				t.Errorf("subfolder %s survived DeleteSubFolders", sub)
			}
			if ids, _ := folderItemIDs(ctx, f.src, "inbox"); len(ids) != 1 {
				t.Errorf("inbox holds %d items, want its 1", len(ids))
			}
		})
	}
}

func TestItemOperationsMoveConversation(t *testing.T) {
	ctx := context.Background()
	f := newIOFixture(t, 10)
	other, err := f.src.AddMessage(ctx, "inbox", ioMessage("Unrelated", nil))
	if err != nil {
		t.Fatal(err)
	}
	reply, err := f.src.AddMessage(ctx, "inbox", ioMessage("Re: Greetings", nil))
	if err != nil {
		t.Fatal(err)
	}
	items, err := f.src.Get(ctx, "inbox", []sources.ItemID{f.item}, nil)
	if err != nil || len(items) != 1 {
		t.Fatal(items, err)
	}
	cids, err := f.state.CollectionIDs(ctx, f.acct, []string{"trash"})
	if err != nil {
		t.Fatal(err)
	}
	conv := conversationID(items[0].Mail)
	req := &eas.ItemOperationsRequest{Operations: []eas.ItemOperation{
		{Move: &eas.MoveConversation{ConversationID: conv, DstFldID: cids[0]}},
		{Move: &eas.MoveConversation{ConversationID: conv, DstFldID: "404"}},
	}}
	var resp eas.ItemOperationsResponse
	ioDecode(t, ioReadAll(t, f.post(t, "ItemOperations", "14.1", req)), &resp)
	rs := resp.Response.Results
	if len(rs) != 2 || rs[0].Move == nil || rs[0].Move.Status != 1 || !bytes.Equal(rs[0].Move.ConversationID, conv) ||
		rs[1].Move == nil || rs[1].Move.Status != eas.ItemOperationsStatus(eas.StatusMoveCommandInvalidDestinationFolder) {
		t.Fatalf("results %+v, want Status 1 then 156", rs)
	}
	inbox, _ := folderItemIDs(ctx, f.src, "inbox")
	trash, _ := folderItemIDs(ctx, f.src, "trash")
	if len(inbox) != 1 || inbox[0] != other || len(trash) != 2 {
		t.Errorf("inbox %v, trash %v; want %s left in the inbox and the conversation (%s, %s) in the trash", inbox, trash, other, f.item, reply)
	}
}

func TestGetAttachment(t *testing.T) {
	f := newIOFixture(t, 300<<10)
	tests := []struct {
		name, v, attName string
		code             int
	}{
		{name: "ok", v: "12.1", attName: f.fileRef, code: 200},
		{name: "2.5", v: "2.5", attName: f.fileRef, code: 200},
		{name: "12.0", v: "12.0", attName: f.fileRef, code: 200},
		{name: "unknown reference", v: "12.1", attName: "garbage", code: 404},
		{name: "missing attachment", v: "12.1", attName: fileReference(sources.AttachmentRef{Folder: "inbox", Item: f.item, ID: "9"}), code: 404},
		{name: "gone in 14.1", v: "14.1", attName: f.fileRef, code: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := Path + strings.Replace(plainQuery, "?", "?AttachmentName="+tc.attName+"&", 1) + "GetAttachment"
			r := post(f.s, target, nil, "MS-ASProtocolVersion", tc.v).Result()
			body := ioReadAll(t, r)
			if r.StatusCode != tc.code {
				t.Fatalf("HTTP status %d, want %d", r.StatusCode, tc.code)
			}
			if tc.code == 200 && (!bytes.Equal(body, f.attachment) || r.Header.Get("Content-Type") != "application/octet-stream") {
				t.Errorf("body of %d bytes with Content-Type %q, want the %d-byte attachment", len(body), r.Header.Get("Content-Type"), len(f.attachment))
			}
		})
	}
}
