package dav

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-vcard"

	"github.com/easgate/easgate/sources"
)

// Interface guards: the composite in sources/imapdav forwards to these.
var _ interface {
	Changes(context.Context, sources.FolderID, sources.State, int) (sources.Delta, error)
	Get(context.Context, sources.FolderID, []sources.ItemID, *sources.GetOptions) ([]sources.Item, error)
} = (*Store)(nil)
var _ sources.Writer = (*Store)(nil)
var (
	_ sources.Watcher  = (*Store)(nil)
	_ sources.Notifier = (*Store)(nil)
)
var _ sources.Stater = (*Store)(nil)

// multigetBatch bounds the hrefs of one multiget REPORT.
const multigetBatch = 200

// maxRaw bounds the objects kept for merging on Put, by total size.
const maxRaw = 32 << 20

// Get fetches ids of folder f with multiget. An object that does not parse
// is logged and left out, as are ids that no longer exist and, in a
// calendar that also holds to-dos, objects of the other kind.
func (s *Store) Get(ctx context.Context, f sources.FolderID, ids []sources.ItemID, o *sources.GetOptions) ([]sources.Item, error) {
	c, err := s.collection(ctx, f)
	if err != nil {
		return nil, err
	}
	byHref := make(map[string]object, len(ids))
	for i := 0; i < len(ids); i += multigetBatch {
		hrefs := make([]string, 0, multigetBatch)
		for _, id := range ids[i:min(i+multigetBatch, len(ids))] {
			hrefs = append(hrefs, s.href(c, id))
		}
		objs, err := s.multiget(ctx, c.path, c.card, hrefs)
		if err != nil {
			return nil, fmt.Errorf("dav: multiget in %s: %w", f, err)
		}
		for _, ob := range objs {
			byHref[ob.href] = ob
		}
	}
	items := make([]sources.Item, 0, len(ids))
	for _, id := range ids {
		ob, ok := byHref[s.href(c, id)]
		if !ok {
			continue
		}
		it, err := s.decode(c, ob)
		if err != nil {
			s.log.Warn("dav: skipping an object that does not parse", "href", ob.href, "err", err)
			continue
		}
		if it == nil {
			continue
		}
		it.ID, it.Folder = id, f
		s.keep(ob)
		items = append(items, *it)
	}
	return items, nil
}

// href is item id's path in collection c.
func (s *Store) href(c *collection, id sources.ItemID) string {
	return strings.TrimSuffix(c.path, "/") + "/" + string(id)
}

// keep remembers ob for a later merge, within maxRaw.
func (s *Store) keep(ob object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.raw[ob.href]; ok {
		s.rawSize -= len(old.data)
	}
	for k, v := range s.raw {
		if s.rawSize+len(ob.data) <= maxRaw {
			break
		}
		delete(s.raw, k)
		s.rawSize -= len(v.data)
	}
	s.raw[ob.href] = ob
	s.rawSize += len(ob.data)
}

// decode turns a server object into an item of c's kind; nil when it is
// an object of another kind (a to-do in the event view).
func (s *Store) decode(c *collection, ob object) (*sources.Item, error) {
	it := &sources.Item{ETag: ob.etag}
	if c.card {
		card, err := vcard.NewDecoder(strings.NewReader(ob.data)).Decode()
		if err != nil {
			return nil, err
		}
		it.Contact = contactFromVCard(card)
		return it, nil
	}
	cal, err := ical.NewDecoder(strings.NewReader(ob.data)).Decode()
	if err != nil {
		return nil, err
	}
	if c.folder.Kind.Content() == sources.ContentTasks {
		if !hasComp(cal, ical.CompToDo) {
			return nil, nil
		}
		it.Task, err = taskFromICal(cal)
	} else {
		if !hasComp(cal, ical.CompEvent) {
			return nil, nil
		}
		it.Event, err = eventFromICal(cal)
	}
	if err != nil {
		return nil, err
	}
	return it, nil
}

func hasComp(cal *ical.Calendar, name string) bool {
	for _, ch := range cal.Children {
		if ch.Name == name {
			return true
		}
	}
	return false
}

