// Package demo fills the in-memory store with the data of `easgate demo`:
// a realistic mailbox, address book, calendar, task list and notes for one
// user, so that a real EAS client pointed at the demo has something to
// show, and a trickle of new mail to show push with.
//
// Everything is made up: people, companies and domains (all under the
// reserved .example TLD). The data depends only on the seed and on the
// time given, so a seed reproduces a mailbox, relative to that time.
package demo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // the demo's zones must load on hosts without a zone database

	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/memory"
)

// DirectoryFolder is the contacts folder Populate fills with the
// organisation's people: the user and everyone the demo's mails come from
// (the newsletters and shops aside). The demo serves GAL searches from it.
const DirectoryFolder = "Directory"

// Populate fills the store of user, who must not have used any folder
// but the defaults yet, with about 300 mails over the 90 days before now,
// 40 contacts, 36 events from eight weeks before now to eight weeks after
// (a few series began earlier), 15 tasks and 10 notes. It adds the mail folders Junk and Archive
// and the user folders Projects and Projects/Website Relaunch, and the
// contacts folder DirectoryFolder. The same
// seed and now give the same data.
func Populate(ctx context.Context, st *memory.Store, user string, now time.Time, seed int64) error {
	if st == nil {
		return errors.New("demo: nil store")
	}
	g := newGen(rand.NewPCG(uint64(seed), 0x65617367617465), now, user)
	src := st.User(user)

	ids := map[string]sources.FolderID{inbox: "inbox", drafts: "drafts", sent: "sent", trash: "trash"}
	for _, f := range []struct{ key, parent, name string }{
		{junk, "", "Junk"},
		{archive, "", "Archive"},
		{projects, "", "Projects"},
		{relaunch, projects, "Website Relaunch"},
	} {
		id, err := src.CreateFolder(ctx, ids[f.parent], f.name, sources.KindUserMail)
		if err != nil {
			return fmt.Errorf("demo: folder %s: %w", f.name, err)
		}
		ids[f.key] = id
	}

	ms := g.mails()
	slices.SortStableFunc(ms, func(a, b *message) int {
		return cmp.Or(a.date.Compare(b.date), strings.Compare(a.id, b.id))
	})
	for _, m := range ms {
		if err := store(ctx, src, ids[m.folder], m); err != nil {
			return err
		}
	}

	dir, err := src.CreateFolder(ctx, "", DirectoryFolder, sources.KindUserContacts)
	if err != nil {
		return fmt.Errorf("demo: folder %s: %w", DirectoryFolder, err)
	}
	me := owner(user)
	items := []sources.Item{{Folder: dir, Contact: &sources.Contact{UID: g.uid("directory"), FirstName: me.Name,
		FileAs: me.Name, Emails: []string{me.Email}, JobTitle: "Demo user"}}}
	for i := range people {
		c := g.contact(i)
		items = append(items, sources.Item{Folder: "contacts", Contact: c})
		// The organisation's directory has everyone the mails come
		// from, apart from the user's own address book.
		entry := *c
		entry.UID = c.UID + "-directory"
		items = append(items, sources.Item{Folder: dir, Contact: &entry})
	}
	for _, e := range append(g.events(), g.invited) {
		items = append(items, sources.Item{Folder: "calendar", Event: e})
	}
	for _, t := range g.tasks() {
		items = append(items, sources.Item{Folder: "tasks", Task: t})
	}
	for _, n := range g.notes() {
		items = append(items, sources.Item{Folder: "notes", Note: n})
	}
	for i := range items {
		if _, _, err := src.Put(ctx, items[i].Folder, &items[i], ""); err != nil {
			return fmt.Errorf("demo: put in %s: %w", items[i].Folder, err)
		}
	}
	return nil
}

// store adds m to folder id and sets its flags.
func store(ctx context.Context, src *memory.Source, id sources.FolderID, m *message) error {
	item, err := src.AddMessage(ctx, id, m.raw())
	if err != nil {
		return fmt.Errorf("demo: add %q: %w", m.subject, err)
	}
	if !m.read && !m.flagged && !m.answered {
		return nil
	}
	u := sources.FlagUpdate{Read: &m.read, Answered: &m.answered}
	if m.flagged {
		u.Flagged = &m.flagged
		u.SetFollowUp = true
		u.FollowUp = &sources.FollowUp{Request: "Follow up", Start: m.date.UTC(), Due: m.date.AddDate(0, 0, 3).UTC()}
	}
	if err := src.UpdateFlags(ctx, id, item, u); err != nil {
		return fmt.Errorf("demo: flag %q: %w", m.subject, err)
	}
	return nil
}

