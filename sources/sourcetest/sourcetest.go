// Package sourcetest checks that a store adapter keeps the sources
// contract, as testing/fstest checks a file system: each adapter's tests
// call Run with a way to reach its store.
package sourcetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/easgate/easgate/sources"
)

// Harness is one Source under test and the means to change its store
// behind its back, as another client would.
type Harness struct {
	Source sources.Source

	// Folder and Other are two empty folders of the same kind that the
	// suite may fill; Other is the destination of moves.
	Folder, Other sources.FolderID

	// Add creates an item in folder f without going through Source; n
	// numbers the items of one test, for distinct content.
	Add func(ctx context.Context, f sources.FolderID, n int) (sources.ItemID, error)

	// Modify changes item id of folder f, so that it changes its ETag and
	// shows in Changes.
	Modify func(ctx context.Context, f sources.FolderID, id sources.ItemID) error

	// Remove deletes item id from folder f.
	Remove func(ctx context.Context, f sources.FolderID, id sources.ItemID) error

	// Expire, if set, makes every State issued so far expire. Stores that
	// cannot force this leave it nil and the subtest is skipped.
	Expire func(ctx context.Context) error

	// NewItem returns the n-th item for Writer.Put into Folder. Nil means
	// a mail message with a subject and a plain-text body.
	NewItem func(n int) *sources.Item
}

// Run runs the conformance suite. newSource is called once per subtest
// and must return a Harness whose folders are empty; it may register
// clean-up with t.Cleanup. Subtests of abilities the Source does not
// implement (Writer, Mover, Watcher, Notifier) are skipped.
func Run(t *testing.T, newSource func(t *testing.T) Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"Folders", testFolders},
		{"ChangesFromStart", testChangesFromStart},
		{"Paging", testPaging},
		{"NoChange", testNoChange},
		{"AddModifyRemove", testAddModifyRemove},
		{"UnknownFolder", testUnknownFolder},
		{"Move", testMove},
		{"Conflict", testConflict},
		{"Expired", testExpired},
		{"Watch", testWatch},
		{"Notify", testNotify},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newSource(t))
		})
	}
}

func testFolders(t *testing.T, h Harness) {
	ctx := t.Context()
	d, err := h.Source.Folders(ctx, "")
	if err != nil {
		t.Fatalf("Folders(\"\") = %v", err)
	}
	if d.Next == "" || len(d.Removed) != 0 {
		t.Errorf("Folders(\"\"): Next %q, Removed %v; want a state and nothing removed", d.Next, d.Removed)
	}
	ids := make(map[sources.FolderID]bool)
	for _, f := range d.Changed {
		if f.ID == "" || f.Name == "" || ids[f.ID] {
			t.Errorf("Folders(\"\"): folder %+v: empty or repeated id, or empty name", f)
		}
		ids[f.ID] = true
	}
	for _, f := range d.Changed {
		if f.ParentID != "" && !ids[f.ParentID] {
			t.Errorf("Folders(\"\"): folder %q has parent %q, which is not listed", f.ID, f.ParentID)
		}
	}
	for _, id := range []sources.FolderID{h.Folder, h.Other} {
		if !ids[id] {
			t.Errorf("Folders(\"\") does not list %q", id)
		}
	}
	again, err := h.Source.Folders(ctx, d.Next)
	if err != nil {
		t.Fatalf("Folders(%q) = %v", d.Next, err)
	}
	if len(again.Changed) != 0 || len(again.Removed) != 0 {
		t.Errorf("Folders(%q) without changes = %+v, want nothing", d.Next, again)
	}
}

