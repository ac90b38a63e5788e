package graphemu

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests here are the rows of the emulator checklist, notes §7, that
// concern the emulator's own wire behaviour; the rows about what the
// adapter does with it (3, 4, 13, 15) also run in sources/graph.

type emuTest struct {
	t     *testing.T
	s     *Server
	ts    *httptest.Server
	tok   string
	alice string // object id
	now   time.Time
	mu    sync.Mutex
}

const (
	testClient = "app-1"
	testSecret = "s3cret"
	aliceUPN   = "alice@example.com"
)

func newEmuTest(t *testing.T, o Options) *emuTest {
	e := &emuTest{t: t, now: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)}
	if o.Now == nil {
		o.Now = func() time.Time {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.now
		}
	}
	o.Tenant = "contoso"
	o.Apps = append(o.Apps, App{ClientID: testClient, Secret: testSecret})
	e.s = New(o)
	e.alice = e.s.AddUser(aliceUPN, "Alice Example")
	e.s.AddUser("bob@example.com", "Bob Example")
	e.ts = httptest.NewServer(e.s)
	t.Cleanup(func() { e.ts.Close(); e.s.Close() })
	e.tok = e.token(testClient, testSecret)
	return e
}

func (e *emuTest) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

func (e *emuTest) token(client, secret string) string {
	e.t.Helper()
	resp, err := http.PostForm(e.ts.URL+"/contoso/oauth2/v2.0/token", url.Values{"client_id": {client}, "client_secret": {secret},
		"grant_type": {"client_credentials"}, "scope": {"https://graph.microsoft.com/.default"}})
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	tok, _ := out["access_token"].(string)
	if resp.StatusCode != 200 || tok == "" {
		e.t.Fatalf("token(%s) = %d %v", client, resp.StatusCode, out)
	}
	return tok
}

// call sends a Graph request; path is after /v1.0 unless it is a full
// URL. hdr are header name, value pairs.
func (e *emuTest) call(method, path string, body any, hdr ...string) (int, http.Header, map[string]any) {
	e.t.Helper()
	code, h, raw := e.raw(method, path, body, hdr...)
	var out map[string]any
	if len(raw) > 0 {
		json.Unmarshal(raw, &out)
	}
	return code, h, out
}

