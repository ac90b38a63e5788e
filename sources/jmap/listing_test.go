package jmap

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
)

// TestListing pages a first listing across segments of 4 ids, with the
// segments lost between some pages (another easgate node, an eviction),
// while mail arrives and leaves: every mail comes exactly once, those
// that left either never or as removed afterwards, and a Sync that finds
// nothing costs one request.
func TestListing(t *testing.T) {
	cy := testserver.StartCyrus(t, nil)
	ctx := t.Context()
	cnt := &counter{base: http.DefaultTransport}
	src := login(t, cy.JMAP, "alice", Options{ListChunk: 4, HTTPClient: &http.Client{Transport: cnt}})
	m := newMailStore(t, cy, src)
	f := m.mkdir("listing")
	other := m.mkdir("listing-other")
	var ids []sources.ItemID
	for i := range 15 {
		id, err := m.add(f, message(i, ""))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if _, err := m.add(other, message(99, "")); err != nil {
		t.Fatal(err)
	}

	var got []sources.ItemID
	var st sources.State
	for page := 0; ; page++ {
		if page == 2 || page == 5 {
			src.lists = segments{} // lost: the listing goes on by its cursor
		}
		if page == 3 {
			// Mail arriving meanwhile comes after the listing; mail
			// leaving is left out or removed afterwards.
			id, err := m.add(f, message(100, ""))
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
			if err := m.store(f, ids[0], imap.FlagDeleted, true); err != nil {
				t.Fatal(err)
			}
		}
		d, err := src.Changes(ctx, f, st, 3)
		if err != nil {
			t.Fatalf("Changes page %d = %v", page, err)
		}
		if len(d.Changed) > 3 || len(d.Removed) != 0 {
			t.Fatalf("page %d = %+v; want at most 3 changed", page, d)
		}
		got = append(got, d.Changed...)
		if st = d.Next; !d.More {
			break
		}
	}
	if n := len(src.lists.list); n != 0 {
		t.Errorf("%d segments kept after the listing ended, want 0", n)
	}
	var removed []sources.ItemID
	for {
		d, err := src.Changes(ctx, f, st, 0)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d.Changed...)
		removed = append(removed, d.Removed...)
		if st = d.Next; !d.More {
			break
		}
	}
	// The mail that arrived during the listing may also come in it, not
	// only after it: Cyrus orders mail received in the same second by
	// id, so it may sort below the cursor. The delta reporting it again
	// is then a change the gateway sends as such, not a second Add.
	arrived := ids[len(ids)-1]
	seen := map[sources.ItemID]bool{}
	for _, id := range got {
		if seen[id] && id != arrived {
			t.Errorf("%s listed twice", id)
		}
		seen[id] = true
	}
	for _, id := range ids[1:] {
		if !seen[id] {
			t.Errorf("%s never listed", id)
		}
	}
	if seen[ids[0]] && !slices.Contains(removed, ids[0]) {
		t.Errorf("expunged %s listed and never removed (removed %v)", ids[0], removed)
	}

	// Nothing changed: one request. Mail delivered to another folder:
	// nothing for this one, and no Email/queryChanges (two requests).
	for _, want := range []int{1, 2} {
		if want == 2 {
			if _, err := m.add(other, message(101, "")); err != nil {
				t.Fatal(err)
			}
		}
		n0 := cnt.n.Load()
		d, err := src.Changes(ctx, f, st, 100)
		if err != nil || len(d.Changed)+len(d.Removed) != 0 || d.More {
			t.Fatalf("Changes = %+v, %v; want nothing", d, err)
		}
		if n := cnt.n.Load() - n0; n != int64(want) {
			t.Errorf("Changes made %d requests, want %d", n, want)
		}
		st = d.Next
	}
	// State answers the last state while nothing changed, in one
	// request and without the Email/query that grows with the folder;
	// after a change it is a state Changes accepts.
	n0 := cnt.n.Load()
	if cur, err := src.State(ctx, f); err != nil || cur != st {
		t.Errorf("State = %q, %v; want %q", cur, err, st)
	}
	if n := cnt.n.Load() - n0; n != 1 {
		t.Errorf("State made %d requests, want 1", n)
	}
	if err := m.store(f, ids[5], imap.FlagFlagged, false); err != nil {
		t.Fatal(err)
	}
	cur, err := src.State(ctx, f)
	if err != nil || cur == st {
		t.Fatalf("State after a change = %q, %v; want a new state", cur, err)
	}
	if d, err := src.Changes(ctx, f, cur, 10); err != nil || len(d.Changed)+len(d.Removed) != 0 || d.Next != cur {
		t.Errorf("Changes(State()) = %+v, %v; want nothing and the same state", d, err)
	}
	if d, err := src.Changes(ctx, f, st, 10); err != nil || !slices.Equal(d.Changed, ids[5:6]) || len(d.Removed) != 0 {
		t.Errorf("Changes since before the change = %+v, %v; want %s changed", d, err, ids[5])
	}
}

