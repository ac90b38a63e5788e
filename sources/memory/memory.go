// Package memory is a complete sources store held in memory: folders and
// items per user, a change log with paged states, every optional ability
// and push. Tests and demos use it in place of a real store, and the
// sourcetest suite holds it to the same contract as the adapters.
package memory

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/easgate/easgate/sources"
)

// Options configures a Store. A nil *Options means the zero Options.
type Options struct {
	// Tombstones is how many deletions each folder, and each user's
	// folder list, remembers. Past that, the oldest half is forgotten and
	// states from before them expire. Zero means 10,000.
	Tombstones int

	// MaxMessageSize limits the messages Send accepts; zero means 25 MiB.
	MaxMessageSize int64

	// Epoch, when not empty, prefixes every State in place of a value
	// derived from the start time, so that States survive a restart. It is
	// for tests and restarts of a store rebuilt identically: a State from a
	// store with other contents under the same Epoch would be taken as one
	// of this store's.
	Epoch string
}

// Store holds the data of any number of users. It is safe for concurrent
// use.
type Store struct {
	opts Options

	// epoch prefixes every State, so that a state from another Store (or
	// from before a restart) expires instead of meaning something else.
	epoch string

	mu    sync.Mutex
	users map[string]*Source
}

// New returns an empty Store.
func New(o *Options) *Store {
	s := &Store{
		epoch: strconv.FormatInt(time.Now().UnixNano(), 36),
		users: make(map[string]*Source),
	}
	if o != nil {
		s.opts = *o
	}
	if s.opts.Tombstones <= 0 {
		s.opts.Tombstones = 10000
	}
	if s.opts.MaxMessageSize <= 0 {
		s.opts.MaxMessageSize = 25 << 20
	}
	if s.opts.Epoch != "" {
		s.epoch = s.opts.Epoch
	}
	return s
}

// User returns the Source of the named user, creating the user on first
// use with the default folders: inbox, drafts, trash, sent, outbox,
// calendar, contacts, tasks, notes and journal, each with its role as ID.
func (s *Store) User(name string) *Source {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, ok := s.users[name]; ok {
		return u
	}
	u := &Source{
		opts:    &s.opts,
		epoch:   s.epoch,
		folders: make(map[sources.FolderID]*folder),
	}
	for _, d := range defaultFolders {
		u.addFolder(sources.Folder{ID: sources.FolderID(d.role), Name: d.name, Kind: d.kind, Role: d.role})
	}
	s.users[name] = u
	return u
}

var defaultFolders = []struct {
	role, name string
	kind       sources.FolderKind
}{
	{"inbox", "Inbox", sources.KindInbox},
	{"drafts", "Drafts", sources.KindDrafts},
	{"trash", "Deleted Items", sources.KindDeleted},
	{"sent", "Sent Items", sources.KindSent},
	{"outbox", "Outbox", sources.KindOutbox},
	{"calendar", "Calendar", sources.KindCalendar},
	{"contacts", "Contacts", sources.KindContacts},
	{"tasks", "Tasks", sources.KindTasks},
	{"notes", "Notes", sources.KindNotes},
	{"journal", "Journal", sources.KindJournal},
}

// Source is one user's store. It implements sources.Source and every
// optional ability.
type Source struct {
	opts  *Options
	epoch string

	mu sync.Mutex

	// seq is the user's modseq: every change to a folder or an item takes
	// the next value, so one number orders everything that happened.
	seq    uint64
	lastID uint64

	folders       map[sources.FolderID]*folder
	folderTombs   []tomb // deleted folders, oldest first
	folderHorizon uint64 // seq of the newest forgotten folder tomb

	sent [][]byte
}

// Interface guards.
var (
	_ sources.Source       = (*Source)(nil)
	_ sources.Writer       = (*Source)(nil)
	_ sources.Mover        = (*Source)(nil)
	_ sources.Flagger      = (*Source)(nil)
	_ sources.FolderWriter = (*Source)(nil)
	_ sources.Watcher      = (*Source)(nil)
	_ sources.Notifier     = (*Source)(nil)
	_ sources.Sender       = (*Source)(nil)
	_ sources.Searcher     = (*Source)(nil)
	_ sources.Attachments  = (*Source)(nil)
	_ sources.Stater       = (*Source)(nil)
)

