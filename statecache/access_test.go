package statecache

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestAccessRules(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a := Account{User: "alice", Device: "ApplF17XXXX"}
	if err := s.Seen(ctx, a, Visit{Type: "iPhone", UserAgent: "Apple-iPhone9C1/1402.100", ProtocolVersion: "14.1", At: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDeviceInfo(ctx, a.Device, DeviceInfo{Model: "iPhone9C1"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []AccessRule{
		{By: "imei", Value: "1", Level: AccessBlock},
		{By: ByType, Value: "", Level: AccessBlock},
		{By: ByType, Value: "iPhone"},
	} {
		if err := s.SetAccessRule(ctx, bad); !errors.Is(err, ErrBadRule) {
			t.Errorf("SetAccessRule(%+v) = %v, want ErrBadRule", bad, err)
		}
	}
	steps := []struct {
		rule AccessRule
		want AccessLevel // the device's level after the rule is set
		by   Characteristic
	}{
		{AccessRule{By: ByType, Value: "IPHONE", Level: AccessQuarantine}, AccessQuarantine, ByType},
		{AccessRule{By: ByModel, Value: "iphone9c1", Level: AccessAllow}, AccessAllow, ByModel},
		{AccessRule{By: ByUserAgent, Value: "apple-iphone9c1/1402.100", Level: AccessBlock}, AccessBlock, ByUserAgent},
		{AccessRule{By: ByDeviceID, Value: "applf17xxxx", Level: AccessBlock}, AccessBlock, ByUserAgent}, // ids are exact
		{AccessRule{By: ByDeviceID, Value: a.Device, Level: AccessAllow}, AccessAllow, ByDeviceID},
	}
	for _, st := range steps {
		if err := s.SetAccessRule(ctx, st.rule); err != nil {
			t.Fatal(err)
		}
		got, ok, err := s.DeviceAccess(ctx, a.Device)
		if err != nil || !ok || got.Level != st.want || got.By != st.by {
			t.Errorf("after %+v: DeviceAccess = %+v, %v, %v; want %s by %s", st.rule, got, ok, err, st.want, st.by)
		}
	}
	rules, err := s.AccessRules(ctx)
	if err != nil || len(rules) != len(steps) || rules[0].By != ByDeviceID || rules[len(rules)-1].By != ByType {
		t.Errorf("AccessRules = %+v, %v", rules, err)
	}
	if rules[len(rules)-1].Value != "IPHONE" {
		t.Errorf("rule value = %q, want it as written", rules[len(rules)-1].Value)
	}
	if err := s.DeleteAccessRule(ctx, ByDeviceID, a.Device); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccessRule(ctx, ByDeviceID, a.Device); !errors.Is(err, ErrNotFound) {
		t.Errorf("second DeleteAccessRule = %v, want ErrNotFound", err)
	}
	if got, _, _ := s.DeviceAccess(ctx, a.Device); got.Level != AccessBlock {
		t.Errorf("after delete: level %s, want block by user agent", got.Level)
	}
	// A device never seen is matched by id only.
	if _, ok, err := s.DeviceAccess(ctx, "unknown"); ok || err != nil {
		t.Errorf("DeviceAccess(unknown) = %v, %v", ok, err)
	}
}

// syncedAccount gives a an account with a hierarchy and collection "1"
// holding n items.
func syncedAccount(t *testing.T, s *Store, a Account, n int) (hier, coll SyncKey) {
	t.Helper()
	ctx := context.Background()
	if err := s.Seen(ctx, a, Visit{Type: "Android", ProtocolVersion: "16.1", At: t0}); err != nil {
		t.Fatal(err)
	}
	hier, err := s.AdvanceHierarchy(ctx, a, InitialKey, SyncState{State: "h1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CollectionIDs(ctx, a, []string{"inbox"}); err != nil {
		t.Fatal(err)
	}
	ck := CollectionKey{Account: a, Collection: "1"}
	if _, err := s.Advance(ctx, ck, InitialKey, SyncState{State: "s0"}); err != nil {
		t.Fatal(err)
	}
	k, _, _ := s.CurrentState(ctx, ck)
	var win []Change
	for i := range n {
		win = append(win, Change{Op: OpAdd, ItemID: string(rune('a' + i))})
	}
	coll, err = s.Advance(ctx, ck, k, SyncState{State: "s1", Window: win})
	if err != nil {
		t.Fatal(err)
	}
	return hier, coll
}

func TestForceResync(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a := Account{User: "alice", Device: "dev1"}
	hier, coll := syncedAccount(t, s, a, 3)
	ck := CollectionKey{Account: a, Collection: "1"}

	cols, err := s.Collections(ctx, a)
	want := []CollectionInfo{{ID: "1", FolderID: "inbox", Items: 3, SyncKey: coll}}
	if err != nil || !reflect.DeepEqual(cols, want) {
		t.Fatalf("Collections = %+v, %v; want %+v", cols, err, want)
	}
	if err := s.ForceResync(ctx, a, "9"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ForceResync of an unknown collection = %v, want ErrNotFound", err)
	}
	if err := s.ForceResync(ctx, Account{User: "bob", Device: "dev1"}, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("ForceResync of an unknown account = %v, want ErrNotFound", err)
	}

	// One collection: its key stops matching, the hierarchy's does not.
	if err := s.ForceResync(ctx, a, "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Position(ctx, ck, coll); !errors.Is(err, ErrSyncKeyMismatch) {
		t.Errorf("Position with the old key = %v, want ErrSyncKeyMismatch", err)
	}
	if _, err := s.HierarchyPosition(ctx, a, hier); err != nil {
		t.Errorf("HierarchyPosition = %v, want the key still valid", err)
	}
	info, _ := s.Account(ctx, a)
	if !reflect.DeepEqual(info.Resync, Resync{Collections: []string{"1"}}) {
		t.Errorf("Resync = %+v, want collection 1", info.Resync)
	}
	if _, err := s.Advance(ctx, ck, InitialKey, SyncState{State: "s0"}); err != nil {
		t.Fatal(err)
	}
	if info, _ := s.Account(ctx, a); info.Resync.Pending() {
		t.Errorf("after Sync 0: Resync = %+v, want none", info.Resync)
	}
	if cols, _ := s.Collections(ctx, a); len(cols) != 1 || cols[0].Items != 0 {
		t.Errorf("after Sync 0: Collections = %+v, want an empty map", cols)
	}

	// Everything: both keys stop matching until FolderSync 0.
	k, _, _ := s.CurrentState(ctx, ck)
	if err := s.ForceResync(ctx, a, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Position(ctx, ck, k); !errors.Is(err, ErrSyncKeyMismatch) {
		t.Errorf("Position after a full resync = %v, want ErrSyncKeyMismatch", err)
	}
	if _, err := s.HierarchyPosition(ctx, a, hier); !errors.Is(err, ErrSyncKeyMismatch) {
		t.Errorf("HierarchyPosition after a full resync = %v, want ErrSyncKeyMismatch", err)
	}
	if info, _ := s.Account(ctx, a); !info.Resync.Hierarchy {
		t.Errorf("Resync = %+v, want the hierarchy", info.Resync)
	}
	if _, err := s.AdvanceHierarchy(ctx, a, InitialKey, SyncState{State: "h2"}); err != nil {
		t.Fatal(err)
	}
	if info, _ := s.Account(ctx, a); info.Resync.Pending() {
		t.Errorf("after FolderSync 0: Resync = %+v", info.Resync)
	}
	if id, err := s.FolderID(ctx, a, "1"); err != nil || id != "inbox" {
		t.Errorf("FolderID after the reset = %q, %v; CollectionIds must survive", id, err)
	}
}

func TestResetPolicy(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a := Account{User: "alice", Device: "dev1"}
	syncedAccount(t, s, a, 0)
	temp, _ := s.IssuePolicyKey(ctx, a, t0)
	final, err := s.AcknowledgePolicyKey(ctx, a, temp, t0)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.CheckPolicyKey(ctx, a, final); !ok {
		t.Fatal("final key refused before the reset")
	}
	if err := s.ResetPolicy(ctx, a); err != nil {
		t.Fatal(err)
	}
	for _, k := range []uint32{temp, final} {
		if ok, _ := s.CheckPolicyKey(ctx, a, k); ok {
			t.Errorf("key %d accepted after ResetPolicy", k)
		}
	}
	if info, _ := s.Account(ctx, a); info.Policy.State() != "none" {
		t.Errorf("policy state %q, want none", info.Policy.State())
	}
}

func TestListDevices(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	seen := func(user, dev, typ, proto string, at time.Time) {
		if err := s.Seen(ctx, Account{User: user, Device: dev}, Visit{Type: typ, ProtocolVersion: proto, At: at}); err != nil {
			t.Fatal(err)
		}
	}
	seen("alice", "a1", "iPhone", "16.1", t0)
	seen("alice", "a22", "Android", "14.1", t0.Add(time.Hour))
	seen("bob", "a22", "Android", "14.1", t0.Add(time.Hour))
	seen("bob", "b3", "iPhone", "14.1", t0.Add(2*time.Hour))
	if err := s.RequestWipe(ctx, Account{User: "bob", Device: "b3"}, WipeFull, "admin", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAccessRule(ctx, AccessRule{By: ByType, Value: "android", Level: AccessBlock}); err != nil {
		t.Fatal(err)
	}
	ids := func(f DeviceFilter) []string {
		es, _, err := s.ListDevices(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	for _, tt := range []struct {
		name string
		f    DeviceFilter
		want []string
	}{
		{"all", DeviceFilter{}, []string{"a1", "a22", "b3"}},
		{"user", DeviceFilter{User: "alice"}, []string{"a1", "a22"}},
		{"type", DeviceFilter{Type: "IPHONE"}, []string{"a1", "b3"}},
		{"protocol", DeviceFilter{Protocol: "14.1"}, []string{"a22", "b3"}},
		{"seen after", DeviceFilter{SeenAfter: t0.Add(time.Hour)}, []string{"a22", "b3"}},
		{"seen before", DeviceFilter{SeenBefore: t0.Add(time.Hour)}, []string{"a1"}},
		{"wipe pending", DeviceFilter{Wipe: "pending"}, []string{"b3"}},
		{"policy none", DeviceFilter{Policy: "none"}, []string{"a1", "a22", "b3"}},
		{"blocked", DeviceFilter{Access: "block"}, []string{"a22"}},
		{"default access", DeviceFilter{Access: "default"}, []string{"a1", "b3"}},
		{"search", DeviceFilter{Search: "BOB"}, []string{"a22", "b3"}},
		{"page", DeviceFilter{After: "a1", Limit: 1}, []string{"a22"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := ids(tt.f); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ListDevices(%+v) = %q, want %q", tt.f, got, tt.want)
			}
		})
	}
	_, more, _ := s.ListDevices(ctx, DeviceFilter{Limit: 2})
	if !more {
		t.Error("ListDevices with limit 2 of 3: more = false")
	}
	e, err := s.DeviceEntry(ctx, "a22")
	if err != nil || len(e.Accounts) != 2 || e.Access == nil || e.Access.Level != AccessBlock {
		t.Errorf("DeviceEntry(a22) = %+v, %v", e, err)
	}
}

func TestUserPrefs(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	if p, err := s.UserPrefs(ctx, "alice"); err != nil || len(p.Hidden) != 0 {
		t.Fatalf("UserPrefs before any = %+v, %v", p, err)
	}
	if err := s.SetUserPrefs(ctx, "alice", UserPrefs{Hidden: []string{"cal/b", "cal/a", "cal/b"}}); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.UserPrefs(ctx, "alice"); !reflect.DeepEqual(p.Hidden, []string{"cal/a", "cal/b"}) {
		t.Errorf("Hidden = %q", p.Hidden)
	}
	if p, _ := s.UserPrefs(ctx, "bob"); len(p.Hidden) != 0 {
		t.Errorf("bob's prefs = %+v", p)
	}
	if err := s.SetUserPrefs(ctx, "alice", UserPrefs{}); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.UserPrefs(ctx, "alice"); len(p.Hidden) != 0 {
		t.Errorf("after clearing: %+v", p)
	}
}

// TestMailboxAccounts checks the index of accounts by folded mailbox
// name: filled by Seen, moved when the fold changes, emptied by
// DeleteAccount.
func TestMailboxAccounts(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	now := time.Now()
	seen := func(user, dev, mailbox string) {
		t.Helper()
		if err := s.Seen(ctx, Account{User: user, Device: dev}, Visit{Type: "iPhone", At: now, Mailbox: mailbox}); err != nil {
			t.Fatal(err)
		}
	}
	seen("alice", "d1", "alice@example.com")
	seen(`CORP\Alice`, "d2", "alice@example.com")
	seen("bob", "d3", "bob@example.com")
	seen("carol", "d4", "") // a caller that does not fold: not indexed
	want := []Account{{User: `CORP\Alice`, Device: "d2"}, {User: "alice", Device: "d1"}}
	if got, err := s.MailboxAccounts(ctx, "alice@example.com"); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("MailboxAccounts(alice) = %v, %v; want %v", got, err, want)
	}
	// Within seenGranularity, a new fold is still written.
	seen(`CORP\Alice`, "d2", "alice@corp.example")
	if got, _ := s.MailboxAccounts(ctx, "alice@example.com"); !reflect.DeepEqual(got, want[1:]) {
		t.Errorf("after the refold: %v, want %v", got, want[1:])
	}
	if got, _ := s.MailboxAccounts(ctx, "alice@corp.example"); len(got) != 1 || got[0].Device != "d2" {
		t.Errorf("under the new fold: %v", got)
	}
	if err := s.DeleteAccount(ctx, Account{User: "alice", Device: "d1"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.MailboxAccounts(ctx, "alice@example.com"); len(got) != 0 {
		t.Errorf("after DeleteAccount: %v, want none", got)
	}
	if got, _ := s.MailboxAccounts(ctx, ""); len(got) != 0 {
		t.Errorf("the empty mailbox lists %v", got)
	}
}

// TestNoteQuarantine checks that a quarantine is noted once, and again
// for a quarantine that began later.
func TestNoteQuarantine(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a := Account{User: "alice", Device: "d1"}
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	if _, err := s.NoteQuarantine(ctx, a, t0, t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("NoteQuarantine of no account = %v, want ErrNotFound", err)
	}
	if err := s.Seen(ctx, a, Visit{Type: "iPhone", At: t0}); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		since, at time.Time
		want      bool
	}{
		{t0, t0.Add(time.Minute), true},
		{t0, t0.Add(2 * time.Minute), false},                  // the same quarantine
		{t0.Add(time.Minute), t0.Add(3 * time.Minute), false}, // began when it was told
		{t0.Add(time.Hour), t0.Add(2 * time.Hour), true},      // a new one
		{t0.Add(time.Hour), t0.Add(3 * time.Hour), false},
	} {
		if got, err := s.NoteQuarantine(ctx, a, tc.since, tc.at); err != nil || got != tc.want {
			t.Errorf("%d: NoteQuarantine(since %v) = %v, %v; want %v", i, tc.since, got, err, tc.want)
		}
	}
}
