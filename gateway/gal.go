package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

// DirectoryOptions configure the address book that answers GAL searches
// (Search and Find) and ResolveRecipients: the contacts of one folder of
// each user's store, whatever the store.
type DirectoryOptions struct {
	// Folder is the id or, failing that, the name (case ignored) of the
	// folder whose contacts form the directory; "" is the user's default
	// contacts folder.
	Folder string

	// TTL is how long a user's directory is answered from memory before
	// the store is asked for what changed; 0 means 5 minutes, a negative
	// value asks on every request.
	TTL time.Duration

	// MaxUsers bounds the directories held in memory; past it the one used
	// least recently is dropped. 0 means 1,000.
	MaxUsers int

	// MaxEntries bounds the contacts read into one directory; the rest are
	// not searched, and a warning is logged. 0 means 20,000.
	MaxEntries int
}

// Directory defaults.
const (
	defaultDirectoryTTL   = 5 * time.Minute
	defaultDirectoryUsers = 1000
	defaultDirectorySize  = 20000
)

// directoryPage is how many changed contacts are read per Changes and Get
// call while a directory is loaded.
const directoryPage = 200

// directory caches each user's address book.
type directory struct {
	opts DirectoryOptions
	now  func() time.Time
	log  *slog.Logger

	mu    sync.Mutex
	books map[string]*addressBook // by user
}

