package imapdav

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/sourcetest"
)

// other is a second IMAP client, the "someone else" who changes the
// mailbox behind the Source's back.
type other struct {
	t *testing.T
	c *imapclient.Client
}

func dialOther(t testing.TB, addr, user string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	if err := c.Login(user, testserver.Users[user]).Wait(); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testMessage(n int) []byte {
	return fmt.Appendf(nil, "From: Carol <carol@example.com>\r\nTo: alice@example.com\r\nSubject: message %d\r\n"+
		"Message-Id: <m%d@example.com>\r\nDate: Mon, 02 Jan 2026 15:04:05 +0000\r\n\r\nbody %d\r\n", n, n, n)
}

func appendRaw(c *imapclient.Client, box string, raw []byte) (imap.UID, error) {
	cmd := c.Append(box, int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		return 0, err
	}
	if err := cmd.Close(); err != nil {
		return 0, err
	}
	d, err := cmd.Wait()
	if err != nil {
		return 0, err
	}
	return d.UID, nil
}

var boxSeq atomic.Int64

// harness returns a sourcetest harness on two new mailboxes of alice's.
func harness(t *testing.T, d *testserver.Dovecot, tweak func(*Source)) sourcetest.Harness {
	ctx := t.Context()
	src, err := Dial(ctx, &Options{IMAP: d.IMAP, TLS: TLSNone, Submission: d.Submission, SubmissionTLS: TLSNone}, "alice", testserver.Users["alice"])
	if err != nil {
		t.Fatalf("Dial = %v", err)
	}
	t.Cleanup(func() { src.Close() })
	if tweak != nil {
		tweak(src)
	}
	oc := dialOther(t, d.IMAP, "alice")
	n := boxSeq.Add(1)
	folder, otherBox := fmt.Sprintf("T%da", n), fmt.Sprintf("T%db", n)
	for _, b := range []string{folder, otherBox} {
		if err := oc.Create(b, nil).Wait(); err != nil {
			t.Fatalf("create %s: %v", b, err)
		}
	}
	var mods atomic.Int64
	sel := func(box string) error {
		if mb := oc.Mailbox(); mb != nil && mb.Name == box {
			return nil
		}
		_, err := oc.Select(box, nil).Wait()
		return err
	}
	return sourcetest.Harness{
		Source: src,
		Folder: sources.FolderID(folder),
		Other:  sources.FolderID(otherBox),
		Add: func(ctx context.Context, f sources.FolderID, n int) (sources.ItemID, error) {
			u, err := appendRaw(oc, string(f), testMessage(n))
			return itemID(u), err
		},
		Modify: func(ctx context.Context, f sources.FolderID, id sources.ItemID) error {
			u, _ := parseUID(id)
			if err := sel(string(f)); err != nil {
				return err
			}
			kw := imap.Flag(fmt.Sprintf("$mod%d", mods.Add(1)))
			return oc.Store(imap.UIDSetNum(u), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{kw}}, nil).Close()
		},
		Remove: func(ctx context.Context, f sources.FolderID, id sources.ItemID) error {
			u, _ := parseUID(id)
			if err := sel(string(f)); err != nil {
				return err
			}
			if err := oc.Store(imap.UIDSetNum(u), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
				return err
			}
			return oc.UIDExpunge(imap.UIDSetNum(u)).Close()
		},
		// Expire recreates the folder with the same messages: a new
		// UIDVALIDITY.
		Expire: func(ctx context.Context) error {
			if err := sel(folder); err != nil {
				return err
			}
			msgs, err := oc.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
				UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
			if err != nil {
				return err
			}
			before, _ := oc.Status(folder, &imap.StatusOptions{UIDValidity: true}).Wait()
			if err := oc.Unselect().Wait(); err != nil {
				return err
			}
			if err := oc.Delete(folder).Wait(); err != nil {
				return err
			}
			if err := oc.Create(folder, nil).Wait(); err != nil {
				return err
			}
			for _, m := range msgs {
				if _, err := appendRaw(oc, folder, m.BodySection[0].Bytes); err != nil {
					return err
				}
			}
			after, _ := oc.Status(folder, &imap.StatusOptions{UIDValidity: true}).Wait()
			if before.UIDValidity == after.UIDValidity {
				return fmt.Errorf("UIDVALIDITY stayed %d", after.UIDValidity)
			}
			return nil
		},
	}
}

func TestDovecot(t *testing.T) {
	d := testserver.StartDovecot(t)
	sourcetest.Run(t, func(t *testing.T) sourcetest.Harness { return harness(t, d, nil) })
}

// TestDovecotNoCondStore runs the suite on the full UID and flag diff used
// for servers without CONDSTORE.
func TestDovecotNoCondStore(t *testing.T) {
	d := testserver.StartDovecot(t)
	sourcetest.Run(t, func(t *testing.T) sourcetest.Harness {
		return harness(t, d, func(s *Source) { s.noCondStore = true })
	})
}

func TestFolderKinds(t *testing.T) {
	d := testserver.StartDovecot(t)
	h := harness(t, d, nil)
	fd, err := h.Source.Folders(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[sources.FolderKind]sources.FolderID)
	for _, f := range fd.Changed {
		if f.Kind != sources.KindUserMail {
			got[f.Kind] = f.ID
		}
	}
	want := map[sources.FolderKind]sources.FolderID{
		sources.KindInbox: "INBOX", sources.KindDrafts: "Drafts", sources.KindSent: "Sent", sources.KindDeleted: "Trash",
	}
	for k, id := range want {
		if got[k] != id {
			t.Errorf("Folders: %v folder = %q, want %q (all: %+v)", k, got[k], id, fd.Changed)
		}
	}
	if !slices.ContainsFunc(fd.Changed, func(f sources.Folder) bool { return f.Role == "junk" }) {
		t.Errorf("Folders: no folder with role junk: %+v", fd.Changed)
	}
}

// TestBackendBound caches Sources for 100,000 distinct users and checks
// that the Backend keeps at most MaxUsers of them, the most recently used.
func TestBackendBound(t *testing.T) {
	const users, bound = 100_000, 100
	b, err := NewBackend(&Options{IMAP: "127.0.0.1:1", MaxUsers: bound})
	if err != nil {
		t.Fatal(err)
	}
	for i := range users {
		user := fmt.Sprintf("user%06d", i)
		b.add(user, newSource(&b.opts, user, "pw"))
	}
	if n := b.cached(); n != bound {
		t.Errorf("%d users cached after %d logins, want the bound %d", n, users, bound)
	}
	b.mu.Lock()
	_, last := b.users[fmt.Sprintf("user%06d", users-1)]
	_, first := b.users["user000000"]
	b.mu.Unlock()
	if !last || first {
		t.Errorf("the last user cached: %v, the first: %v; want the most recent kept", last, first)
	}
}
