package jmap

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gojmap "git.sr.ht/~rockorager/go-jmap"
	"github.com/emersion/go-imap/v2"

	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
)

// fetchLog is a transport that notes the request bodies asking
// Email/get with bodies, and holds those naming the id hold until the
// request's context ends.
type fetchLog struct {
	base http.RoundTripper
	mu   sync.Mutex
	gets []string
	hold string // an id whose Email/get is held
}

func (l *fetchLog) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		l.mu.Lock()
		if bytes.Contains(b, []byte(`"bodyValues"`)) {
			l.gets = append(l.gets, string(b))
		}
		hold := l.hold != "" && bytes.Contains(b, []byte(l.hold))
		l.mu.Unlock()
		if hold {
			<-r.Context().Done()
			return nil, r.Context().Err()
		}
	}
	return l.base.RoundTrip(r)
}

// asked returns how many Email/get requests named id.
func (l *fetchLog) asked(id sources.ItemID) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, g := range l.gets {
		n += strings.Count(g, `"`+string(id)+`"`)
	}
	return n
}

func (l *fetchLog) requests() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.gets)
}

// cut asks the bodies cut at 5 KB, as phones do.
var cut = &sources.GetOptions{Text: true, HTML: true, BodyLimit: 5120}

// prefetchFolder makes a folder of n mails and returns it with their ids.
func prefetchFolder(t *testing.T, m *mailStore, name string, n int) (sources.FolderID, []sources.ItemID) {
	t.Helper()
	f := m.mkdir(name)
	var ids []sources.ItemID
	for i := range n {
		id, err := m.add(f, message(i, ""))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return f, ids
}

// firstWindow starts a listing of f with a window of max, gets it with
// o and waits for what that fetches ahead.
func firstWindow(t *testing.T, src *Source, f sources.FolderID, max int, o *sources.GetOptions) sources.Delta {
	t.Helper()
	d, err := src.Changes(t.Context(), f, "", max)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Get(t.Context(), f, d.Changed, o); err != nil {
		t.Fatal(err)
	}
	src.ahead.wg.Wait()
	return d
}

// TestPrefetch lists a folder in windows of 4 while mail in the window
// fetched ahead changes and leaves: each mail is asked of the store once
// (the window fetched ahead is what the next Get serves), every mail is
// listed once, and the changes since come with the next Changes.
func TestPrefetch(t *testing.T) {
	cy := testserver.StartCyrus(t, nil)
	ctx := t.Context()
	log := &fetchLog{base: http.DefaultTransport}
	src := login(t, cy.JMAP, "alice", Options{HTTPClient: &http.Client{Transport: log}})
	m := newMailStore(t, cy, src)
	f, all := prefetchFolder(t, m, "prefetch", 12)

	var listed []sources.ItemID
	var st sources.State
	var changedID, goneID sources.ItemID
	for page := 0; ; page++ {
		d, err := src.Changes(ctx, f, st, 4)
		if err != nil {
			t.Fatalf("Changes page %d = %v", page, err)
		}
		if page == 1 {
			// Fetched ahead already: changed and destroyed behind the
			// Source's back before its Get.
			changedID, goneID = d.Changed[0], d.Changed[1]
			if err := m.store(f, changedID, imap.FlagSeen, false); err != nil {
				t.Fatal(err)
			}
			if err := m.store(f, goneID, imap.FlagDeleted, true); err != nil {
				t.Fatal(err)
			}
		}
		items, err := src.Get(ctx, f, d.Changed, cut)
		if err != nil {
			t.Fatalf("Get page %d = %v", page, err)
		}
		if len(items) != len(d.Changed) {
			t.Errorf("Get page %d gave %d of %d mails", page, len(items), len(d.Changed))
		}
		for _, it := range items {
			if it.Mail.Text == nil || !strings.Contains(it.Mail.Text.Data, "body") {
				t.Errorf("Get page %d: %s has body %+v", page, it.ID, it.Mail.Text)
			}
		}
		listed = append(listed, d.Changed...)
		// The window after this one is on its way unless this was the
		// last: wait for it, so that page 1's changes come after it.
		src.ahead.wg.Wait()
		if st = d.Next; !d.More {
			break
		}
		// Each fetch done asks for the next, PrefetchWindows (2) at most.
		if n, want := src.ahead.held(), min(2, (len(all)-len(listed))/4); n != want {
			t.Errorf("after page %d: %d windows held, want %d", page, n, want)
		}
	}
	for _, id := range all {
		if n := log.asked(id); n != 1 {
			t.Errorf("%s asked of the store %d times, want once", id, n)
		}
	}
	if n := log.requests(); n != 3 {
		t.Errorf("%d Email/get requests for 3 windows, want 3", n)
	}
	if !slices.Equal(sorted(listed), sorted(all)) {
		t.Errorf("listed %v, want %v", listed, all)
	}
	if n := src.ahead.held(); n != 0 {
		t.Errorf("%d windows held after the listing, want 0", n)
	}
	// Windows 2 and 3 fetched ahead and served, as the metrics show them.
	if st, want := src.ahead.stats.snapshot(), (PrefetchStats{Started: 2, Served: 2}); st != want {
		t.Errorf("PrefetchStats = %+v, want %+v", st, want)
	}
	// What changed after its window was fetched comes now.
	d, err := src.Changes(ctx, f, st, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Changed, []sources.ItemID{changedID}) || !slices.Equal(d.Removed, []sources.ItemID{goneID}) {
		t.Errorf("Changes after the listing = %+v; want %s changed, %s removed", d, changedID, goneID)
	}
	items, err := src.Get(ctx, f, d.Changed, cut)
	if err != nil || len(items) != 1 || !items[0].Mail.Read {
		t.Errorf("Get(%s) = %+v, %v; want it read", changedID, items, err)
	}
}

func sorted(ids []sources.ItemID) []sources.ItemID {
	return slices.Sorted(slices.Values(ids))
}

// TestPrefetchForgotten checks that a window fetched ahead is dropped
// when a delta of the same user (another phone) reports some of its
// mail changed, so that the listing's Get asks the store again and
// serves the mail as it is now.
func TestPrefetchForgotten(t *testing.T) {
	cy := testserver.StartCyrus(t, nil)
	ctx := t.Context()
	log := &fetchLog{base: http.DefaultTransport}
	src := login(t, cy.JMAP, "alice", Options{HTTPClient: &http.Client{Transport: log}})
	m := newMailStore(t, cy, src)
	f, _ := prefetchFolder(t, m, "prefetch-forgotten", 8)
	other, err := src.State(ctx, f) // another phone, in sync
	if err != nil {
		t.Fatal(err)
	}
	d := firstWindow(t, src, f, 4, cut)
	d2, err := src.Changes(ctx, f, d.Next, 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.store(f, d2.Changed[2], imap.FlagFlagged, false); err != nil {
		t.Fatal(err)
	}
	od, err := src.Changes(ctx, f, other, 0)
	if err != nil || !slices.Equal(od.Changed, d2.Changed[2:3]) {
		t.Fatalf("other phone's Changes = %+v, %v; want %s", od, err, d2.Changed[2])
	}
	if n := src.ahead.held(); n != 0 {
		t.Errorf("%d windows held after a delta reported their mail, want 0", n)
	}
	if st := src.ahead.stats.snapshot(); st.Held != 0 || st.Dropped != st.Started || st.Started == 0 || st.Served != 0 {
		t.Errorf("PrefetchStats = %+v, want every window started dropped", st)
	}
	items, err := src.Get(ctx, f, d2.Changed, cut)
	if err != nil || len(items) != 4 {
		t.Fatalf("Get = %d items, %v; want 4", len(items), err)
	}
	if !items[2].Mail.Flagged {
		t.Errorf("Get served %s unflagged, as fetched ahead before the change", items[2].ID)
	}
	if n := log.asked(d2.Changed[0]); n != 2 {
		t.Errorf("%s asked %d times, want twice (ahead, then again)", d2.Changed[0], n)
	}
}

// TestPrefetchBounded checks the bounds: windows held per user, bytes
// per window (bodies not cut are never fetched ahead), and that a window
// nobody takes, its fetch hung, is dropped after PrefetchTTL with its
// goroutine gone.
func TestPrefetchBounded(t *testing.T) {
	cy := testserver.StartCyrus(t, nil)
	ctx := t.Context()
	log := &fetchLog{base: http.DefaultTransport.(*http.Transport).Clone()}
	hc := &http.Client{Transport: log}
	src := login(t, cy.JMAP, "alice", Options{HTTPClient: hc, PrefetchWindows: 1, PrefetchBytes: 4 * (perMailBytes + 2*5120)})
	m := newMailStore(t, cy, src)
	fa, _ := prefetchFolder(t, m, "prefetch-a", 12)
	fb, _ := prefetchFolder(t, m, "prefetch-b", 8)

	for _, tc := range []struct {
		name string
		max  int
		o    *sources.GetOptions
	}{
		{"bodies not cut", 4, &sources.GetOptions{HTML: true}},
		{"over PrefetchBytes", 5, cut},
	} {
		firstWindow(t, src, fa, tc.max, tc.o)
		if n := src.ahead.held(); n != 0 {
			t.Errorf("%s: %d windows fetched ahead, want 0", tc.name, n)
		}
	}
	firstWindow(t, src, fa, 4, cut)
	firstWindow(t, src, fb, 4, cut)
	if n := src.ahead.held(); n != 1 {
		t.Errorf("two listings with PrefetchWindows 1: %d windows held, want 1", n)
	}
	src.ahead.wg.Wait()
	src.ahead.drop(src.ahead.list[0], false)

	// A phone gone mid-listing, the store not answering the fetch
	// ahead: dropped after PrefetchTTL, its goroutine and connections
	// gone. (Short only now, so that a slow machine's fetches above do
	// not outlive it.)
	src.opts.PrefetchTTL = 3 * time.Second
	fc, _ := prefetchFolder(t, m, "prefetch-c", 8)
	hc.CloseIdleConnections()
	base := runtime.NumGoroutine()
	d, err := src.Changes(ctx, fc, "", 4)
	if err != nil {
		t.Fatal(err)
	}
	next, _ := src.lists.following(fc, gojmap.ID(d.Changed[3]), "")
	if len(next) != 4 {
		t.Fatalf("the listing's next window is %v, want 4 ids", next)
	}
	log.mu.Lock()
	log.hold = string(next[0])
	log.mu.Unlock()
	if _, err := src.Get(ctx, fc, d.Changed, cut); err != nil {
		t.Fatal(err)
	}
	if n := src.ahead.held(); n != 1 {
		t.Fatalf("%d windows held, want the one being fetched", n)
	}
	src.ahead.wg.Wait() // ends with PrefetchTTL
	waitFor(t, "the window dropped", func() bool { return src.ahead.held() == 0 })
	waitFor(t, "goroutines back to their number before", func() bool {
		hc.CloseIdleConnections()
		return runtime.NumGoroutine() <= base
	})
}

// waitFor polls cond until it holds, failing after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPrefetchLaterListing checks that a window fetched ahead for one
// phone's listing is not served to another phone's listing that began
// after a change to its mail: that listing's final state already
// includes the change, so the change would never reach it.
func TestPrefetchLaterListing(t *testing.T) {
	cy := testserver.StartCyrus(t, nil)
	ctx := t.Context()
	src := login(t, cy.JMAP, "alice", Options{})
	m := newMailStore(t, cy, src)
	f, _ := prefetchFolder(t, m, "prefetch-later", 8)
	a1 := firstWindow(t, src, f, 4, cut)
	if n := src.ahead.held(); n != 1 {
		t.Fatalf("%d windows held, want 1", n)
	}
	next, _ := src.lists.following(f, gojmap.ID(a1.Changed[3]), "")
	flagged := sources.ItemID(next[1])
	if err := m.store(f, flagged, imap.FlagFlagged, false); err != nil {
		t.Fatal(err)
	}
	// Phone B lists the folder from the start, after the change.
	st := sources.State("")
	for {
		d, err := src.Changes(ctx, f, st, 4)
		if err != nil {
			t.Fatal(err)
		}
		items, err := src.Get(ctx, f, d.Changed, cut)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if it.ID == flagged && !it.Mail.Flagged {
				t.Errorf("phone B got %s unflagged, as fetched ahead for phone A before the change", flagged)
			}
		}
		if st = d.Next; !d.More {
			break
		}
	}
	if d, err := src.Changes(ctx, f, st, 0); err != nil || len(d.Changed)+len(d.Removed) != 0 {
		t.Errorf("phone B's Changes after its listing = %+v, %v; want nothing", d, err)
	}
	// Phone A's listing takes its window, and is told of the change next.
	a2, err := src.Changes(ctx, f, a1.Next, 4)
	if err != nil {
		t.Fatal(err)
	}
	items, err := src.Get(ctx, f, a2.Changed, cut)
	if err != nil || len(items) != 4 {
		t.Fatalf("phone A's Get = %d items, %v", len(items), err)
	}
	if d, err := src.Changes(ctx, f, a2.Next, 0); err != nil || !slices.Contains(d.Changed, flagged) && !items[1].Mail.Flagged {
		t.Errorf("phone A: Get gave %s unflagged and Changes = %+v, %v; want the change reported", flagged, d, err)
	}
}

// TestPrefetchResent gets a window again (a phone that resends its
// Sync) while the windows after it are held: nothing more is fetched
// ahead, and the listing goes on with the windows held.
func TestPrefetchResent(t *testing.T) {
	cy := testserver.StartCyrus(t, nil)
	ctx := t.Context()
	log := &fetchLog{base: http.DefaultTransport}
	src := login(t, cy.JMAP, "alice", Options{HTTPClient: &http.Client{Transport: log}})
	m := newMailStore(t, cy, src)
	f, all := prefetchFolder(t, m, "prefetch-resent", 12)
	d, err := src.Changes(ctx, f, "", 4)
	if err != nil {
		t.Fatal(err)
	}
	listed := d.Changed
	for range 2 {
		if _, err := src.Get(ctx, f, d.Changed, cut); err != nil {
			t.Fatal(err)
		}
		src.ahead.wg.Wait()
		if n := src.ahead.held(); n != 2 {
			t.Errorf("%d windows held, want 2", n)
		}
	}
	for st := d.Next; ; {
		d, err := src.Changes(ctx, f, st, 4)
		if err != nil {
			t.Fatal(err)
		}
		if items, err := src.Get(ctx, f, d.Changed, cut); err != nil || len(items) != len(d.Changed) {
			t.Fatalf("Get = %d items, %v; want %d", len(items), err, len(d.Changed))
		}
		listed = append(listed, d.Changed...)
		if st = d.Next; !d.More {
			break
		}
	}
	if !slices.Equal(sorted(listed), sorted(all)) {
		t.Errorf("listed %v, want %v", listed, all)
	}
	for _, id := range listed[4:] {
		if n := log.asked(id); n != 1 {
			t.Errorf("%s asked of the store %d times, want once", id, n)
		}
	}
}