// NewMail returns the n-th of the mails that keep arriving while the demo
// runs, addressed to the user "demo" and dated now. Mails with different n
// differ; the same n gives the same mail, apart from the date.
func NewMail(now time.Time, n int) []byte {
	return newMail("demo", now, n)
}

// Deliver adds the n-th new mail for user, dated now, to the user's Inbox.
func Deliver(ctx context.Context, st *memory.Store, user string, now time.Time, n int) error {
	if _, err := st.User(user).AddMessage(ctx, "inbox", newMail(user, now, n)); err != nil {
		return fmt.Errorf("demo: deliver: %w", err)
	}
	return nil
}

func newMail(user string, now time.Time, n int) []byte {
	g := newGen(rand.NewPCG(uint64(n), 0x6e65776d61696c), now, user)
	var m *message
	switch k := g.r.IntN(20); {
	case k < 12:
		m = g.single(now)
	case k < 16:
		m = g.notice(now)
	case k < 18:
		m = g.newsletter(now)
		m.date = now
	case k < 19:
		m = g.receipt(now)
	default:
		m = g.chartMail(now)
	}
	// The counter keeps ids unique when two mails share a second.
	m.id = fmt.Sprintf("new%d.%s", n, m.id)
	return m.raw()
}

// gen makes the demo's data from one random stream.
type gen struct {
	r      *rand.Rand
	now    time.Time
	owner  sources.Address
	byLang map[string][]int // indexes into people

	invited *sources.Event // the meeting the invitation mail put in the calendar
}

func newGen(src rand.Source, now time.Time, user string) *gen {
	g := &gen{
		r:      rand.New(src),
		now:    now,
		owner:  owner(user),
		byLang: make(map[string][]int),
	}
	for i, p := range people {
		g.byLang[p.lang] = append(g.byLang[p.lang], i)
	}
	return g
}

// The demo's time zones: the user lives in Berlin; some people write from
// New York and Tokyo.
var (
	berlin  = mustLoad("Europe/Berlin")
	newYork = mustLoad("America/New_York")
	tokyo   = mustLoad("Asia/Tokyo")
)

// zoneOf returns the zone of whoever writes from address email.
func zoneOf(email string) *time.Location {
	_, domain, _ := strings.Cut(email, "@")
	switch domain {
	case "kestrel.example", "harborpine.example":
		return newYork
	case "sakura-robotics.example":
		return tokyo
	}
	return berlin
}

func mustLoad(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err) // time/tzdata is linked in
	}
	return l
}

// owner returns the user's own address: user itself if it is one,
// otherwise user@example.com.
func owner(user string) sources.Address {
	if strings.Contains(user, "@") {
		return sources.Address{Name: user, Email: user}
	}
	name := user
	if name != "" {
		name = strings.ToUpper(name[:1]) + name[1:]
	}
	return sources.Address{Name: name, Email: user + "@example.com"}
}

// past returns a time in the last days days, during the day in Berlin.
func (g *gen) past(days int) time.Time {
	d := g.day(berlin, -g.r.IntN(days))
	t := time.Date(d.Year(), d.Month(), d.Day(), 7+g.r.IntN(14), g.r.IntN(60), g.r.IntN(60), 0, berlin)
	if !t.Before(g.now) {
		t = g.now.Add(-time.Duration(1+g.r.IntN(180)) * time.Minute)
	}
	return t
}

// sender picks someone who writes in lang.
func (g *gen) sender(lang string) *person {
	is := g.byLang[lang]
	return &people[is[g.r.IntN(len(is))]]
}

// colleague picks someone at p's company other than p, or anyone.
func (g *gen) colleague(p *person) sources.Address {
	var cs []int
	for i := range people {
		if people[i].company == p.company && &people[i] != p {
			cs = append(cs, i)
		}
	}
	if len(cs) == 0 {
		return people[g.r.IntN(len(people))].address()
	}
	return people[cs[g.r.IntN(len(cs))]].address()
}

// messageID returns a new Message-ID for a mail from a sent at t, in the
// sender's domain, as their server would make it.
func (g *gen) messageID(from sources.Address, t time.Time) string {
	_, domain, _ := strings.Cut(from.Email, "@")
	return fmt.Sprintf("%s.%08x@%s", t.UTC().Format("20060102150405"), g.r.Uint32(), domain)
}

func (g *gen) uid(kind string) string {
	return fmt.Sprintf("%s-%016x@easgate.example", kind, g.r.Uint64())
}
