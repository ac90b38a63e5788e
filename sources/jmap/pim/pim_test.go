package pim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	gojmap "git.sr.ht/~rockorager/go-jmap"

	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/sourcetest"
)

// source makes a Store a sources.Source for the conformance suite; the
// jmap package merges its folders with the mail folders in the real one.
type source struct{ *Store }

func (s source) Folders(ctx context.Context, since sources.State) (sources.FolderDelta, error) {
	fs, err := s.Store.Folders(ctx)
	if since != "" {
		fs = nil
	}
	return sources.FolderDelta{Changed: fs, Next: "1"}, err
}

// cyrus is one Cyrus account reached through go-jmap (for the Store) and
// through plain HTTP (for the harness, which changes things behind the
// Store's back).
type cyrus struct {
	t       *testing.T
	api     string
	store   *Store
	account string
}

func startCyrus(t *testing.T) *cyrus {
	cy := testserver.StartCyrus(t, nil)
	c := (&gojmap.Client{SessionEndpoint: cy.JMAP}).WithBasicAuth("alice", "alice-pass")
	if err := c.Authenticate(); err != nil {
		t.Fatalf("Authenticate = %v", err)
	}
	// Cyrus's session URLs are relative.
	base, _ := url.Parse(cy.JMAP)
	api, _ := base.Parse(c.Session.APIURL)
	c.Session.APIURL = api.String()
	return &cyrus{t: t, api: api.String(), store: New(c, "alice", c.Session.RawCapabilities), account: "alice"}
}

// call sends one method call as alice and returns its arguments.
func (c *cyrus) call(ctx context.Context, name string, args map[string]any) (map[string]any, error) {
	args["accountId"] = c.account
	body, _ := json.Marshal(map[string]any{
		"using":       []string{"urn:ietf:params:jmap:core", string(CyrusContacts), string(CyrusCalendars)},
		"methodCalls": []any{[]any{name, args, "0"}},
	})
	req, _ := http.NewRequestWithContext(ctx, "POST", c.api, bytes.NewReader(body))
	req.SetBasicAuth("alice", "alice-pass")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r struct {
		MethodResponses [][]json.RawMessage `json:"methodResponses"`
	}
	if err := json.Unmarshal(b, &r); err != nil || len(r.MethodResponses) != 1 {
		return nil, fmt.Errorf("%s: %s", name, b)
	}
	var n string
	var out map[string]any
	json.Unmarshal(r.MethodResponses[0][0], &n)
	json.Unmarshal(r.MethodResponses[0][1], &out)
	if n == "error" {
		return nil, fmt.Errorf("%s: %v", name, out)
	}
	for _, k := range []string{"notCreated", "notUpdated", "notDestroyed"} {
		if out[k] != nil {
			return nil, fmt.Errorf("%s: %s %v", name, k, out[k])
		}
	}
	return out, nil
}

