package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
)

const adminTestToken = "s3cret-admin-token"

// adminEnv is a convEnv with the admin API served by a second httptest
// server, as the admin listener serves it.
type adminEnv struct {
	*convEnv
	api *httptest.Server
}

func newAdminEnv(t *testing.T, o Options) *adminEnv {
	t.Helper()
	e := &adminEnv{convEnv: convServer(t, o)}
	e.api = httptest.NewServer(e.srv.AdminAPI(AdminOptions{Token: adminTestToken}))
	t.Cleanup(e.api.Close)
	return e
}

// call sends an admin request with the token and decodes a JSON answer
// into out, when out is not nil. It returns the HTTP status.
func (e *adminEnv) call(method, path string, body any, out any) int {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	r, err := http.NewRequest(method, e.api.URL+AdminPrefix+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+adminTestToken)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: decoding %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode
}

// waiting waits until n requests of the server wait.
func (e *adminEnv) waiting(n int) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for e.srv.waiters.count() != n {
		if time.Now().After(deadline) {
			e.t.Fatalf("%d requests waiting, want %d", e.srv.waiters.count(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// setUp gives device d its folders and a synced Inbox with n mails and
// returns the Inbox's CollectionId and Sync key.
func (e *adminEnv) setUp(d *convDevice, n int) (inbox, key string) {
	e.t.Helper()
	for i := range n {
		if _, err := e.src.AddMessage(context.Background(), "inbox",
			[]byte(fmt.Sprintf("From: a@example.org\r\nSubject: m%d\r\n\r\nbody\r\n", i))); err != nil {
			e.t.Fatal(err)
		}
	}
	fs := d.folderSync("0")
	for _, a := range fs.Changes.Add {
		if a.Type == eas.FolderTypeInbox {
			inbox = a.ServerID
		}
	}
	c := d.sync(eas.SyncCollection{SyncKey: "0", CollectionID: inbox})[inbox]
	c = d.sync(eas.SyncCollection{SyncKey: c.SyncKey, CollectionID: inbox, GetChanges: new(true), WindowSize: 100})[inbox]
	adds := 0
	if c.Commands != nil {
		adds = len(c.Commands.Add)
	}
	if want := convCount(e.t, e.convEnv, "inbox"); adds != want {
		e.t.Fatalf("initial Sync = %+v, want %d Adds", c, want)
	}
	return inbox, c.SyncKey
}

// ping starts a Ping of folder, Class Email, and returns its answer
// channel.
func (d *convDevice) ping(folder string) <-chan []byte {
	ch := make(chan []byte, 1)
	body := mustMarshal(d.e.t, &eas.PingRequest{HeartbeatInterval: 300,
		Folders: &eas.PingFolders{Folder: []eas.PingFolder{{ID: folder, Class: "Email"}}}})
	go func() {
		code, b, err := d.send("Ping", body)
		if err != nil || code != http.StatusOK {
			b = []byte(fmt.Sprintf("HTTP %d %v", code, err))
		}
		ch <- b
	}()
	return ch
}

func receive(t *testing.T, ch <-chan []byte) []byte {
	t.Helper()
	select {
	case b := <-ch:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting request was not answered within 10 s of the action")
	}
	return nil
}

func TestAdminAPIAuth(t *testing.T) {
	e := newAdminEnv(t, Options{})
	trusted := httptest.NewServer(e.srv.AdminAPI(AdminOptions{Trusted: true}))
	defer trusted.Close()
	open := httptest.NewServer(e.srv.AdminAPI(AdminOptions{}))
	defer open.Close()
	for _, tt := range []struct {
		name, url, auth string
		want            int
	}{
		{"no token", e.api.URL, "", http.StatusUnauthorized},
		{"wrong token", e.api.URL, "Bearer nope", http.StatusUnauthorized},
		{"basic", e.api.URL, "Basic " + adminTestToken, http.StatusUnauthorized},
		{"token", e.api.URL, "Bearer " + adminTestToken, http.StatusOK},
		{"token, lower-case scheme", e.api.URL, "bearer " + adminTestToken, http.StatusOK},
		{"socket", trusted.URL, "", http.StatusOK},
		{"no token configured", open.URL, "Bearer ", http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := http.NewRequest("GET", tt.url+AdminPrefix+"devices", nil)
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("GET devices = %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

// TestAdminWipeEndsPing: a wipe reaches a phone waiting in Ping at once
// (140), and its Provision then carries the directive.
func TestAdminWipeEndsPing(t *testing.T) {
	e := newAdminEnv(t, Options{})
	d := e.device("wipeme", "iPhone", eas.V141)
	inbox, _ := e.setUp(d, 1)
	ch := d.ping(inbox)
	e.waiting(1)
	var res ActionResult
	if code := e.call("POST", "devices/wipeme/wipe", ActionRequest{By: "ops"}, &res); code != http.StatusOK {
		t.Fatalf("wipe = %d %+v", code, res)
	}
	b := receive(t, ch)
	if _, st := decodeStatus(t, b); st != int(eas.StatusRemoteWipeRequested) {
		t.Fatalf("Ping after the wipe: status %d, want 140", st)
	}
	var resp eas.ProvisionResponse
	d.do("Provision", &eas.ProvisionRequest{Policies: &eas.ProvisionPolicies{Policy: &eas.ProvisionPolicy{PolicyType: eas.PolicyTypeFor(d.v)}}}, &resp)
	if !resp.RemoteWipe {
		t.Fatalf("Provision after the wipe = %+v, want RemoteWipe", resp)
	}
	var dev DeviceJSON
	e.call("GET", "devices/wipeme", nil, &dev)
	if w := dev.Users[0].Wipe; w.State != "pending" || w.Kind != "full" || w.RequestedBy != "ops" {
		t.Errorf("wipe state = %+v", w)
	}
	// Cancel, and the device syncs again.
	if code := e.call("POST", "devices/wipeme/cancel-wipe", nil, nil); code != http.StatusOK {
		t.Fatalf("cancel-wipe = %d", code)
	}
	d.folderSync("0")
}

func TestAdminAccountWipeNeeds161(t *testing.T) {
	e := newAdminEnv(t, Options{})
	d := e.device("old", "Android", eas.V141)
	e.setUp(d, 0)
	var res map[string]string
	code := e.call("POST", "devices/old/account-wipe", nil, &res)
	if code != http.StatusConflict || !strings.Contains(res["error"], "16.1") {
		t.Errorf("account-wipe of a 14.1 device = %d %q, want 409 naming 16.1", code, res["error"])
	}
	d2 := e.device("new", "Android", eas.V161)
	e.setUp(d2, 0)
	if code := e.call("POST", "devices/new/account-wipe", nil, nil); code != http.StatusOK {
		t.Errorf("account-wipe of a 16.1 device = %d", code)
	}
}

// TestAdminBlock: a blocked device gets 129 (HTTP 403 before 14.0), also
// in its waiting Ping; a pending wipe still reaches it; allow lets it in.
func TestAdminBlock(t *testing.T) {
	e := newAdminEnv(t, Options{})
	d := e.device("blk", "Android", eas.V141)
	inbox, _ := e.setUp(d, 0)
	ch := d.ping(inbox)
	e.waiting(1)
	if code := e.call("POST", "devices/blk/block", nil, nil); code != http.StatusOK {
		t.Fatalf("block = %d", code)
	}
	if _, st := decodeStatus(t, receive(t, ch)); st != int(eas.StatusDeviceIsBlockedForThisUser) {
		t.Fatalf("waiting Ping after block: status %d, want 129", st)
	}
	code, b := d.post("FolderSync", mustMarshal(t, &eas.FolderSyncRequest{SyncKey: "0"}))
	if _, st := decodeStatus(t, b); code != http.StatusOK || st != int(eas.StatusDeviceIsBlockedForThisUser) {
		t.Errorf("FolderSync of a blocked device = %d, status %d; want 129", code, st)
	}
	old := e.device("blk", "Android", eas.V121)
	if code, _ := old.post("FolderSync", mustMarshal(t, &eas.FolderSyncRequest{SyncKey: "0"})); code != http.StatusForbidden {
		t.Errorf("FolderSync of a blocked 12.1 device = HTTP %d, want 403", code)
	}
	// A rule by type blocks too; the device's own allow rule wins.
	var rule RuleJSON
	if code := e.call("POST", "rules", RuleJSON{By: "type", Value: "android", Level: "quarantine"}, &rule); code != http.StatusOK {
		t.Fatalf("POST rules = %d", code)
	}
	if code := e.call("POST", "devices/blk/allow", nil, nil); code != http.StatusOK {
		t.Fatal("allow failed")
	}
	d.folderSync("0")
	if code := e.call("POST", "devices/blk/unblock", nil, nil); code != http.StatusOK {
		t.Fatal("unblock failed")
	}
	code, b = d.post("FolderSync", mustMarshal(t, &eas.FolderSyncRequest{SyncKey: "0"}))
	if _, st := decodeStatus(t, b); st != int(eas.StatusDeviceIsBlockedForThisUser) {
		t.Errorf("FolderSync of a quarantined device = %d, status %d; want 129", code, st)
	}
	// Quarantine still lets Settings through, for its DeviceInformation.
	var sr eas.SettingsResponse
	d.do("Settings", &eas.SettingsRequest{DeviceInformation: &eas.DeviceInformation{Set: &eas.DeviceInformationSet{Model: "Pixel 9"}}}, &sr)
	var list DeviceList
	e.call("GET", "devices?access=quarantine", nil, &list)
	if len(list.Devices) != 1 || list.Devices[0].Info == nil || list.Devices[0].Info.Model != "Pixel 9" {
		t.Errorf("quarantined devices = %+v", list.Devices)
	}
	// Blocked and wiped: the wipe is delivered.
	e.call("POST", "devices/blk/block", nil, nil)
	e.call("POST", "devices/blk/wipe", nil, nil)
	var pr eas.ProvisionResponse
	d.do("Provision", &eas.ProvisionRequest{Policies: &eas.ProvisionPolicies{Policy: &eas.ProvisionPolicy{PolicyType: eas.PolicyTypeFor(d.v)}}}, &pr)
	if !pr.RemoteWipe {
		t.Errorf("Provision of a blocked device with a wipe pending = %+v, want the wipe", pr)
	}
	if code := e.call("DELETE", "rules?by=type&value=ANDROID", nil, nil); code != http.StatusOK {
		t.Errorf("DELETE rule = %d", code)
	}
}

// TestAdminResync: a forced resync of one collection answers the waiting
// Ping with that collection, its old key with 3, and the resync sends every
// item once; a full one answers Ping 7 and FolderSync 9.
func TestAdminResync(t *testing.T) {
	e := newAdminEnv(t, Options{})
	d := e.device("rs", "iPhone", eas.V161)
	inbox, key := e.setUp(d, 3)
	ch := d.ping(inbox)
	e.waiting(1)
	if code := e.call("POST", "devices/rs/resync", ActionRequest{Collection: inbox}, nil); code != http.StatusOK {
		t.Fatalf("resync = %d", code)
	}
	var pr eas.PingResponse
	if err := eas.Unmarshal(receive(t, ch), &pr, nil); err != nil || pr.Status != eas.PingStatusChanges ||
		pr.Folders == nil || len(pr.Folders.Folder) != 1 || pr.Folders.Folder[0] != inbox {
		t.Fatalf("Ping after resync = %+v, %v; want status 2 for the inbox", pr, err)
	}
	c := d.sync(eas.SyncCollection{SyncKey: key, CollectionID: inbox})[inbox]
	if c.Status != eas.SyncStatusInvalidSyncKey {
		t.Fatalf("Sync with the old key = status %d, want 3", c.Status)
	}
	c = d.sync(eas.SyncCollection{SyncKey: "0", CollectionID: inbox})[inbox]
	c = d.sync(eas.SyncCollection{SyncKey: c.SyncKey, CollectionID: inbox, GetChanges: new(true), WindowSize: 100})[inbox]
	if c.Commands == nil || len(c.Commands.Add) != 3 {
		t.Fatalf("resync = %+v, want the 3 mails once", c)
	}
	var dev DeviceJSON
	e.call("GET", "devices/rs", nil, &dev)
	if u := dev.Users[0]; u.Resync != nil || len(u.Collections) != 1 || u.Collections[0].Items != 3 {
		t.Errorf("after the resync: %+v", u)
	}

	ch = d.ping(inbox)
	e.waiting(1)
	if code := e.call("POST", "devices/rs/resync", nil, nil); code != http.StatusOK {
		t.Fatal("full resync failed")
	}
	if err := eas.Unmarshal(receive(t, ch), &pr, nil); err != nil || pr.Status != eas.PingStatusFolderHierarchyChanged {
		t.Fatalf("Ping after a full resync = %+v, %v; want 7", pr, err)
	}
	var fr eas.FolderSyncResponse
	d.do("FolderSync", &eas.FolderSyncRequest{SyncKey: "1"}, &fr)
	if fr.Status != eas.FolderSyncStatusInvalidSyncKey {
		t.Errorf("FolderSync after a full resync = %d, want 9", fr.Status)
	}
	d.folderSync("0")
	e.call("GET", "devices/rs", nil, &dev)
	if dev.Users[0].Resync != nil {
		t.Errorf("resync still pending after FolderSync 0: %+v", dev.Users[0].Resync)
	}
}

func TestAdminReprovision(t *testing.T) {
	e := newAdminEnv(t, Options{Policy: Policy{Mode: PolicyForce}})
	d := e.device("prov", "iPhone", eas.V141)
	provision := func() {
		var r1, r2 eas.ProvisionResponse
		typ := eas.PolicyTypeFor(d.v)
		d.do("Provision", &eas.ProvisionRequest{Policies: &eas.ProvisionPolicies{Policy: &eas.ProvisionPolicy{PolicyType: typ}}}, &r1)
		d.do("Provision", &eas.ProvisionRequest{Policies: &eas.ProvisionPolicies{Policy: &eas.ProvisionPolicy{
			PolicyType: typ, PolicyKey: r1.Policies.Policy.PolicyKey, Status: eas.PolicyAckApplied}}}, &r2)
		var k uint64
		fmt.Sscan(r2.Policies.Policy.PolicyKey, &k)
		d.policyKey = uint32(k)
	}
	provision()
	e.setUp(d, 0)
	old := d.policyKey
	if code := e.call("POST", "devices/prov/reprovision", nil, nil); code != http.StatusOK {
		t.Fatalf("reprovision = %d", code)
	}
	code, b := d.post("FolderSync", mustMarshal(t, &eas.FolderSyncRequest{SyncKey: "0"}))
	if _, st := decodeStatus(t, b); code != http.StatusOK || st != int(eas.StatusInvalidPolicyKey) {
		t.Fatalf("FolderSync after reprovision = %d status %d, want 144", code, st)
	}
	provision()
	if d.policyKey == old {
		t.Error("the new policy key is the old one")
	}
	d.folderSync("0")
}

func TestAdminListShowRemove(t *testing.T) {
	e := newAdminEnv(t, Options{})
	a := e.device("phone-a", "iPhone", eas.V161)
	b := e.device("phone-b", "Android", eas.V141)
	e.setUp(a, 2)
	e.setUp(b, 0)
	var list DeviceList
	if code := e.call("GET", "devices?type=iphone", nil, &list); code != http.StatusOK || len(list.Devices) != 1 || list.Devices[0].ID != "phone-a" {
		t.Fatalf("GET devices?type=iphone = %d %+v", code, list)
	}
	if code := e.call("GET", "devices?limit=1", nil, &list); code != http.StatusOK || list.Next != "phone-a" {
		t.Fatalf("GET devices?limit=1 = %d %+v, want next phone-a", code, list)
	}
	e.call("GET", "devices?after=phone-a", nil, &list)
	if len(list.Devices) != 1 || list.Devices[0].ID != "phone-b" {
		t.Errorf("second page = %+v", list)
	}
	for _, bad := range []string{"devices?limit=0", "devices?seen_after=yesterday", "devices?wipe=maybe"} {
		var res map[string]string
		if code := e.call("GET", bad, nil, &res); code != http.StatusBadRequest || res["error"] == "" {
			t.Errorf("GET %s = %d %q, want 400 with a message", bad, code, res["error"])
		}
	}
	var dev DeviceJSON
	e.call("GET", "devices/phone-a", nil, &dev)
	if len(dev.Users) != 1 || dev.Users[0].User != convUser || len(dev.Users[0].Collections) != 1 ||
		dev.Users[0].Collections[0].Items != 2 || dev.Users[0].Collections[0].Folder != "inbox" {
		t.Errorf("show = %+v", dev)
	}
	if len(dev.Recent) < 3 || dev.Recent[0].Command != "Sync" {
		t.Errorf("recent requests = %+v, want the Syncs newest first", dev.Recent)
	}
	if code := e.call("POST", "devices/phone-a/explode", nil, nil); code != http.StatusNotFound {
		t.Errorf("unknown action = %d, want 404", code)
	}
	if code := e.call("DELETE", "devices/phone-a", nil, nil); code != http.StatusOK {
		t.Fatalf("DELETE = %d", code)
	}
	if code := e.call("GET", "devices/phone-a", nil, nil); code != http.StatusNotFound {
		t.Errorf("GET after DELETE = %d, want 404", code)
	}
}

func TestAdminTrace(t *testing.T) {
	e := newAdminEnv(t, Options{})
	d := e.device("tr", "iPhone", eas.V161)
	d.folderSync("0")
	if code := e.call("GET", "devices/tr/trace", nil, nil); code != http.StatusNotFound {
		t.Errorf("GET trace while off = %d, want 404", code)
	}
	if code := e.call("POST", "devices/tr/trace", ActionRequest{Minutes: 5, Max: 2}, nil); code != http.StatusOK {
		t.Fatalf("trace = %d", code)
	}
	var sr eas.SettingsResponse
	d.do("Settings", &eas.SettingsRequest{DevicePassword: &eas.DevicePasswordRequest{Set: &eas.DevicePasswordSet{Password: "hunter2"}}}, &sr)
	d.folderSync("0")
	d.folderSync("0")
	var out struct{ Entries []TraceEntry }
	if code := e.call("GET", "devices/tr/trace", nil, &out); code != http.StatusOK {
		t.Fatalf("GET trace = %d", code)
	}
	if len(out.Entries) != 2 || out.Entries[0].Command != "FolderSync" {
		t.Fatalf("trace entries = %+v, want the last 2 FolderSyncs", out.Entries)
	}
	en := out.Entries[1]
	if !strings.Contains(en.Request, "<FolderHierarchy:SyncKey>0</FolderHierarchy:SyncKey>") ||
		!strings.Contains(en.Response, "<FolderHierarchy:Status>1</FolderHierarchy:Status>") {
		t.Errorf("trace entry bodies:\n%s\n%s", en.Request, en.Response)
	}
	if en.Headers["MS-ASProtocolVersion"] != "16.1" {
		t.Errorf("headers = %v", en.Headers)
	}
	// The Settings exchange fell out; trace it again to see the password go.
	e.call("POST", "devices/tr/trace", ActionRequest{Max: 5}, nil)
	d.do("Settings", &eas.SettingsRequest{DevicePassword: &eas.DevicePasswordRequest{Set: &eas.DevicePasswordSet{Password: "hunter2"}}}, &sr)
	r, _ := http.NewRequest("GET", e.api.URL+AdminPrefix+"devices/tr/trace?format=text", nil)
	r.Header.Set("Authorization", "Bearer "+adminTestToken)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, secret := range []string{"hunter2", convPassword, "Authorization"} {
		if strings.Contains(string(text), secret) {
			t.Errorf("the trace holds %q:\n%s", secret, text)
		}
	}
	if !strings.Contains(string(text), "[removed]") || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("text trace (%s):\n%s", resp.Header.Get("Content-Disposition"), text)
	}
	// It ends by itself.
	e.srv.now = func() time.Time { return time.Now().Add(time.Hour) }
	if code := e.call("GET", "devices/tr/trace", nil, nil); code != http.StatusNotFound {
		t.Errorf("GET trace after it expired = %d, want 404", code)
	}
}

func TestTraceBounds(t *testing.T) {
	var ts traces
	now := time.Now()
	for i := range maxTraces + 3 {
		ts.start(fmt.Sprint("d", i), i+1, 0, now)
	}
	if len(ts.on) != maxTraces {
		t.Errorf("%d traces on, want at most %d", len(ts.on), maxTraces)
	}
	if _, ok := ts.on["d0"]; ok {
		t.Error("the trace expiring first was kept")
	}
	if st := ts.start("x", 100000, 1000, now); st.Max != DefaultTraceEntries || st.Until.Sub(now) != maxTraceDuration {
		t.Errorf("start beyond the bounds = %+v", st)
	}
	var c capBuf
	c.Write(bytes.Repeat([]byte("a"), traceBodyMax+10))
	if c.b.Len() != traceBodyMax || !c.truncated {
		t.Errorf("capBuf kept %d bytes, truncated %v", c.b.Len(), c.truncated)
	}
}
