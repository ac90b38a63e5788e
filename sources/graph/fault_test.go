package graph

import (
	"context"
	"errors"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/easgate/easgate/internal/graphemu"
	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
)

const alice = "alice@" + testserver.GraphDomain

// drainAll pages through Changes of f since st and fails on a repeated
// id.
func drainAll(t *testing.T, src sources.Source, f sources.FolderID, st sources.State) (changed, removed []sources.ItemID, next sources.State) {
	t.Helper()
	seen := map[sources.ItemID]bool{}
	for {
		d, err := src.Changes(context.Background(), f, st, 3)
		if err != nil {
			t.Fatalf("Changes(%s, %q) = %v", f, st, err)
		}
		for _, id := range slices.Concat(d.Changed, d.Removed) {
			if seen[id] {
				t.Errorf("Changes(%s): %s came twice", f, id)
			}
			seen[id] = true
		}
		changed, removed, st = append(changed, d.Changed...), append(removed, d.Removed...), d.Next
		if !d.More {
			return changed, removed, st
		}
	}
}

func sorted(ids []sources.ItemID) []sources.ItemID { return slices.Sorted(slices.Values(ids)) }

// Row 3: a replayed round changes nothing.
func TestReplayIsIdempotent(t *testing.T) {
	g, b := newBackend(t, graphemu.Options{}, Options{PageSize: 2})
	src := login(t, b, "alice")
	inbox := inboxOf(t, src)
	g.Emu.DeliverMail(alice, "inbox", mail(1))
	_, _, st := drainAll(t, src, inbox, "")
	id, _ := g.Emu.DeliverMail(alice, "inbox", mail(2))
	g.Emu.ReplayNext()
	changed, _, st := drainAll(t, src, inbox, st)
	if !slices.Equal(changed, []sources.ItemID{sources.ItemID(id)}) {
		t.Fatalf("changes = %v, want [%s]", changed, id)
	}
	// The next round replays the same change: nothing new for the phone.
	changed, removed, _ := drainAll(t, src, inbox, st)
	if len(changed)+len(removed) != 0 {
		t.Errorf("a replayed round gave %v, %v; want nothing", changed, removed)
	}
}

