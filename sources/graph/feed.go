package graph

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/easgate/easgate/sources"
)

// content is what a feed follows.
type content int

const (
	contentFolders content = iota
	contentMail
	contentContacts
	contentEvents
	contentTasks
	contentDirectory
)

// feed is the journal of one folder of one mailbox: every item id with
// the change number at which it last changed, as Graph's delta told it.
// Graph's delta link is one per folder and dies when newer generations
// push it out (§2.4), so it stays here; phones get States that name a
// position in the journal instead. When the link expires, a fresh
// listing is diffed against the journal: the phones see only the real
// changes, never a reset. The journal holds one small entry per item of
// the folder, removed ones included.
type feed struct {
	s      *Source
	folder sources.FolderID
	kind   content

	mu       sync.Mutex
	epoch    string // names this journal in States; kept with it
	link     string // Graph's delta link; "" before the first round
	seq      uint64
	entries  map[sources.ItemID]*jentry
	masters  map[string]string // calendar instance id → series master id
	instTags map[string]string // calendar instance id → its last changeKey

	// Persistence (Options.Journals): loaded says the stored journal was
	// read; saved is the seq it was last stored at, version the stored
	// version this journal is.
	loaded  bool
	saved   uint64
	version uint64

	// Poll scheduling, guarded by the poller's lock.
	next     time.Time
	interval time.Duration
}

type jentry struct {
	seq     uint64
	removed bool
	tag     string // changeKey or etag; a replay with the same tag is no change
}

func newFeed(s *Source, f sources.FolderID, k content) *feed {
	return &feed{s: s, folder: f, kind: k, epoch: newEpoch(), entries: make(map[sources.ItemID]*jentry),
		masters: make(map[string]string), instTags: make(map[string]string)}
}

// record notes that id exists with tag; it is a change when the id is new,
// was removed or has another tag. Replays change nothing (§2.1).
func (f *feed) record(id sources.ItemID, tag string) {
	e := f.entries[id]
	switch {
	case e == nil:
		f.seq++
		f.entries[id] = &jentry{seq: f.seq, tag: tag}
	case e.removed || tag == "" || e.tag != tag:
		f.seq++
		e.seq, e.removed, e.tag = f.seq, false, tag
	}
}

// touch notes a change of id whatever its tag.
func (f *feed) touch(id sources.ItemID) {
	f.seq++
	if e := f.entries[id]; e != nil {
		e.seq, e.removed = f.seq, false
		return
	}
	f.entries[id] = &jentry{seq: f.seq}
}

// drop notes that id is gone; gone twice is no change.
func (f *feed) drop(id sources.ItemID) {
	if e := f.entries[id]; e != nil && !e.removed {
		f.seq++
		e.seq, e.removed, e.tag = f.seq, true, ""
	}
}

// deltaRow is the part of a delta row the journal needs.
type deltaRow struct {
	ID             string          `json:"id"`
	ETag           string          `json:"@odata.etag"`
	ChangeKey      string          `json:"changeKey"`
	Removed        json.RawMessage `json:"@removed"`
	Type           string          `json:"type"`
	SeriesMasterID string          `json:"seriesMasterId"`
}

type deltaPage struct {
	Value     []json.RawMessage `json:"value"`
	NextLink  string            `json:"@odata.nextLink"`
	DeltaLink string            `json:"@odata.deltaLink"`
}

// sync brings the journal up to date with one delta round. An expired
// link is re-baselined once, silently (§2.4). f.mu is held.
func (f *feed) sync(ctx context.Context) error {
	if f.kind == contentDirectory {
		return f.directoryRound(ctx)
	}
	err := f.round(ctx)
	if errors.Is(err, sources.ErrStateExpired) {
		f.s.b.log.Info("graph: delta link expired; re-baselining", "mailbox", f.s.upn, "folder", f.folder, "err", err)
		f.link = ""
		err = f.round(ctx)
	}
	return err
}