func (e *emuTest) raw(method, path string, body any, hdr ...string) (int, http.Header, []byte) {
	e.t.Helper()
	u := path
	if !strings.HasPrefix(u, "http") {
		u = e.ts.URL + "/v1.0" + path
	}
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	r, err := http.NewRequest(method, u, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+e.tok)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func errCode(out map[string]any) string {
	e, _ := out["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func rows(out map[string]any) []map[string]any {
	var rs []map[string]any
	for _, v := range out["value"].([]any) {
		rs = append(rs, v.(map[string]any))
	}
	return rs
}

// drain follows a delta round from link to its deltaLink and returns the
// rows, the pages and the deltaLink.
func (e *emuTest) drain(link string, hdr ...string) ([]map[string]any, int, string) {
	e.t.Helper()
	var all []map[string]any
	for pages := 1; pages < 1000; pages++ {
		code, _, out := e.call("GET", link, nil, hdr...)
		if code != 200 {
			e.t.Fatalf("GET %s = %d %v", link, code, out)
		}
		all = append(all, rows(out)...)
		if n, ok := out["@odata.nextLink"].(string); ok {
			link = n
			continue
		}
		d, _ := out["@odata.deltaLink"].(string)
		if d == "" {
			e.t.Fatalf("a page with neither link: %v", out)
		}
		return all, pages, d
	}
	e.t.Fatal("no end to the round")
	return nil, 0, ""
}

func testMIME(subject string) []byte {
	return []byte("From: Carol <carol@example.org>\r\nTo: alice@example.com\r\nSubject: " + subject +
		"\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nHello " + subject +
		"\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n")
}

// Row 1: client-credentials tokens with a secret and with a certificate
// assertion; 401 InvalidAuthenticationToken after expiry; 403
// ErrorAccessDenied outside the access policy.
func TestRow01Tokens(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "easgate"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cert, _ := x509.ParseCertificate(der)
	e := newEmuTest(t, Options{TokenTTL: time.Hour, Apps: []App{
		{ClientID: "cert-app", Certificate: cert},
		{ClientID: "scoped", Secret: "x", Mailboxes: []string{"bob@example.com"}},
	}})
	if code, _, _ := e.call("GET", "/users/"+aliceUPN, nil); code != 200 {
		t.Errorf("GET user with a secret's token = %d", code)
	}
	// A bad secret.
	resp, _ := http.PostForm(e.ts.URL+"/contoso/oauth2/v2.0/token", url.Values{"client_id": {testClient}, "client_secret": {"wrong"},
		"grant_type": {"client_credentials"}, "scope": {"https://graph.microsoft.com/.default"}})
	var oe map[string]any
	json.NewDecoder(resp.Body).Decode(&oe)
	resp.Body.Close()
	if resp.StatusCode != 401 || oe["error"] != "invalid_client" {
		t.Errorf("token with a wrong secret = %d %v, want 401 invalid_client", resp.StatusCode, oe)
	}
	// A certificate assertion.
	aud := e.ts.URL + "/contoso/oauth2/v2.0/token"
	jwt := func(k *rsa.PrivateKey) string {
		h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT"})
		c, _ := json.Marshal(map[string]any{"aud": aud, "iss": "cert-app", "sub": "cert-app", "exp": e.now.Add(5 * time.Minute).Unix(), "nbf": e.now.Unix()})
		in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
		sum := sha256.Sum256([]byte(in))
		sig, _ := rsa.SignPKCS1v15(rand.Reader, k, 5, sum[:]) // 5 = crypto.SHA256
		return in + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tt := range []struct {
		key  *rsa.PrivateKey
		want int
	}{{key, 200}, {other, 401}} {
		resp, err := http.PostForm(aud, url.Values{"client_id": {"cert-app"}, "grant_type": {"client_credentials"},
			"scope": {"https://graph.microsoft.com/.default"}, "client_assertion": {jwt(tt.key)},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("token with a client assertion = %d, want %d", resp.StatusCode, tt.want)
		}
	}
	// The access policy.
	e.tok = e.token("scoped", "x")
	if code, _, out := e.call("GET", "/users/"+aliceUPN+"/mailFolders/inbox", nil); code != 403 || errCode(out) != "ErrorAccessDenied" {
		t.Errorf("outside the access policy = %d %v, want 403 ErrorAccessDenied", code, out)
	}
	if code, _, _ := e.call("GET", "/users/bob@example.com/mailFolders/inbox", nil); code != 200 {
		t.Errorf("inside the access policy = %d, want 200", code)
	}
	// Expiry.
	e.advance(2 * time.Hour)
	if code, _, out := e.call("GET", "/users/bob@example.com", nil); code != 401 || errCode(out) != "InvalidAuthenticationToken" {
		t.Errorf("expired token = %d %v, want 401 InvalidAuthenticationToken", code, out)
	}
	if code, _, _ := e.call("GET", "/no/such/thing", nil); code != 501 && code != 401 {
		t.Errorf("outside the surface = %d", code)
	}
}

// Row 2: messages delta over pages, empty pages, $select, and an
// incremental round with an add, a partial update and a removal.
func TestRow02MessagesDelta(t *testing.T) {
	e := newEmuTest(t, Options{})
	var ids []string
	for i := range 7 {
		id, err := e.s.DeliverMail(aliceUPN, "inbox", testMIME("m"+string(rune('a'+i))))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	e.s.EmptyPages(1)
	all, pages, delta := e.drain("/users/"+aliceUPN+"/mailFolders/inbox/messages/delta?$select=subject",
		"Prefer", `IdType="ImmutableId", odata.maxpagesize=2`)
	if len(all) != 7 || pages < 4 {
		t.Fatalf("initial round = %d rows in %d pages, want 7 in at least 4 (one empty)", len(all), pages)
	}
	for _, r := range all {
		if r["id"] == nil || r["subject"] == nil || r["isRead"] != nil {
			t.Errorf("row %v: $select=subject wants id and subject only", r)
		}
	}
	if !strings.Contains(delta, "mailfolders('") && !strings.Contains(delta, "mailFolders('") {
		t.Errorf("deltaLink %s does not echo the ('id') form", delta)
	}
	added, _ := e.s.DeliverMail(aliceUPN, "inbox", testMIME("new"))
	e.s.UpdateItem(aliceUPN, ids[0], map[string]any{"isRead": true})
	e.s.DeleteItem(aliceUPN, ids[1])
	all, _, _ = e.drain(delta, "Prefer", `IdType="ImmutableId"`)
	got := map[string]map[string]any{}
	for _, r := range all {
		got[r["id"].(string)] = r
	}
	if r := got[added]; r == nil || r["subject"] == nil {
		t.Errorf("the added message: %v", r)
	}
	if r := got[ids[0]]; r == nil || r["isRead"] != nil {
		// $select=subject is frozen into the token: only id and subject.
		t.Errorf("the updated message: %v", r)
	}
	if r := got[ids[1]]; r == nil || r["@removed"] == nil {
		t.Errorf("the removed message: %v", r)
	}
	// Without $select the update is partial: the changed property and
	// the etag, not the subject.
	_, _, d2 := e.drain("/users/"+aliceUPN+"/mailFolders/inbox/messages/delta", "Prefer", `IdType="ImmutableId"`)
	e.s.UpdateItem(aliceUPN, ids[2], map[string]any{"categories": []any{"Red"}})
	all, _, _ = e.drain(d2, "Prefer", `IdType="ImmutableId"`)
	if len(all) != 1 || all[0]["categories"] == nil || all[0]["subject"] != nil || all[0]["@odata.etag"] == nil {
		t.Errorf("partial update rows = %v", all)
	}
}

// Row 4: stale tokens, evicted tokens and the documented reset.
func TestRow04ExpiredTokens(t *testing.T) {
	e := newEmuTest(t, Options{})
	for i := range 6 {
		e.s.DeliverMail(aliceUPN, "inbox", testMIME(string(rune('a'+i))))
	}
	first := "/users/" + aliceUPN + "/mailFolders/inbox/messages/delta"
	_, _, out := e.call("GET", first, nil, "Prefer", "odata.maxpagesize=1")
	stale := out["@odata.nextLink"].(string)
	link := stale
	for range 3 {
		_, _, out = e.call("GET", link, nil)
		link = out["@odata.nextLink"].(string)
	}
	code, _, out := e.call("GET", stale, nil)
	if code != 410 || errCode(out) != "SyncStateNotFound" || !strings.Contains(out["error"].(map[string]any)["message"].(string), "generation=") {
		t.Errorf("a nextLink 4 generations old = %d %v, want 410 SyncStateNotFound", code, out)
	}
	if code, _, _ := e.call("GET", link, nil); code != 200 {
		t.Errorf("the newest nextLink = %d, want 200", code)
	}
	_, _, d := e.drain(link)
	e.s.ExpireTokens()
	if code, _, out := e.call("GET", d, nil); code != 410 || errCode(out) != "SyncStateNotFound" {
		t.Errorf("an evicted deltaLink = %d %v, want 410", code, out)
	}
	e.s.ForceReset(aliceUPN)
	code, h, out := e.call("GET", first, nil)
	if code != 410 || errCode(out) != "resyncRequired" || !strings.Contains(h.Get("Location"), "/messages/delta") {
		t.Errorf("forced reset = %d %v Location %q, want 410 resyncRequired with the initial URL", code, out, h.Get("Location"))
	}
	if code, _, out := e.call("GET", d+"x", nil); code != 410 {
		t.Errorf("a corrupt token = %d %v, want 410", code, out)
	}
}

// Row 5: mailFolders delta over a nested tree.
func TestRow05FolderDelta(t *testing.T) {
	e := newEmuTest(t, Options{})
	base := "/users/" + aliceUPN + "/mailFolders"
	_, _, d := e.drain(base + "/delta")
	_, _, parent := e.call("POST", base, map[string]any{"displayName": "Projects"})
	_, _, child := e.call("POST", base+"/"+parent["id"].(string)+"/childFolders", map[string]any{"displayName": "Alpha"})
	all, _, d := e.drain(d)
	byID := map[string]map[string]any{}
	for _, r := range all {
		byID[r["id"].(string)] = r
	}
	if c := byID[child["id"].(string)]; c == nil || c["parentFolderId"] != parent["id"] {
		t.Errorf("the nested folder in delta: %v", c)
	}
	if code, _, _ := e.call("POST", base, map[string]any{"displayName": "projects"}); code != 409 {
		t.Errorf("a second folder of the same name = %d, want 409", code)
	}
	e.call("PATCH", base+"/"+child["id"].(string), map[string]any{"displayName": "Beta"})
	e.call("POST", base+"/"+child["id"].(string)+"/move", map[string]any{"destinationId": "inbox"})
	all, _, d = e.drain(d)
	if len(all) != 1 || all[0]["displayName"] != "Beta" || all[0]["parentFolderId"] == parent["id"] {
		t.Errorf("rename and move = %v", all)
	}
	e.call("DELETE", base+"/"+parent["id"].(string), nil)
	all, _, _ = e.drain(d)
	if len(all) != 1 || all[0]["@removed"] == nil {
		t.Errorf("delete = %v", all)
	}
}

func weekly(subject string, count int) map[string]any {
	return map[string]any{"subject": subject,
		"start": map[string]any{"dateTime": "2026-12-07T09:00:00.0000000", "timeZone": "W. Europe Standard Time"},
		"end":   map[string]any{"dateTime": "2026-12-07T10:00:00.0000000", "timeZone": "W. Europe Standard Time"},
		"recurrence": map[string]any{"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []any{"monday"}},
			"range": map[string]any{"type": "numbered", "startDate": "2026-12-07", "numberOfOccurrences": count}}}
}

// Row 6: calendarView delta expands series; an edited occurrence is an
// exception; a change outside the window is @removed; $select is 400.
func TestRow06CalendarView(t *testing.T) {
	e := newEmuTest(t, Options{})
	master, err := e.s.AddEvent(aliceUPN, "", weekly("Standup", 4))
	if err != nil {
		t.Fatal(err)
	}
	view := "/users/" + aliceUPN + "/calendarView/delta?startDateTime=2026-12-01T00:00:00Z&endDateTime=2026-12-31T00:00:00Z"
	if code, _, _ := e.call("GET", view+"&$select=subject", nil); code != 400 {
		t.Errorf("$select on calendarView delta = %d, want 400", code)
	}
	all, _, d := e.drain(view, "Prefer", `IdType="ImmutableId"`)
	if len(all) != 4 {
		t.Fatalf("calendarView of a 4-week series in December = %d rows, want 4", len(all))
	}
	for _, r := range all {
		if r["type"] != "occurrence" || r["seriesMasterId"] != master || r["originalStart"] == nil {
			t.Errorf("instance %v", r)
		}
	}
	occ := master + "_20261214T080000"
	e.s.UpdateItem(aliceUPN, occ, map[string]any{"subject": "Standup moved"})
	all, _, d = e.drain(d, "Prefer", `IdType="ImmutableId"`)
	if len(all) != 1 || all[0]["type"] != "exception" || all[0]["id"] != occ {
		t.Errorf("after editing an occurrence = %v, want it as an exception", all)
	}
	// Extending the series adds instances in January: outside the window,
	// they come as @removed.
	e.s.UpdateItem(aliceUPN, master, map[string]any{"recurrence": weekly("", 8)["recurrence"]})
	all, _, _ = e.drain(d, "Prefer", `IdType="ImmutableId"`)
	removed := 0
	for _, r := range all {
		if r["@removed"] != nil {
			removed++
		}
	}
	if removed != 4 {
		t.Errorf("4 new instances out of the window gave %d @removed rows: %v", removed, all)
	}
}

// Row 7: To Do lists and tasks delta need Tasks.ReadWrite.All.
func TestRow07Todo(t *testing.T) {
	e := newEmuTest(t, Options{Apps: []App{{ClientID: "no-tasks", Secret: "x", Roles: []string{"Mail.ReadWrite"}}}})
	lists, _, _ := e.drain("/users/" + aliceUPN + "/todo/lists/delta")
	if len(lists) != 1 || lists[0]["wellknownListName"] != "defaultList" {
		t.Fatalf("lists = %v", lists)
	}
	list := lists[0]["id"].(string)
	id, _ := e.s.AddTask(aliceUPN, list, map[string]any{"title": "Errand"})
	tasks, _, _ := e.drain("/users/" + aliceUPN + "/todo/lists/" + list + "/tasks/delta")
	if len(tasks) != 1 || tasks[0]["id"] != id || tasks[0]["@odata.etag"] == nil {
		t.Errorf("tasks = %v", tasks)
	}
	if code, _, _ := e.call("GET", "/users/"+aliceUPN+"/todo/lists/"+list+"/tasks/delta?$filter=x", nil); code != 400 {
		t.Errorf("$filter on tasks delta = %d, want 400", code)
	}
	e.tok = e.token("no-tasks", "x")
	if code, _, _ := e.call("GET", "/users/"+aliceUPN+"/todo/lists/delta", nil); code != 403 {
		t.Errorf("without Tasks.ReadWrite.All = %d, want 403", code)
	}
}

// Row 8: move with default ids gives a new id; with immutable ids the
// same; the source delta has @removed, the destination an add.
func TestRow08Move(t *testing.T) {
	e := newEmuTest(t, Options{})
	imm := []string{"Prefer", `IdType="ImmutableId"`}
	src := "/users/" + aliceUPN + "/mailFolders/inbox/messages/delta"
	dst := "/users/" + aliceUPN + "/mailFolders/archive/messages/delta"
	a, _ := e.s.DeliverMail(aliceUPN, "inbox", testMIME("a"))
	b, _ := e.s.DeliverMail(aliceUPN, "inbox", testMIME("b"))
	_, _, ds := e.drain(src, imm...)
	_, _, dd := e.drain(dst, imm...)
	code, _, out := e.call("POST", "/users/"+aliceUPN+"/messages/"+a+"/move", map[string]any{"destinationId": "archive"}, imm...)
	if code != 201 || out["id"] != a {
		t.Errorf("move with immutable ids = %d id %v, want 201 and %s", code, out["id"], a)
	}
	_, _, rest := e.call("GET", "/users/"+aliceUPN+"/messages/"+b, nil)
	code, _, out = e.call("POST", "/users/"+aliceUPN+"/messages/"+rest["id"].(string)+"/move", map[string]any{"destinationId": "archive"})
	if code != 201 || out["id"] == rest["id"] || out["id"] == b {
		t.Errorf("move with default ids = %d id %v, want 201 and a new id", code, out["id"])
	}
	if code, _, _ := e.call("GET", "/users/"+aliceUPN+"/messages/"+rest["id"].(string), nil); code != 404 {
		t.Errorf("the old REST id after the move = %d, want 404", code)
	}
	removed, _, _ := e.drain(ds, imm...)
	added, _, _ := e.drain(dd, imm...)
	if len(removed) != 2 || removed[0]["@removed"] == nil || len(added) != 2 || added[0]["@removed"] != nil {
		t.Errorf("source delta %v, destination delta %v", removed, added)
	}
}

// Row 9: $value MIME round trip; attachment $value; 405 for a reference
// attachment.
func TestRow09MIMEAndAttachments(t *testing.T) {
	e := newEmuTest(t, Options{})
	raw := testMIME("mime")
	id, _ := e.s.DeliverMail(aliceUPN, "inbox", raw)
	if code, _, b := e.raw("GET", "/users/"+aliceUPN+"/messages/"+id+"/$value", nil); code != 200 || !bytes.Equal(b, raw) {
		t.Errorf("$value = %d, %d bytes; want the message back", code, len(b))
	}
	_, _, out := e.call("GET", "/users/"+aliceUPN+"/messages/"+id+"/attachments", nil)
	atts := rows(out)
	if len(atts) != 1 || atts[0]["name"] != "a.pdf" {
		t.Fatalf("attachments = %v", atts)
	}
	code, _, b := e.raw("GET", "/users/"+aliceUPN+"/messages/"+id+"/attachments/"+atts[0]["id"].(string)+"/$value", nil)
	if code != 200 || string(b) != "%PDF-" {
		t.Errorf("attachment $value = %d %q", code, b)
	}
	ref, _ := e.s.AddReferenceAttachment(aliceUPN, id, "link")
	if code, _, _ := e.raw("GET", "/users/"+aliceUPN+"/messages/"+id+"/attachments/"+ref+"/$value", nil); code != 405 {
		t.Errorf("reference attachment $value = %d, want 405", code)
	}
}

// Row 11: sendMail with MIME; bad base64; the Sent Items copy after the
// configured delay.
func TestRow11SendMail(t *testing.T) {
	e := newEmuTest(t, Options{SentDelay: 50 * time.Millisecond})
	body := base64.StdEncoding.EncodeToString([]byte("From: alice@example.com\r\nTo: bob@example.com\r\nSubject: Hi Bob\r\n\r\nHello\r\n"))
	if code, _, _ := e.raw("POST", "/users/"+aliceUPN+"/sendMail", body, "Content-Type", "text/plain"); code != 202 {
		t.Errorf("MIME sendMail = %d, want 202", code)
	}
	if code, _, out := e.call("POST", "/users/"+aliceUPN+"/sendMail", "!!!", "Content-Type", "text/plain"); code != 400 || errCode(out) != "ErrorMimeContentInvalidBase64String" {
		t.Errorf("bad base64 = %d %v", code, out)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		_, _, out := e.call("GET", "/users/"+aliceUPN+"/mailFolders/sentitems/messages", nil)
		if len(rows(out)) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no Sent Items copy after 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, _, out := e.call("GET", "/users/bob@example.com/mailFolders/inbox/messages", nil)
	if len(rows(out)) != 1 {
		t.Errorf("bob's inbox has %d messages, want the one sent", len(rows(out)))
	}
}

// Row 12: a flag with a due date and no start is 400; every PATCH bumps
// the etag that delta shows.
func TestRow12Flags(t *testing.T) {
	e := newEmuTest(t, Options{})
	id, _ := e.s.DeliverMail(aliceUPN, "inbox", testMIME("f"))
	path := "/users/" + aliceUPN + "/messages/" + id
	due := map[string]any{"dateTime": "2026-12-10T00:00:00", "timeZone": "UTC"}
	if code, _, _ := e.call("PATCH", path, map[string]any{"flag": map[string]any{"flagStatus": "flagged", "dueDateTime": due}}); code != 400 {
		t.Errorf("due without start = %d, want 400", code)
	}
	_, _, d := e.drain("/users/" + aliceUPN + "/mailFolders/inbox/messages/delta")
	_, _, before := e.call("GET", path, nil)
	code, _, after := e.call("PATCH", path, map[string]any{"flag": map[string]any{"flagStatus": "flagged", "startDateTime": due, "dueDateTime": due}})
	if code != 200 || after["@odata.etag"] == before["@odata.etag"] {
		t.Errorf("PATCH = %d, etag %v → %v; want a new etag", code, before["@odata.etag"], after["@odata.etag"])
	}
	if code, _, _ := e.call("PATCH", path, map[string]any{"isRead": true}, "If-Match", before["@odata.etag"].(string)); code != 412 {
		t.Errorf("PATCH with a stale If-Match = %d, want 412", code)
	}
	all, _, _ := e.drain(d)
	if len(all) != 1 || all[0]["@odata.etag"] != after["@odata.etag"] {
		t.Errorf("delta after the PATCH = %v", all)
	}
}

// Row 13: a fifth concurrent request on a mailbox is 429 with
// Retry-After; the request budget; injected 503 and 504.
func TestRow13Throttling(t *testing.T) {
	e := newEmuTest(t, Options{Budget: 20})
	release := e.s.Stall()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { e.call("GET", "/users/"+aliceUPN+"/mailFolders/inbox", nil) })
	}
	for deadline := time.Now().Add(5 * time.Second); e.s.Active(aliceUPN) < 4; {
		if time.Now().After(deadline) {
			t.Fatal("4 requests not in flight after 5 s")
		}
		time.Sleep(time.Millisecond)
	}
	code, h, out := e.call("GET", "/users/"+aliceUPN+"/mailFolders/inbox", nil)
	release()
	wg.Wait()
	if code != 429 || errCode(out) != "ApplicationThrottled" || h.Get("Retry-After") == "" {
		t.Errorf("fifth concurrent request = %d %v Retry-After %q", code, out, h.Get("Retry-After"))
	}
	if code, _, _ := e.call("GET", "/users/bob@example.com/mailFolders/inbox", nil); code != 200 {
		t.Errorf("another mailbox meanwhile = %d", code)
	}
	e.s.InjectFailure(1, 503)
	e.s.InjectFailure(2, 504)
	if code, h, _ := e.call("GET", "/users/"+aliceUPN+"/mailFolders/inbox", nil); code != 503 || h.Get("Retry-After") == "" {
		t.Errorf("injected 503 = %d", code)
	}
	if code, _, _ := e.call("GET", "/users/"+aliceUPN+"/mailFolders/inbox", nil); code != 504 {
		t.Errorf("injected 504 = %d", code)
	}
	n := 0
	for ; n < 30; n++ {
		if code, _, _ := e.call("GET", "/users/"+aliceUPN+"/mailFolders/inbox", nil); code == 429 {
			break
		}
	}
	if n >= 30 {
		t.Error("the request budget of 20 never ran out")
	}
	e.advance(11 * time.Minute)
	if code, _, _ := e.call("GET", "/users/"+aliceUPN+"/mailFolders/inbox", nil); code != 200 {
		t.Errorf("after the budget window = %d", code)
	}
}

// Row 14: $batch limits, duplicate ids, a failed dependency, an inner
// 429.
func TestRow14Batch(t *testing.T) {
	e := newEmuTest(t, Options{Budget: 3})
	req := func(n int) map[string]any {
		var rs []map[string]any
		for i := range n {
			rs = append(rs, map[string]any{"id": string(rune('a' + i)), "method": "GET", "url": "/users/" + aliceUPN + "/mailFolders/inbox"})
		}
		return map[string]any{"requests": rs}
	}
	if code, _, _ := e.call("POST", "/$batch", req(21)); code != 400 {
		t.Errorf("21 requests = %d, want 400", code)
	}
	dup := req(2)
	dup["requests"].([]map[string]any)[1]["id"] = "a"
	if code, _, _ := e.call("POST", "/$batch", dup); code != 400 {
		t.Errorf("duplicate ids = %d, want 400", code)
	}
	dep := map[string]any{"requests": []map[string]any{
		{"id": "1", "method": "GET", "url": "/users/" + aliceUPN + "/messages/nope"},
		{"id": "2", "method": "GET", "url": "/users/" + aliceUPN + "/mailFolders/inbox", "dependsOn": []string{"1"}}}}
	_, _, out := e.call("POST", "/$batch", dep)
	st := map[string]float64{}
	for _, r := range out["responses"].([]any) {
		m := r.(map[string]any)
		st[m["id"].(string)] = m["status"].(float64)
	}
	if st["1"] != 404 || st["2"] != 424 {
		t.Errorf("dependsOn on a failure = %v, want 404 and 424", st)
	}
	code, _, out := e.call("POST", "/$batch", req(4))
	n429 := 0
	for _, r := range out["responses"].([]any) {
		if r.(map[string]any)["status"].(float64) == 429 {
			n429++
		}
	}
	if code != 200 || n429 == 0 {
		t.Errorf("a batch past the budget = %d with %d inner 429s, want 200 and some", code, n429)
	}
}

// Row 15 (the emulator's side): the validation handshake, the lifetime
// cap, notifications and lifecycle events.
func TestRow15Subscriptions(t *testing.T) {
	e := newEmuTest(t, Options{MaxSubscriptionMinutes: 4230, Now: time.Now})
	var mu sync.Mutex
	var got []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := r.URL.Query().Get("validationToken"); tok != "" {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, tok)
			return
		}
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		got = append(got, body["value"].([]any)[0].(map[string]any))
		mu.Unlock()
		w.WriteHeader(202)
	}))
	defer hook.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "nope") }))
	defer bad.Close()
	sub := func(u string, minutes int) (int, map[string]any) {
		code, _, out := e.call("POST", "/subscriptions", map[string]any{"changeType": "created,updated", "notificationUrl": u,
			"lifecycleNotificationUrl": u, "resource": "users/" + e.alice + "/messages", "clientState": "state",
			"expirationDateTime": time.Now().Add(time.Duration(minutes) * time.Minute).UTC().Format(time.RFC3339)})
		return code, out
	}
	if code, _ := sub(bad.URL, 60); code != 400 {
		t.Errorf("an endpoint that does not echo the token = %d, want 400", code)
	}
	if code, out := sub(hook.URL, 5000); code != 400 || errCode(out) != "ExtensionError" {
		t.Errorf("past the lifetime cap = %d %v, want 400 ExtensionError", code, out)
	}
	code, out := sub(hook.URL, 4200)
	if code != 201 {
		t.Fatalf("subscribe = %d %v", code, out)
	}
	e.s.DeliverMail(aliceUPN, "inbox", testMIME("n"))
	e.s.Lifecycle(out["id"].(string), "missed")
	e.s.Close()
	mu.Lock()
	defer mu.Unlock()
	var change, missed bool
	for _, n := range got {
		change = change || n["changeType"] == "created" && n["clientState"] == "state"
		missed = missed || n["lifecycleEvent"] == "missed"
	}
	if !change || !missed {
		t.Errorf("notifications = %v, want a created one and a missed lifecycle event", got)
	}
}