func newDirectory(o DirectoryOptions, now func() time.Time, log *slog.Logger) *directory {
	if o.TTL == 0 {
		o.TTL = defaultDirectoryTTL
	}
	if o.MaxUsers <= 0 {
		o.MaxUsers = defaultDirectoryUsers
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = defaultDirectorySize
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &directory{opts: o, now: now, log: log, books: map[string]*addressBook{}}
}

// addressBook is one user's directory. mu is held while it is refreshed;
// entries is replaced, never changed in place, so a caller may keep
// reading the slice it got.
type addressBook struct {
	mu      sync.Mutex
	used    time.Time // guarded by directory.mu
	checked time.Time
	folder  sources.FolderID
	kind    eas.RecipientType
	state   sources.State
	byID    map[sources.ItemID]*galEntry
	entries []*galEntry // by display name
}

// galEntry is one contact of a directory, with its search keys.
type galEntry struct {
	props  eas.GALProperties // without Picture
	photo  []byte
	certs  [][]byte // DER X.509, for ResolveRecipients
	words  []string // lower-case words of the names
	emails []string // lower-case addresses
	phones []string // digits only
}

// lookup returns the user's directory, sorted by display name, and the
// recipient type its entries resolve as.
func (d *directory) lookup(ctx context.Context, sess *Session) ([]*galEntry, eas.RecipientType, error) {
	b := d.book(sess.User)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.byID != nil && d.now().Sub(b.checked) < d.opts.TTL {
		return b.entries, b.kind, nil
	}
	if err := d.refresh(ctx, sess.Source, b); err != nil {
		return nil, 0, err
	}
	b.checked = d.now()
	return b.entries, b.kind, nil
}

// book returns the address book of user, making room for it if it is new.
func (d *directory) book(user string) *addressBook {
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.books[user]
	if b == nil {
		for len(d.books) >= d.opts.MaxUsers {
			var oldest string
			for u, ob := range d.books {
				if oldest == "" || ob.used.Before(d.books[oldest].used) {
					oldest = u
				}
			}
			delete(d.books, oldest)
		}
		b = &addressBook{}
		d.books[user] = b
	}
	b.used = d.now()
	return b
}

// refresh brings b up to date through the folder's change feed: the
// whole folder the first time, what changed since after that.
func (d *directory) refresh(ctx context.Context, src sources.Source, b *addressBook) error {
	if b.folder == "" {
		f, kind, err := d.folder(ctx, src)
		if err != nil {
			return err
		}
		b.folder, b.kind = f, kind
	}
	byID := maps.Clone(b.byID)
	if byID == nil {
		byID = map[sources.ItemID]*galEntry{}
	}
	state := b.state
	for {
		delta, err := src.Changes(ctx, b.folder, state, directoryPage)
		if errors.Is(err, sources.ErrStateExpired) && state != "" {
			byID, state = map[sources.ItemID]*galEntry{}, ""
			continue
		}
		if err != nil {
			return fmt.Errorf("gateway: directory %s: %w", b.folder, err)
		}
		for _, id := range delta.Removed {
			delete(byID, id)
		}
		ids := delta.Changed
		if room := d.opts.MaxEntries - len(byID); len(ids) > room {
			// Known entries may change; only new ones are refused.
			keep := ids[:0:0]
			for _, id := range ids {
				if _, ok := byID[id]; ok || room > 0 {
					if !ok {
						room--
					}
					keep = append(keep, id)
				}
			}
			if len(keep) < len(ids) {
				d.log.Warn("directory full: contacts left out", "folder", string(b.folder), "max_entries", d.opts.MaxEntries)
			}
			ids = keep
		}
		if len(ids) > 0 {
			items, err := src.Get(ctx, b.folder, ids, nil)
			if err != nil {
				return fmt.Errorf("gateway: directory %s: %w", b.folder, err)
			}
			for i := range items {
				if c := items[i].Contact; c != nil {
					byID[items[i].ID] = newGALEntry(c)
				}
			}
		}
		state = delta.Next
		if !delta.More {
			break
		}
	}
	if b.byID == nil || !sameEntries(b.byID, byID) {
		entries := make([]*galEntry, 0, len(byID))
		for _, e := range byID {
			entries = append(entries, e)
		}
		slices.SortFunc(entries, func(a, b *galEntry) int {
			return cmp.Or(cmp.Compare(strings.ToLower(a.props.DisplayName), strings.ToLower(b.props.DisplayName)),
				cmp.Compare(a.props.EmailAddress, b.props.EmailAddress))
		})
		b.entries = entries
	}
	b.byID, b.state = byID, state
	return nil
}

// sameEntries reports whether a and b hold the same entries.
func sameEntries(a, b map[sources.ItemID]*galEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// folder finds the directory's folder. A configured folder is the
// organisation's list, the GAL; the default contacts folder is the user's
// own (MS-ASCMD 2.2.3.186.3).
func (d *directory) folder(ctx context.Context, src sources.Source) (sources.FolderID, eas.RecipientType, error) {
	fd, err := src.Folders(ctx, "")
	if err != nil {
		return "", 0, err
	}
	name := d.opts.Folder
	for _, f := range fd.Changed {
		if name == "" && f.Kind == sources.KindContacts || name != "" && string(f.ID) == name {
			return f.ID, recipientTypeFor(name), nil
		}
	}
	if name != "" {
		for _, f := range fd.Changed {
			if strings.EqualFold(f.Name, name) {
				return f.ID, eas.RecipientGAL, nil
			}
		}
	}
	return "", 0, fmt.Errorf("gateway: directory folder %q not in the store", name)
}

func recipientTypeFor(folder string) eas.RecipientType {
	if folder == "" {
		return eas.RecipientContact
	}
	return eas.RecipientGAL
}

// newGALEntry maps a contact onto the GAL properties, MS-ASCMD 2.2.3.139.3.
func newGALEntry(c *sources.Contact) *galEntry {
	e := &galEntry{
		props: eas.GALProperties{
			DisplayName: displayName(c),
			Phone:       cmp.Or(c.Phones.Business, c.Phones.Business2, c.Phones.CompanyMain),
			Office:      c.OfficeLocation,
			Title:       c.JobTitle,
			Company:     c.Company,
			Alias:       c.Alias,
			FirstName:   c.FirstName,
			LastName:    c.LastName,
			HomePhone:   cmp.Or(c.Phones.Home, c.Phones.Home2),
			MobilePhone: c.Phones.Mobile,
		},
		photo: c.Photo,
		certs: c.Certificates,
	}
	if len(c.Emails) > 0 {
		e.props.EmailAddress = c.Emails[0]
	}
	for _, s := range []string{e.props.DisplayName, c.FirstName, c.MiddleName, c.LastName, c.Nickname, c.Alias, c.FileAs} {
		e.words = append(e.words, nameWords(s)...)
	}
	for _, a := range c.Emails {
		e.emails = append(e.emails, strings.ToLower(a))
	}
	p := c.Phones
	for _, n := range []string{p.Home, p.Home2, p.Business, p.Business2, p.Mobile, p.Car, p.CompanyMain, p.Assistant, p.MMS} {
		if d := digits(n); d != "" {
			e.phones = append(e.phones, d)
		}
	}
	return e
}

// displayName is what a directory shows for c: its name, or what else
// names it.
func displayName(c *sources.Contact) string {
	var parts []string
	for _, s := range []string{c.FirstName, c.MiddleName, c.LastName} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) > 0 {
		return strings.Join(parts, " ")
	}
	if len(c.Emails) > 0 {
		return cmp.Or(c.FileAs, c.Nickname, c.Company, c.Emails[0])
	}
	return cmp.Or(c.FileAs, c.Nickname, c.Company)
}

// nameWords splits a name into lower-case words at spaces and punctuation.
func nameWords(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '\'' && r != '-'
	})
}

// digits keeps the digits of a phone number.
func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if '0' <= r && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// How well an entry matches a query, best last.
const (
	matchNone = iota
	matchSubstring
	matchPrefix
	matchExact
)

// galMatch is an entry that matched, and how well.
type galMatch struct {
	*galEntry
	level int
}