// Put stores it in folder f. A new item (empty it.ID) is created with
// If-None-Match: *, under its UID. An existing one is merged into the
// object the server holds: the fields the model knows replace theirs,
// every other property and parameter stays as it was, so what a phone does
// not show survives its edit. The object comes from the copy kept by Get,
// or from a GET when there is none. A stale ifMatch, or a change on the
// server while we merged, fails with ErrConflict (HTTP 412).
func (s *Store) Put(ctx context.Context, f sources.FolderID, it *sources.Item, ifMatch string) (sources.ItemID, string, error) {
	c, err := s.collection(ctx, f)
	if err != nil {
		return "", "", err
	}
	id := it.ID
	var base *object
	if id == "" {
		id = sources.ItemID(newName(c, it))
	} else {
		href := s.href(c, id)
		s.mu.Lock()
		ob, ok := s.raw[href]
		s.mu.Unlock()
		if !ok || ifMatch != "" && ob.etag != ifMatch {
			ob, err = s.get(ctx, href)
			if err != nil {
				return "", "", fmt.Errorf("dav: put %s in %s: %w", id, f, err)
			}
		}
		if ifMatch != "" && ob.etag != "" && ob.etag != ifMatch {
			return "", "", fmt.Errorf("dav: put %s in %s: ETag %s, want %s: %w", id, f, ob.etag, ifMatch, sources.ErrConflict)
		}
		base = &ob
	}
	data, ctype, err := s.encode(c, it, base)
	if err != nil {
		return "", "", fmt.Errorf("dav: put %s in %s: %w", id, f, err)
	}
	match := ifMatch
	if base != nil && match == "" {
		match = base.etag
	}
	if base != nil && match == "" {
		match = "*"
	}
	href := s.href(c, id)
	etag, err := s.put(ctx, href, ctype, data, match)
	if err != nil {
		return "", "", fmt.Errorf("dav: put %s in %s: %w", id, f, err)
	}
	s.keep(object{href: href, etag: etag, data: string(data)})
	s.hub.wrote(s.user, c.path)
	return id, etag, nil
}

// newName names a new object after its UID, as most clients do.
func newName(c *collection, it *sources.Item) string {
	var uid string
	switch {
	case it.Event != nil:
		uid = it.Event.UID
	case it.Task != nil:
		uid = it.Task.UID
	case it.Contact != nil:
		uid = it.Contact.UID
	}
	if uid == "" || strings.ContainsAny(uid, "/\\?#%") || len(uid) > 100 {
		var b [16]byte
		rand.Read(b[:])
		uid = hex.EncodeToString(b[:])
	}
	if c.card {
		return uid + ".vcf"
	}
	return uid + ".ics"
}

// encode renders it for collection c, merged into base when set.
func (s *Store) encode(c *collection, it *sources.Item, base *object) ([]byte, string, error) {
	var buf bytes.Buffer
	if c.card {
		if it.Contact == nil {
			return nil, "", fmt.Errorf("not a contact: %w", sources.ErrUnsupported)
		}
		card := vcard.Card{}
		if base != nil {
			if old, err := vcard.NewDecoder(strings.NewReader(base.data)).Decode(); err == nil {
				card = old
			}
		}
		patchVCard(card, it.Contact)
		if err := vcard.NewEncoder(&buf).Encode(card); err != nil {
			return nil, "", err
		}
		return buf.Bytes(), "text/vcard; charset=utf-8", nil
	}
	var cal *ical.Calendar
	if base != nil {
		if old, err := ical.NewDecoder(strings.NewReader(base.data)).Decode(); err == nil {
			cal = old
		}
	}
	if cal == nil {
		cal = newCalendar()
	}
	var err error
	switch {
	case it.Event != nil && c.folder.Kind.Content() == sources.ContentCalendar:
		err = patchEvent(cal, it.Event)
	case it.Task != nil && c.folder.Kind.Content() == sources.ContentTasks:
		err = patchTask(cal, it.Task)
	default:
		return nil, "", fmt.Errorf("item does not fit a %s folder: %w", c.folder.Kind, sources.ErrUnsupported)
	}
	if err != nil {
		return nil, "", err
	}
	if err := ical.NewEncoder(&buf).Encode(cal); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), "text/calendar; charset=utf-8", nil
}

// Delete removes item id from folder f. It sends no If-Match: a device's
// delete wins over a change it has not seen, as Exchange does.
func (s *Store) Delete(ctx context.Context, f sources.FolderID, id sources.ItemID) error {
	c, err := s.collection(ctx, f)
	if err != nil {
		return err
	}
	href := s.href(c, id)
	resp, err := s.do(ctx, request{method: "DELETE", path: href})
	if err != nil {
		return fmt.Errorf("dav: delete %s in %s: %w", id, f, err)
	}
	resp.Body.Close()
	s.hub.wrote(s.user, c.path)
	s.mu.Lock()
	if ob, ok := s.raw[href]; ok {
		s.rawSize -= len(ob.data)
		delete(s.raw, href)
	}
	s.mu.Unlock()
	return nil
}
