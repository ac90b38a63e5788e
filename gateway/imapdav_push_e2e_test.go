package gateway

import (
	"context"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources/imapdav"
	"github.com/easgate/easgate/statecache"
)

// TestIMAPPushEvents holds a phone's Ping on Dovecot's Inbox through the
// gateway, store-side push (issue 14): with events, an APPEND, a flag
// change and a delete each wake the Ping through the events endpoint on
// the admin listener while nobody holds an IDLE connection, so Dovecot
// runs no imap process for the waiting phone; without events (the
// fallback) the same Pings wake through IDLE, which costs one.
func TestIMAPPushEvents(t *testing.T) {
	for _, events := range []bool{true, false} {
		name := map[bool]string{true: "events", false: "idle"}[events]
		t.Run(name, func(t *testing.T) { imapPushE2E(t, events) })
	}
}

func imapPushE2E(t *testing.T, events bool) {
	const token = "gateway-push-e2e-token"
	e := &imapE2EEnv{log: new(imapE2ELog)}
	admin := httptest.NewUnstartedServer(nil)
	t.Cleanup(admin.Close)
	if events {
		e.dc = testserver.StartDovecotPush(t, &testserver.PushOptions{URL: "http://" + admin.Listener.Addr().String() + imapdav.EventsPath, Token: token})
	} else {
		e.dc = testserver.StartDovecot(t)
	}
	// The periodic check is an hour away: only events (or IDLE) wake.
	b, err := imapdav.NewBackend(&imapdav.Options{IMAP: e.dc.IMAP, TLS: imapdav.TLSNone, Events: events, EventCheck: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if e.state, err = statecache.Open("", &statecache.Options{InMemory: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.state.Close() })
	e.srv, err = New(&Options{Backend: e2eBackend{b}, State: e.state,
		Policy: Policy{Mode: PolicyAllow}, Limits: Limits{MinHeartbeat: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	received := 0
	if events {
		h, err := b.EventsHandler(imapdav.EventsOptions{Token: token, Observe: func(o string, woken int) {
			mu.Lock()
			if o == "ok" && woken > 0 {
				received++
			}
			mu.Unlock()
		}})
		if err != nil {
			t.Fatal(err)
		}
		e.srv.Admin().Handle(imapdav.EventsPath, h)
	}
	admin.Config.Handler = e.srv.Admin()
	admin.Start()
	e.ts = httptest.NewUnstartedServer(e.srv)
	e.ts.Listener = e.srv.Listen(e.ts.Listener)
	e.ts.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.srv.Shutdown(ctx)
		e.ts.Close()
	})

	d := e.conv(t).device("imappush"+map[bool]string{true: "ev", false: "idle"}[events], "E2EPhone", eas.V161)
	inbox := imapE2EFolders(t, e, d)[eas.FolderTypeInbox]
	imapE2ESyncStart(t, d, inbox)

	// Another mail client of alice's, open throughout so that its imap
	// process counts the same in every measurement.
	oc, err := imapclient.DialInsecure(e.dc.IMAP, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer oc.Close()
	if err := oc.Login(convUser, testserver.Users[convUser]).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := oc.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	// measure checks, while the Ping waits, that the gateway holds an
	// IDLE connection only without events, and that Dovecot's imap
	// processes are the gateway's connections and oc's, nothing else.
	measure := func(what string) {
		t.Helper()
		wantIdle := map[bool]int{true: 0, false: 1}[events]
		var cmd, idle int
		var u testserver.Usage
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			cmd, idle = b.Conns()
			if u, err = e.dc.Usage(); err != nil {
				t.Fatal(err)
			}
			if idle == wantIdle && u.IMAP == cmd+idle+1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the gateway holds %d command and %d IDLE connections (want %d IDLE), Dovecot runs %d imap processes (want %d)",
					what, cmd, idle, wantIdle, u.IMAP, cmd+idle+1)
			}
		}
		t.Logf("%s: while the Ping waits, Dovecot runs %d processes (%d imap: the gateway's %d command + %d IDLE connections, the other client's 1), %.1f MiB PSS",
			what, u.Procs, u.IMAP, cmd, idle, float64(u.PSS)/(1<<20))
	}
	var uid imap.UID
	steps := []struct {
		name   string
		before func()
		change func()
	}{
		{"APPEND", nil, func() {
			cmd := oc.Append("INBOX", int64(len(imapE2EMail("Pushed", "x"))), nil)
			cmd.Write(imapE2EMail("Pushed", "x"))
			cmd.Close()
			d, err := cmd.Wait()
			if err != nil {
				t.Fatal(err)
			}
			uid = d.UID
		}},
		{"STORE +FLAGS \\Flagged", nil, func() {
			if err := oc.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
				t.Fatal(err)
			}
		}},
		// The adapter shows a message flagged \Deleted as deleted
		// already, so the expunge alone changes nothing the phone sees;
		// sources/imapdav's TestEventWatch wakes on the expunge alone.
		{"delete (STORE \\Deleted, UID EXPUNGE)", nil, func() {
			if err := oc.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
				t.Fatal(err)
			}
			if err := oc.UIDExpunge(imap.UIDSetNum(uid)).Close(); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		mu.Lock()
		before := received
		mu.Unlock()
		got, took := e2ePing(t, d, func() {
			measure(s.name)
			s.change()
		}, inbox)
		if !slices.Equal(got, []string{inbox.cid}) {
			t.Errorf("Ping after %s names %v, want [%s]", s.name, got, inbox.cid)
		}
		mu.Lock()
		after := received
		mu.Unlock()
		if events && after == before {
			t.Errorf("%s: no event woke a waiter; the Ping woke some other way", s.name)
		}
		t.Logf("%s: Ping answered %v after the change", s.name, took)
		convSyncAll(t, d, inbox)
	}
}
