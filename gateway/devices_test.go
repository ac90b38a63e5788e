package gateway

import (
	"context"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/internal/demo"
	"github.com/easgate/easgate/sources"
)

// devicesCase is one request captured from a device
// (eas/testdata/devices/PROVENANCE.md) and how easgate answers it.
type devicesCase struct {
	file     string
	versions []eas.ProtocolVersion
	cmd      eas.Command
	status   int // see devicesStatus; every capture is answered HTTP 200

	// folder is the store folder of the captured Sync or GetItemEstimate
	// collection, which the capture names by another server's
	// CollectionId and SyncKey. The capture is then replayed twice more:
	// with the folder's CollectionId (the foreign key: status keyStatus),
	// and with that CollectionId and a key from a real Sync 0 (status 1).
	folder    sources.FolderID
	keyStatus int

	// knownBug, when set, names an open bug that makes the server refuse
	// an item of the capture: the refusal is logged, not failed.
	knownBug string
}

var (
	devicesOld = []eas.ProtocolVersion{eas.V121, eas.V141} // clients of the 2.5/12.x era
	devices14  = []eas.ProtocolVersion{eas.V141}
)

// devicesCases lists every request of eas/testdata/devices; responses
// captured from Exchange are not replayed. The server has only the default
// folders (CollectionIds 1 to 10), so a CollectionId from another server
// is unknown: Sync and Ping answer that the hierarchy changed, and
// GetItemEstimate that the collection is invalid.
var devicesCases = []devicesCase{
	{file: "ios/iphone-provision-initial.wbxml", versions: devicesOld, cmd: eas.CmdProvision, status: int(eas.PolicyNotDefined)},
	{file: "ios/iphone-provision-acknowledge.wbxml", versions: devicesOld, cmd: eas.CmdProvision, status: int(eas.PolicySuccess)},
	{file: "ios/iphone-sync-email-synckey0.wbxml", versions: devicesOld, cmd: eas.CmdSync, status: int(eas.SyncStatusSuccess)},
	{file: "ios/iphone-sync-email-getchanges.wbxml", versions: devicesOld, cmd: eas.CmdSync, status: int(eas.SyncStatusInvalidSyncKey),
		folder: "inbox", keyStatus: int(eas.SyncStatusInvalidSyncKey)},
	{file: "ios/iphone-sync-email-getchanges-uuidkey.wbxml", versions: devicesOld, cmd: eas.CmdSync, status: int(eas.SyncStatusInvalidSyncKey),
		folder: "inbox", keyStatus: int(eas.SyncStatusInvalidSyncKey)},
	{file: "ios/ios-16x-sync-calendar-client-add-empty-reminder-recurrence.wbxml", versions: []eas.ProtocolVersion{eas.V161}, cmd: eas.CmdSync,
		status: int(eas.SyncStatusFolderHierarchyChanged), folder: "calendar", keyStatus: int(eas.SyncStatusInvalidSyncKey)},
	{file: "windows-mobile/wm61-foldersync.wbxml", versions: devicesOld, cmd: eas.CmdFolderSync, status: int(eas.FolderSyncStatusInvalidSyncKey)},
	{file: "windows-mobile/wm61-sync-email-getchanges.wbxml", versions: devicesOld, cmd: eas.CmdSync,
		status: int(eas.SyncStatusFolderHierarchyChanged), folder: "inbox", keyStatus: int(eas.SyncStatusInvalidSyncKey)},
	{file: "windows-mobile/wm61-sync-contacts-client-adds.wbxml", versions: devicesOld, cmd: eas.CmdSync,
		status: int(eas.SyncStatusFolderHierarchyChanged), folder: "contacts", keyStatus: int(eas.SyncStatusInvalidSyncKey)},
	{file: "windows-mobile/samsung-gt-b7330-settings-deviceinformation-1.wbxml", versions: devicesOld, cmd: eas.CmdSettings, status: int(eas.SettingsSuccess)},
	{file: "windows-mobile/samsung-gt-b7330-settings-deviceinformation-2.wbxml", versions: devicesOld, cmd: eas.CmdSettings, status: int(eas.SettingsSuccess)},
	{file: "nokia/nokia-e71-mfe-settings-deviceinformation.wbxml", versions: devicesOld, cmd: eas.CmdSettings, status: int(eas.SettingsSuccess)},
	{file: "unidentified-client/provision-acknowledge.wbxml", versions: devices14, cmd: eas.CmdProvision, status: int(eas.PolicySuccess)},
	{file: "unidentified-client/settings-userinformation-get.wbxml", versions: devices14, cmd: eas.CmdSettings, status: int(eas.SettingsSuccess)},
	{file: "unidentified-client/sync-contacts-client-add.wbxml", versions: devices14, cmd: eas.CmdSync,
		status: int(eas.SyncStatusFolderHierarchyChanged), folder: "contacts", keyStatus: int(eas.SyncStatusInvalidSyncKey)},
	{file: "unidentified-client/ping-heartbeat-120-six-folders.wbxml", versions: devices14, cmd: eas.CmdPing, status: int(eas.PingStatusFolderHierarchyChanged)},
	{file: "unidentified-client/foldersync-guid-synckey.wbxml", versions: devices14, cmd: eas.CmdFolderSync, status: int(eas.FolderSyncStatusInvalidSyncKey)},
	{file: "android/gmail-sm-m215f-settings-oof-set.wbxml", versions: devices14, cmd: eas.CmdSettings, status: int(eas.SettingsSuccess)},
	{file: "android/gmail-sm-m215f-settings-oof-get-text.wbxml", versions: devices14, cmd: eas.CmdSettings, status: int(eas.SettingsSuccess)},
	{file: "android/gmail-sm-m215f-foldersync-synckey0.wbxml", versions: devices14, cmd: eas.CmdFolderSync, status: int(eas.FolderSyncStatusSuccess)},
	{file: "android/android-search-gal-range-0-9.wbxml", versions: devices14, cmd: eas.CmdSearch, status: int(eas.SearchStatusSuccess)},
	{file: "android/android-search-gal-range-0-14-partial.wbxml", versions: devices14, cmd: eas.CmdSearch, status: int(eas.SearchStatusSuccess)},
	{file: "android/android-search-gal-range-0-14-full-address.wbxml", versions: devices14, cmd: eas.CmdSearch, status: int(eas.SearchStatusSuccess)},
	{file: "thunderbird-tbsync/tbsync-14.0-getitemestimate-contacts.wbxml", versions: []eas.ProtocolVersion{eas.V140}, cmd: eas.CmdGetItemEstimate,
		status: int(eas.GetItemEstimateStatusInvalidCollection), folder: "contacts", keyStatus: int(eas.GetItemEstimateStatusNotPrimed)},
}

