package statecache

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
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
			var s *Store
			if backend == "badger" {
				var err error
				if s, err = Open(b.TempDir(), nil); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
			} else {
				s = newPGStore(b, pgDatabase(b))
			}
			benchAdvanceParallel(b, s, 8, 100)
		})
	}
}

func benchAdvanceParallel(b *testing.B, s *Store, devices, window int) {
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism((devices + 1) / 2) // GOMAXPROCS is 2 here: 8 goroutines
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		dev := next.Add(1)
		ck := CollectionKey{Account: Account{User: fmt.Sprint("user", dev), Device: fmt.Sprint("device-", dev)}, Collection: "5"}
		key, err := s.Advance(ctx, ck, InitialKey, SyncState{State: "0"})
		if err != nil {
			b.Error(err)
			return
		}
		win := make([]Change, window)
		for n := 0; pb.Next(); n++ {
			for i := range win {
				win[i] = Change{Op: OpAdd, ItemID: fmt.Sprintf("M%d-%d", n, i)}
			}
			if key, err = s.Advance(ctx, ck, key, SyncState{State: fmt.Sprint(n), Window: win}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "advances/s")
}
