package dav

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/easgate/easgate/internal/testserver"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/sourcetest"
)

// source gives a Store the sources.Source interface for the conformance
// suite, as the composite in sources/imapdav does.
type source struct{ *Store }

func (s source) Folders(ctx context.Context, since sources.State) (sources.FolderDelta, error) {
	fs, err := s.Store.Folders(ctx)
	if err != nil {
		return sources.FolderDelta{}, err
	}
	h := sha256.New()
	for _, f := range fs {
		fmt.Fprintf(h, "%s\x00%s\x00%d\n", f.ID, f.Name, f.Kind)
	}
	next := sources.State(fmt.Sprintf("%x", h.Sum(nil)[:8]))
	if next == since {
		return sources.FolderDelta{Next: next}, nil
	}
	return sources.FolderDelta{Changed: fs, Next: next}, nil
}

// raw talks to the DAV server behind the Store's back.
type raw struct {
	t          testing.TB
	base, user string
}

func (r raw) do(ctx context.Context, method, path, ctype string, body string, hdr ...string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, strings.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.SetBasicAuth(r.user, testserver.Users[r.user])
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return resp, b, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	return resp, b, nil
}

// mkcalendar creates a calendar collection for comps under the user's
// home and returns its path.
func (r raw) mkcalendar(ctx context.Context, home, name, comps string) string {
	r.t.Helper()
	p := home + name + "/"
	var cs string
	for _, c := range strings.Split(comps, ",") {
		cs += `<C:comp name="` + c + `"/>`
	}
	body := `<?xml version="1.0" encoding="utf-8"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>` +
		`<D:displayname>` + name + `</D:displayname><C:supported-calendar-component-set>` + cs +
		`</C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>`
	if _, _, err := r.do(ctx, "MKCALENDAR", p, "application/xml", body); err != nil {
		r.t.Fatalf("MKCALENDAR: %v", err)
	}
	return p
}

func eventICS(uid string, n int) string {
	return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:" + uid +
		"\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260301T100000Z\r\nDTEND:20260301T110000Z\r\nSUMMARY:event " +
		fmt.Sprint(n) + "\r\nX-UNKNOWN-PROP;X-P=1:keep me\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
}

