package statecache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
)

var discard = slog.New(slog.DiscardHandler)

// TestSharedStores opens two Stores on one database, as two easgate nodes
// do: what one writes, the other sees at once, and their Advances race as
// one store's would.
func TestSharedStores(t *testing.T) {
	ctx := context.Background()
	url := pgDatabase(t)
	n1, n2 := newPGStore(t, url), newPGStore(t, url)
	if n1.PostgresURL() != url {
		t.Errorf("PostgresURL = %q, want %q", n1.PostgresURL(), url)
	}
	a := inbox.Account
	if err := n1.Seen(ctx, a, Visit{Type: "iPhone", UserAgent: "Apple-iPhone9C1/1402.100", ProtocolVersion: "16.1", At: t0}); err != nil {
		t.Fatal(err)
	}

	// Provisioning on one node, the key checked on the other.
	tmp, err := n1.IssuePolicyKey(ctx, a, t0)
	if err != nil {
		t.Fatal(err)
	}
	final, err := n2.AcknowledgePolicyKey(ctx, a, tmp, t0)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := n1.CheckPolicyKey(ctx, a, final); !ok || err != nil {
		t.Fatalf("CheckPolicyKey(final) on the other node = %v, %v", ok, err)
	}
	if err := n2.ResetPolicy(ctx, a); err != nil {
		t.Fatal(err)
	}
	if ok, err := n1.CheckPolicyKey(ctx, a, final); ok || err != nil {
		t.Fatalf("CheckPolicyKey after a reset on the other node = %v, %v, want false", ok, err)
	}

	// A wipe requested on one node is what the other answers with.
	if err := n2.RequestWipe(ctx, a, WipeFull, "admin", t0); err != nil {
		t.Fatal(err)
	}
	info, err := n1.Account(ctx, a)
	if err != nil || info.Wipe.State() != "pending" || info.Wipe.Kind != WipeFull {
		t.Fatalf("Account on the other node after RequestWipe = %+v, %v", info, err)
	}
	if n, err := n1.PendingWipes(ctx); n != 1 || err != nil {
		t.Errorf("PendingWipes on the other node = %d, %v, want 1", n, err)
	}
	if err := n1.AcknowledgeWipe(ctx, a, t0); err != nil {
		t.Fatal(err)
	}
	if err := n2.CancelWipe(ctx, a); !errors.Is(err, ErrWipeAcknowledged) {
		t.Errorf("CancelWipe after the other node's acknowledgement = %v, want ErrWipeAcknowledged", err)
	}

	// A block set on one node decides on the other.
	if err := n1.SetAccessRule(ctx, AccessRule{By: ByDeviceID, Value: a.Device, Level: AccessBlock, CreatedBy: "admin", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if rule, ok, err := n2.DeviceAccess(ctx, a.Device); !ok || err != nil || rule.Level != AccessBlock {
		t.Errorf("DeviceAccess on the other node = %+v, %v, %v, want block", rule, ok, err)
	}

	// The same key presented to both nodes at once: one winner.
	_, key := start(t, n1)
	for trial := range 10 {
		var (
			wg   sync.WaitGroup
			gate = make(chan struct{})
			keys [2]SyncKey
			errs [2]error
		)
		for i, s := range []*Store{n1, n2} {
			wg.Go(func() {
				<-gate
				keys[i], errs[i] = s.Advance(ctx, inbox, key, SyncState{State: fmt.Sprint(trial, i), Window: []Change{{Op: OpAdd, ItemID: fmt.Sprint("m", trial, i)}}})
			})
		}
		close(gate)
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, ErrRetryPrevious):
				t.Fatalf("trial %d: %v", trial, err)
			}
		}
		if won != 1 || keys[0] != keys[1] {
			t.Fatalf("trial %d: %d winners, keys %q, want one and the same key", trial, won, keys)
		}
		key = keys[0]
	}

	// A resync forced on one node invalidates the key on the other.
	if err := n2.ForceResync(ctx, a, inbox.Collection); err != nil {
		t.Fatal(err)
	}
	if _, err := n1.Advance(ctx, inbox, key, SyncState{}); !errors.Is(err, ErrSyncKeyMismatch) {
		t.Errorf("Advance after a resync forced on the other node = %v, want ErrSyncKeyMismatch", err)
	}
}

