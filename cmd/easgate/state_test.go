package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/statecache"
)

// TestStateCommands moves a Badger state into PostgreSQL with easgate
// state export and import, after state version and migrate, and checks
// that the sync key a phone holds is there.
func TestStateCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := statecache.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := statecache.Account{User: "alice", Device: "phone1"}
	if err := st.Seen(ctx, a, statecache.Visit{Type: "iPhone", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	ck := statecache.CollectionKey{Account: a, Collection: "1"}
	k0, err := st.Advance(ctx, ck, statecache.InitialKey, statecache.SyncState{State: "s0"})
	if err != nil {
		t.Fatal(err)
	}
	key, err := st.Advance(ctx, ck, k0, statecache.SyncState{State: "s1", Window: []statecache.Change{{Op: statecache.OpAdd, ItemID: "m1"}}})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	cli := func(args ...string) (string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := run(ctx, args, strings.NewReader(""), &out, &errOut)
		return out.String() + errOut.String(), err
	}
	file := filepath.Join(t.TempDir(), "state.easgate")
	if out, err := cli("state", "export", "-dir", dir, "-o", file); err != nil || !strings.Contains(out, "exported") {
		t.Fatalf("state export = %q, %v", out, err)
	}
	if _, err := cli("state", "export", "-dir", dir, "-o", file); err == nil {
		t.Error("state export over an existing file succeeded")
	}

	url := testserver.StartPostgres(t).URL
	if out, err := cli("state", "version", "-url", url); err != nil || !strings.HasPrefix(out, "schema version 0;") {
		t.Errorf("state version on an empty database = %q, %v", out, err)
	}
	if out, err := cli("state", "migrate", "-url", url); err != nil || !strings.Contains(out, "0 →") {
		t.Errorf("state migrate = %q, %v", out, err)
	}
	if out, err := cli("state", "migrate", "-url", url); err != nil || !strings.Contains(out, "up to date") {
		t.Errorf("state migrate again = %q, %v", out, err)
	}
	if out, err := cli("state", "import", "-url", url, "-i", file); err != nil || !strings.Contains(out, "imported") {
		t.Fatalf("state import = %q, %v", out, err)
	}
	if out, err := cli("state", "import", "-url", url, "-i", file); err == nil {
		t.Errorf("state import into a full state = %q, want an error", out)
	}
	if out, err := cli("state", "import", "-url", url, "-i", file, "-overwrite"); err != nil {
		t.Errorf("state import -overwrite = %q, %v", out, err)
	}
	pg, err := statecache.OpenPostgres(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	if got, state, err := pg.CurrentState(ctx, ck); err != nil || got != key || state != "s1" {
		t.Errorf("CurrentState on PostgreSQL = %s, %q, %v; want %s, s1", got, state, err, key)
	}

	var ee *exitError
	if _, err := cli("state", "export"); !errors.As(err, &ee) || ee.code != 2 {
		t.Errorf("state export without a state = %v, want a usage error", err)
	}
	if _, err := cli("state", "migrate", "-dir", dir); !errors.As(err, &ee) || ee.code != 2 {
		t.Errorf("state migrate of a Badger directory = %v, want a usage error", err)
	}
}
