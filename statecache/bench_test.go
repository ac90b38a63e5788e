package statecache

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BenchmarkAdvanceParallel measures durable advances per second with
// eight devices advancing at once, each its own collection, on both
// backends: the figure issue 13 sets a floor for (500/s on PostgreSQL).
// Each advance is what a window of new mail costs: 100 Adds given
// ServerIds (200 id map entries) and the window stored, in one
// transaction, fsynced. The database and the benchmark share the machine.
//
//	go test ./statecache -run '^$' -bench AdvanceParallel -benchtime 5s
func BenchmarkAdvanceParallel(b *testing.B) {
	sharedPG.Get(b) // started before any timing
	for _, backend := range []string{"badger", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			var (
				s      *Store
				engine func() time.Duration // CPU the database has used so far
			)
			if backend == "badger" {
				var err error
				if s, err = Open(b.TempDir(), nil); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
			} else {
				s = newPGStore(b, pgDatabase(b))
				engine = func() time.Duration { return clusterCPU(b, sharedPG.Get(b).Dir) }
				if stats := startStatements(b); stats != nil {
					defer stats()
				}
			}
			benchAdvanceParallel(b, s, 8, 100, shortIDs, engine)
		})
	}
	// The same on PostgreSQL with ids as long as real ones: a mailbox
	// name of 24 characters, a device id of 32 hex digits, and JMAP-like
	// item ids of 26 characters (IMAP's "uidvalidity.uid" are shorter).
	b.Run("postgres-longids", func(b *testing.B) {
		s := newPGStore(b, pgDatabase(b))
		engine := func() time.Duration { return clusterCPU(b, sharedPG.Get(b).Dir) }
		if stats := startStatements(b); stats != nil {
			defer stats()
		}
		benchAdvanceParallel(b, s, 8, 100, longIDs, engine)
	})
}

// idShape names a benchmark's account and item ids.
type idShape struct {
	user, device func(dev int64) string
	item         func(n, i int) string
}

var (
	shortIDs = idShape{
		user:   func(dev int64) string { return fmt.Sprint("user", dev) },
		device: func(dev int64) string { return fmt.Sprint("device-", dev) },
		item:   func(n, i int) string { return fmt.Sprintf("M%d-%d", n, i) },
	}
	longIDs = idShape{
		user:   func(dev int64) string { return fmt.Sprintf("firstname.lastname%05d@example.org", dev)[:24] },
		device: func(dev int64) string { return fmt.Sprintf("%032X", 0x5c3fa1d2e5b74c60+dev) },
		item:   func(n, i int) string { return fmt.Sprintf("M%013x%012x", n*1000+i, 0xa1b2c3d4e5) },
	}
)

// benchAdvanceParallel also reports the CPU time per advance of this
// process and, when engine is not nil, of the database: unlike advances/s
// on a shared machine, these do not depend on what else runs.
func benchAdvanceParallel(b *testing.B, s *Store, devices, window int, ids idShape, engine func() time.Duration) {
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism((devices + 1) / 2) // GOMAXPROCS is 2 here: 8 goroutines
	b.ReportAllocs()
	b.ResetTimer()
	t0, c0 := time.Now(), processCPU()
	var e0 time.Duration
	if engine != nil {
		e0 = engine()
	}
	b.RunParallel(func(pb *testing.PB) {
		dev := next.Add(1)
		ck := CollectionKey{Account: Account{User: ids.user(dev), Device: ids.device(dev)}, Collection: "5"}
		key, err := s.Advance(ctx, ck, InitialKey, SyncState{State: "0"})
		if err != nil {
			b.Error(err)
			return
		}
		win := make([]Change, window)
		for n := 0; pb.Next(); n++ {
			for i := range win {
				win[i] = Change{Op: OpAdd, ItemID: ids.item(n, i)}
			}
			if key, err = s.Advance(ctx, ck, key, SyncState{State: fmt.Sprint(n), Window: win}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "advances/s")
	b.ReportMetric(float64(processCPU()-c0)/float64(time.Millisecond)/float64(b.N), "client-cpu-ms/advance")
	if engine != nil {
		b.ReportMetric(float64(engine()-e0)/float64(time.Millisecond)/float64(b.N), "db-cpu-ms/advance")
	}
}

// startStatements resets pg_stat_statements when the cluster has it
// loaded, which it has when the benchmark runs with
//
//	POSTGRES_OPTS='-c shared_preload_libraries=pg_stat_statements'
//
// and returns a function that reports what the database did per advance:
// statements (BEGIN and COMMIT aside), shared buffers touched, WAL
// records and bytes. These count work rather than time it, so, unlike the
// CPU figures, they come out the same on a busy machine. Without the
// module it returns nil.
func startStatements(b *testing.B) func() {
	ctx := context.Background()
	c, err := pgx.Connect(ctx, sharedPG.Get(b).URL)
	if err != nil {
		b.Fatal(err)
	}
	var loaded bool
	if err := c.QueryRow(ctx, `SELECT current_setting('shared_preload_libraries') ~ 'pg_stat_statements'`).Scan(&loaded); err != nil || !loaded {
		c.Close(ctx)
		return nil
	}
	if _, err := c.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Exec(ctx, `SELECT pg_stat_statements_reset()`); err != nil {
		b.Fatal(err)
	}
	return func() {
		defer c.Close(ctx)
		var calls, buffers, records, bytes float64
		err := c.QueryRow(ctx, `SELECT coalesce(sum(calls) FILTER (WHERE query !~* '^(BEGIN|COMMIT|ROLLBACK)'), 0),
			coalesce(sum(shared_blks_hit + shared_blks_read), 0), coalesce(sum(wal_records), 0), coalesce(sum(wal_bytes), 0)
			FROM pg_stat_statements WHERE query !~ 'pg_stat_statements'`).Scan(&calls, &buffers, &records, &bytes)
		if err != nil {
			b.Fatal(err)
		}
		n := float64(b.N)
		b.ReportMetric(calls/n, "db-statements/advance")
		b.ReportMetric(buffers/n, "db-buffers/advance")
		b.ReportMetric(records/n, "wal-records/advance")
		b.ReportMetric(bytes/1024/n, "wal-KiB/advance")
	}
}

// processCPU is the CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// clusterCPU is the CPU time used by the PostgreSQL cluster in dir so far:
// its postmaster and every live backend (a backend's time is lost when it
// exits; the pool keeps them open during a benchmark).
func clusterCPU(b *testing.B, dir string) time.Duration {
	pidb, err := os.ReadFile(filepath.Join(dir, "postgres.pids"))
	if err != nil {
		b.Fatal(err)
	}
	master := strings.TrimSpace(string(pidb))
	entries, _ := os.ReadDir("/proc")
	var ticks int64
	for _, e := range entries {
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// after "(comm)": state ppid ... utime(14) stime(15), 1-based
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 13 || (e.Name() != master && f[1] != master) {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + st
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}