// TestMigrateFromFirstVersion writes a state under schema version 1, then
// opens it with this version: the migrations after 1 run once, the state
// is intact, and a database newer than the program is refused.
func TestMigrateFromFirstVersion(t *testing.T) {
	ctx := context.Background()
	url := pgDatabase(t)
	e, err := openPG(ctx, url, 2)
	if err != nil {
		t.Fatal(err)
	}
	if from, err := migrate(ctx, e.pool, 1, discard); err != nil || from != 0 {
		t.Fatalf("migrate to 1 = %d, %v", from, err)
	}
	v1, err := wrapEngine(e, discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := fillDevice(ctx, v1, 7, []string{"INBOX"}, []string{"m1", "m2"}); err != nil {
		t.Fatal(err)
	}
	a := Account{User: "user7@example.org", Device: "device-7"}
	ck := CollectionKey{Account: a, Collection: "1"}
	key, _, err := v1.CurrentState(ctx, ck)
	if err != nil {
		t.Fatal(err)
	}
	v1.Close()

	// Two nodes start at once on the old schema.
	var (
		wg     sync.WaitGroup
		stores [2]*Store
		errs   [2]error
	)
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = OpenPostgres(ctx, url, nil) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("OpenPostgres %d on schema 1: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	s := stores[0]
	if cur, latest, err := SchemaVersion(ctx, url); err != nil || cur != latest || latest < 2 {
		t.Fatalf("SchemaVersion = %d, %d, %v, want the latest (at least 2)", cur, latest, err)
	}
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, `SELECT version FROM easgate_schema ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil || !slices.Equal(versions, []int{1, 2, 3, 4}) {
		t.Errorf("schema history = %v, %v, want each version once", versions, err)
	}
	var opts []string
	if err := c.QueryRow(ctx, `SELECT coalesce(reloptions, '{}') FROM pg_class WHERE oid = 'easgate_kv'::regclass`).Scan(&opts); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(opts, "fillfactor=80") {
		t.Errorf("easgate_kv options = %q, want version 2's fillfactor=80", opts)
	}
	// The phone goes on with the key it got under version 1.
	if _, err := s.Advance(ctx, ck, key, SyncState{State: "s2"}); err != nil {
		t.Errorf("Advance with the key from schema 1: %v", err)
	}
	if sids, err := s.ServerIDs(ctx, ck, []string{"m2"}); err != nil || sids[0] != "1:2" {
		t.Errorf("ServerIDs after the migration = %q, %v, want 1:2", sids, err)
	}

	if _, err := c.Exec(ctx, `INSERT INTO easgate_schema (version, what) VALUES (99, 'from the future')`); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenPostgres(ctx, url, nil); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("OpenPostgres on a newer schema = %v, want a refusal", err)
	}
}

// TestPostgresUnavailable checks that a database that cannot be reached
// is reported as ErrUnavailable, which the gateway answers with a retry
// status.
func TestPostgresUnavailable(t *testing.T) {
	ctx := context.Background()
	pg := sharedPG.Get(t)
	s := newPGStore(t, pgDatabase(t)+"&application_name=easgate_unavailable_test")
	if err := s.Seen(ctx, inbox.Account, Visit{At: t0}); err != nil {
		t.Fatal(err)
	}
	// End every session of this database: the pool's connections break.
	c, err := pgx.Connect(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'easgate_unavailable_test'`); err != nil {
		t.Fatal(err)
	}
	// The first use of a dead connection fails retryably or succeeds on a
	// fresh one; it never returns a non-temporary error.
	_, err = s.Account(ctx, inbox.Account)
	var tmp interface{ Temporary() bool }
	if err != nil && !(errors.As(err, &tmp) && tmp.Temporary() && errors.Is(err, ErrUnavailable)) {
		t.Errorf("Account on a terminated connection = %v, want success or ErrUnavailable", err)
	}
	if _, err := s.Account(ctx, inbox.Account); err != nil {
		t.Errorf("Account after reconnecting = %v", err)
	}
	bad, err := OpenPostgres(ctx, "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", nil)
	if err == nil {
		bad.Close()
		t.Fatal("OpenPostgres on a closed port succeeded")
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("OpenPostgres on a closed port = %v, want ErrUnavailable", err)
	}
}