// tomb remembers a deleted folder.
type tomb struct {
	id           sources.FolderID
	seq, created uint64
}

func (s *Source) next() uint64 {
	s.seq++
	return s.seq
}

func (s *Source) newID(prefix string) string {
	s.lastID++
	return prefix + strconv.FormatUint(s.lastID, 36)
}

func (s *Source) folder(id sources.FolderID) (*folder, error) {
	f, ok := s.folders[id]
	if !ok {
		return nil, fmt.Errorf("memory: folder %q: %w", id, sources.ErrNotFound)
	}
	return f, nil
}

// Folders implements sources.Source.
func (s *Source) Folders(ctx context.Context, since sources.State) (sources.FolderDelta, error) {
	if err := ctx.Err(); err != nil {
		return sources.FolderDelta{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var c uint64
	if since != "" {
		var err error
		if c, _, err = s.parseState(since); err != nil {
			return sources.FolderDelta{}, err
		}
		if s.folderHorizon > c {
			return sources.FolderDelta{}, fmt.Errorf("memory: folders since %q: %w", since, sources.ErrStateExpired)
		}
	}
	var d sources.FolderDelta
	for _, f := range s.folders {
		if f.seq > c {
			d.Changed = append(d.Changed, f.Folder)
		}
	}
	slices.SortFunc(d.Changed, func(a, b sources.Folder) int { return strings.Compare(string(a.ID), string(b.ID)) })
	for _, t := range s.folderTombs {
		if t.seq > c && t.created <= c {
			d.Removed = append(d.Removed, t.id)
		}
	}
	d.Next = s.state(s.seq, s.seq)
	return d, nil
}

// State implements sources.Stater.
func (s *Source) State(ctx context.Context, id sources.FolderID) (sources.State, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.folder(id); err != nil {
		return "", err
	}
	return s.state(s.seq, s.seq), nil
}

// ExpireStates forgets every deletion recorded so far, so that every State
// issued until now expires. The sourcetest harness uses it.
func (s *Source) ExpireStates() {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.next() // so that even the latest state expires
	s.folderTombs = nil
	s.folderHorizon = h
	for _, f := range s.folders {
		f.forget(f.tombs)
		f.horizon = h
	}
}

// Sent returns the raw messages given to Send, oldest first.
func (s *Source) Sent() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.sent...)
}

// state encodes a position in the change log. cursor is the modseq up to
// which the holder has seen changes; floor, at least cursor, is the modseq
// at which a first listing began: deletions up to it happened before the
// holder saw anything and are not reported. Outside a first listing the
// two are equal and the state is just "epoch.cursor".
func (s *Source) state(cursor, floor uint64) sources.State {
	st := s.epoch + "." + strconv.FormatUint(cursor, 36)
	if floor != cursor {
		st += "." + strconv.FormatUint(floor, 36)
	}
	return sources.State(st)
}

// parseState decodes a state from state. Anything it cannot use, whether
// malformed, from another Store or from the future, has expired.
func (s *Source) parseState(st sources.State) (cursor, floor uint64, err error) {
	bad := func() (uint64, uint64, error) {
		return 0, 0, fmt.Errorf("memory: state %q: %w", st, sources.ErrStateExpired)
	}
	rest, ok := strings.CutPrefix(string(st), s.epoch+".")
	if !ok {
		return bad()
	}
	c, f, hasFloor := strings.Cut(rest, ".")
	if cursor, err = strconv.ParseUint(c, 36, 64); err != nil {
		return bad()
	}
	floor = cursor
	if hasFloor {
		if floor, err = strconv.ParseUint(f, 36, 64); err != nil || floor < cursor {
			return bad()
		}
	}
	if floor > s.seq {
		return bad()
	}
	return cursor, floor, nil
}
