package dav

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-ical"

	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
)

// benchEvent is the n-th event of the benchmark calendar: every fourth a
// weekly 09:00 Europe/Berlin series over both DST changes with an EXDATE
// and a moved occurrence, the others single events in three zones.
func benchEvent(n int) string {
	uid := fmt.Sprintf("bench-%04d", n)
	head := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
	if n%4 == 0 {
		s := strings.Replace(berlinSeries, "UID:series-1", "UID:"+uid, 2)
		s = strings.Replace(s, "COUNT=8", "COUNT=40", 1)
		return strings.Replace(s, "SUMMARY:Standup\r\n", fmt.Sprintf("SUMMARY:Standup %d\r\n", n), 1)
	}
	zone := []string{"Europe/Berlin", "America/New_York", ""}[n%3]
	start := fmt.Sprintf("2026%02d%02dT%02d%02d00", 1+n%12, 1+n%28, 8+n%10, 15*(n%4))
	dt := func(name string, v string) string {
		if zone == "" {
			return name + ":" + v + "Z\r\n"
		}
		return name + ";TZID=" + zone + ":" + v + "\r\n"
	}
	end := start[:9] + fmt.Sprintf("%02d", 9+n%10) + start[11:]
	return head + "BEGIN:VEVENT\r\nUID:" + uid + "\r\nDTSTAMP:20260101T000000Z\r\n" + dt("DTSTART", start) + dt("DTEND", end) +
		fmt.Sprintf("SUMMARY:Event %d\r\nX-CUSTOM:%d\r\n", n, n) + "END:VEVENT\r\nEND:VCALENDAR\r\n"
}

// fingerprint is what must not change in a round trip: every instant of
// the series, its exceptions and the fields the model has.
func fingerprint(ev *sources.Event) string {
	e := inUTC(ev)
	e.Stamp = time.Time{}
	b, _ := json.Marshal(e)
	return string(b)
}

// BenchmarkCalendar2000 syncs a 2,000-event calendar from Radicale
// (Changes from the empty State, then Get) and writes every event back
// with Put and If-Match, then checks that no event moved in time.
// Run: go test ./sources/imapdav/dav -run - -bench Calendar2000 -benchtime 1x
func BenchmarkCalendar2000(b *testing.B) {
	const n = 2000
	srv := testserver.StartRadicale(b)
	ctx := context.Background()
	r := raw{b, strings.TrimSuffix(srv.URL, "/"), "alice"}
	coll := r.mkcalendar(ctx, "/alice/", "bench", "VEVENT")
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 4)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, _, err := r.do(ctx, "PUT", fmt.Sprintf("%sbench-%04d.ics", coll, i), "text/calendar", benchEvent(i)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	s, err := Open(ctx, &Options{CalDAV: srv.URL}, "alice", testserver.Users["alice"])
	if err != nil {
		b.Fatal(err)
	}
	f := sources.FolderID("dav:" + coll)

	syncAll := func() []sources.Item {
		var items []sources.Item
		var st sources.State
		for {
			d, err := s.Changes(ctx, f, st, 500)
			if err != nil {
				b.Fatal(err)
			}
			got, err := s.Get(ctx, f, d.Changed, nil)
			if err != nil {
				b.Fatal(err)
			}
			items = append(items, got...)
			if st = d.Next; !d.More {
				return items
			}
		}
	}
	var syncTime, putTime time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		items := syncAll()
		syncTime += time.Since(t0)
		if len(items) != n {
			b.Fatalf("synced %d events, want %d", len(items), n)
		}
		before := map[sources.ItemID]string{}
		t0 = time.Now()
		var mu sync.Mutex
		var firstErr error
		for i := range items {
			before[items[i].ID] = fingerprint(items[i].Event)
			wg.Add(1)
			sem <- struct{}{}
			go func(it *sources.Item) {
				defer func() { <-sem; wg.Done() }()
				if _, _, err := s.Put(ctx, f, it, it.ETag); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			}(&items[i])
		}
		wg.Wait()
		putTime += time.Since(t0)
		if firstErr != nil {
			b.Fatal(firstErr)
		}
		b.StopTimer()
		shifted := 0
		for _, it := range syncAll() {
			if fingerprint(it.Event) != before[it.ID] {
				if shifted++; shifted < 3 {
					b.Errorf("%s changed in the round trip:\n got %s\nwant %s", it.ID, fingerprint(it.Event), before[it.ID])
				}
			}
		}
		// And the series still expand to 09:00 Berlin time on the server.
		ob, err := s.get(ctx, coll+"bench-0000.ics")
		if err != nil {
			b.Fatal(err)
		}
		cal, err := ical.NewDecoder(strings.NewReader(ob.data)).Decode()
		if err != nil {
			b.Fatal(err)
		}
		berlin, _ := time.LoadLocation("Europe/Berlin")
		for _, at := range occurrences(b, cal) {
			if h := at.In(berlin).Hour(); h != 9 && h != 11 {
				b.Errorf("occurrence at %v", at.In(berlin))
			}
		}
		if shifted > 0 {
			b.Fatalf("%d of %d events changed in the round trip", shifted, n)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(syncTime.Milliseconds())/float64(b.N), "sync-ms/op")
	b.ReportMetric(float64(putTime.Milliseconds())/float64(b.N), "put-ms/op")
}
