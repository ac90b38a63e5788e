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

// pimOnly hides Move: Graph v1.0 has no move for contacts, events or
// tasks, and the Source refuses it for them.
type pimOnly struct {
	sources.Source
	sources.Writer
	sources.Watcher
}

func TestSourcetestPIM(t *testing.T) {
	user := "alice@" + testserver.GraphDomain
	kinds := []struct {
		name   string
		folder func(g *testserver.Graph, name string) (string, error)
		prefix string
		add    func(g *testserver.Graph, f string, n int) (string, error)
		modify map[string]any
		item   func(n int) *sources.Item
	}{
		{"contacts", func(g *testserver.Graph, name string) (string, error) { return g.Emu.CreateContactFolder(user, name) }, prefixContacts,
			func(g *testserver.Graph, f string, n int) (string, error) {
				return g.Emu.AddContact(user, f, map[string]any{"givenName": "Dora", "surname": fmt.Sprint("Card", n),
					"emailAddresses": []any{map[string]any{"address": fmt.Sprintf("dora%d@example.org", n)}}})
			}, map[string]any{"jobTitle": "Modified"},
			func(n int) *sources.Item {
				return &sources.Item{Contact: &sources.Contact{FirstName: "Put", LastName: fmt.Sprint("Contact", n)}}
			}},
		{"tasks", func(g *testserver.Graph, name string) (string, error) { return g.Emu.CreateTaskList(user, name) }, prefixTasks,
			func(g *testserver.Graph, f string, n int) (string, error) {
				return g.Emu.AddTask(user, f, map[string]any{"title": fmt.Sprint("Errand ", n), "status": "notStarted"})
			}, map[string]any{"status": "completed"},
			func(n int) *sources.Item {
				return &sources.Item{Task: &sources.Task{Subject: fmt.Sprint("Put task ", n)}}
			}},
		{"calendar", func(g *testserver.Graph, name string) (string, error) { return g.Emu.CreateCalendar(user, name) }, prefixCalendar,
			func(g *testserver.Graph, f string, n int) (string, error) {
				start := time.Now().UTC().Truncate(time.Hour).Add(time.Duration(24+n) * time.Hour)
				return g.Emu.AddEvent(user, f, map[string]any{"subject": fmt.Sprint("Meeting ", n),
					"start": map[string]any{"dateTime": start.Format("2006-01-02T15:04:05"), "timeZone": "UTC"},
					"end":   map[string]any{"dateTime": start.Add(time.Hour).Format("2006-01-02T15:04:05"), "timeZone": "UTC"}})
			}, map[string]any{"subject": "Modified meeting"},
			func(n int) *sources.Item {
				start := time.Now().UTC().Truncate(time.Hour).Add(48 * time.Hour)
				return &sources.Item{Event: &sources.Event{Summary: fmt.Sprint("Put event ", n), Start: start, End: start.Add(time.Hour)}}
			}},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			sourcetest.Run(t, func(t *testing.T) sourcetest.Harness {
				g, b := newBackend(t, graphemu.Options{}, Options{PageSize: 5})
				src := login(t, b, "alice")
				f1, err := k.folder(g, "Test")
				if err != nil {
					t.Fatal(err)
				}
				f2, err := k.folder(g, "Other")
				if err != nil {
					t.Fatal(err)
				}
				return sourcetest.Harness{
					Source: pimOnly{src, src, src}, Folder: sources.FolderID(k.prefix + f1), Other: sources.FolderID(k.prefix + f2),
					Add: func(ctx context.Context, f sources.FolderID, n int) (sources.ItemID, error) {
						id, err := k.add(g, graphID(f), n)
						return sources.ItemID(id), err
					},
					Modify: func(ctx context.Context, f sources.FolderID, id sources.ItemID) error {
						return g.Emu.UpdateItem(user, string(id), k.modify)
					},
					Remove: func(ctx context.Context, f sources.FolderID, id sources.ItemID) error {
						return g.Emu.DeleteItem(user, string(id))
					},
					Expire: func(ctx context.Context) error {
						g.Emu.ExpireTokens()
						src.restart()
						return nil
					},
					NewItem: k.item,
				}
			})
		})
	}
}