// match returns the entries that match query, best first, in directory
// order within a level. Like Exchange's ambiguous name resolution, each
// word of the query must begin (or, ranked lower, occur in) a word of the
// names, or begin an address: "ali" finds "Alice Example", "alice@" and
// "Example"; a query of digits is looked for in the phone numbers.
func match(entries []*galEntry, query string) []galMatch {
	q := strings.ToLower(strings.TrimSpace(query))
	if q == "" {
		return nil
	}
	words := strings.FieldsFunc(q, func(r rune) bool { return unicode.IsSpace(r) || r == ',' || r == ';' })
	phone := ""
	if strings.Trim(q, "0123456789+-()./ ") == "" {
		if phone = digits(q); len(phone) < 3 {
			phone = "" // too short to mean a number
		}
	}
	var out []galMatch
	for _, e := range entries {
		level := matchExact
		for _, w := range words {
			level = min(level, e.matchWord(w))
		}
		if phone != "" {
			level = max(level, e.matchPhone(phone))
		}
		if level != matchNone {
			out = append(out, galMatch{e, level})
		}
	}
	slices.SortStableFunc(out, func(a, b galMatch) int { return b.level - a.level })
	return out
}

// matchWord says how well one query word matches e.
func (e *galEntry) matchWord(w string) int {
	best := matchNone
	test := func(s string) {
		switch {
		case s == w:
			best = matchExact
		case strings.HasPrefix(s, w):
			best = max(best, matchPrefix)
		case strings.Contains(s, w):
			best = max(best, matchSubstring)
		}
	}
	// An address matches from its start only: a domain is shared by too
	// many people for its words to mean anyone.
	for _, a := range e.emails {
		if a == w {
			best = matchExact
		} else if strings.HasPrefix(a, w) {
			best = max(best, matchPrefix)
		}
	}
	for _, s := range e.words {
		test(s)
	}
	return best
}

// matchPhone says how well the digits q match one of e's numbers.
func (e *galEntry) matchPhone(q string) int {
	best := matchNone
	for _, p := range e.phones {
		switch {
		case p == q:
			best = matchExact
		case strings.HasPrefix(p, q):
			best = max(best, matchPrefix)
		case strings.Contains(p, q):
			best = max(best, matchSubstring)
		}
	}
	return best
}

// pictures hands out contact photos within the limits of a request's
// Picture option, MS-ASCMD 2.2.3.135: MaxSize bytes each, MaxPictures in
// all; zero limits are no limits.
type pictures struct {
	maxSize, maxPictures int
	given                int
}

// take returns the status of e's photo and, when it is 1, the photo.
func (p *pictures) take(e *galEntry) (eas.Status, []byte) {
	switch {
	case len(e.photo) == 0:
		return eas.StatusNoPicture, nil
	case p.maxSize > 0 && len(e.photo) > p.maxSize:
		return eas.StatusPictureTooLarge, nil
	case p.maxPictures > 0 && p.given >= p.maxPictures:
		return eas.StatusPictureLimitReached, nil
	}
	p.given++
	return 1, e.photo // success
}

// galPicture is e's photo as a GAL property.
func (p *pictures) galPicture(e *galEntry) *eas.GALPicture {
	st, data := p.take(e)
	return &eas.GALPicture{Status: st, Data: data}
}

// galRange parses a Range option, "m-n", defaulting to the first 100
// (MS-ASCMD 2.2.3.143), and returns the page of matches it selects.
func galRange[T any](rng string, all []T) (page []T, from int) {
	from, to := searchRange(rng)
	from = min(from, len(all))
	return all[from:min(len(all), to+1)], from
}

// searchGAL answers a Search of the GAL, MS-ASCMD 2.2.1.16: one page of
// the directory entries matching the query text, with photos if asked
// (14.1 and later).
func (s *Server) searchGAL(ctx context.Context, sess *Session, st *eas.SearchStore) (eas.SearchStoreResult, error) {
	entries, _, err := s.dir.lookup(ctx, sess)
	if err != nil {
		return eas.SearchStoreResult{}, err
	}
	found := match(entries, st.Query.Text)
	rng := ""
	var pics *pictures
	if o := st.Options; o != nil {
		rng = o.Range
		if o.Picture != nil {
			pics = &pictures{maxSize: int(o.Picture.MaxSize), maxPictures: int(o.Picture.MaxPictures)}
		}
	}
	page, from := galRange(rng, found)
	res := eas.SearchStoreResult{Status: eas.SearchStatusSuccess, Total: ptr(len(found))}
	if len(page) == 0 {
		// MS-ASCMD 2.2.3.155.3: no match is an empty Result.
		res.Result = []eas.SearchResult{{}}
		return res, nil
	}
	for _, m := range page {
		p := m.props
		if pics != nil {
			p.Picture = pics.galPicture(m.galEntry)
		}
		res.Result = append(res.Result, eas.SearchResult{Properties: eas.RawValue(&p)})
	}
	res.Range = fmt.Sprintf("%d-%d", from, from+len(page)-1)
	return res, nil
}
