package graphemu

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// Row 10: an upload session takes fragments in order only (416
// invalidRange otherwise), at most 4 MB each (413), without an
// Authorization header; intermediate fragments answer 200 with the next
// start, the last 201 with a Location naming the attachment, whose bytes
// are then the file's.
func TestRow10UploadSession(t *testing.T) {
	e := newEmuTest(t, Options{})
	id, _ := e.s.DeliverMail(aliceUPN, "drafts", testMIME("big"))
	base := "/users/" + aliceUPN + "/messages/" + id + "/attachments"
	file := bytes.Repeat([]byte("0123456789abcdef"), 5<<20/16) // 5 MiB
	code, _, out := e.call("POST", base+"/createUploadSession", map[string]any{"AttachmentItem": map[string]any{
		"attachmentType": "file", "name": "big.bin", "size": len(file), "contentType": "application/octet-stream"}})
	up, _ := out["uploadUrl"].(string)
	if code != 201 || up == "" || fmt.Sprint(out["nextExpectedRanges"]) != "[0-]" {
		t.Fatalf("createUploadSession = %d %v", code, out)
	}
	if code, _, _ := e.call("POST", base+"/createUploadSession", map[string]any{"AttachmentItem": map[string]any{
		"attachmentType": "file", "name": "huge.bin", "size": 151 << 20}}); code != 400 {
		t.Errorf("a session over 150 MB = %d, want 400", code)
	}
	put := func(from, to int, auth bool) (int, map[string]any, string) {
		hdr := []string{"Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, to, len(file)), "Content-Type", "application/octet-stream"}
		if !auth {
			hdr = append(hdr, "Authorization", "")
		}
		code, h, raw := e.raw("PUT", up, string(file[from:to+1]), hdr...)
		var out map[string]any
		if len(raw) > 0 {
			out = map[string]any{}
			json.Unmarshal(raw, &out)
		}
		return code, out, h.Get("Location")
	}
	if code, _, _ := put(0, 1<<20-1, true); code != 401 {
		t.Errorf("PUT with Authorization = %d, want 401", code)
	}
	if code, out, _ := put(1<<20, 2<<20-1, false); code != 416 || errCode(out) != "invalidRange" {
		t.Errorf("PUT out of order = %d %v, want 416 invalidRange", code, out)
	}
	if code, _, _ := put(0, 4<<20+9, false); code != 413 {
		t.Errorf("PUT of more than 4 MB = %d, want 413", code)
	}
	if code, out, _ := put(0, 3<<20-1, false); code != 200 || fmt.Sprint(out["nextExpectedRanges"]) != fmt.Sprintf("[%d]", 3<<20) {
		t.Errorf("first fragment = %d %v, want 200 with the next start", code, out)
	}
	code, _, loc := put(3<<20, len(file)-1, false)
	if code != 201 || !strings.Contains(loc, "/attachments('A") {
		t.Fatalf("last fragment = %d, Location %q; want 201 naming the attachment", code, loc)
	}
	aid := loc[strings.LastIndex(loc, "('")+2 : len(loc)-2]
	if code, _, raw := e.raw("GET", base+"/"+aid+"/$value", nil); code != 200 || !bytes.Equal(raw, file) {
		t.Errorf("the uploaded attachment's $value = %d, %d bytes; want the %d bytes uploaded", code, len(raw), len(file))
	}
	if code, _, _ := put(0, 1, false); code != 404 {
		t.Errorf("PUT after the session finished = %d, want 404", code)
	}
	// Sent, the draft carries the attachment to the recipient.
	if code, _, _ := e.call("POST", "/users/"+aliceUPN+"/messages/"+id+"/send", nil); code != 202 {
		t.Fatalf("send = %d", code)
	}
	_, _, sent := e.call("GET", "/users/"+aliceUPN+"/mailFolders/sentitems/messages", nil)
	if rs := rows(sent); len(rs) != 1 || rs[0]["hasAttachments"] != true {
		t.Errorf("Sent Items after the send = %v, want the message with its attachment", rs)
	}
}

// Row 11, replies: createReply files a quoting draft addressed to the
// original's sender, which send delivers; reply with both a comment and
// a message body is 400, and so is createReply; forward sends at once.
func TestRow11Reply(t *testing.T) {
	e := newEmuTest(t, Options{})
	id, _ := e.s.DeliverMail(aliceUPN, "inbox", testMIME("question"))
	path := "/users/" + aliceUPN + "/messages/" + id
	both := map[string]any{"comment": "c", "message": map[string]any{"body": map[string]any{"contentType": "text", "content": "b"}}}
	for _, action := range []string{"reply", "createReply", "forward", "createForward"} {
		if code, _, out := e.call("POST", path+"/"+action, both); code != 400 {
			t.Errorf("%s with a comment and a body = %d %v, want 400", action, code, out)
		}
	}
	code, _, draft := e.call("POST", path+"/createReply", map[string]any{"comment": "Yes."})
	did, _ := draft["id"].(string)
	if code != 201 || did == "" || draft["isDraft"] != true || !strings.HasPrefix(fmt.Sprint(draft["subject"]), "RE: ") {
		t.Fatalf("createReply = %d %v", code, draft)
	}
	to, _ := draft["toRecipients"].([]any)
	if len(to) != 1 || addressOf(to[0]) == "" {
		t.Errorf("the reply draft is addressed to %v, want the original's sender", to)
	}
	body := fmt.Sprint(draft["body"])
	if !strings.Contains(body, "Yes.") || !strings.Contains(body, "question") {
		t.Errorf("the reply draft's body %q lacks the comment or the quote", body)
	}
	if code, _, _ := e.call("PATCH", "/users/"+aliceUPN+"/messages/"+did, map[string]any{"body": map[string]any{"contentType": "text", "content": "Edited."}}); code != 200 {
		t.Errorf("PATCH of the draft = %d", code)
	}
	if code, _, _ := e.call("POST", "/users/"+aliceUPN+"/messages/"+did+"/send", nil); code != 202 {
		t.Errorf("send of the draft = %d", code)
	}
	_, _, sent := e.call("GET", "/users/"+aliceUPN+"/mailFolders/sentitems/messages", nil)
	if rs := rows(sent); len(rs) != 1 || !strings.Contains(fmt.Sprint(rs[0]["body"]), "Edited.") {
		t.Errorf("Sent Items after the reply = %v, want it with the edited body", rs)
	}
	mimeBody := base64.StdEncoding.EncodeToString([]byte("To: bob@example.com\r\nSubject: fwd\r\n\r\nsee below\r\n"))
	if code, _, _ := e.raw("POST", path+"/forward", mimeBody, "Content-Type", "text/plain"); code != 202 {
		t.Errorf("MIME forward = %d, want 202", code)
	}
	if code, _, _ := e.call("POST", path+"/forward", map[string]any{"comment": "FYI"}); code != 400 {
		t.Errorf("forward without recipients = %d, want 400", code)
	}
}