func testChangesFromStart(t *testing.T, h Harness) {
	ctx := t.Context()
	want := addN(t, h, h.Folder, 0, 5)
	changed, removed, _ := drain(t, h, h.Folder, "", 0)
	checkIDs(t, "changed from the start", changed, want)
	checkIDs(t, "removed from the start", removed, nil)

	items, err := h.Source.Get(ctx, h.Folder, want, nil)
	if err != nil {
		t.Fatalf("Get(%v) = %v", want, err)
	}
	got := make([]sources.ItemID, len(items))
	for i, it := range items {
		got[i] = it.ID
		if it.Folder != h.Folder || it.ETag == "" {
			t.Errorf("Get: item %q: Folder %q, ETag %q; want %q and an ETag", it.ID, it.Folder, it.ETag, h.Folder)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("Get(%v) returned %v, want the same ids in order", want, got)
	}
}

func testPaging(t *testing.T, h Harness) {
	all := addN(t, h, h.Folder, 0, 20)
	for _, max := range []int{1, 3, 7, 20, 50} {
		t.Run(fmt.Sprintf("max=%d", max), func(t *testing.T) {
			changed, removed, _ := drain(t, h, h.Folder, "", max)
			checkIDs(t, "changed", changed, all)
			checkIDs(t, "removed", removed, nil)
		})
	}
	t.Run("after the first listing", func(t *testing.T) {
		_, _, st := drain(t, h, h.Folder, "", 0)
		more := addN(t, h, h.Folder, 20, 10)
		changed, removed, _ := drain(t, h, h.Folder, st, 4)
		checkIDs(t, "changed", changed, more)
		checkIDs(t, "removed", removed, nil)
	})
}

func testNoChange(t *testing.T, h Harness) {
	addN(t, h, h.Folder, 0, 3)
	_, _, st := drain(t, h, h.Folder, "", 0)
	for i := range 2 {
		d, err := h.Source.Changes(t.Context(), h.Folder, st, 10)
		if err != nil {
			t.Fatalf("Changes(%q) #%d = %v", st, i, err)
		}
		if len(d.Changed) != 0 || len(d.Removed) != 0 || d.More || d.Next == "" {
			t.Errorf("Changes(%q) #%d without changes = %+v, want nothing and a state", st, i, d)
		}
	}
}

func testAddModifyRemove(t *testing.T, h Harness) {
	ctx := t.Context()
	ids := addN(t, h, h.Folder, 0, 3)
	_, _, st := drain(t, h, h.Folder, "", 0)
	added := addN(t, h, h.Folder, 3, 1)
	if err := h.Modify(ctx, h.Folder, ids[0]); err != nil {
		t.Fatalf("Modify(%q) = %v", ids[0], err)
	}
	if err := h.Remove(ctx, h.Folder, ids[1]); err != nil {
		t.Fatalf("Remove(%q) = %v", ids[1], err)
	}
	changed, removed, _ := drain(t, h, h.Folder, st, 0)
	checkIDs(t, "changed", changed, []sources.ItemID{ids[0], added[0]})
	checkIDs(t, "removed", removed, []sources.ItemID{ids[1]})
	if items, err := h.Source.Get(ctx, h.Folder, ids[1:2], nil); err != nil || len(items) != 0 {
		t.Errorf("Get(removed %q) = %d items, %v; want none and no error", ids[1], len(items), err)
	}
}

func testUnknownFolder(t *testing.T, h Harness) {
	const f = "easgate-sourcetest-no-such-folder"
	if _, err := h.Source.Changes(t.Context(), f, "", 10); !errors.Is(err, sources.ErrNotFound) {
		t.Errorf("Changes(%q) = %v, want ErrNotFound", f, err)
	}
}

func testMove(t *testing.T, h Harness) {
	m, ok := h.Source.(sources.Mover)
	if !ok {
		t.Skipf("%T is not a sources.Mover", h.Source)
	}
	ctx := t.Context()
	ids := addN(t, h, h.Folder, 0, 2)
	_, _, from := drain(t, h, h.Folder, "", 0)
	_, _, to := drain(t, h, h.Other, "", 0)
	moved, err := m.Move(ctx, h.Folder, h.Other, ids[:1])
	if err != nil {
		t.Fatalf("Move(%v) = %v", ids[:1], err)
	}
	nid, ok := moved[ids[0]]
	if !ok {
		t.Fatalf("Move(%v) = %v, want an id for %q", ids[:1], moved, ids[0])
	}
	changed, removed, _ := drain(t, h, h.Folder, from, 0)
	checkIDs(t, "changed in the source folder", changed, nil)
	checkIDs(t, "removed from the source folder", removed, ids[:1])
	changed, removed, _ = drain(t, h, h.Other, to, 0)
	checkIDs(t, "changed in the destination", changed, []sources.ItemID{nid})
	checkIDs(t, "removed from the destination", removed, nil)
	if items, err := h.Source.Get(ctx, h.Other, []sources.ItemID{nid}, nil); err != nil || len(items) != 1 {
		t.Errorf("Get(moved %q) = %d items, %v; want 1", nid, len(items), err)
	}
}

func testConflict(t *testing.T, h Harness) {
	w, ok := h.Source.(sources.Writer)
	if !ok {
		t.Skipf("%T is not a sources.Writer", h.Source)
	}
	ctx := t.Context()
	newItem := h.NewItem
	if newItem == nil {
		newItem = func(n int) *sources.Item {
			return &sources.Item{Mail: &sources.Message{
				Subject: fmt.Sprintf("sourcetest %d", n),
				Text:    &sources.Body{Data: "body", Size: 4},
			}}
		}
	}
	id, e1, err := w.Put(ctx, h.Folder, newItem(1), "")
	if err != nil || id == "" || e1 == "" {
		t.Fatalf("Put(new) = %q, %q, %v; want an id and an ETag", id, e1, err)
	}
	it := newItem(2)
	it.ID = id
	id2, e2, err := w.Put(ctx, h.Folder, it, e1)
	if err != nil || e2 == e1 {
		t.Fatalf("Put(%q, ifMatch %q) = %q, %v; want a new ETag", id, e1, e2, err)
	}
	it.ID = id2
	if _, _, err := w.Put(ctx, h.Folder, it, e1); !errors.Is(err, sources.ErrConflict) {
		t.Errorf("Put(%q, stale ifMatch %q) = %v, want ErrConflict", id2, e1, err)
	}
	if err := h.Modify(ctx, h.Folder, id2); err != nil {
		t.Fatalf("Modify(%q) = %v", id2, err)
	}
	if _, _, err := w.Put(ctx, h.Folder, it, e2); !errors.Is(err, sources.ErrConflict) {
		t.Errorf("Put(%q, ifMatch %q changed elsewhere) = %v, want ErrConflict", id2, e2, err)
	}
	if err := w.Delete(ctx, h.Folder, id2); err != nil {
		t.Errorf("Delete(%q) = %v", id2, err)
	}
	if err := w.Delete(ctx, h.Folder, id2); !errors.Is(err, sources.ErrNotFound) {
		t.Errorf("Delete(%q) again = %v, want ErrNotFound", id2, err)
	}
}

func testExpired(t *testing.T, h Harness) {
	if h.Expire == nil {
		t.Log("the harness cannot force states to expire")
		t.Skip("Harness.Expire is nil")
	}
	ctx := t.Context()
	addN(t, h, h.Folder, 0, 2)
	_, _, st := drain(t, h, h.Folder, "", 0)
	if err := h.Expire(ctx); err != nil {
		t.Fatalf("Expire() = %v", err)
	}
	if _, err := h.Source.Changes(ctx, h.Folder, st, 10); !errors.Is(err, sources.ErrStateExpired) {
		t.Errorf("Changes(%q) after Expire = %v, want ErrStateExpired", st, err)
	}
	changed, _, _ := drain(t, h, h.Folder, "", 0)
	if len(changed) != 2 {
		t.Errorf("Changes(\"\") after Expire listed %d items, want 2", len(changed))
	}
}

func testWatch(t *testing.T, h Harness) {
	w, ok := h.Source.(sources.Watcher)
	if !ok {
		t.Skipf("%T is not a sources.Watcher", h.Source)
	}
	t.Run("wakes on a change", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		type result struct {
			fs  []sources.FolderID
			err error
		}
		done := make(chan result, 1)
		go func() {
			fs, err := w.Watch(ctx, []sources.FolderID{h.Folder, h.Other})
			done <- result{fs, err}
		}()
		// Watch reports changes made after it began, and we cannot see when
		// that is; so change again until it answers.
		for n := 0; ; n++ {
			if _, err := h.Add(ctx, h.Folder, n); err != nil {
				t.Fatalf("Add = %v", err)
			}
			select {
			case r := <-done:
				if r.err != nil || !slices.Equal(r.fs, []sources.FolderID{h.Folder}) {
					t.Errorf("Watch = %v, %v; want [%s]", r.fs, r.err, h.Folder)
				}
				return
			case <-time.After(200 * time.Millisecond):
			case <-ctx.Done():
				t.Fatal("Watch did not return after a change within 10s")
			}
		}
	})
	t.Run("returns when ctx ends", func(t *testing.T) {
		// The last Add above may have raced the Watch it woke: a store that
		// polls (DAV) can then have seen the change before it and not the
		// Add itself, and reports that Add to the next Watch. Callers
		// compare states after Watch, so that early answer is harmless;
		// it comes once, and a second Watch must wait out its deadline.
		for try := 0; ; try++ {
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			start := time.Now()
			fs, err := w.Watch(ctx, []sources.FolderID{h.Folder})
			d := time.Since(start)
			cancel()
			if err == nil && try == 0 && slices.Equal(fs, []sources.FolderID{h.Folder}) {
				continue
			}
			if !errors.Is(err, context.DeadlineExceeded) || fs != nil {
				t.Errorf("Watch without changes = %v, %v; want nil, context.DeadlineExceeded", fs, err)
			}
			if d > 5*time.Second {
				t.Errorf("Watch returned %v after its deadline", d)
			}
			return
		}
	})
}

