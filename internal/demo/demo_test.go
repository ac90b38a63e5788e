package demo

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/memory"
)

// testNow is a Monday shortly before the end of summer time in Europe and
// the United States, so that the calendar spans both changes.
var testNow = time.Date(2025, time.October, 13, 9, 30, 0, 0, time.UTC)

// folderItems is what one folder of a populated store holds.
type folderItems struct {
	folder sources.Folder
	items  []sources.Item
}

// load populates a fresh store and reads every folder back, bodies and
// raw messages included, keyed by folder name.
func load(t testing.TB, seed int64) map[string]folderItems {
	t.Helper()
	ctx := context.Background()
	st := memory.New(nil)
	if err := Populate(ctx, st, "demo", testNow, seed); err != nil {
		t.Fatalf("Populate: %v", err)
	}
	src := st.User("demo")
	fd, err := src.Folders(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	all := make(map[string]folderItems)
	for _, f := range fd.Changed {
		d, err := src.Changes(ctx, f.ID, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		items, err := src.Get(ctx, f.ID, d.Changed, &sources.GetOptions{Text: true, HTML: true, MIME: true})
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(items, func(a, b sources.Item) int { return strings.Compare(string(a.ID), string(b.ID)) })
		all[f.Name] = folderItems{f, items}
	}
	return all
}

func TestPopulateCounts(t *testing.T) {
	start := time.Now()
	all := load(t, 1)
	t.Logf("Populate and read back: %v", time.Since(start))

	mails := 0
	for _, name := range []string{"Inbox", "Drafts", "Sent Items", "Deleted Items", "Junk", "Archive", "Projects", "Website Relaunch"} {
		n := len(all[name].items)
		t.Logf("%s: %d", name, n)
		if n < 3 {
			t.Errorf("folder %s has %d mails, want at least 3", name, n)
		}
		mails += n
	}
	if mails < 250 || mails > 350 {
		t.Errorf("%d mails, want about 300", mails)
	}
	if p, r := all["Projects"].folder, all["Website Relaunch"].folder; r.ParentID != p.ID || p.ParentID != "" {
		t.Errorf("Website Relaunch under %q, Projects under %q; want nested in a top-level Projects", r.ParentID, p.ParentID)
	}
	for name, want := range map[string][2]int{"Contacts": {40, 40}, "Calendar": {35, 45}, "Tasks": {15, 15}, "Notes": {10, 10}} {
		if n := len(all[name].items); n < want[0] || n > want[1] {
			t.Errorf("%s has %d items, want %d to %d", name, n, want[0], want[1])
		}
	}
	t.Logf("mails %d, contacts %d, events %d, tasks %d, notes %d", mails,
		len(all["Contacts"].items), len(all["Calendar"].items), len(all["Tasks"].items), len(all["Notes"].items))
}

func TestPopulateMail(t *testing.T) {
	all := load(t, 1)
	ids := make(map[string]bool)
	var unread, flagged, answered, html, replies, nonASCII, intlNames int
	types := make(map[string]int)
	var msgs []*sources.Message
	for _, fi := range all {
		for _, it := range fi.items {
			if m := it.Mail; m != nil {
				msgs = append(msgs, m)
				ids[m.MessageID] = true
			}
		}
	}
	for _, m := range msgs {
		if len(m.From) != 1 || len(m.To) == 0 || m.Subject == "" || m.Date.IsZero() || m.MessageID == "" || m.Text == nil {
			t.Errorf("mail %q: From %v, To %v, Date %v, ID %q, Text %v: want all set", m.Subject, m.From, m.To, m.Date, m.MessageID, m.Text != nil)
		}
		if !m.Date.Before(testNow) || m.Date.Before(testNow.AddDate(0, 0, -92)) {
			t.Errorf("mail %q dated %v, want in the 90 days before %v", m.Subject, m.Date, testNow)
		}
		if !utf8.ValidString(m.Subject) || strings.Contains(m.Subject, "=?") {
			t.Errorf("subject %q not decoded", m.Subject)
		}
		if m.MIME == nil {
			t.Fatalf("mail %q: no MIME", m.Subject)
		}
		rc, _ := m.MIME(context.Background())
		raw, _ := io.ReadAll(rc)
		if _, err := mail.ReadMessage(strings.NewReader(string(raw))); err != nil {
			t.Errorf("mail %q: ReadMessage: %v", m.Subject, err)
		}
		for l := range strings.Lines(string(raw)) {
			if len(l) > 998 || !strings.HasSuffix(l, "\r\n") {
				t.Errorf("mail %q: line %.40q... of %d bytes, or without CRLF", m.Subject, l, len(l))
				break
			}
		}
		if m.InReplyTo != "" {
			replies++
			if !ids[m.InReplyTo] {
				t.Errorf("mail %q answers %q, which is not in the store", m.Subject, m.InReplyTo)
			}
		}
		for _, a := range m.Attachments {
			types[a.ContentType]++
			if a.ContentType != "text/calendar" && (a.Name == "" || strings.ContainsAny(a.Name, "%'=")) {
				t.Errorf("mail %q: attachment named %q, want a decoded file name", m.Subject, a.Name)
			}
			if a.Name != "" && !utf8.ValidString(a.Name) {
				t.Errorf("mail %q: attachment name %q not UTF-8", m.Subject, a.Name)
			}
			if strings.ContainsRune(a.Name, 'ä') || strings.ContainsRune(a.Name, '評') {
				intlNames++
			}
		}
		if !m.Read {
			unread++
		}
		if m.Flagged {
			flagged++
		}
		if m.Answered {
			answered++
		}
		if m.HTML != nil {
			html++
		}
		for _, r := range m.Subject {
			if r >= 0x80 {
				nonASCII++
				break
			}
		}
	}
	t.Logf("unread %d, flagged %d, answered %d, HTML %d, replies %d, non-ASCII subjects %d, attachments %v",
		unread, flagged, answered, html, replies, nonASCII, types)
	for what, n := range map[string]int{"unread": unread, "flagged": flagged, "answered": answered, "HTML": html, "replies": replies, "non-ASCII subjects": nonASCII,
		"PDF attachments": types["application/pdf"], "PNG attachments": types["image/png"], "meeting requests": types["text/calendar"],
		"non-ASCII file names": intlNames} {
		if n == 0 {
			t.Errorf("no %s", what)
		}
	}
	if unread > len(msgs)/4 {
		t.Errorf("%d of %d mails unread, want most read", unread, len(msgs))
	}
}

func TestPopulateCalendar(t *testing.T) {
	all := load(t, 1)
	zones := make(map[string]int)
	var exceptions, deleted, allDay, attendees, reminders int
	for _, it := range all["Calendar"].items {
		e := it.Event
		zones[e.TimeZone]++
		if e.Recurrence != nil {
			for _, x := range e.Exceptions {
				exceptions++
				if x.Deleted {
					deleted++
				}
			}
		}
		if e.AllDay {
			allDay++
			if s := e.Start.In(mustLoad(e.TimeZone)); s.Hour() != 0 || s.Minute() != 0 {
				t.Errorf("all-day %q starts at %v, want midnight", e.Summary, s)
			}
		}
		if len(e.Attendees) > 0 {
			attendees++
		}
		if e.Reminder != nil {
			reminders++
		}
		if d := e.Start.Sub(testNow); e.Recurrence == nil && d < -8*7*24*time.Hour || d > 8*7*24*time.Hour || d > 9*7*24*time.Hour {
			t.Errorf("event %q starts %v, want within 8 weeks of %v", e.Summary, e.Start, testNow)
		}
		if !e.End.After(e.Start) {
			t.Errorf("event %q ends %v, not after its start %v", e.Summary, e.End, e.Start)
		}
	}
	t.Logf("zones %v, exceptions %d (%d deleted), all-day %d, with attendees %d, reminders %d", zones, exceptions, deleted, allDay, attendees, reminders)
	if zones["Europe/Berlin"] == 0 || zones["America/New_York"] == 0 {
		t.Errorf("zones %v, want Europe/Berlin and America/New_York", zones)
	}
	if exceptions == 0 || deleted == 0 || allDay == 0 || attendees == 0 || reminders == 0 {
		t.Error("want recurring events with changed and deleted occurrences, all-day events, attendees and reminders")
	}

	var recurring, complete int
	for _, it := range all["Tasks"].items {
		if it.Task.Recurrence != nil {
			recurring++
		}
		if it.Task.Complete {
			complete++
		}
	}
	if recurring != 1 || complete == 0 {
		t.Errorf("tasks: %d recurring, %d complete; want 1 and some", recurring, complete)
	}
	photos := 0
	for _, it := range all["Contacts"].items {
		c := it.Contact
		if len(c.Emails) == 0 || c.Phones.Mobile == "" {
			t.Errorf("contact %q: emails %v, mobile %q; want both", c.FileAs, c.Emails, c.Phones.Mobile)
		}
		if c.Photo != nil {
			photos++
		}
	}
	if photos == 0 {
		t.Error("no contact has a photo")
	}
}

// digest hashes what a populated store holds, leaving out what the store
// itself stamps (ETags, modification and receipt times).
func digest(t *testing.T, all map[string]folderItems) string {
	h := sha256.New()
	for _, n := range slices.Sorted(maps.Keys(all)) {
		fmt.Fprintf(h, "folder %s %s\n", n, all[n].folder.ID)
		for _, it := range all[n].items {
			fmt.Fprintf(h, "item %s\n", it.ID)
			var v any = []any{it.Contact, it.Event, it.Task, it.Note}
			if m := it.Mail; m != nil {
				rc, _ := m.MIME(context.Background())
				raw, _ := io.ReadAll(rc)
				v = []any{raw, m.Read, m.Flagged, m.Answered, m.FollowUp}
			}
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			h.Write(b)
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func TestPopulateDeterministic(t *testing.T) {
	a, b, c := digest(t, load(t, 1)), digest(t, load(t, 1)), digest(t, load(t, 2))
	if a != b {
		t.Errorf("seed 1 gave %s, then %s", a, b)
	}
	if a == c {
		t.Errorf("seeds 1 and 2 both gave %s", a)
	}
}

func TestDeliver(t *testing.T) {
	ctx := context.Background()
	if a, b := NewMail(testNow, 7), NewMail(testNow, 7); string(a) != string(b) {
		t.Error("NewMail(7) differs between calls")
	}
	st := memory.New(nil)
	src := st.User("demo")
	seen := make(map[string]bool)
	for n := range 20 {
		now := testNow.Add(time.Duration(n) * 3 * time.Minute)
		if err := Deliver(ctx, st, "demo", now, n); err != nil {
			t.Fatalf("Deliver(%d): %v", n, err)
		}
		seen[string(NewMail(now, n))] = true
	}
	d, err := src.Changes(ctx, "inbox", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	items, err := src.Get(ctx, "inbox", d.Changed, &sources.GetOptions{Text: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 20 || len(seen) != 20 {
		t.Fatalf("inbox holds %d mails of 20 delivered, %d distinct", len(items), len(seen))
	}
	for _, it := range items {
		m := it.Mail
		if m.Read || m.Subject == "" || m.Text == nil || m.Date.Before(testNow) || m.To[0].Email != "demo@example.com" {
			t.Errorf("delivered %q: read %v, date %v, to %v, text %v; want unread, new, to demo, with text", m.Subject, m.Read, m.Date, m.To, m.Text != nil)
		}
	}
}

func BenchmarkPopulate(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := Populate(ctx, memory.New(nil), "demo", testNow, 1); err != nil {
			b.Fatal(err)
		}
	}
}