// TestSegmentsBounded checks that a user keeps at most maxSegments
// listings' ids, and that a listing whose segment was evicted still
// ends with every mail.
func TestSegmentsBounded(t *testing.T) {
	cy := testserver.StartCyrus(t, nil)
	ctx := t.Context()
	src := login(t, cy.JMAP, "alice", Options{ListChunk: 2})
	m := newMailStore(t, cy, src)
	var fs []sources.FolderID
	for i := range maxSegments + 2 {
		f := m.mkdir("bounded" + string(rune('a'+i)))
		for j := range 3 {
			if _, err := m.add(f, message(10*i+j, "")); err != nil {
				t.Fatal(err)
			}
		}
		fs = append(fs, f)
	}
	// One page of each listing: each keeps a segment.
	sts := make([]sources.State, len(fs))
	got := make([]int, len(fs))
	for i, f := range fs {
		d, err := src.Changes(ctx, f, "", 1)
		if err != nil || !d.More {
			t.Fatalf("Changes(%s) = %+v, %v", f, d, err)
		}
		sts[i], got[i] = d.Next, len(d.Changed)
		if n := len(src.lists.list); n > maxSegments {
			t.Fatalf("%d segments kept, want at most %d", n, maxSegments)
		}
	}
	for i, f := range fs {
		for st := sts[i]; ; {
			d, err := src.Changes(context.Background(), f, st, 1)
			if err != nil {
				t.Fatal(err)
			}
			got[i] += len(d.Changed)
			if st = d.Next; !d.More {
				break
			}
		}
		if got[i] != 3 {
			t.Errorf("folder %d listed %d mails, want 3", i, got[i])
		}
	}
}

// TestIdleConns checks that the Backend's own HTTP client keeps
// IdleConns idle connections to the store, not net/http's 2 per host.
func TestIdleConns(t *testing.T) {
	for _, tc := range []struct{ set, want int }{{0, 64}, {5, 5}} {
		b, err := NewBackend(Options{URL: "http://127.0.0.1:1/jmap", IdleConns: tc.set})
		if err != nil {
			t.Fatal(err)
		}
		tr, ok := b.opts.HTTPClient.Transport.(*http.Transport)
		if !ok {
			t.Fatalf("IdleConns %d: transport %T", tc.set, b.opts.HTTPClient.Transport)
		}
		if tr.MaxIdleConnsPerHost != tc.want || tr.MaxIdleConns != tc.want {
			t.Errorf("IdleConns %d: keeps %d per host, %d in all; want %d", tc.set, tr.MaxIdleConnsPerHost, tr.MaxIdleConns, tc.want)
		}
	}
	if _, err := NewBackend(Options{URL: "http://127.0.0.1:1/jmap", IdleConns: -1}); err == nil {
		t.Error("IdleConns -1 accepted")
	}
}

// TestListingCursorLeft pages a listing whose segment is lost while the
// mail it last delivered, and then also the one before it, leaves the
// folder: the next page goes on from an earlier delivered id instead of
// failing with anchorNotFound (which made the phone list the folder
// again), and every other mail comes exactly once.
func TestListingCursorLeft(t *testing.T) {
	cy := testserver.StartCyrus(t, nil)
	ctx := t.Context()
	src := login(t, cy.JMAP, "alice", Options{ListChunk: 4})
	m := newMailStore(t, cy, src)
	f := m.mkdir("cursor-left")
	want := map[sources.ItemID]bool{}
	for i := range 12 {
		id, err := m.add(f, message(i, ""))
		if err != nil {
			t.Fatal(err)
		}
		want[id] = true
	}
	seen := map[sources.ItemID]bool{}
	var st sources.State
	for page := 0; ; page++ {
		d, err := src.Changes(ctx, f, st, 3)
		if err != nil {
			t.Fatalf("Changes page %d = %v", page, err)
		}
		for _, id := range d.Changed {
			if seen[id] {
				t.Errorf("%s listed twice", id)
			}
			seen[id] = true
		}
		if st = d.Next; !d.More {
			break
		}
		// The last one delivered leaves (and after page 1 the one
		// before it too), and the segment is lost.
		gone := d.Changed[len(d.Changed)-1:]
		if page == 1 {
			gone = d.Changed[len(d.Changed)-2:]
		}
		for _, id := range gone {
			if err := m.store(f, id, imap.FlagDeleted, true); err != nil {
				t.Fatal(err)
			}
			delete(want, id)
		}
		src.lists = segments{}
	}
	for id := range want {
		if !seen[id] {
			t.Errorf("%s never listed", id)
		}
	}
}
