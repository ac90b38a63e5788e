package gateway

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

func TestAccountCacheLRUAndIdle(t *testing.T) {
	now := time.Unix(0, 0)
	c := newAccountCache[string, int](2, time.Minute, func() time.Time { return now })
	c.put("a", 1)
	c.put("b", 2)
	if _, ok := c.get("a"); !ok { // a is now the most recently used
		t.Fatal("get(a) after put: missing")
	}
	c.put("c", 3) // full: b goes
	if _, ok := c.get("b"); ok {
		t.Error("get(b): the least recently used entry was kept past the bound")
	}
	for _, k := range []string{"a", "c"} {
		if _, ok := c.get(k); !ok {
			t.Errorf("get(%s): missing", k)
		}
	}
	now = now.Add(2 * time.Minute)
	if _, ok := c.get("a"); ok || c.len() != 0 {
		t.Errorf("after the idle time: get(a) ok=%v, len %d; want forgotten, 0", ok, c.len())
	}
	c.put("d", 4)
	c.update("d", func(v int, ok bool) (int, bool) { return v, false })
	if c.len() != 0 {
		t.Errorf("update returning false kept the entry: len %d", c.len())
	}
}

// TestAccountsBound fills every per-account cache with 100,000 distinct
// accounts, as many phones would over a day, and checks that each keeps
// at most MaxAccounts entries and that the heap stays bounded. (The last
// Sync and Ping and the SendMail ids live in the state: statecache bounds
// them per account.)
func TestAccountsBound(t *testing.T) {
	const accounts, bound = 100_000, 1_000
	s := &Server{now: time.Now, limits: Limits{MaxAccounts: bound}.withDefaults()}
	s.accounts = newAccounts(s.limits, s.now)
	folders := &cachedFolders{at: time.Now(), byID: map[sources.FolderID]sources.Folder{"INBOX": {ID: "INBOX", Kind: sources.KindInbox}}}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	var afterBound uint64
	for i := range accounts {
		user := fmt.Sprintf("user%06d@example.org", i)
		a := statecache.Account{User: user, Device: fmt.Sprintf("device%06d", i)}
		s.folders.put(user, folders)
		s.syncLocks.lock(a)()
		if i == 2*bound {
			afterBound = heap()
		}
	}
	after := heap()
	for name, n := range map[string]int{"folders": s.folders.len()} {
		if n != bound {
			t.Errorf("%s holds %d entries after %d accounts, want the bound %d", name, n, accounts, bound)
		}
	}
	if n := s.syncLocks.len(); n != 0 {
		t.Errorf("account locks hold %d entries with no lock held, want 0", n)
	}
	grew := int64(after) - int64(before)
	t.Logf("%d accounts, bound %d: heap %d KB before, %d KB at %d accounts, %d KB after (growth %d KB)",
		accounts, bound, before>>10, afterBound>>10, 2*bound, after>>10, grew>>10)
	// The caches hold the same number of entries at 2,000 accounts and at
	// 100,000: the heap must not grow with the accounts seen.
	if int64(after)-int64(afterBound) > 4<<20 {
		t.Errorf("heap grew %d KB between %d and %d accounts; the caches are not bounded", (after-afterBound)>>10, 2*bound, accounts)
	}
}

// TestAccountLockHeldAcrossChurn checks that an account's lock is never
// dropped while held, however many other accounts come and go: a second
// Sync of the account still waits for the first.
func TestAccountLockHeldAcrossChurn(t *testing.T) {
	var l accountLocks
	a := statecache.Account{User: "alice", Device: "phone1"}
	unlock := l.lock(a)
	for i := range 100_000 {
		l.lock(statecache.Account{User: fmt.Sprint("u", i), Device: "d"})()
	}
	got := make(chan struct{})
	go func() {
		l.lock(a)()
		close(got)
	}()
	// The second lock must wait: the map still holds alice's held lock.
	deadline := time.Now().Add(5 * time.Second)
	for {
		l.mu.Lock()
		waiting := l.m[a] != nil && l.m[a].users == 2
		l.mu.Unlock()
		if waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second lock of alice never queued behind the first")
		}
		runtime.Gosched()
	}
	select {
	case <-got:
		t.Fatal("a second lock of alice was granted while the first was held")
	default:
	}
	unlock()
	<-got
	if n := l.len(); n != 0 {
		t.Errorf("%d lock entries left, want 0", n)
	}
}

// TestSyncForgottenAnswers13 checks the spec's answer when a device's last
// Sync is not kept (it was too large): an empty Sync gets status 13 and the
// device sends its request in full (MS-ASCMD 2.2.3.177.17).
func TestSyncForgottenAnswers13(t *testing.T) {
	e := newSyncEnv(t, "14.1")
	inbox := e.ids["inbox"]
	c := e.sync1(eas.SyncCollection{SyncKey: "0", CollectionID: inbox})
	if c.Status != eas.SyncStatusSuccess {
		t.Fatalf("first Sync: status %d", c.Status)
	}
	if resp := e.post(nil); resp != nil && resp.Status == eas.SyncStatusIncompleteRequest {
		t.Fatalf("empty Sync with the last one kept = status 13, want it answered from the state")
	}
	a := statecache.Account{User: "alice", Device: "phone1"}
	if err := e.srv.state.RememberRequest(context.Background(), a, "Sync", make([]byte, statecache.MaxRequestSize+1)); err != nil {
		t.Fatal(err)
	}
	resp := e.post(nil)
	if resp == nil || resp.Status != eas.SyncStatusIncompleteRequest {
		t.Errorf("empty Sync after its cache entry was forgotten = %+v, want status 13", resp)
	}
	// The full request works again.
	if c := e.sync1(eas.SyncCollection{SyncKey: c.SyncKey, CollectionID: inbox}); c.Status != eas.SyncStatusSuccess {
		t.Errorf("full Sync after status 13: status %d", c.Status)
	}
}