// harness starts a Store on a DAV server with two fresh calendars.
func harness(t *testing.T, srv *testserver.DAV, home string, o Options) sourcetest.Harness {
	ctx := t.Context()
	r := raw{t, strings.TrimSuffix(srv.URL, "/"), "alice"}
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	a := r.mkcalendar(ctx, home, "a"+suffix, "VEVENT")
	b := r.mkcalendar(ctx, home, "b"+suffix, "VEVENT")
	t.Cleanup(func() {
		r.do(context.Background(), "DELETE", a, "", "")
		r.do(context.Background(), "DELETE", b, "", "")
	})
	o.CalDAV, o.CardDAV = srv.URL, srv.URL
	o.PollInterval = 100 * time.Millisecond
	o.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	s, err := Open(ctx, &o, "alice", testserver.Users["alice"])
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	pathOf := func(f sources.FolderID) string { return strings.TrimPrefix(string(f), "dav:") }
	return sourcetest.Harness{
		Source: source{s},
		Folder: sources.FolderID("dav:" + a),
		Other:  sources.FolderID("dav:" + b),
		Add: func(ctx context.Context, f sources.FolderID, n int) (sources.ItemID, error) {
			uid := fmt.Sprintf("t%d-%d", time.Now().UnixNano(), n)
			_, _, err := r.do(ctx, "PUT", pathOf(f)+uid+".ics", "text/calendar", eventICS(uid, n))
			return sources.ItemID(uid + ".ics"), err
		},
		Modify: func(ctx context.Context, f sources.FolderID, id sources.ItemID) error {
			_, b, err := r.do(ctx, "GET", pathOf(f)+string(id), "", "")
			if err != nil {
				return err
			}
			nb := bytes.Replace(b, []byte("SUMMARY:"), []byte("SUMMARY:changed "), 1)
			_, _, err = r.do(ctx, "PUT", pathOf(f)+string(id), "text/calendar", string(nb))
			return err
		},
		Remove: func(ctx context.Context, f sources.FolderID, id sources.ItemID) error {
			_, _, err := r.do(ctx, "DELETE", pathOf(f)+string(id), "", "")
			return err
		},
		NewItem: func(n int) *sources.Item {
			return &sources.Item{Event: &sources.Event{
				Summary: fmt.Sprintf("sourcetest %d", n),
				Start:   time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
			}}
		},
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// servers are the DAV servers of the conformance runs and the user's
// calendar home on each.
var servers = []struct {
	name  string
	start func(testing.TB) *testserver.DAV
	home  string
}{
	{"Radicale", testserver.StartRadicale, "/alice/"},
	{"Xandikos", testserver.StartXandikos, "/alice/calendars/"},
}

func TestSourcetest(t *testing.T) {
	for _, sv := range servers {
		t.Run(sv.name, func(t *testing.T) {
			srv := sv.start(t)
			sourcetest.Run(t, func(t *testing.T) sourcetest.Harness { return harness(t, srv, sv.home, Options{}) })
		})
	}
	// The getctag and ETag diff fallback, against a server that has
	// sync-collection but is not asked for it.
	t.Run("Radicale/NoSync", func(t *testing.T) {
		srv := testserver.StartRadicale(t)
		sourcetest.Run(t, func(t *testing.T) sourcetest.Harness { return harness(t, srv, "/alice/", Options{noSync: true}) })
	})
}

// TestDAV covers what the conformance suite does not: discovery, a bogus
// sync-token, a broken object, a 412, and unknown properties surviving an
// edit.
func TestDAV(t *testing.T) {
	for _, sv := range servers {
		t.Run(sv.name, func(t *testing.T) {
			srv := sv.start(t)
			h := harness(t, srv, sv.home, Options{})
			s := h.Source.(source).Store
			ctx := t.Context()
			r := raw{t, strings.TrimSuffix(srv.URL, "/"), "alice"}

			fs, err := s.Folders(ctx)
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[sources.FolderKind]int{}
			for _, f := range fs {
				kinds[f.Kind]++
			}
			if kinds[sources.KindCalendar] != 1 || kinds[sources.KindContacts] != 1 || kinds[sources.KindTasks] != 1 {
				t.Errorf("Folders = %+v, want one default calendar, contacts and tasks folder", fs)
			}

			if _, err := s.Changes(ctx, h.Folder, state{t: "http://bogus/token/1"}.encode(), 0); !errors.Is(err, sources.ErrStateExpired) {
				t.Errorf("Changes(bogus token) = %v, want ErrStateExpired", err)
			}

			good, _ := h.Add(ctx, h.Folder, 1)
			p := strings.TrimPrefix(string(h.Folder), "dav:")
			// Xandikos keeps it, as "RRULE:None"; Radicale refuses it.
			broken := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:broken\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260301T100000Z\r\nRRULE:FREQ=SOMETIMES\r\nSUMMARY:broken\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
			if _, _, err := r.do(ctx, "PUT", p+"broken.ics", "text/calendar", broken); err != nil {
				t.Logf("the server refused the broken object: %v", err)
			}
			d, err := s.Changes(ctx, h.Folder, "", 0)
			if err != nil {
				t.Fatal(err)
			}
			items, err := s.Get(ctx, h.Folder, d.Changed, nil)
			if err != nil || len(items) != 1 || items[0].ID != good {
				t.Errorf("Get(%v) = %d items, %v; want only %s, the broken one skipped", d.Changed, len(items), err, good)
			}

			// A phone's edit keeps X-UNKNOWN-PROP; a stale ETag is a conflict.
			it := items[0]
			it.Event.Summary = "edited"
			_, etag, err := s.Put(ctx, h.Folder, &it, it.ETag)
			if err != nil {
				t.Fatalf("Put = %v", err)
			}
			_, b, _ := r.do(ctx, "GET", p+string(good), "", "")
			if !bytes.Contains(b, []byte("X-UNKNOWN-PROP;X-P=1:keep me")) || !bytes.Contains(b, []byte("SUMMARY:edited")) {
				t.Errorf("after Put the object is\n%s\nwant X-UNKNOWN-PROP kept and the new SUMMARY", b)
			}
			if _, _, err := s.Put(ctx, h.Folder, &it, it.ETag); !errors.Is(err, sources.ErrConflict) {
				t.Errorf("Put(stale ETag) = %v, want ErrConflict", err)
			}
			_ = etag
		})
	}
}

func TestOpenWrongPassword(t *testing.T) {
	srv := testserver.StartRadicale(t)
	_, err := Open(t.Context(), &Options{CalDAV: srv.URL}, "alice", "wrong")
	if !errors.Is(err, sources.ErrAuth) {
		t.Errorf("Open(wrong password) = %v, want ErrAuth", err)
	}
}
