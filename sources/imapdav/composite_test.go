package imapdav

import (
	"errors"
	"testing"

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
