package gateway

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/memory"
	"github.com/easgate/easgate/statecache"
)

// folderSyncVersions are the protocol versions the hierarchy commands are
// tested at: the oldest, the last of each generation and the newest.
var folderSyncVersions = []string{"2.5", "12.0", "12.1", "14.0", "14.1", "16.0", "16.1"}

// folderSyncBackend logs testUser into one memory store user.
type folderSyncBackend struct{ src sources.Source }

func (b folderSyncBackend) Login(_ context.Context, user, password string) (sources.Source, error) {
	if user == testUser && password == testPassword {
		return b.src, nil
	}
	return nil, fmt.Errorf("bad credentials: %w", sources.ErrAuth)
}

// folderSyncEnv is one device speaking one protocol version to a Server
// with a real memory store and an in-memory statecache.
type folderSyncEnv struct {
	t       *testing.T
	s       *Server
	state   *statecache.Store
	src     *memory.Source
	version string
}

func newFolderSyncEnv(t *testing.T, version string) *folderSyncEnv {
	t.Helper()
	st, err := statecache.Open("", &statecache.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	src := memory.New(nil).User("alice")
	s := newTestServer(t, &Options{Backend: folderSyncBackend{src}, State: st}, nil)
	return &folderSyncEnv{t: t, s: s, state: st, src: src, version: version}
}

// account is the statecache account of the test device.
func (e *folderSyncEnv) account() statecache.Account {
	return statecache.Account{User: testUser, Device: "dev01"}
}

// postRaw sends a WBXML body as command cmd and returns the response body,
// failing unless the HTTP status is 200.
func (e *folderSyncEnv) postRaw(cmd string, body []byte) []byte {
	e.t.Helper()
	w := post(e.s, Path+plainQuery+cmd, body, "MS-ASProtocolVersion", e.version)
	if w.Code != http.StatusOK {
		e.t.Fatalf("%s at %s: HTTP %d, want 200", cmd, e.version, w.Code)
	}
	return w.Body.Bytes()
}

// do sends req as command cmd and decodes the response into resp.
func (e *folderSyncEnv) do(cmd string, req, resp any) {
	e.t.Helper()
	body := e.postRaw(cmd, mustMarshal(e.t, req))
	if err := eas.Unmarshal(body, resp, nil); err != nil {
		e.t.Fatalf("%s at %s: decoding response % x: %v", cmd, e.version, body, err)
	}
}

func (e *folderSyncEnv) folderSync(key string) *eas.FolderSyncResponse {
	e.t.Helper()
	var resp eas.FolderSyncResponse
	e.do("FolderSync", &eas.FolderSyncRequest{SyncKey: key}, &resp)
	return &resp
}

// mustFolderSync runs a FolderSync that must succeed, checks its Count and
// returns the response.
func (e *folderSyncEnv) mustFolderSync(key string) *eas.FolderSyncResponse {
	e.t.Helper()
	resp := e.folderSync(key)
	if resp.Status != eas.FolderSyncStatusSuccess || resp.SyncKey == "" || resp.Changes == nil {
		e.t.Fatalf("FolderSync(%q) = %+v, want status 1, a key and Changes", key, resp)
	}
	c := resp.Changes
	if n := len(c.Add) + len(c.Update) + len(c.Delete); c.Count != n {
		e.t.Fatalf("FolderSync(%q): Count %d, want %d", key, c.Count, n)
	}
	return resp
}

// folderSyncByName indexes folders by display name.
func folderSyncByName(fs []eas.FolderSyncFolder) map[string]eas.FolderSyncFolder {
	m := make(map[string]eas.FolderSyncFolder, len(fs))
	for _, f := range fs {
		m[f.DisplayName] = f
	}
	return m
}

func TestFolderSyncInitial(t *testing.T) {
	want := map[string]eas.FolderType{
		"Inbox": eas.FolderTypeInbox, "Drafts": eas.FolderTypeDrafts, "Deleted Items": eas.FolderTypeDeletedItems,
		"Sent Items": eas.FolderTypeSentItems, "Outbox": eas.FolderTypeOutbox, "Tasks": eas.FolderTypeTasks,
		"Calendar": eas.FolderTypeCalendar, "Contacts": eas.FolderTypeContacts, "Notes": eas.FolderTypeNotes,
		"Journal": eas.FolderTypeJournal,
	}
	for _, v := range folderSyncVersions {
		t.Run(v, func(t *testing.T) {
			e := newFolderSyncEnv(t, v)
			resp := e.mustFolderSync("0")
			got := make(map[string]eas.FolderType)
			ids := make(map[string]bool)
			for _, f := range resp.Changes.Add {
				got[f.DisplayName] = f.Type
				if f.ParentID != rootID || f.ServerID == "" || ids[f.ServerID] {
					t.Errorf("Add %+v: want a new ServerId under %q", f, rootID)
				}
				ids[f.ServerID] = true
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("FolderSync(0) types = %v, want %v", got, want)
			}

			again := e.mustFolderSync(resp.SyncKey)
			if again.SyncKey != resp.SyncKey || again.Changes.Count != 0 {
				t.Errorf("FolderSync(%q) without changes = %+v, want the same key and Count 0", resp.SyncKey, again)
			}

			// A reset keeps the CollectionIds (MS-ASCMD 3.1.5.3).
			reset := e.mustFolderSync("0")
			if !reflect.DeepEqual(folderSyncByName(reset.Changes.Add), folderSyncByName(resp.Changes.Add)) {
				t.Errorf("second FolderSync(0) = %+v, want %+v", reset.Changes.Add, resp.Changes.Add)
			}
			if reset.SyncKey == resp.SyncKey {
				t.Errorf("second FolderSync(0) kept key %q", reset.SyncKey)
			}
		})
	}
}

// TestFolderSyncIncremental changes the store behind the device's back and
// checks that each FolderSync reports exactly those changes, that a lost
// response comes again for the previous key and that older keys get 9.
func TestFolderSyncIncremental(t *testing.T) {
	ctx := context.Background()
	for _, v := range folderSyncVersions {
		t.Run(v, func(t *testing.T) {
			e := newFolderSyncEnv(t, v)
			first := e.mustFolderSync("0")
			inbox := folderSyncByName(first.Changes.Add)["Inbox"].ServerID

			// Created elsewhere, the child's id sorting before its parent's.
			parent, err := e.src.CreateFolder(ctx, "inbox", "Projects", sources.KindUserMail)
			if err != nil {
				t.Fatal(err)
			}
			child, err := e.src.CreateFolder(ctx, parent, "2024", sources.KindUserMail)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.src.CreateFolder(ctx, "", "Birthdays", sources.KindUserCalendar); err != nil {
				t.Fatal(err)
			}
			second := e.mustFolderSync(first.SyncKey)
			adds := second.Changes.Add
			if len(adds) != 3 || len(second.Changes.Update)+len(second.Changes.Delete) != 0 {
				t.Fatalf("FolderSync after three creations = %+v, want three Adds", second.Changes)
			}
			byName := folderSyncByName(adds)
			p, c := byName["Projects"], byName["2024"]
			switch {
			case p.ParentID != inbox || p.Type != eas.FolderTypeUserMail:
				t.Errorf("Add Projects = %+v, want under Inbox %q, type 12", p, inbox)
			case c.ParentID != p.ServerID:
				t.Errorf("Add 2024 = %+v, want under Projects %q", c, p.ServerID)
			case byName["Birthdays"].Type != eas.FolderTypeUserCalendar || byName["Birthdays"].ParentID != rootID:
				t.Errorf("Add Birthdays = %+v, want type 13 at the top", byName["Birthdays"])
			}
			if slices.IndexFunc(adds, func(f eas.FolderSyncFolder) bool { return f.DisplayName == "2024" }) <
				slices.IndexFunc(adds, func(f eas.FolderSyncFolder) bool { return f.DisplayName == "Projects" }) {
				t.Errorf("Adds %+v: 2024 comes before its parent", adds)
			}

			// The response was lost: the previous key gets it again.
			if lost := e.mustFolderSync(first.SyncKey); !reflect.DeepEqual(lost, second) {
				t.Errorf("FolderSync(previous key) = %+v, want %+v", lost, second)
			}

			if err := e.src.RenameFolder(ctx, child, "", "2025"); err != nil {
				t.Fatal(err)
			}
			if err := e.src.DeleteFolder(ctx, parent); err != nil {
				t.Fatal(err)
			}
			third := e.mustFolderSync(second.SyncKey)
			wantChanges := &eas.FolderChanges{
				Count:  2,
				Update: []eas.FolderSyncFolder{{ServerID: c.ServerID, ParentID: rootID, DisplayName: "2025", Type: eas.FolderTypeUserMail}},
				Delete: []eas.FolderSyncDelete{{ServerID: p.ServerID}},
			}
			if !reflect.DeepEqual(third.Changes, wantChanges) {
				t.Errorf("FolderSync after a move and a delete = %+v, want %+v", third.Changes, wantChanges)
			}

			for _, stale := range []string{first.SyncKey, "{8a5c2f61-0d7e-4b1a-9c3e-5f6a7b8c9d0e}1", "7"} {
				if got := e.folderSync(stale); got.Status != eas.FolderSyncStatusInvalidSyncKey {
					t.Errorf("FolderSync(%q) = %+v, want status 9", stale, got)
				}
			}
			if _, err := e.state.FolderID(ctx, e.account(), p.ServerID); err != nil {
				t.Errorf("deleted folder unmapped before the device confirmed: %v", err)
			}
			e.mustFolderSync(third.SyncKey)
			if _, err := e.state.FolderID(ctx, e.account(), p.ServerID); err == nil {
				t.Errorf("deleted folder %q still mapped after the device moved past its key", p.ServerID)
			}
		})
	}
}

// TestFolderSyncExpiredState checks that a store state that expired does
// not send the device back to SyncKey 0: the hierarchy is diffed in full.
func TestFolderSyncExpiredState(t *testing.T) {
	ctx := context.Background()
	e := newFolderSyncEnv(t, "14.1")
	old, err := e.src.CreateFolder(ctx, "", "Old", sources.KindUserMail)
	if err != nil {
		t.Fatal(err)
	}
	first := e.mustFolderSync("0")
	oldID := folderSyncByName(first.Changes.Add)["Old"].ServerID
	if _, err := e.src.CreateFolder(ctx, "", "Travel", sources.KindUserMail); err != nil {
		t.Fatal(err)
	}
	if err := e.src.DeleteFolder(ctx, old); err != nil {
		t.Fatal(err)
	}
	e.src.ExpireStates()
	got := e.mustFolderSync(first.SyncKey).Changes
	if len(got.Add) != 1 || got.Add[0].DisplayName != "Travel" || !reflect.DeepEqual(got.Delete, []eas.FolderSyncDelete{{ServerID: oldID}}) {
		t.Errorf("FolderSync after the store state expired = %+v, want Add Travel and Delete %q", got, oldID)
	}
}

// TestFolderSyncDeviceCaptures replays FolderSync requests captured from
// devices (eas/testdata/devices/PROVENANCE.md).
func TestFolderSyncDeviceCaptures(t *testing.T) {
	tests := []struct {
		file    string
		version string
		want    eas.FolderSyncStatus
	}{
		{"android/gmail-sm-m215f-foldersync-synckey0.wbxml", "14.1", eas.FolderSyncStatusSuccess},
		// Keys this server never issued: the device starts over.
		{"windows-mobile/wm61-foldersync.wbxml", "12.1", eas.FolderSyncStatusInvalidSyncKey},
		{"unidentified-client/foldersync-guid-synckey.wbxml", "2.5", eas.FolderSyncStatusInvalidSyncKey},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body := folderSyncCapture(t, tt.file)
			e := newFolderSyncEnv(t, tt.version)
			var resp eas.FolderSyncResponse
			if err := eas.Unmarshal(e.postRaw("FolderSync", body), &resp, nil); err != nil {
				t.Fatal(err)
			}
			if resp.Status != tt.want {
				t.Errorf("FolderSync(%s) status = %d, want %d", tt.file, resp.Status, tt.want)
			}
			if tt.want == eas.FolderSyncStatusSuccess && (resp.Changes == nil || resp.Changes.Count != 10) {
				t.Errorf("FolderSync(%s) changes = %+v, want the 10 folders", tt.file, resp.Changes)
			}
		})
	}
}

// folderSyncCapture reads a device capture from eas/testdata/devices.
func folderSyncCapture(t *testing.T, file string) []byte {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("..", "eas", "testdata", "devices", file))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func TestFolderTypeKinds(t *testing.T) {
	for k := sources.KindUserMail; k <= sources.KindUserJournal; k++ {
		typ := folderType(k)
		if typ == eas.FolderTypeUnknown {
			t.Errorf("folderType(%s) = 18, want a named type", k)
		}
		if back, ok := folderKind(typ); ok && back != k {
			t.Errorf("folderKind(folderType(%s)) = %s", k, back)
		}
	}
	if got := folderType(sources.FolderKind(99)); got != eas.FolderTypeUnknown {
		t.Errorf("folderType(99) = %d, want 18", got)
	}
}
