package gateway

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources/memory"
	"github.com/easgate/easgate/statecache"
)

// TestStateMovesToPostgres moves a single node's state from Badger into
// PostgreSQL in the middle of a phone's paged initial Sync, as an operator
// does with easgate state export and import: the phone goes on with the
// keys it holds against the node on PostgreSQL, without a resync, gets
// every mail exactly once, replays a lost response, and sees a new mail.
func TestStateMovesToPostgres(t *testing.T) {
	ctx := context.Background()
	const mails = 40
	store := memory.New(nil)
	src := store.User("alice")
	if err := syncBenchFill(src, mails, false); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	badger, err := statecache.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	serve := func(st *statecache.Store) *httptest.Server {
		srv, err := New(&Options{Backend: syncBackend{store}, State: st})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv)
		t.Cleanup(ts.Close)
		return ts
	}
	type phone struct {
		key  string
		seen map[string]bool // ServerIds received
	}
	p := &phone{seen: map[string]bool{}}
	sync := func(ts *httptest.Server, key, cid string) (eas.SyncResponseCollection, []byte) {
		t.Helper()
		hr, err := syncBenchRequest(ts.URL, "phone1", eas.SyncCollection{SyncKey: key, CollectionID: cid, WindowSize: 10})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("Sync(%s) = HTTP %d", key, resp.StatusCode)
		}
		c, err := syncBenchOne(buf.Bytes())
		if err != nil {
			t.Fatalf("Sync(%s): %v (status 3 would be a resync)", key, err)
		}
		return c, buf.Bytes()
	}
	take := func(c eas.SyncResponseCollection) {
		t.Helper()
		if c.Commands == nil {
			return
		}
		for _, a := range c.Commands.Add {
			if p.seen[a.ServerID] {
				t.Errorf("ServerId %s sent twice", a.ServerID)
			}
			p.seen[a.ServerID] = true
		}
	}

	// On Badger: the hierarchy, key 0 and three windows of ten.
	ids, err := syncBenchHierarchy(ctx, badger, statecache.Account{User: "alice", Device: "phone1"}, src)
	if err != nil {
		t.Fatal(err)
	}
	cid := ids["inbox"]
	ts1 := serve(badger)
	c, _ := sync(ts1, "0", cid)
	p.key = c.SyncKey
	var prevKey string
	var lastBody []byte
	for range 3 {
		prevKey = p.key
		c, lastBody = sync(ts1, p.key, cid)
		take(c)
		p.key = c.SyncKey
	}
	if len(p.seen) != 30 || !c.MoreAvailable {
		t.Fatalf("after three windows on Badger: %d mails, more %v; want 30 and more", len(p.seen), c.MoreAvailable)
	}
	ts1.Close()
	var dump bytes.Buffer
	n, err := badger.Export(ctx, &dump)
	if err != nil {
		t.Fatal(err)
	}
	if err := badger.Close(); err != nil {
		t.Fatal(err)
	}

	// Into PostgreSQL, and a node on it.
	pg := testserver.StartPostgres(t)
	shared, err := statecache.OpenPostgres(ctx, pg.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shared.Close() })
	if got, err := shared.Import(ctx, &dump, nil); err != nil || got != n {
		t.Fatalf("Import = %d, %v, want %d records", got, err, n)
	}
	ts2 := serve(shared)

	// The phone lost the last response: its previous key gets the same
	// window again, from PostgreSQL.
	_, again := sync(ts2, prevKey, cid)
	if !bytes.Equal(again, lastBody) {
		t.Errorf("the previous key's window from PostgreSQL differs from the one Badger sent")
	}
	// It goes on with its key to the end of the mailbox.
	for {
		c, _ = sync(ts2, p.key, cid)
		take(c)
		p.key = c.SyncKey
		if !c.MoreAvailable {
			break
		}
	}
	if len(p.seen) != mails {
		t.Errorf("the phone holds %d mails, want %d", len(p.seen), mails)
	}
	// A new mail arrives once.
	if _, err := src.AddMessage(ctx, "inbox", syncBenchMail(mails, false)); err != nil {
		t.Fatal(err)
	}
	c, _ = sync(ts2, p.key, cid)
	if c.Commands == nil || len(c.Commands.Add) != 1 {
		t.Fatalf("Sync after a new mail = %+v, want one Add", c.Commands)
	}
	take(c)
	if len(p.seen) != mails+1 {
		t.Errorf("the phone holds %d mails, want %d", len(p.seen), mails+1)
	}
}
