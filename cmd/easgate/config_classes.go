package main

import (
	"io"
	"log/slog"

	"github.com/easgate/easgate/gateway"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/mux"
	"github.com/easgate/easgate/statecache"
)

// ClassesConfig is the [classes] section: which content types are served,
// and from which store of the account. A type is on unless set false; its
// store is store.kind unless its *_from key names another, configured in
// that store's own section. Cyrus 3.6, for one, has no JMAP tasks:
// tasks_from = "imapdav" takes them from its CalDAV.
type ClassesConfig struct {
	Email    bool `toml:"email"`    // default true
	Contacts bool `toml:"contacts"` // default true
	Calendar bool `toml:"calendar"` // default true
	Tasks    bool `toml:"tasks"`    // default true
	Notes    bool `toml:"notes"`    // default true

	EmailFrom    string `toml:"email_from"`    // memory, jmap, imapdav or graph; "": store.kind
	ContactsFrom string `toml:"contacts_from"` // as email_from
	CalendarFrom string `toml:"calendar_from"` // as email_from
	TasksFrom    string `toml:"tasks_from"`    // as email_from
	NotesFrom    string `toml:"notes_from"`    // as email_from
}

func defaultClassesConfig() ClassesConfig {
	return ClassesConfig{Email: true, Contacts: true, Calendar: true, Tasks: true, Notes: true}
}

// class is one content type of [classes]: whether it is on and its store.
type class struct {
	key     string // the config key
	on      bool
	from    string
	content sources.Content
}

func (c *Config) classes() []class {
	k := c.Classes
	return []class{
		{"email", k.Email, k.EmailFrom, sources.ContentMail},
		{"contacts", k.Contacts, k.ContactsFrom, sources.ContentContacts},
		{"calendar", k.Calendar, k.CalendarFrom, sources.ContentCalendar},
		{"tasks", k.Tasks, k.TasksFrom, sources.ContentTasks},
		{"notes", k.Notes, k.NotesFrom, sources.ContentNotes},
	}
}

// storeKinds returns the stores the content types that are on come from,
// store.kind first, and for each the types it serves; split reports
// whether that differs from store.kind serving everything.
func (c *Config) storeKinds() (kinds []string, contents map[string][]sources.Content, split bool) {
	contents = map[string][]sources.Content{}
	kinds = []string{c.Store.Kind}
	for _, cl := range c.classes() {
		if !cl.on {
			split = true
			continue
		}
		from := cl.from
		if from == "" {
			from = c.Store.Kind
		}
		if from != c.Store.Kind {
			split = true
			if _, ok := contents[from]; !ok {
				kinds = append(kinds, from)
			}
		}
		contents[from] = append(contents[from], cl.content)
		if cl.content == sources.ContentMail {
			// Journal folders (EAS has no class for them) go with mail.
			contents[from] = append(contents[from], sources.ContentJournal)
		}
	}
	return kinds, contents, split
}

// validateClasses checks [classes]: known stores, each configured, and
// something left to serve.
func (c *Config) validateClasses(e *configErrors) {
	on := false
	for _, cl := range c.classes() {
		on = on || cl.on
		if cl.from == "" || cl.from == c.Store.Kind {
			continue
		}
		key := "classes." + cl.key + "_from"
		switch cl.from {
		case "memory":
		case "graph": // [graph]'s keys are checked by validateGraph
		case "jmap":
			if c.JMAP.SessionURL == "" {
				e.add(key, "jmap needs jmap.session_url")
			}
		case "imapdav":
			if c.IMAP.Addr == "" {
				e.add(key, "imapdav needs imap.addr (the IMAP+DAV adapter logs in over IMAP)")
			}
			if (cl.content == sources.ContentContacts && c.DAV.CardDAVURL == "") ||
				(cl.content != sources.ContentContacts && cl.content != sources.ContentMail && c.DAV.CalDAVURL == "") {
				e.add(key, "imapdav serves %s from DAV, and [dav] has no URL for it", cl.key)
			}
		default:
			e.add(key, "%q is not one of memory, jmap, imapdav, graph", cl.from)
		}
	}
	if !on {
		e.add("classes", "every content type is switched off: nothing to serve")
	}
}

// classesBackend returns the Backend of [classes]: store.kind's alone, or
// a mux over the stores the content types come from.
func classesBackend(cfg *Config, log *slog.Logger, state *statecache.Store) (gateway.Backend, error) {
	kinds, contents, split := cfg.storeKinds()
	if !split {
		return storeBackend(cfg, cfg.Store.Kind, log, state)
	}
	var routes []mux.BackendRoute
	var closers []io.Closer
	for _, k := range kinds {
		if len(contents[k]) == 0 {
			continue // store.kind with every type elsewhere or off
		}
		b, err := storeBackend(cfg, k, log, state)
		if err != nil {
			return nil, err
		}
		if c, ok := b.(io.Closer); ok {
			closers = append(closers, c)
		}
		routes = append(routes, mux.BackendRoute{Login: b.Login, Contents: contents[k]})
	}
	return closingBackend{mux.NewBackend(routes, cfg.DAV.PollInterval), closers}, nil
}
