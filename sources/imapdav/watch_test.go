package imapdav

import (
	"slices"
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