// testNotify: a Notifier calls back after a change to one of its folders
// (made after Notify began, which the caller cannot see: so change again
// until it does), once however many changes follow, and stop may be
// called any number of times.
func testNotify(t *testing.T, h Harness) {
	n, ok := h.Source.(sources.Notifier)
	if !ok {
		t.Skipf("%T is not a sources.Notifier", h.Source)
	}
	var calls atomic.Int32
	called := make(chan struct{}, 1)
	stop, err := n.Notify([]sources.FolderID{h.Folder, h.Other}, func() {
		if calls.Add(1) == 1 {
			called <- struct{}{}
		}
	})
	if errors.Is(err, sources.ErrUnsupported) {
		t.Skipf("%T: Notify of these folders is not supported", h.Source)
	}
	if err != nil {
		t.Fatalf("Notify = %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for i := 0; ; i++ {
		if _, err := h.Add(ctx, h.Folder, i); err != nil {
			t.Fatalf("Add = %v", err)
		}
		select {
		case <-called:
		case <-time.After(200 * time.Millisecond):
			continue
		case <-ctx.Done():
			t.Fatal("Notify did not call back after a change within 10s")
		}
		break
	}
	if _, err := h.Add(ctx, h.Folder, 1000); err != nil {
		t.Fatalf("Add = %v", err)
	}
	stop()
	stop()
	if n := calls.Load(); n != 1 {
		t.Errorf("Notify called back %d times, want once", n)
	}
}

// addN adds n items to f through the harness, numbered from first.
func addN(t *testing.T, h Harness, f sources.FolderID, first, n int) []sources.ItemID {
	t.Helper()
	ids := make([]sources.ItemID, n)
	for i := range ids {
		id, err := h.Add(t.Context(), f, first+i)
		if err != nil {
			t.Fatalf("Add(%q, %d) = %v", f, first+i, err)
		}
		ids[i] = id
	}
	return ids
}

// drain pages through the changes of f since st, max at a time, checking
// that no page is too long and no id comes twice, and returns all of them
// and the final state.
func drain(t *testing.T, h Harness, f sources.FolderID, st sources.State, max int) (changed, removed []sources.ItemID, next sources.State) {
	t.Helper()
	seen := make(map[sources.ItemID]bool)
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatalf("Changes(%q) since %q: still More after %d pages", f, st, pages)
		}
		d, err := h.Source.Changes(t.Context(), f, st, max)
		if err != nil {
			t.Fatalf("Changes(%q, %q, %d) = %v", f, st, max, err)
		}
		if n := len(d.Changed) + len(d.Removed); max > 0 && n > max {
			t.Errorf("Changes(%q, %q, %d) returned %d ids", f, st, max, n)
		}
		for _, id := range slices.Concat(d.Changed, d.Removed) {
			if seen[id] {
				t.Errorf("Changes(%q) since %q: %q came twice", f, st, id)
			}
			seen[id] = true
		}
		changed = append(changed, d.Changed...)
		removed = append(removed, d.Removed...)
		if d.Next == "" {
			t.Fatalf("Changes(%q, %q, %d) returned an empty Next", f, st, max)
		}
		st = d.Next
		if !d.More {
			return changed, removed, st
		}
	}
}

// checkIDs compares two sets of ids.
func checkIDs(t *testing.T, what string, got, want []sources.ItemID) {
	t.Helper()
	got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}
