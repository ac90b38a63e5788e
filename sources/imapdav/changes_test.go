package imapdav

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
)

func TestMissing(t *testing.T) {
	set := func(s string) imap.UIDSet {
		u, err := parseSet(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	for _, tc := range []struct {
		known, present string
		want           []imap.UID
	}{
		{"", "", nil},
		{"1:5", "", []imap.UID{1, 2, 3, 4, 5}},
		{"1:5", "1:5", nil},
		{"1:5", "1:10", nil},
		{"1:5", "2:3", []imap.UID{1, 4, 5}},
		{"1:5,9", "1:4,6:8", []imap.UID{5, 9}},
		{"3,1,2", "2", []imap.UID{1, 3}},
		{"1:50000", "1:24999,25001:50000", []imap.UID{25000}},
		{"4294967294:4294967295", "4294967294", []imap.UID{4294967295}},
		{"4294967294:4294967295", "1:4294967295", nil},
	} {
		got := missing(set(tc.known), set(tc.present))
		if !slices.Equal(got, tc.want) {
			t.Errorf("missing(%s, %s) = %v, want %v", tc.known, tc.present, got, tc.want)
		}
	}
}

func TestPageCacheAfter(t *testing.T) {
	pc := &pageCache{cands: []mod{{1, 5}, {2, 5}, {3, 6}, {7, 6}, {4, 9}}}
	for _, tc := range []struct {
		modseq uint64
		uid    imap.UID
		want   int // candidates left
	}{
		{0, 0, 5}, {5, 0, 3}, {5, 1, 4}, {5, 2, 3}, {6, 3, 2}, {6, 0, 1}, {9, 0, 0}, {10, 0, 0},
	} {
		if got := pc.after(&mailState{ModSeq: tc.modseq, UID: tc.uid}); len(got) != tc.want {
			t.Errorf("after(%d, %d) = %v, want %d candidates", tc.modseq, tc.uid, got, tc.want)
		}
	}
}

// TestPagesWhileChanging pages through a folder as the gateway does
// (Changes, then Get of what it reported) while another client adds,
// expunges and flags messages between the pages, with the later pages
// served from the first page's candidates (trust) and checked by STATUS
// (none): what the phone ends with after one more catch-up is what the
// folder holds, and the change made after a message was sent reaches it.
func TestPagesWhileChanging(t *testing.T) {
	d := testserver.StartDovecot(t)
	for _, tc := range []struct {
		name  string
		trust time.Duration
	}{{"trust", time.Hour}, {"none", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			h := harness(t, d, func(s *Source) { s.trust = tc.trust })
			ctx := t.Context()
			var ids []sources.ItemID
			for i := range 30 {
				id, err := h.Add(ctx, h.Folder, i)
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			phone := map[sources.ItemID]bool{}
			var flagged []sources.ItemID
			page := func(st sources.State) sources.Delta {
				t.Helper()
				dl, err := h.Source.Changes(ctx, h.Folder, st, 10)
				if err != nil {
					t.Fatalf("Changes = %v", err)
				}
				items, err := h.Source.Get(ctx, h.Folder, dl.Changed, nil)
				if err != nil {
					t.Fatalf("Get = %v", err)
				}
				for _, it := range items {
					if phone[it.ID] {
						flagged = append(flagged, it.ID)
					}
					phone[it.ID] = true
				}
				for _, id := range dl.Removed {
					delete(phone, id)
				}
				return dl
			}
			dl := page("")
			if !dl.More || len(phone) != 10 {
				t.Fatalf("first page: %d items, More %v; want 10 and more", len(phone), dl.More)
			}
			// Behind the Source's back: one new message, one expunged
			// that was not sent yet, one sent message flagged.
			added, err := h.Add(ctx, h.Folder, 30)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Remove(ctx, h.Folder, ids[25]); err != nil {
				t.Fatal(err)
			}
			if err := h.Modify(ctx, h.Folder, ids[0]); err != nil {
				t.Fatal(err)
			}
			// The connection that selected the folder for the first page
			// does not know the new message until told.
			if got, err := h.Source.Get(ctx, h.Folder, []sources.ItemID{added}, nil); err != nil || len(got) != 1 || got[0].ID != added {
				t.Fatalf("Get(new %q) = %v, %v; want it", added, got, err)
			}
			st := dl.Next
			for pages := 0; dl.More; pages++ {
				if pages > 20 {
					t.Fatal("still More after 20 pages")
				}
				dl = page(st)
				st = dl.Next
			}
			// The next Sync of the phone, and one after it that finds
			// nothing.
			for range 2 {
				for dl = page(st); ; dl = page(st) {
					st = dl.Next
					if !dl.More {
						break
					}
				}
			}
			want := []sources.ItemID{added}
			for _, id := range ids {
				if id != ids[25] {
					want = append(want, id)
				}
			}
			var got []sources.ItemID
			for id := range phone {
				got = append(got, id)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("phone holds %v, want %v", got, want)
			}
			if !slices.Contains(flagged, ids[0]) {
				t.Errorf("flagged %q never came again (again: %v)", ids[0], flagged)
			}
		})
	}
}

// TestPageTrustOption: Options.PageTrust decides whether a listing's later
// pages ask STATUS: not within it (the default, 1 s, and an hour here),
// once per page when negative.
func TestPageTrustOption(t *testing.T) {
	d := testserver.StartDovecot(t)
	for _, tc := range []struct {
		name   string
		trust  time.Duration
		status int // STATUS commands for pages 2 and 3
	}{{"hour", time.Hour, 0}, {"never", -1, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			var statuses atomic.Int64
			addr := testserver.LineProxy(t, d.IMAP, func(line []byte) {
				if _, cmd, ok := strings.Cut(string(line), " "); ok && strings.HasPrefix(strings.ToUpper(cmd), "STATUS ") {
					statuses.Add(1)
				}
			})
			ctx := t.Context()
			src, err := Dial(ctx, &Options{IMAP: addr, TLS: TLSNone, PageTrust: tc.trust}, "alice", testserver.Users["alice"])
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			oc := dialOther(t, d.IMAP, "alice")
			folder := fmt.Sprintf("P%d", boxSeq.Add(1))
			if err := oc.Create(folder, nil).Wait(); err != nil {
				t.Fatal(err)
			}
			for i := range 30 {
				if _, err := appendRaw(oc, folder, testMessage(i)); err != nil {
					t.Fatal(err)
				}
			}
			dl, err := src.Changes(ctx, sources.FolderID(folder), "", 10)
			if err != nil {
				t.Fatal(err)
			}
			before := statuses.Load()
			got := len(dl.Changed)
			for dl.More {
				if dl, err = src.Changes(ctx, sources.FolderID(folder), dl.Next, 10); err != nil {
					t.Fatal(err)
				}
				got += len(dl.Changed)
			}
			if got != 30 {
				t.Errorf("listed %d messages, want 30", got)
			}
			if n := statuses.Load() - before; n != int64(tc.status) {
				t.Errorf("PageTrust %v: %d STATUS for pages 2 and 3, want %d", tc.trust, n, tc.status)
			}
		})
	}
}
