package graph

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/easgate/easgate/internal/graphemu"
	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/sourcetest"
)

// passwords accepts "pw-" + the UPN's local part: the password table is
// statecache's, tested there; here it only has to say yes or no.
type passwords struct{}

func (passwords) CheckUserPassword(_ context.Context, user, pw string) (bool, error) {
	name, _, _ := strings.Cut(user, "@")
	return pw == "pw-"+name, nil
}

// newBackend starts an emulator and a Backend on it.
func newBackend(t testing.TB, eo graphemu.Options, o Options) (*testserver.Graph, *Backend) {
	t.Helper()
	g := testserver.StartGraph(t, eo)
	o.GraphURL, o.AuthorityURL = g.URL, g.URL
	o.Tenant, o.ClientID, o.ClientSecret = g.Tenant, g.ClientID, g.Secret
	o.Passwords = passwords{}
	o.MailDomain = testserver.GraphDomain
	if o.PollInterval == 0 {
		o.PollInterval = 50 * time.Millisecond
	}
	if o.MaxPollInterval == 0 {
		o.MaxPollInterval = 200 * time.Millisecond
	}
	b, err := NewBackend(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return g, b
}

func login(t testing.TB, b *Backend, user string) *Source {
	t.Helper()
	src, err := b.Login(context.Background(), user, "pw-"+user)
	if err != nil {
		t.Fatalf("Login(%s) = %v", user, err)
	}
	return src.(*Source)
}

func mail(n int) []byte {
	return []byte(fmt.Sprintf("From: Carol <carol@example.org>\r\nTo: alice@example.com\r\nSubject: message %d\r\n"+
		"Message-ID: <m%d-%d@example.org>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\nBody of message %d.\r\n", n, n, time.Now().UnixNano(), n))
}

func TestSourcetest(t *testing.T) {
	sourcetest.Run(t, func(t *testing.T) sourcetest.Harness {
		g, b := newBackend(t, graphemu.Options{}, Options{PageSize: 5})
		src := login(t, b, "alice")
		user := "alice@" + testserver.GraphDomain
		f1, err := g.Emu.CreateMailFolder(user, "", "Test")
		if err != nil {
			t.Fatal(err)
		}
		f2, err := g.Emu.CreateMailFolder(user, "", "Other")
		if err != nil {
			t.Fatal(err)
		}
		return sourcetest.Harness{
			Source: src, Folder: sources.FolderID(f1), Other: sources.FolderID(f2),
			Add: func(ctx context.Context, f sources.FolderID, n int) (sources.ItemID, error) {
				id, err := g.Emu.DeliverMail(user, string(f), mail(n))
				return sources.ItemID(id), err
			},
			Modify: func(ctx context.Context, f sources.FolderID, id sources.ItemID) error {
				return g.Emu.UpdateItem(user, string(id), map[string]any{"categories": []any{"Modified " + time.Now().String()}})
			},
			Remove: func(ctx context.Context, f sources.FolderID, id sources.ItemID) error {
				return g.Emu.DeleteItem(user, string(id))
			},
			// Graph's expired delta links are re-baselined inside the
			// adapter (TestExpiredDeltaLink); what a phone can still see
			// expire is a State from before easgate restarted.
			Expire: func(ctx context.Context) error {
				g.Emu.ExpireTokens()
				src.restart()
				return nil
			},
		}
	})
}
