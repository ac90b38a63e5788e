package memory_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/memory"
)

// BenchmarkChangesNoChange asks for changes when there are none. Its cost
// must not depend on the folder's size.
func BenchmarkChangesNoChange(b *testing.B) {
	for _, n := range []int{5000, 50000} {
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
			ctx := b.Context()
			src := fill(b, n)
			st, err := src.State(ctx, "inbox")
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				d, err := src.Changes(ctx, "inbox", st, 100)
				if err != nil || len(d.Changed) != 0 {
					b.Fatalf("Changes = %+v, %v", d, err)
				}
			}
		})
	}
}

// BenchmarkChangesOne asks for changes when one item of the folder has
// changed, which must not depend on the folder's size either.
func BenchmarkChangesOne(b *testing.B) {
	for _, n := range []int{5000, 50000} {
		b.Run(fmt.Sprintf("items=%d", n), func(b *testing.B) {
			ctx := b.Context()
			src := fill(b, n)
			st, _ := src.State(ctx, "inbox")
			if _, _, err := src.Put(ctx, "inbox", note(n), ""); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				d, err := src.Changes(ctx, "inbox", st, 100)
				if err != nil || len(d.Changed) != 1 {
					b.Fatalf("Changes = %+v, %v", d, err)
				}
			}
		})
	}
}

// BenchmarkWatchWakeup measures the time from a change to the return of a
// Watch waiting for it, reported as ns/wake.
func BenchmarkWatchWakeup(b *testing.B) {
	ctx := b.Context()
	src := fill(b, 0)
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		started, woke := make(chan struct{}), make(chan time.Time)
		go func() {
			close(started)
			if _, err := src.Watch(ctx, []sources.FolderID{"inbox"}); err != nil {
				b.Error(err)
			}
			woke <- time.Now()
		}()
		// Change until the watcher answers: the first change may still
		// come before it waits.
		<-started
		runtime.Gosched()
		for {
			t0 := time.Now()
			if _, _, err := src.Put(ctx, "inbox", note(i), ""); err != nil {
				b.Fatal(err)
			}
			select {
			case t1 := <-woke:
				total += t1.Sub(t0)
			case <-time.After(time.Millisecond):
				continue
			}
			break
		}
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/wake")
}

func fill(b *testing.B, n int) *memory.Source {
	src := memory.New(nil).User("bench")
	for i := range n {
		if _, _, err := src.Put(context.Background(), "inbox", note(i), ""); err != nil {
			b.Fatal(err)
		}
	}
	return src
}

func note(i int) *sources.Item {
	return &sources.Item{Note: &sources.Note{Subject: fmt.Sprintf("note %d", i)}}
}
