// Package pim serves the contacts and calendars of a JMAP account as
// sources folders. It speaks two dialects, chosen from the session's
// capabilities: Cyrus 3.6's own (https://cyrusimap.org/ns/jmap/contacts,
// a legacy Contact object in one address book, and .../calendars, an early
// JSCalendar draft with singular calendarId and recurrenceRule), and the
// IETF ones (RFC 9610 AddressBook and ContactCard with RFC 9553 JSContact;
// Calendar and CalendarEvent with RFC 8984 JSCalendar). Only Cyrus's can be
// tested here.
//
// Writes patch only the properties the sources model expresses, and of
// those only the ones whose value the device changed, so that server data
// a device never saw survives its edits.
package pim

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	gojmap "git.sr.ht/~rockorager/go-jmap"

	"github.com/easgate/easgate/sources"
)

// Capabilities of the two dialects.
const (
	CyrusContacts  gojmap.URI = "https://cyrusimap.org/ns/jmap/contacts"
	CyrusCalendars gojmap.URI = "https://cyrusimap.org/ns/jmap/calendars"
	Contacts       gojmap.URI = "urn:ietf:params:jmap:contacts"  // RFC 9610
	Calendars      gojmap.URI = "urn:ietf:params:jmap:calendars" // draft-ietf-jmap-calendars
)

// Folder ids all start with this prefix, so the mail side can tell them
// from Mailbox ids.
const Prefix = "pim:"

// Store is the contacts and calendars of one JMAP account. Its methods
// are safe for concurrent use; a nil *Store has no folders.
type Store struct {
	c        *gojmap.Client
	account  gojmap.ID
	contacts *kind // nil without a contacts capability
	events   *kind // nil without a calendars capability

	mu      sync.Mutex
	folders map[sources.FolderID]folder // as the last Folders call saw them
}

// folder is one address book or calendar.
type folder struct {
	kind *kind
	id   string // the JMAP id of the address book or calendar
}

// New returns the PIM part of account. caps are the account's (or the
// session's) capabilities; only their keys count, so a Session's
// RawCapabilities or Capabilities map does as well as any. IETF dialects
// win over Cyrus's when a server offers both. Without a PIM capability
// the Store has no folders.
func New[V any](c *gojmap.Client, account gojmap.ID, caps map[gojmap.URI]V) *Store {
	s := &Store{c: c, account: account}
	has := func(u gojmap.URI) bool { _, ok := caps[u]; return ok }
	switch {
	case has(Contacts):
		s.contacts = ietfContacts
	case has(CyrusContacts):
		s.contacts = cyrusContacts
	}
	switch {
	case has(Calendars):
		s.events = ietfEvents
	case has(CyrusCalendars):
		s.events = cyrusEvents
	}
	return s
}

// DataTypes returns the JMAP type names whose push StateChange means a
// change in one of the Store's folders.
func (s *Store) DataTypes() []string {
	var t []string
	for _, k := range s.kinds() {
		t = append(t, k.name)
		if k.folderType != "" {
			t = append(t, k.folderType)
		}
	}
	return t
}

func (s *Store) kinds() []*kind {
	if s == nil || s.c == nil {
		return nil
	}
	var ks []*kind
	for _, k := range []*kind{s.contacts, s.events} {
		if k != nil {
			ks = append(ks, k)
		}
	}
	return ks
}