// round follows one delta round to its deltaLink. A round from no link
// lists the folder; if the journal already has entries (a re-baseline),
// those missing from the listing are removed.
func (f *feed) round(ctx context.Context) error {
	initial := f.link == ""
	u, q := f.link, url.Values(nil)
	if initial {
		u, q = f.initial()
	}
	seen := make(map[sources.ItemID]bool)
	var touchedMasters []string
	prefer := []string{"odata.maxpagesize=" + strconv.Itoa(f.s.b.o.PageSize)}
	for pages := 0; ; pages++ {
		if pages > 100000 {
			return fmt.Errorf("graph: delta of %s: too many pages", f.folder)
		}
		var p deltaPage
		if err := f.s.c.getJSON(ctx, f.s.id, u, q, prefer, &p); err != nil {
			return err
		}
		q = nil
		for _, raw := range p.Value {
			var r deltaRow
			if json.Unmarshal(raw, &r) != nil || r.ID == "" {
				continue
			}
			if f.kind == contentEvents {
				if m := f.eventRow(r, seen); m != "" {
					touchedMasters = append(touchedMasters, m)
				}
				continue
			}
			id := sources.ItemID(r.ID)
			if r.Removed != nil {
				// A3: "changed" and "deleted" both mean gone from here.
				f.drop(id)
				continue
			}
			seen[id] = true
			tag := r.ChangeKey
			if tag == "" {
				tag = r.ETag
			}
			f.record(id, tag)
		}
		switch {
		case p.NextLink != "":
			u = p.NextLink
		case p.DeltaLink != "":
			f.link = p.DeltaLink
			if initial && len(f.entries) > 0 {
				for id, e := range f.entries {
					if !e.removed && !seen[id] {
						f.drop(id)
					}
				}
			}
			return f.checkMasters(ctx, touchedMasters)
		default:
			return fmt.Errorf("graph: delta of %s: a page without nextLink or deltaLink", f.folder)
		}
	}
}

// initial is the first request of a round for this feed (§2.2).
func (f *feed) initial() (string, url.Values) {
	id := url.PathEscape(strings.TrimPrefix(string(f.folder), prefixOf(f.kind)))
	switch f.kind {
	case contentContacts:
		return f.s.path + "/contactFolders/" + id + "/contacts/delta", url.Values{"$select": {"id,changeKey"}}
	case contentEvents:
		now := time.Now().UTC()
		q := url.Values{"startDateTime": {now.Add(-f.s.b.o.CalendarPast).Format("2006-01-02T00:00:00Z")},
			"endDateTime": {now.Add(f.s.b.o.CalendarFuture).Format("2006-01-02T00:00:00Z")}}
		return f.s.path + "/calendars/" + id + "/calendarView/delta", q
	case contentTasks:
		return f.s.path + "/todo/lists/" + id + "/tasks/delta", nil
	}
	return f.s.path + "/mailFolders/" + id + "/messages/delta", url.Values{"$select": {"id,changeKey"}}
}

// stateOf writes a journal position as a State: the journal's epoch, so
// a State of a journal that was lost (easgate restarted without
// Options.Journals) is known as such, then the change number. ":i"
// continues a first listing, ":m" any other paged answer; neither asks
// Graph again.
func (f *feed) stateOf(seq uint64, suffix string) sources.State {
	return sources.State(f.epoch + ":" + strconv.FormatUint(seq, 10) + suffix)
}

// parseState reads a State of stateOf. A State of another epoch, or one
// past the journal's end (a journal stored before the State was handed
// out cannot be, see save), is ErrStateExpired: the journal it points
// into is gone. f.mu is held.
func (f *feed) parseState(st sources.State) (seq uint64, initial, paged bool, err error) {
	if st == "" {
		return 0, true, false, nil
	}
	parts := strings.Split(string(st), ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, false, false, fmt.Errorf("graph: state %q: %w", st, sources.ErrStateExpired)
	}
	if parts[0] != f.epoch {
		return 0, false, false, fmt.Errorf("graph: state %q is of a journal that is gone: %w", st, sources.ErrStateExpired)
	}
	seq, perr := strconv.ParseUint(parts[1], 10, 64)
	if perr != nil || seq > f.seq {
		return 0, false, false, fmt.Errorf("graph: state %q: %w", st, sources.ErrStateExpired)
	}
	if len(parts) == 3 {
		initial, paged = parts[2] == "i", true
	}
	return seq, initial, paged, nil
}

// changes reads the journal after seq: at most max ids (no limit when
// max <= 0), oldest change first. f.mu is held.
func (f *feed) changes(seq uint64, initial bool, max int) sources.Delta {
	type idSeq struct {
		id sources.ItemID
		e  *jentry
	}
	var list []idSeq
	for id, e := range f.entries {
		if e.seq > seq && !(initial && e.removed) {
			list = append(list, idSeq{id, e})
		}
	}
	slices.SortFunc(list, func(a, b idSeq) int {
		switch {
		case a.e.seq < b.e.seq:
			return -1
		case a.e.seq > b.e.seq:
			return 1
		}
		return 0
	})
	var d sources.Delta
	if max > 0 && len(list) > max {
		list, d.More = list[:max], true
	}
	for _, x := range list {
		if x.e.removed {
			d.Removed = append(d.Removed, x.id)
		} else {
			d.Changed = append(d.Changed, x.id)
		}
	}
	switch {
	case d.More && initial:
		d.Next = f.stateOf(list[len(list)-1].e.seq, ":i")
	case d.More:
		d.Next = f.stateOf(list[len(list)-1].e.seq, ":m")
	default:
		d.Next = f.stateOf(f.seq, "")
	}
	return d
}

