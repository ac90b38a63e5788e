package imapdav

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
)

// TestIdleLatency measures how soon Watch returns after an APPEND from
// another connection; the floor is 1 s.
func TestIdleLatency(t *testing.T) {
	d := testserver.StartDovecot(t)
	h := harness(t, d, nil)
	s := h.Source.(*Source)
	_, ready, release, ok := s.idle.subscribe(string(h.Folder))
	if !ok {
		t.Fatal("subscribe: no IDLE slot")
	}
	defer release()
	<-ready
	var worst time.Duration
	for i := range 5 {
		done := make(chan []sources.FolderID, 1)
		go func() {
			fs, err := s.Watch(t.Context(), []sources.FolderID{h.Folder, h.Other})
			if err != nil {
				t.Errorf("Watch = %v", err)
			}
			done <- fs
		}()
		time.Sleep(100 * time.Millisecond) // let Watch subscribe
		start := time.Now()
		if _, err := h.Add(t.Context(), h.Folder, i); err != nil {
			t.Fatal(err)
		}
		select {
		case fs := <-done:
			lat := time.Since(start)
			worst = max(worst, lat)
			t.Logf("APPEND → Watch: %v", lat)
			if !slices.Equal(fs, []sources.FolderID{h.Folder}) {
				t.Errorf("Watch = %v, want [%s]", fs, h.Folder)
			}
		case <-time.After(10 * time.Second):
			// A wake-up, not a latency bound: the latency is logged,
			// and a loaded CI machine must not fail on it.
			t.Fatalf("Watch did not return within 10s of an APPEND")
		}
	}
	t.Logf("worst of 5: %v", worst)
}

// TestIdleReconnect drops the IDLE connection, changes the folder while it
// is down, and expects the reconnect to report the change.
func TestIdleReconnect(t *testing.T) {
	d := testserver.StartDovecot(t)
	h := harness(t, d, nil)
	s := h.Source.(*Source)
	ch, ready, release, ok := s.idle.subscribe(string(h.Folder))
	if !ok {
		t.Fatal("subscribe: no IDLE slot")
	}
	defer release()
	<-ready
	s.idle.mu.Lock()
	b := s.idle.boxes[string(h.Folder)]
	s.idle.mu.Unlock()
	b.cur.Load().Close()
	if _, err := h.Add(t.Context(), h.Folder, 1); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	select {
	case <-ch:
		t.Logf("change reported %v after the APPEND made while IDLE was down", time.Since(start))
	case <-time.After(10 * time.Second):
		t.Fatal("the change made while IDLE was down was never reported")
	}
	// And the new connection IDLEs again.
	s.idle.mu.Lock()
	ch = b.gen
	s.idle.mu.Unlock()
	time.Sleep(200 * time.Millisecond)
	if _, err := h.Add(t.Context(), h.Folder, 2); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no change reported after the reconnect")
	}
}

// TestIdleNotify: without events, Notify calls back from the user's one
// shared IDLE connection of the folder at an APPEND on Dovecot, every
// registration of the user's phones, with no goroutine per registration;
// stop leaves nothing. Folders past the user's IDLE limit are polled: the
// registration is called back after PollInterval, for the caller to
// compare.
func TestIdleNotify(t *testing.T) {
	d := testserver.StartDovecot(t)
	src, err := Dial(t.Context(), &Options{IMAP: d.IMAP, TLS: TLSNone, MaxIdle: 1, PollInterval: 200 * time.Millisecond}, "alice", testserver.Users["alice"])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	oc := dialOther(t, d.IMAP, "alice")
	folder := fmt.Sprintf("N%d", boxSeq.Add(1))
	if err := oc.Create(folder, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	fs := []sources.FolderID{sources.FolderID(folder)}
	// The folder's IDLE connection, up before counting goroutines.
	_, ready, release, ok := src.idle.subscribe(folder)
	if !ok {
		t.Fatal("subscribe: no IDLE slot")
	}
	<-ready
	const phones = 20
	var wg sync.WaitGroup
	g0 := runtime.NumGoroutine()
	stops := make([]func(), phones)
	for i := range stops {
		wg.Add(1)
		var once sync.Once
		if stops[i], err = src.Notify(fs, func() { once.Do(wg.Done) }); err != nil {
			t.Fatal(err)
		}
	}
	if n := runtime.NumGoroutine() - g0; n >= phones/2 {
		t.Errorf("%d more goroutines for %d registrations, want none of their own", n, phones)
	}
	if _, err := appendRaw(oc, folder, testMessage(1)); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("not every registration was called back within 20 s of an APPEND")
	}
	// INBOX is past the limit of one IDLE connection: polled, the
	// registration is called back after PollInterval.
	polled := make(chan struct{})
	stopPolled, err := src.Notify([]sources.FolderID{sources.FolderID(folder), "INBOX"}, func() { close(polled) })
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-polled:
	case <-time.After(20 * time.Second):
		t.Fatal("a registration past the IDLE limit was not called back within 20 s (PollInterval 200 ms)")
	}
	stopPolled()
	for _, stop := range stops {
		stop()
		stop()
	}
	release()
	src.idle.mu.Lock()
	defer src.idle.mu.Unlock()
	if b := src.idle.boxes[folder]; b == nil || b.refs != 0 || len(b.fns) != 0 {
		t.Errorf("after every stop: box %+v, want it lingering with no watcher", b)
	}
	if len(src.idle.boxes) != 1 {
		t.Errorf("%d IDLE boxes, want the folder's only (INBOX's was past the limit)", len(src.idle.boxes))
	}
}

// TestIdleNotifyNewConnection: a registration that opens the folder's
// IDLE connection is called back for a change made after the caller's
// comparison (Changes) and before that connection's IDLE runs, which IDLE
// itself never reports; with no such change, it is not called back.
func TestIdleNotifyNewConnection(t *testing.T) {
	d := testserver.StartDovecot(t)
	src, err := Dial(t.Context(), &Options{IMAP: d.IMAP, TLS: TLSNone}, "alice", testserver.Users["alice"])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	oc := dialOther(t, d.IMAP, "alice")
	for _, change := range []bool{true, false} {
		folder := fmt.Sprintf("N%d", boxSeq.Add(1))
		if err := oc.Create(folder, nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := appendRaw(oc, folder, testMessage(1)); err != nil {
			t.Fatal(err)
		}
		// The caller's comparison, then (or not) a change before the
		// connection is up: here, before Notify even begins.
		if _, err := src.Changes(t.Context(), sources.FolderID(folder), "", 0); err != nil {
			t.Fatal(err)
		}
		if change {
			if _, err := appendRaw(oc, folder, testMessage(2)); err != nil {
				t.Fatal(err)
			}
		}
		called := make(chan struct{})
		var once sync.Once
		stop, err := src.Notify([]sources.FolderID{sources.FolderID(folder)}, func() { once.Do(func() { close(called) }) })
		if err != nil {
			t.Fatal(err)
		}
		src.idle.mu.Lock()
		b := src.idle.boxes[folder]
		src.idle.mu.Unlock()
		if b == nil {
			t.Fatalf("no IDLE connection for %s", folder)
		}
		<-b.ready // after the first SELECT's comparison
		if change {
			select {
			case <-called:
			case <-time.After(20 * time.Second):
				t.Fatal("a change made before the new IDLE connection ran was not reported within 20 s")
			}
		} else {
			// The comparison is made before ready; its call back, if
			// any, would come idleGather after it.
			select {
			case <-called:
				t.Error("called back with no change since the comparison")
			case <-time.After(idleGather + 200*time.Millisecond):
			}
		}
		stop()
	}
}
