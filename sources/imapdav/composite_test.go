package imapdav

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/imapdav/dav"
)

// TestComposite checks the routing of one Source over Dovecot and
// Radicale: both stores' folders in one list, dav: folders served by dav.
func TestComposite(t *testing.T) {
	d := testserver.StartDovecot(t)
	r := testserver.StartRadicale(t)
	b, err := NewBackend(&Options{IMAP: d.IMAP, TLS: TLSNone, DAV: &dav.Options{CalDAV: r.URL, CardDAV: r.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := t.Context()
	src, err := b.Login(ctx, "alice", testserver.Users["alice"])
	if err != nil {
		t.Fatalf("Login = %v", err)
	}
	if again, err := b.Login(ctx, "alice", testserver.Users["alice"]); err != nil || again != src {
		t.Errorf("second Login = %p, %v; want the cached %p", again, err, src)
	}
	if _, err := b.Login(ctx, "alice", "wrong"); !errors.Is(err, sources.ErrAuth) || sources.Temporary(err) {
		t.Errorf("Login with a wrong password = %v, want ErrAuth", err)
	}
	fd, err := src.Folders(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var davF sources.FolderID
	mail := false
	for _, f := range fd.Changed {
		switch {
		case isDAV(f.ID):
			if davF == "" {
				davF = f.ID
			}
		case f.Kind == sources.KindInbox:
			mail = true
		}
	}
	if davF == "" || !mail {
		t.Fatalf("Folders = %+v, want the inbox and dav: folders", fd.Changed)
	}
	if _, err := src.Changes(ctx, davF, "", 0); err != nil {
		t.Errorf("Changes(%q) = %v", davF, err)
	}
}

// TestCompositeNotify: one Notify on mail and DAV folders calls back,
// once, at a change to either: an APPEND on Dovecot (through the shared
// IDLE connection) or a contact written on Radicale (through the user's
// shared DAV poller).
func TestCompositeNotify(t *testing.T) {
	d := testserver.StartDovecot(t)
	r := testserver.StartRadicale(t)
	b, err := NewBackend(&Options{IMAP: d.IMAP, TLS: TLSNone,
		// A budget for the fast polls: the default, 20 per minute, is
		// spent in 2 s at 100 ms, and a machine slow enough to need more
		// than that for two contact writes then saw no check for the rest
		// of the minute ("no call back within 60 contacts written").
		DAV: &dav.Options{CalDAV: r.URL, CardDAV: r.URL, PollInterval: 100 * time.Millisecond, ActivePollInterval: 100 * time.Millisecond,
			PollsPerMinute: 6000}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := t.Context()
	src, err := b.Login(ctx, "alice", testserver.Users["alice"])
	if err != nil {
		t.Fatal(err)
	}
	s := src.(*Source)
	fd, err := src.Folders(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var book sources.FolderID
	for _, f := range fd.Changed {
		if f.Kind == sources.KindContacts {
			book = f.ID
		}
	}
	if book == "" {
		t.Fatalf("Folders = %+v, want an address book", fd.Changed)
	}
	oc := dialOther(t, d.IMAP, "alice")
	folder := fmt.Sprintf("C%d", boxSeq.Add(1))
	if err := oc.Create(folder, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	fs := []sources.FolderID{sources.FolderID(folder), book}
	notify := func() (chan struct{}, *atomic.Int32, func()) {
		t.Helper()
		called, calls := make(chan struct{}, 8), &atomic.Int32{}
		stop, err := s.Notify(fs, func() { calls.Add(1); called <- struct{}{} })
		if err != nil {
			t.Fatal(err)
		}
		return called, calls, stop
	}
	// Mail: the IDLE connection is up once the first change arrives;
	// APPEND until one does.
	called, calls, stop := notify()
	for i := 0; ; i++ {
		if _, err := appendRaw(oc, folder, testMessage(i)); err != nil {
			t.Fatal(err)
		}
		if waitCalled(called, 300*time.Millisecond) {
			break
		}
		if i == 60 {
			t.Fatal("no call back within 60 APPENDs")
		}
	}
	stop()
	if n := calls.Load(); n != 1 {
		t.Errorf("%d calls for one change, want 1", n)
	}
	// DAV: the poller notes the address book's version at its first
	// check; write until a change is seen.
	called, _, stop = notify()
	defer stop()
	w := src.(sources.Writer)
	for i := 0; ; i++ {
		it := &sources.Item{Contact: &sources.Contact{FirstName: "Notify", LastName: fmt.Sprint(i), FileAs: fmt.Sprint("Notify ", i)}}
		if _, _, err := w.Put(ctx, book, it, ""); err != nil {
			t.Fatal(err)
		}
		if waitCalled(called, 300*time.Millisecond) {
			break
		}
		if i == 60 {
			t.Fatal("no call back within 60 contacts written")
		}
	}
}

// waitCalled reports whether ch receives within d.
func waitCalled(ch <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}