func inboxOf(t *testing.T, src *Source) sources.FolderID {
	t.Helper()
	fd, err := src.Folders(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fd.Changed {
		if f.Kind == sources.KindInbox {
			return f.ID
		}
	}
	t.Fatal("no Inbox")
	return ""
}

// Row 4: an expired delta link (evicted, or the documented reset) is
// re-baselined silently: the phone's State stays valid and it sees
// exactly the changes made meanwhile, none twice and none lost.
func TestExpiredDeltaLink(t *testing.T) {
	for _, how := range []string{"evicted", "reset"} {
		t.Run(how, func(t *testing.T) {
			g, b := newBackend(t, graphemu.Options{}, Options{PageSize: 2})
			src := login(t, b, "alice")
			inbox := inboxOf(t, src)
			var ids []sources.ItemID
			for i := range 5 {
				id, _ := g.Emu.DeliverMail(alice, "inbox", mail(i))
				ids = append(ids, sources.ItemID(id))
			}
			_, _, st := drainAll(t, src, inbox, "")
			added, _ := g.Emu.DeliverMail(alice, "inbox", mail(9))
			g.Emu.UpdateItem(alice, string(ids[0]), map[string]any{"isRead": true})
			g.Emu.DeleteItem(alice, string(ids[1]))
			if how == "evicted" {
				g.Emu.ExpireTokens()
			} else {
				g.Emu.ForceReset(alice)
			}
			before := g.Emu.Requests()
			changed, removed, st := drainAll(t, src, inbox, st)
			if want := sorted([]sources.ItemID{ids[0], sources.ItemID(added)}); !slices.Equal(sorted(changed), want) {
				t.Errorf("changed after the %s link = %v, want %v", how, changed, want)
			}
			if !slices.Equal(removed, ids[1:2]) {
				t.Errorf("removed after the %s link = %v, want %v", how, removed, ids[1:2])
			}
			t.Logf("re-baseline of 5 messages took %d requests", g.Emu.Requests()-before)
			if changed, removed, _ := drainAll(t, src, inbox, st); len(changed)+len(removed) != 0 {
				t.Errorf("after the re-baseline: %v, %v; want nothing", changed, removed)
			}
		})
	}
}

// Row 13: with Graph allowing one request at a time per mailbox and the
// adapter sending three, the storm of 429s ends in the right items, or
// in temporary errors the gateway answers with "try again"; never in a
// wrong answer.
func TestThrottleStorm(t *testing.T) {
	g, b := newBackend(t, graphemu.Options{Concurrency: 1, RetryAfter: 1}, Options{PageSize: 5, MaxRetryWait: 2 * time.Second})
	src := login(t, b, "alice")
	inbox := inboxOf(t, src)
	want := map[sources.ItemID]bool{}
	for i := range 30 {
		id, _ := g.Emu.DeliverMail(alice, "inbox", mail(i))
		want[sources.ItemID(id)] = true
	}
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 6)
	for range 6 {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			n, st := 0, sources.State("")
			for {
				d, err := src.Changes(ctx, inbox, st, 10)
				if err == nil {
					var items []sources.Item
					items, err = src.Get(ctx, inbox, d.Changed, &sources.GetOptions{Text: true})
					n += len(items)
				}
				if err != nil {
					if !sources.Temporary(err) {
						done <- result{n, err}
						return
					}
					continue // the phone comes back
				}
				st = d.Next
				if !d.More {
					done <- result{n, nil}
					return
				}
			}
		}()
	}
	for range 6 {
		r := <-done
		if r.err != nil || r.n != len(want) {
			t.Errorf("a phone under the storm read %d items, %v; want %d", r.n, r.err, len(want))
		}
	}
}

// Row 15, the adapter's side: with a notification URL, Watch wakes on
// Graph's notification long before its poll would, and a lifecycle
// "missed" event makes it look at once.
func TestWebhooks(t *testing.T) {
	hook := httptest.NewUnstartedServer(nil)
	g, b := newBackend(t, graphemu.Options{}, Options{PollInterval: time.Hour, MaxPollInterval: time.Hour,
		NotificationURL: "http://" + hook.Listener.Addr().String() + "/notify"})
	hook.Config.Handler = b.NotificationHandler()
	hook.Start()
	defer hook.Close()
	src := login(t, b, "alice")
	inbox := inboxOf(t, src)
	watch := func(change func()) time.Duration {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, err := src.Watch(ctx, []sources.FolderID{inbox})
			done <- err
		}()
		for deadline := time.Now().Add(5 * time.Second); len(g.Emu.Subscriptions()) == 0 || waiting(src) == 0; {
			if time.Now().After(deadline) {
				t.Fatal("no subscription or waiter after 5 s")
			}
			time.Sleep(time.Millisecond)
		}
		start := time.Now()
		change()
		if err := <-done; err != nil {
			t.Fatalf("Watch = %v", err)
		}
		return time.Since(start)
	}
	took := watch(func() { g.Emu.DeliverMail(alice, "inbox", mail(1)) })
	t.Logf("notification → Watch: %v", took)
	if took > 5*time.Second {
		t.Errorf("Watch took %v after a notification, with polling an hour apart", took)
	}
	// A missed notification: the lifecycle event makes it poll.
	subs := g.Emu.Subscriptions()
	took = watch(func() {
		g.Emu.DeliverMail(alice, "archive", mail(2)) // no notification for the Inbox's waiter …
		g.Emu.DeliverMail(alice, "inbox", mail(3))   // … and this one's was "lost":
		g.Emu.Lifecycle(subs[0], "missed")
	})
	t.Logf("missed → Watch: %v", took)
	// subscriptionRemoved: the adapter subscribes again.
	if err := g.Emu.Lifecycle(subs[0], "subscriptionRemoved"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		if s := g.Emu.Subscriptions(); len(s) == 1 && s[0] != subs[0] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new subscription after subscriptionRemoved: %v", g.Emu.Subscriptions())
		}
		time.Sleep(time.Millisecond)
	}
}

