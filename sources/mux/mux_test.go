package mux

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/imapdav"
	"github.com/easgate/easgate/sources/imapdav/dav"
	"github.com/easgate/easgate/sources/jmap"
)

// cyrusRoutes are issue 10's Cyrus set-up: mail, contacts and calendars
// over JMAP, tasks over CalDAV (Cyrus 3.6 has no JMAP tasks), through the
// IMAP+DAV adapter on the same Cyrus and account.
func cyrusRoutes(t *testing.T, cy *testserver.Cyrus, jmapContents []sources.Content) []BackendRoute {
	t.Helper()
	jb, err := jmap.NewBackend(jmap.Options{URL: cy.JMAP, PollInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { jb.Close() })
	ib, err := imapdav.NewBackend(&imapdav.Options{IMAP: cy.IMAP, TLS: imapdav.TLSNone,
		DAV: &dav.Options{CalDAV: cy.CalDAV, PollInterval: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ib.Close() })
	return []BackendRoute{
		{Login: jb.Login, Contents: jmapContents},
		{Login: ib.Login, Contents: []sources.Content{sources.ContentTasks}},
	}
}

func folderOf(t *testing.T, src sources.Source, k sources.FolderKind) []sources.Folder {
	t.Helper()
	d, err := src.Folders(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var out []sources.Folder
	for _, f := range d.Changed {
		if f.Kind == k {
			out = append(out, f)
		}
	}
	return out
}

// TestCyrusTasksFromCalDAV: with tasks taken from Cyrus's CalDAV, a JMAP
// set-up has a Tasks folder (issue 10: it had none), one of each default
// folder, and a task written through it is a VTODO on Cyrus that a
// second login reads back; Watch and Notify wake for it.
func TestCyrusTasksFromCalDAV(t *testing.T) {
	cy := testserver.StartCyrus(t, nil)
	ctx := context.Background()
	b := NewBackend(cyrusRoutes(t, cy, []sources.Content{sources.ContentMail, sources.ContentContacts, sources.ContentCalendar}), 200*time.Millisecond)
	src, err := b.Login(ctx, "alice", testserver.Users["alice"])
	if err != nil {
		t.Fatal(err)
	}
	if again, err := b.Login(ctx, "alice", testserver.Users["alice"]); err != nil || again != src {
		t.Errorf("second Login = %p, %v; want the same Source %p", again, err, src)
	}
	if _, err := b.Login(ctx, "alice", "wrong"); !errors.Is(err, sources.ErrAuth) {
		t.Errorf("Login(wrong password) = %v, want ErrAuth", err)
	}
	for _, k := range []sources.FolderKind{sources.KindInbox, sources.KindContacts, sources.KindCalendar, sources.KindTasks} {
		fs := folderOf(t, src, k)
		if len(fs) != 1 {
			t.Fatalf("%d folders of kind %s, want 1: %+v", len(fs), k, fs)
		}
		wantPrefix := map[sources.FolderKind]string{sources.KindContacts: "pim:", sources.KindCalendar: "pim:", sources.KindTasks: "dav:"}[k]
		if !strings.HasPrefix(string(fs[0].ID), wantPrefix) {
			t.Errorf("folder of kind %s is %s, want one from %q", k, fs[0].ID, wantPrefix)
		}
	}
	tasks := folderOf(t, src, sources.KindTasks)[0].ID
	st, err := src.(sources.Stater).State(ctx, tasks)
	if err != nil {
		t.Fatal(err)
	}

	inbox := folderOf(t, src, sources.KindInbox)[0].ID
	woke := make(chan []sources.FolderID, 1)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	go func() {
		fs, _ := src.(sources.Watcher).Watch(wctx, []sources.FolderID{tasks, inbox})
		woke <- fs
	}()
	// Watch reports changes made after it began, which the test cannot
	// see: a task is added at every tick until it wakes.
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	var ids []sources.ItemID
	put := func() {
		n := len(ids) + 1
		id, _, err := src.(sources.Writer).Put(ctx, tasks, &sources.Item{Task: &sources.Task{UID: fmt.Sprintf("mux-task-%d", n),
			Subject: fmt.Sprintf("Renew certificate %d", n), Due: time.Date(2026, 7, n, 0, 0, 0, 0, time.UTC)}}, "")
		if err != nil {
			t.Fatalf("Put(task) = %v", err)
		}
		ids = append(ids, id)
	}
	put()
wait:
	for {
		select {
		case fs := <-woke:
			if len(fs) != 1 || fs[0] != tasks {
				t.Errorf("Watch = %v, want [%s]", fs, tasks)
			}
			break wait
		case <-tick.C:
			put()
		case <-wctx.Done():
			t.Fatal("Watch did not wake for new tasks within 20 s")
		}
	}
	// Notify: tasks alone wait on the DAV route's poller; tasks and the
	// inbox on both routes, called back once.
	for _, fs := range [][]sources.FolderID{{tasks}, {tasks, inbox}} {
		var calls atomic.Int32
		called := make(chan struct{}, 1)
		stop, err := src.(sources.Notifier).Notify(fs, func() {
			if calls.Add(1) == 1 {
				called <- struct{}{}
			}
		})
		if err != nil {
			t.Fatalf("Notify(%v) = %v", fs, err)
		}
	notified:
		for {
			select {
			case <-called:
				break notified
			case <-tick.C:
				put()
			case <-wctx.Done():
				t.Fatalf("Notify(%v) did not call back for new tasks within 20 s", fs)
			}
		}
		stop()
		stop()
		if n := calls.Load(); n != 1 {
			t.Errorf("Notify(%v) called back %d times, want once", fs, n)
		}
	}
	d, err := src.Changes(ctx, tasks, st, 0)
	if err != nil || len(d.Changed) != len(ids) {
		t.Errorf("Changes(tasks) = %+v, %v; want %v", d, err, ids)
	}
	id := ids[0]

	// A login of its own, on CalDAV alone, reads the VTODO back.
	fresh, err := dav.Open(ctx, &dav.Options{CalDAV: cy.CalDAV}, "alice", testserver.Users["alice"])
	if err != nil {
		t.Fatal(err)
	}
	its, err := fresh.Get(ctx, tasks, []sources.ItemID{id}, nil)
	if err != nil || len(its) != 1 || its[0].Task == nil || its[0].Task.Subject != "Renew certificate 1" {
		t.Fatalf("the task on Cyrus's CalDAV: %+v, %v", its, err)
	}
}

// TestClassSwitchedOff: a content type no route names is gone: no
// folders, and sending, searching and folder creation of it fail with
// ErrUnsupported.
func TestClassSwitchedOff(t *testing.T) {
	cy := testserver.StartCyrus(t, nil)
	ctx := context.Background()
	b := NewBackend(cyrusRoutes(t, cy, []sources.Content{sources.ContentContacts, sources.ContentCalendar}), 200*time.Millisecond)
	src, err := b.Login(ctx, "alice", testserver.Users["alice"])
	if err != nil {
		t.Fatal(err)
	}
	d, err := src.Folders(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range d.Changed {
		if f.Kind.Content() == sources.ContentMail {
			t.Errorf("mail folder %s (%s) with email switched off", f.ID, f.Name)
		}
	}
	if len(d.Changed) != 3 {
		t.Errorf("folders %+v, want contacts, calendar and tasks", d.Changed)
	}
	if err := src.(sources.Sender).Send(ctx, strings.NewReader("Subject: x\r\n\r\nx"), false); !errors.Is(err, sources.ErrUnsupported) {
		t.Errorf("Send = %v, want ErrUnsupported", err)
	}
	if _, err := src.(sources.Searcher).Search(ctx, sources.SearchQuery{Text: "x"}); !errors.Is(err, sources.ErrUnsupported) {
		t.Errorf("Search = %v, want ErrUnsupported", err)
	}
	if _, err := src.(sources.FolderWriter).CreateFolder(ctx, "", "Mail folder", sources.KindUserMail); !errors.Is(err, sources.ErrUnsupported) {
		t.Errorf("CreateFolder(mail) = %v, want ErrUnsupported", err)
	}
	if _, err := src.Changes(ctx, "INBOX", "", 0); !errors.Is(err, sources.ErrNotFound) {
		t.Errorf("Changes(INBOX) = %v, want ErrNotFound", err)
	}
	// The hierarchy state round-trips.
	if again, err := src.Folders(ctx, d.Next); err != nil || len(again.Changed) != 0 {
		t.Errorf("Folders(%q) = %+v, %v; want no changes", d.Next, again, err)
	}
	if _, err := src.Folders(ctx, "garbage"); !errors.Is(err, sources.ErrStateExpired) {
		t.Errorf("Folders(garbage) = %v, want ErrStateExpired", err)
	}
}
