package imapdav

import (
	"fmt"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
)

// fill APPENDs n messages to box on one connection, pipelined in batches
// (go-imap v2 has no MULTIAPPEND).
func fill(b *testing.B, c *imapclient.Client, box string, n int) {
	const batch = 200
	for i := 0; i < n; i += batch {
		var cmds []*imapclient.AppendCommand
		for j := i; j < min(n, i+batch); j++ {
			raw := testMessage(j)
			cmd := c.Append(box, int64(len(raw)), nil)
			cmd.Write(raw)
			cmd.Close()
			cmds = append(cmds, cmd)
		}
		for _, cmd := range cmds {
			if _, err := cmd.Wait(); err != nil {
				b.Fatalf("append: %v", err)
			}
		}
	}
}

// BenchmarkChanges measures Changes on a large folder: with no change (one
// STATUS round trip, whatever the size) and after one flag change (SELECT,
// FETCH CHANGEDSINCE and the UID SEARCH expunge check).
func BenchmarkChanges(b *testing.B) {
	d := testserver.StartDovecot(b)
	for _, n := range []int{5000, 50000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ctx := b.Context()
			oc := dialOther(b, d.IMAP, "alice")
			box := fmt.Sprintf("Bench%d", n)
			if err := oc.Create(box, nil).Wait(); err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			fill(b, oc, box, n)
			b.Logf("setup: %d APPENDs in %v", n, time.Since(start))
			src, err := Dial(ctx, &Options{IMAP: d.IMAP, TLS: TLSNone}, "alice", testserver.Users["alice"])
			if err != nil {
				b.Fatal(err)
			}
			defer src.Close()
			f := sources.FolderID(box)
			st, err := src.State(ctx, f)
			if err != nil {
				b.Fatal(err)
			}
			b.Logf("state: %d bytes", len(st))
			b.Run("no-change", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					d, err := src.Changes(ctx, f, st, 100)
					if err != nil || len(d.Changed)+len(d.Removed) != 0 {
						b.Fatalf("Changes = %+v, %v", d, err)
					}
				}
			})
			if _, err := oc.Select(box, nil).Wait(); err != nil {
				b.Fatal(err)
			}
			b.Run("one-flag-change", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					b.StopTimer()
					i++
					op := imap.StoreFlagsAdd
					if i%2 == 0 {
						op = imap.StoreFlagsDel
					}
					if err := oc.Store(imap.UIDSetNum(imap.UID(n/2)), &imap.StoreFlags{Op: op, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					d, err := src.Changes(ctx, f, st, 100)
					if err != nil || len(d.Changed) != 1 {
						b.Fatalf("Changes = %+v, %v", d, err)
					}
					st = d.Next
				}
			})
		})
	}
}