// Folders lists one folder per address book and calendar, their ids
// prefixed "pim:". Cyrus has one address book, "pim:contacts".
func (s *Store) Folders(ctx context.Context) ([]sources.Folder, error) {
	if s == nil {
		return nil, nil
	}
	var calls []*call
	var ks []*kind
	var out []sources.Folder
	m := make(map[sources.FolderID]folder)
	for _, k := range s.kinds() {
		if k.folderType == "" {
			f := sources.Folder{ID: Prefix + "contacts", Name: "Contacts", Kind: sources.KindContacts}
			out = append(out, f)
			m[f.ID] = folder{kind: k, id: k.defaultFolder}
			continue
		}
		calls = append(calls, &call{k.folderType + "/get", k.using, map[string]any{"accountId": s.account}})
		ks = append(ks, k)
	}
	if len(calls) > 0 {
		res, err := s.do(ctx, calls...)
		if err != nil {
			return nil, err
		}
		for i, r := range res {
			k := ks[i]
			list := r.(*getResponse).List
			def := -1
			for j, o := range list {
				if b, _ := o["isDefault"].(bool); b || str(o, "id") == k.defaultFolder {
					def = j
					break
				}
			}
			if def < 0 && len(list) > 0 {
				def = 0
			}
			for j, o := range list {
				id := str(o, "id")
				f := sources.Folder{ID: sources.FolderID(k.folderPrefix + id), Name: str(o, "name")}
				if f.Name == "" {
					f.Name = id
				}
				switch {
				case k.content == sources.ContentContacts && j == def:
					f.Kind = sources.KindContacts
				case k.content == sources.ContentContacts:
					f.Kind = sources.KindUserContacts
				case j == def:
					f.Kind = sources.KindCalendar
				default:
					f.Kind = sources.KindUserCalendar
				}
				out = append(out, f)
				m[f.ID] = folder{kind: k, id: id}
			}
		}
	}
	s.mu.Lock()
	s.folders = m
	s.mu.Unlock()
	return out, nil
}

// folder resolves f, listing the folders again if it is not known yet.
func (s *Store) folder(ctx context.Context, f sources.FolderID) (folder, error) {
	if !strings.HasPrefix(string(f), Prefix) || s == nil {
		return folder{}, fmt.Errorf("jmap: folder %q: %w", f, sources.ErrNotFound)
	}
	s.mu.Lock()
	fo, ok := s.folders[f]
	s.mu.Unlock()
	if ok {
		return fo, nil
	}
	if _, err := s.Folders(ctx); err != nil {
		return folder{}, err
	}
	s.mu.Lock()
	fo, ok = s.folders[f]
	s.mu.Unlock()
	if !ok {
		return folder{}, fmt.Errorf("jmap: folder %q: %w", f, sources.ErrNotFound)
	}
	return fo, nil
}

// kind is one JMAP data type of one dialect and how it maps to sources.
type kind struct {
	name          string // the JMAP type: "Contact", "ContactCard", "CalendarEvent"
	using         []gojmap.URI
	content       sources.Content
	folderType    string // "Calendar", "AddressBook"; empty for Cyrus's single address book
	folderPrefix  string // sources folder id prefix before the JMAP id
	defaultFolder string // id of the default folder, when the dialect has no isDefault

	// folderProp is the property naming an object's folder: a string
	// (Cyrus) or a set of ids (IETF); query filters on it with
	// queryFilter, when that is not empty.
	folderProp  string
	folderSet   bool
	queryFilter string

	// ignoresPosition says Foo/query answers from position 0 whatever
	// position it is asked for.
	ignoresPosition bool
	newObject       obj // properties every created object carries

	// read fills it from o; write returns the properties the model
	// expresses, built from it on top of base (nil for a new object),
	// which keeps what the model cannot say.
	read  func(o obj, it *sources.Item) error
	write func(it *sources.Item, base obj) (obj, error)

	// maps are the properties whose values are maps of sub-objects;
	// patches replace their entries one by one (RFC 8620 section 5.3).
	maps []string
}

// in reports whether object o is in folder id.
func (k *kind) in(o obj, id string) bool {
	if !k.folderSet {
		return str(o, k.folderProp) == id
	}
	m, _ := o[k.folderProp].(map[string]any)
	b, _ := m[id].(bool)
	return b
}

func (k *kind) setFolder(o obj, id string) {
	if k.folderSet {
		o[k.folderProp] = map[string]any{id: true}
	} else {
		o[k.folderProp] = id
	}
}

func (k *kind) isMap(p string) bool { return slices.Contains(k.maps, p) }

// str returns o[p] if it is a string.
func str(o obj, p string) string {
	s, _ := o[p].(string)
	return s
}