// Changes implements sources.Source.
func (s *Source) Changes(ctx context.Context, fid sources.FolderID, since sources.State, max int) (sources.Delta, error) {
	f, err := s.feed(ctx, fid)
	if err != nil {
		return sources.Delta{}, err
	}
	if err := f.lock(ctx); err != nil {
		return sources.Delta{}, err
	}
	defer f.mu.Unlock()
	for attempt := 0; ; attempt++ {
		seq, initial, paged, err := f.parseState(since)
		if err != nil {
			return sources.Delta{}, err
		}
		if !paged {
			if err := f.sync(ctx); err != nil {
				return sources.Delta{}, fmt.Errorf("graph: changes of %s: %w", fid, err)
			}
		}
		if err := f.save(ctx); err != nil {
			if errors.Is(err, errJournalMoved) && attempt == 0 {
				continue // once more on the journal the other node saved
			}
			return sources.Delta{}, err
		}
		return f.changes(seq, initial, max), nil
	}
}

// State implements sources.Stater.
func (s *Source) State(ctx context.Context, fid sources.FolderID) (sources.State, error) {
	f, err := s.feed(ctx, fid)
	if err != nil {
		return "", err
	}
	if err := f.lock(ctx); err != nil {
		return "", err
	}
	defer f.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if err := f.sync(ctx); err != nil {
			return "", fmt.Errorf("graph: state of %s: %w", fid, err)
		}
		if err := f.save(ctx); err != nil {
			if errors.Is(err, errJournalMoved) && attempt == 0 {
				continue
			}
			return "", err
		}
		return f.stateOf(f.seq, ""), nil
	}
}

// feed returns the journal of folder fid, made on first use; an unknown
// folder is ErrNotFound.
func (s *Source) feed(ctx context.Context, fid sources.FolderID) (*feed, error) {
	s.mu.Lock()
	f := s.feeds[fid]
	_, known := s.known[fid]
	s.mu.Unlock()
	if f != nil {
		return f, nil
	}
	if !known {
		if _, err := s.Folders(ctx, ""); err != nil {
			return nil, err
		}
		s.mu.Lock()
		_, known = s.known[fid]
		s.mu.Unlock()
		if !known {
			return nil, fmt.Errorf("graph: folder %q: %w", fid, sources.ErrNotFound)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f = s.feeds[fid]; f == nil {
		k := contentOf(s.known[fid].Kind)
		if fid == prefixDirectory {
			k = contentDirectory
		}
		f = newFeed(s, fid, k)
		s.feeds[fid] = f
	}
	return f, nil
}

func contentOf(k sources.FolderKind) content {
	switch k.Content() {
	case sources.ContentContacts:
		return contentContacts
	case sources.ContentCalendar:
		return contentEvents
	case sources.ContentTasks:
		return contentTasks
	}
	return contentMail
}

// Folder id prefixes of the hierarchies besides mail, whose Graph ids
// could otherwise not be told apart.
const (
	prefixContacts = "c."
	prefixCalendar = "k."
	prefixTasks    = "t."
	// prefixDirectory is the one folder of Options.Directory.
	prefixDirectory = "gal."
)

func prefixOf(k content) string {
	switch k {
	case contentContacts:
		return prefixContacts
	case contentEvents:
		return prefixCalendar
	case contentTasks:
		return prefixTasks
	case contentDirectory:
		return prefixDirectory
	}
	return ""
}

// graphID is the Graph id of folder fid.
func graphID(fid sources.FolderID) string {
	s := string(fid)
	for _, p := range []string{prefixContacts, prefixCalendar, prefixTasks, prefixDirectory} {
		if strings.HasPrefix(s, p) {
			return s[len(p):]
		}
	}
	return s
}

func newEpoch() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "g" + hex.EncodeToString(b)
}

// restart forgets the journals in memory, as a restart of easgate does;
// tests use it to see States from before a restart expire, or, with
// Options.Journals, continue.
func (s *Source) restart() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.feeds = make(map[sources.FolderID]*feed)
	s.folders = newFeed(s, "", contentFolders)
}