// Row 16: Prefer: outlook.timezone converts start and end, across a DST
// change; all-day events run midnight to midnight.
func TestRow16TimeZones(t *testing.T) {
	e := newEmuTest(t, Options{})
	ev := weekly("DST", 1)
	ev["start"] = map[string]any{"dateTime": "2026-03-29T00:30:00", "timeZone": "UTC"}
	ev["end"] = map[string]any{"dateTime": "2026-03-29T01:30:00", "timeZone": "UTC"}
	delete(ev, "recurrence")
	id, _ := e.s.AddEvent(aliceUPN, "", ev)
	path := "/users/" + aliceUPN + "/events/" + id
	for _, tt := range []struct{ prefer, start, end string }{
		{"", "2026-03-29T00:30:00.0000000", "2026-03-29T01:30:00.0000000"},
		{`outlook.timezone="W. Europe Standard Time"`, "2026-03-29T01:30:00.0000000", "2026-03-29T03:30:00.0000000"},
		{`outlook.timezone=Europe/Berlin`, "2026-03-29T01:30:00.0000000", "2026-03-29T03:30:00.0000000"},
	} {
		var hdr []string
		if tt.prefer != "" {
			hdr = []string{"Prefer", tt.prefer}
		}
		_, _, out := e.call("GET", path, nil, hdr...)
		if s, en := out["start"].(map[string]any)["dateTime"], out["end"].(map[string]any)["dateTime"]; s != tt.start || en != tt.end {
			t.Errorf("Prefer %q: %v – %v, want %s – %s", tt.prefer, s, en, tt.start, tt.end)
		}
	}
	allDay := map[string]any{"subject": "Holiday", "isAllDay": true,
		"start": map[string]any{"dateTime": "2026-12-24T09:00:00", "timeZone": "W. Europe Standard Time"},
		"end":   map[string]any{"dateTime": "2026-12-25T00:00:00", "timeZone": "W. Europe Standard Time"}}
	if code, _, _ := e.call("POST", "/users/"+aliceUPN+"/events", allDay); code != 400 {
		t.Errorf("an all-day event not at midnight = %d, want 400", code)
	}
	allDay["start"] = map[string]any{"dateTime": "2026-12-24T00:00:00", "timeZone": "W. Europe Standard Time"}
	code, _, out := e.call("POST", "/users/"+aliceUPN+"/events", allDay, "Prefer", `outlook.timezone="Pacific Standard Time"`)
	if code != 201 || out["start"].(map[string]any)["dateTime"] != "2026-12-24T00:00:00.0000000" {
		t.Errorf("all-day event = %d %v, want midnight kept", code, out["start"])
	}
}