func (c *cyrus) mustCall(name string, args map[string]any) map[string]any {
	c.t.Helper()
	out, err := c.call(c.t.Context(), name, args)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

func (c *cyrus) create(ctx context.Context, typ string, o map[string]any) (sources.ItemID, error) {
	out, err := c.call(ctx, typ+"/set", map[string]any{"create": map[string]any{"x": o}})
	if err != nil {
		return "", err
	}
	id, _ := out["created"].(map[string]any)["x"].(map[string]any)["id"].(string)
	return sources.ItemID(id), nil
}

// empty destroys every object of typ the query finds.
func (c *cyrus) empty(typ string, filter map[string]any) {
	q := map[string]any{}
	if filter != nil {
		q["filter"] = filter
	}
	ids := c.mustCall(typ+"/query", q)["ids"]
	if l, _ := ids.([]any); len(l) > 0 {
		c.mustCall(typ+"/set", map[string]any{"destroy": ids})
	}
}

func TestContactsConformance(t *testing.T) {
	c := startCyrus(t)
	const f = Prefix + "contacts"
	sourcetest.Run(t, func(t *testing.T) sourcetest.Harness {
		c.t = t
		c.empty("Contact", nil)
		return sourcetest.Harness{
			Source: source{c.store},
			Folder: f, Other: f,
			Add: func(ctx context.Context, _ sources.FolderID, n int) (sources.ItemID, error) {
				return c.create(ctx, "Contact", map[string]any{"firstName": fmt.Sprint("Carol", n), "lastName": "Jones"})
			},
			Modify: func(ctx context.Context, _ sources.FolderID, id sources.ItemID) error {
				_, err := c.call(ctx, "Contact/set", map[string]any{"update": map[string]any{string(id): map[string]any{"lastName": time.Now().String()}}})
				return err
			},
			Remove: func(ctx context.Context, _ sources.FolderID, id sources.ItemID) error {
				_, err := c.call(ctx, "Contact/set", map[string]any{"destroy": []sources.ItemID{id}})
				return err
			},
			NewItem: func(n int) *sources.Item {
				return &sources.Item{Contact: &sources.Contact{FirstName: fmt.Sprint("Put", n), Emails: []string{fmt.Sprintf("p%d@example.com", n)}}}
			},
		}
	})
}

func TestCalendarConformance(t *testing.T) {
	c := startCyrus(t)
	other := c.mustCall("Calendar/set", map[string]any{"create": map[string]any{"o": map[string]any{"name": "Other"}}})
	otherID := other["created"].(map[string]any)["o"].(map[string]any)["id"].(string)
	folder, otherFolder := sources.FolderID(Prefix+"cal:Default"), sources.FolderID(Prefix+"cal:"+otherID)
	cal := func(f sources.FolderID) string { return string(f[len(Prefix+"cal:"):]) }
	sourcetest.Run(t, func(t *testing.T) sourcetest.Harness {
		c.t = t
		c.empty("CalendarEvent", nil)
		return sourcetest.Harness{
			Source: source{c.store},
			Folder: folder, Other: otherFolder,
			Add: func(ctx context.Context, f sources.FolderID, n int) (sources.ItemID, error) {
				return c.create(ctx, "CalendarEvent", map[string]any{"@type": "jsevent", "calendarId": cal(f),
					"title": fmt.Sprint("Event ", n), "start": fmt.Sprintf("2026-03-%02dT10:00:00", n%28+1),
					"timeZone": "Europe/Berlin", "duration": "PT1H"})
			},
			Modify: func(ctx context.Context, _ sources.FolderID, id sources.ItemID) error {
				_, err := c.call(ctx, "CalendarEvent/set", map[string]any{"update": map[string]any{string(id): map[string]any{"title": time.Now().String()}}})
				return err
			},
			Remove: func(ctx context.Context, _ sources.FolderID, id sources.ItemID) error {
				_, err := c.call(ctx, "CalendarEvent/set", map[string]any{"destroy": []sources.ItemID{id}})
				return err
			},
			NewItem: func(n int) *sources.Item {
				start := time.Date(2026, 4, n, 9, 0, 0, 0, time.UTC)
				return &sources.Item{Event: &sources.Event{Summary: fmt.Sprint("Put ", n), Start: start, End: start.Add(time.Hour)}}
			},
		}
	})
}

func TestFoldersCyrus(t *testing.T) {
	c := startCyrus(t)
	fs, err := c.store.Folders(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []sources.Folder{
		{ID: "pim:contacts", Name: "Contacts", Kind: sources.KindContacts},
		{ID: "pim:cal:Default", Name: "personal", Kind: sources.KindCalendar},
	}
	if fmt.Sprint(fs) != fmt.Sprint(want) {
		t.Errorf("Folders = %+v, want %+v", fs, want)
	}
	if got := fmt.Sprint(c.store.DataTypes()); got != "[Contact CalendarEvent Calendar]" {
		t.Errorf("DataTypes = %s", got)
	}
	var none *Store
	if fs, err := none.Folders(t.Context()); len(fs) != 0 || err != nil {
		t.Errorf("nil Store: Folders = %v, %v", fs, err)
	}
	if fs, _ := New[any](nil, "x", nil).Folders(t.Context()); len(fs) != 0 {
		t.Errorf("Store without capabilities: Folders = %v", fs)
	}
}