// TestDeviceCaptureRequests replays every captured device request to a
// Server with the default folders and no policy, after the FolderSync the
// device would have run, and checks that each gets a valid answer of the
// expected status.
func TestDeviceCaptureRequests(t *testing.T) {
	listed := make(map[string]bool)
	for _, tc := range devicesCases {
		listed[tc.file] = true
		for _, v := range tc.versions {
			t.Run(tc.file+"/"+v.String(), func(t *testing.T) {
				body, err := os.ReadFile(filepath.Join("..", "eas", "testdata", "devices", tc.file))
				if err != nil {
					t.Fatal(err)
				}
				e := convServer(t, Options{})
				d := e.device("capdev1", path.Dir(tc.file), v)
				d.folderSync("0")
				if got := devicesReplay(d, tc.cmd, body, tc.knownBug); got != tc.status {
					t.Errorf("%s at %s: status %d, want %d", tc.file, v, got, tc.status)
				}
				if tc.folder == "" {
					return
				}
				cid := devicesCollection(d, tc.folder)
				if got := devicesReplay(d, tc.cmd, devicesRewrite(d, tc.cmd, body, cid, ""), tc.knownBug); got != tc.keyStatus {
					t.Errorf("%s at %s with CollectionId %s: status %d, want %d", tc.file, v, cid, got, tc.keyStatus)
				}
				key := d.sync(eas.SyncCollection{SyncKey: "0", CollectionID: cid})[cid].SyncKey
				if got := devicesReplay(d, tc.cmd, devicesRewrite(d, tc.cmd, body, cid, key), tc.knownBug); got != 1 {
					t.Errorf("%s at %s with CollectionId %s and SyncKey %s: status %d, want 1", tc.file, v, cid, key, got)
				}
				if tc.cmd != eas.CmdSync || tc.knownBug != "" {
					return
				}
				// The store holds the client's Adds.
				var req eas.SyncRequest
				if err := eas.Unmarshal(body, &req, nil); err != nil {
					t.Fatal(err)
				}
				if cmds := req.Collections.Collection[0].Commands; cmds != nil {
					if n := convCount(t, e, tc.folder); n != len(cmds.Add) {
						t.Errorf("%s at %s: the store holds %d items in %s, want the %d the client added", tc.file, v, n, tc.folder, len(cmds.Add))
					}
				}
			})
		}
	}
	// Every request capture is in the table; Exchange's responses are not.
	files, err := filepath.Glob(filepath.Join("..", "eas", "testdata", "devices", "*", "*.wbxml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := filepath.ToSlash(strings.TrimPrefix(f, filepath.Join("..", "eas", "testdata", "devices")+string(filepath.Separator)))
		if !listed[name] && !strings.Contains(name, "-responses/") {
			t.Errorf("capture %s is not replayed", name)
		}
	}
}

// devicesCollection returns the device's CollectionId of store folder f.
func devicesCollection(d *convDevice, f sources.FolderID) string {
	d.e.t.Helper()
	ids, err := d.e.state.CollectionIDs(context.Background(), d.account(), []string{string(f)})
	if err != nil {
		d.e.t.Fatal(err)
	}
	return ids[0]
}

// devicesClass is the class of the device's collection cid, from its
// store folder's kind.
func devicesClass(d *convDevice, cid string) string {
	t := d.e.t
	t.Helper()
	ctx := context.Background()
	id, err := d.e.state.FolderID(ctx, d.account(), cid)
	if err != nil {
		t.Fatalf("collection %s: %v", cid, err)
	}
	fd, err := d.e.src.Folders(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fd.Changed {
		if string(f.ID) == id {
			return classOf(f.Kind)
		}
	}
	t.Fatalf("collection %s is folder %s, which the store does not have", cid, id)
	return ""
}

// devicesRewrite decodes a captured Sync or GetItemEstimate request, names
// its one collection cid and, unless key is "", gives it key, and encodes
// it again.
func devicesRewrite(d *convDevice, cmd eas.Command, body []byte, cid, key string) []byte {
	t := d.e.t
	t.Helper()
	switch cmd {
	case eas.CmdSync:
		var req eas.SyncRequest
		if err := eas.Unmarshal(body, &req, nil); err != nil {
			t.Fatal(err)
		}
		c := &req.Collections.Collection[0]
		c.CollectionID = cid
		if key != "" {
			c.SyncKey = key
		}
		return mustMarshal(t, &req)
	case eas.CmdGetItemEstimate:
		var req eas.GetItemEstimateRequest
		if err := eas.Unmarshal(body, &req, nil); err != nil {
			t.Fatal(err)
		}
		c := &req.Collections.Collection[0]
		c.CollectionID = cid
		if key != "" {
			c.SyncKey = key
		}
		return mustMarshal(t, &req)
	}
	t.Fatalf("no rewrite for %s", cmd)
	return nil
}

// devicesReplay sends body as cmd, which must be answered HTTP 200 with a
// document of cmd's response type, and returns the status that says what
// happened: the collection's for Sync and GetItemEstimate, the policy's
// for Provision, the store's for Search, the command's otherwise. It
// checks the rest of the answer structurally; a refused client Add is only
// logged when knownBug explains it.
func devicesReplay(d *convDevice, cmd eas.Command, body []byte, knownBug string) int {
	t := d.e.t
	t.Helper()
	code, resp := d.post(cmd.String(), body)
	if code != http.StatusOK {
		t.Fatalf("%s = HTTP %d, want 200", cmd, code)
	}
	decode := func(v any) {
		t.Helper()
		if err := eas.Unmarshal(resp, v, nil); err != nil {
			t.Fatalf("decoding the %s response % x: %v", cmd, resp, err)
		}
	}
	switch cmd {
	case eas.CmdSync:
		var r eas.SyncResponse
		decode(&r)
		if r.Collections == nil || len(r.Collections.Collection) != 1 {
			t.Fatalf("Sync = %+v, want one collection", r)
		}
		c := r.Collections.Collection[0]
		if c.SyncKey == "" {
			t.Errorf("Sync collection %+v has no SyncKey", c)
		}
		if c.Commands != nil {
			// The server's items are valid at the version.
			class := devicesClass(d, c.CollectionID)
			for _, a := range c.Commands.Add {
				if err := convValidate(a.ApplicationData, class, d.v); err != nil {
					t.Errorf("Sync Add %s (%s) is invalid at %s: %v", a.ServerID, class, d.v, err)
				}
			}
			for _, ch := range c.Commands.Change {
				if err := convValidate(ch.ApplicationData, class, d.v); err != nil {
					t.Errorf("Sync Change %s (%s) is invalid at %s: %v", ch.ServerID, class, d.v, err)
				}
			}
		}
		if c.Status == eas.SyncStatusSuccess && c.Responses != nil {
			for _, a := range c.Responses.Add {
				switch {
				case a.Status == eas.SyncStatusSuccess && a.ServerID != "":
				case knownBug != "":
					t.Logf("known bug: %s: client Add %s answered %+v", knownBug, a.ClientID, a)
				default:
					t.Errorf("client Add %s answered %+v, want status 1 with a ServerId", a.ClientID, a)
				}
			}
			if n := len(c.Responses.Change) + len(c.Responses.Delete); n != 0 {
				t.Errorf("Sync reports %d failed changes or deletes: %+v", n, c.Responses)
			}
		}
		return int(c.Status)
	case eas.CmdFolderSync:
		var r eas.FolderSyncResponse
		decode(&r)
		if r.Status == eas.FolderSyncStatusSuccess && (r.Changes == nil || r.Changes.Count != len(r.Changes.Add) || r.SyncKey == "") {
			t.Errorf("FolderSync = %+v, want a key and the folders", r)
		}
		return int(r.Status)
	case eas.CmdProvision:
		var r eas.ProvisionResponse
		decode(&r)
		if r.Status != eas.ProvisionSuccess || r.Policies == nil || r.Policies.Policy == nil {
			t.Fatalf("Provision = %+v, want status 1 with a Policy", r)
		}
		return int(r.Policies.Policy.Status)
	case eas.CmdSettings:
		var r eas.SettingsResponse
		decode(&r)
		var req eas.SettingsRequest
		if err := eas.Unmarshal(body, &req, nil); err != nil {
			t.Fatal(err)
		}
		// Each section asked for is answered, with status 1.
		ok := func(asked bool, answered bool, st eas.SettingsStatus, name string) {
			if asked && (!answered || st != eas.SettingsSuccess) {
				t.Errorf("Settings %s: answered %t with status %d, want status 1", name, answered, st)
			}
		}
		if req.Oof != nil {
			ok(true, r.Oof != nil, orZero(r.Oof, func(o *eas.OofResponse) eas.SettingsStatus { return o.Status }), "Oof")
			if req.Oof.Get != nil && (r.Oof == nil || r.Oof.Get == nil) {
				t.Errorf("Settings Oof Get answered %+v, want the settings", r.Oof)
			}
		}
		if req.DeviceInformation != nil {
			ok(true, r.DeviceInformation != nil, orZero(r.DeviceInformation, func(o *eas.SettingsResult) eas.SettingsStatus { return o.Status }), "DeviceInformation")
		}
		if req.UserInformation != nil {
			ok(true, r.UserInformation != nil, orZero(r.UserInformation, func(o *eas.UserInformationResponse) eas.SettingsStatus { return o.Status }), "UserInformation")
			if r.UserInformation != nil && r.UserInformation.Get == nil {
				t.Errorf("Settings UserInformation = %+v, want Get", r.UserInformation)
			}
		}
		return int(r.Status)
	case eas.CmdPing:
		var r eas.PingResponse
		decode(&r)
		return int(r.Status)
	case eas.CmdSearch:
		var r eas.SearchResponse
		decode(&r)
		if r.Status != eas.SearchStatusSuccess || r.Response == nil {
			t.Fatalf("Search = %+v, want status 1 with a Response", r)
		}
		return int(r.Response.Store.Status)
	case eas.CmdGetItemEstimate:
		var r eas.GetItemEstimateResponse
		decode(&r)
		if len(r.Response) != 1 {
			t.Fatalf("GetItemEstimate = %+v, want one Response", r)
		}
		if g := r.Response[0]; g.Status == eas.GetItemEstimateStatusSuccess && (g.Collection == nil || g.Collection.Estimate < 0) {
			t.Errorf("GetItemEstimate = %+v, want an estimate", g)
		}
		return int(r.Response[0].Status)
	}
	t.Fatalf("no check for %s", cmd)
	return 0
}

// orZero returns f(p), or zero for a nil p.
func orZero[T any, R any](p *T, f func(*T) R) R {
	var zero R
	if p == nil {
		return zero
	}
	return f(p)
}

// devicesDemoTypes lists, per Ping class, the EAS folder types whose
// folders a captured Ping's folders of that class are mapped to, in order.
var devicesDemoTypes = map[string][]eas.FolderType{
	"Email":    {eas.FolderTypeInbox, eas.FolderTypeSentItems, eas.FolderTypeDrafts, eas.FolderTypeDeletedItems, eas.FolderTypeOutbox, eas.FolderTypeUserMail},
	"Calendar": {eas.FolderTypeCalendar, eas.FolderTypeUserCalendar},
	"Contacts": {eas.FolderTypeContacts, eas.FolderTypeUserContacts},
	"Tasks":    {eas.FolderTypeTasks, eas.FolderTypeUserTasks},
	"Notes":    {eas.FolderTypeNotes, eas.FolderTypeUserNotes},
}

// TestDeviceCapturesOnDemo replays every captured device request to the
// demo mailbox, served as easgate demo serves it (internal/demo, policy
// allow, mail domain example.com), after the steps the device would have
// taken first, with the capture's ids replaced by those the demo gave:
// the policy key of an acknowledgement by the key of a first Provision,
// the hierarchy key by the demo's, a collection's CollectionId by the
// demo's folder of its class and its SyncKey by the demo's, a Ping's
// folders by the demo's of their class (and its heartbeat by one second).
// Each answer must decode, its items validate at the version, and its
// status be success.
func TestDeviceCapturesOnDemo(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)
	for _, tc := range devicesCases {
		for _, v := range tc.versions {
			t.Run(tc.file+"/"+v.String(), func(t *testing.T) {
				body, err := os.ReadFile(filepath.Join("..", "eas", "testdata", "devices", tc.file))
				if err != nil {
					t.Fatal(err)
				}
				e := convServer(t, Options{Policy: Policy{Mode: PolicyAllow}, MailDomain: "example.com", Limits: Limits{MinHeartbeat: time.Second}})
				if err := demo.Populate(context.Background(), e.store, convUser, now, 1); err != nil {
					t.Fatal(err)
				}
				d := e.device("demodev1", path.Dir(tc.file), v)
				fs := d.folderSync("0")
				body = devicesOnDemo(d, tc, body, fs)
				st := devicesReplay(d, tc.cmd, body, tc.knownBug)
				ok := st == 1 || tc.cmd == eas.CmdPing && st == int(eas.PingStatusChanges)
				if !ok {
					t.Errorf("%s at %s on the demo: status %d, want success", tc.file, v, st)
				}
			})
		}
	}
}

// devicesOnDemo rewrites a captured request's ids into the demo's, running
// the requests the device would have sent before it.
func devicesOnDemo(d *convDevice, tc devicesCase, body []byte, fs *eas.FolderSyncResponse) []byte {
	t := d.e.t
	t.Helper()
	byType := map[eas.FolderType][]string{}
	for _, f := range fs.Changes.Add {
		byType[f.Type] = append(byType[f.Type], f.ServerID)
	}
	switch tc.cmd {
	case eas.CmdProvision:
		var req eas.ProvisionRequest
		if err := eas.Unmarshal(body, &req, nil); err != nil {
			t.Fatal(err)
		}
		if !req.IsAcknowledgement() {
			return body
		}
		first := eas.ProvisionRequest{Policies: &eas.ProvisionPolicies{Policy: &eas.ProvisionPolicy{PolicyType: req.Policies.Policy.PolicyType}}}
		var resp eas.ProvisionResponse
		d.do("Provision", &first, &resp)
		if resp.Policies == nil || resp.Policies.Policy == nil || resp.Policies.Policy.PolicyKey == "" {
			t.Fatalf("first Provision = %+v, want a temporary key", resp)
		}
		req.Policies.Policy.PolicyKey = resp.Policies.Policy.PolicyKey
		return mustMarshal(t, &req)
	case eas.CmdFolderSync:
		var req eas.FolderSyncRequest
		if err := eas.Unmarshal(body, &req, nil); err != nil {
			t.Fatal(err)
		}
		if req.SyncKey != "0" {
			req.SyncKey = fs.SyncKey
		}
		return mustMarshal(t, &req)
	case eas.CmdSync, eas.CmdGetItemEstimate:
		folder := tc.folder
		if folder == "" {
			folder = "inbox" // the one capture without a folder syncs mail
		}
		cid := devicesCollection(d, folder)
		key := d.sync(eas.SyncCollection{SyncKey: "0", CollectionID: cid})[cid].SyncKey
		if tc.cmd == eas.CmdSync {
			var req eas.SyncRequest
			if err := eas.Unmarshal(body, &req, nil); err != nil {
				t.Fatal(err)
			}
			if req.Collections.Collection[0].SyncKey == "0" {
				key = "0"
			}
		}
		return devicesRewrite(d, tc.cmd, body, cid, key)
	case eas.CmdPing:
		var req eas.PingRequest
		if err := eas.Unmarshal(body, &req, nil); err != nil {
			t.Fatal(err)
		}
		used := map[string]int{}
		var keep []eas.PingFolder
		for _, f := range req.Folders.Folder {
			var cids []string
			for _, ty := range devicesDemoTypes[f.Class] {
				cids = append(cids, byType[ty]...)
			}
			if used[f.Class] >= len(cids) {
				continue // more folders of the class than the demo has
			}
			f.ID = cids[used[f.Class]]
			used[f.Class]++
			keep = append(keep, f)
			// A Ping watches folders the device has synced.
			d.sync(eas.SyncCollection{SyncKey: "0", CollectionID: f.ID})
		}
		req.Folders.Folder, req.HeartbeatInterval = keep, 1
		return mustMarshal(t, &req)
	}
	return body
}