// Graph may notify before it has answered the POST that creates the
// subscription: such a notification, vouched for by its clientState,
// wakes the poller, and one with another clientState does not.
func TestNotificationBeforeSubscribed(t *testing.T) {
	_, b := newBackend(t, graphemu.Options{}, Options{PollInterval: time.Hour, MaxPollInterval: time.Hour,
		NotificationURL: "http://127.0.0.1:9/notify"})
	src := login(t, b, "alice")
	const state = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	b.notify.mu.Lock()
	b.notify.pending[state] = &webhook{src: src, clientState: state}
	b.notify.mu.Unlock()
	b.notify.handle("not-yet-known", "forged", "")
	if len(src.poll.wake) != 0 {
		t.Fatal("a notification with a wrong clientState woke the poller")
	}
	b.notify.handle("not-yet-known", state, "")
	if len(src.poll.wake) != 1 {
		t.Fatal("a notification that came before the subscription's POST was answered was dropped")
	}
}

// An unknown user or a wrong device password is ErrAuth, and the
// password is never sent to Graph.
func TestLogin(t *testing.T) {
	g, b := newBackend(t, graphemu.Options{}, Options{})
	before := g.Emu.Requests()
	if _, err := b.Login(context.Background(), "alice", "wrong"); !errors.Is(err, sources.ErrAuth) {
		t.Errorf("Login with a wrong password = %v, want ErrAuth", err)
	}
	if g.Emu.Requests() != before {
		t.Error("a refused password reached Graph")
	}
	if _, err := b.Login(context.Background(), "carol", "pw-carol"); !errors.Is(err, sources.ErrAuth) {
		t.Errorf("Login of a user without a mailbox = %v, want ErrAuth", err)
	}
	s1, err := b.Login(context.Background(), `CONTOSO\alice`, "pw-alice")
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := b.Login(context.Background(), "Alice@Example.com", "pw-alice")
	if s1 != s2 {
		t.Error("two logins of one mailbox got two Sources; they must share one journal and poller")
	}
}

// TestNotify: Notify waits on the mailbox's shared poller without a
// goroutine per registration: a delivery to the Inbox calls back every
// registration of the user's phones once, a delivery elsewhere none, and
// stopping them all ends the poller.
func TestNotify(t *testing.T) {
	g, b := newBackend(t, graphemu.Options{}, Options{PollInterval: 50 * time.Millisecond, MaxPollInterval: 50 * time.Millisecond})
	src := login(t, b, "alice")
	inbox := inboxOf(t, src)
	const phones = 5
	var calls atomic.Int32
	var wg sync.WaitGroup
	stops := make([]func(), phones)
	g0 := runtime.NumGoroutine()
	for i := range stops {
		wg.Add(1)
		var err error
		if stops[i], err = src.Notify([]sources.FolderID{inbox}, func() { calls.Add(1); wg.Done() }); err != nil {
			t.Fatal(err)
		}
	}
	if n := runtime.NumGoroutine() - g0; n > 2 {
		t.Errorf("%d more goroutines for %d registrations, want the poller's only", n, phones)
	}
	g.Emu.DeliverMail(alice, "archive", mail(1))
	g.Emu.DeliverMail(alice, "inbox", mail(2))
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%d of %d registrations called back 20 s after a delivery", calls.Load(), phones)
	}
	for _, stop := range stops {
		stop()
		stop()
	}
	if n := calls.Load(); n != phones {
		t.Errorf("%d calls, want one per registration (%d)", n, phones)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		src.poll.mu.Lock()
		running, n := src.poll.running, len(src.poll.waiters)
		src.poll.mu.Unlock()
		if !running && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("20 s after every stop: poller running %v with %d waiters", running, n)
		}
	}
}
