package graph

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/easgate/easgate/internal/graphemu"
	"github.com/easgate/easgate/sources"
)

// BenchmarkIdleWatch measures what waiting phones cost when nothing
// changes: the Graph requests in one hour of a mailbox whose phones wait
// in Watch on Inbox, Calendar, Contacts and Tasks, with the default
// intervals (30 s, backing off to 2 minutes for those three and 10
// minutes for the others) scaled down 1,000 times, so that the hour takes
// 3.6 s. Three phones wait at once; they share the mailbox's poller, so
// the figure is per mailbox and per phone alike.
func BenchmarkIdleWatch(b *testing.B) {
	const scale = 1000
	for b.Loop() {
		g, be := newBackend(b, graphemu.Options{}, Options{PollInterval: 30 * time.Second / scale, MaxPollInterval: 10 * time.Minute / scale})
		src := login(b, be, "alice")
		fd, err := src.Folders(context.Background(), "")
		if err != nil {
			b.Fatal(err)
		}
		var fs []sources.FolderID
		for _, f := range fd.Changed {
			switch f.Kind {
			case sources.KindInbox, sources.KindCalendar, sources.KindContacts, sources.KindTasks:
				fs = append(fs, f.ID)
			}
		}
		for _, f := range fs { // the phones' own first Sync
			if _, err := src.State(context.Background(), f); err != nil {
				b.Fatal(err)
			}
		}
		before := g.Emu.Requests()
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour/scale)
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() { src.Watch(ctx, fs) })
		}
		wg.Wait()
		cancel()
		b.ReportMetric(float64(g.Emu.Requests()-before), "requests/hour")
		b.ReportMetric(float64(len(fs)), "folders")
	}
}
