package memory

import (
	"context"
	"fmt"
	"sort"
	"unicode/utf8"

	"github.com/easgate/easgate/sources"
)

// folder is one folder with its items and change log.
type folder struct {
	sources.Folder
	seq     uint64 // last create, rename or move of the folder itself
	created uint64
	last    uint64 // last change to any of its items

	items map[sources.ItemID]*entry

	// log holds each item, live or deleted, at the modseq of its latest
	// change, in modseq order, so that "changes since X" is a binary
	// search and a walk over what changed after X. A change appends the
	// entry again; the record at its old modseq goes stale (rec.seq no
	// longer equals entry.seq) and compaction drops it once stale records
	// outnumber the rest.
	log     []rec
	tombs   int    // deleted entries in log
	horizon uint64 // modseq of the newest forgotten tomb

	waiters map[*waiter]struct{}
}

type rec struct {
	seq uint64
	e   *entry
}

// entry is an item, or its tomb once deleted.
type entry struct {
	id           sources.ItemID
	seq, created uint64
	deleted      bool
	item         *sources.Item // nil once deleted

	// raw is the message an item was parsed from; atts holds the decoded
	// content of each of its attachments, by index.
	raw  []byte
	atts [][]byte
}

func (s *Source) addFolder(fo sources.Folder) *folder {
	seq := s.next()
	f := &folder{
		Folder:  fo,
		seq:     seq,
		created: seq,
		items:   make(map[sources.ItemID]*entry),
		waiters: make(map[*waiter]struct{}),
	}
	s.folders[fo.ID] = f
	return f
}

// touch records a change to e in f: it gives e the next modseq, logs it
// and wakes f's watchers.
func (s *Source) touch(f *folder, e *entry) {
	e.seq = s.next()
	if e.item != nil {
		e.item.ETag = etag(e.seq)
	}
	f.log = append(f.log, rec{e.seq, e})
	f.last = e.seq
	f.wake()
	if f.tombs > s.opts.Tombstones {
		f.forget(f.tombs - s.opts.Tombstones/2)
	} else if len(f.log) > 2*(len(f.items)+f.tombs)+32 {
		f.forget(0)
	}
}

func (s *Source) remove(f *folder, e *entry) {
	delete(f.items, e.id)
	e.deleted, e.item, e.raw, e.atts = true, nil, nil, nil
	f.tombs++
	s.touch(f, e)
}

// forget compacts the log, dropping stale records and the n oldest tombs.
func (f *folder) forget(n int) {
	k := 0
	for _, r := range f.log {
		if r.seq != r.e.seq {
			continue
		}
		if r.e.deleted && n > 0 {
			n--
			f.tombs--
			f.horizon = r.seq
			continue
		}
		f.log[k] = r
		k++
	}
	clear(f.log[k:])
	f.log = f.log[:k]
}

// Changes implements sources.Source. A call with nothing new costs the
// same whatever the folder's size; otherwise it costs a binary search
// plus the changes it walks.
func (s *Source) Changes(ctx context.Context, id sources.FolderID, since sources.State, max int) (sources.Delta, error) {
	if err := ctx.Err(); err != nil {
		return sources.Delta{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.folder(id)
	if err != nil {
		return sources.Delta{}, err
	}
	cursor, floor := uint64(0), s.seq
	if since != "" {
		if cursor, floor, err = s.parseState(since); err != nil {
			return sources.Delta{}, err
		}
	}
	if f.horizon > floor {
		return sources.Delta{}, fmt.Errorf("memory: changes of %q since %q: %w", id, since, sources.ErrStateExpired)
	}
	if since != "" && f.last <= cursor {
		// Nothing new: the state stays valid as it is, and handing it
		// back tells the caller so without allocating.
		return sources.Delta{Next: since}, nil
	}
	d := sources.Delta{Next: s.state(s.seq, s.seq)}
	i := sort.Search(len(f.log), func(i int) bool { return f.log[i].seq > cursor })
	n, last := 0, cursor
	for _, r := range f.log[i:] {
		e := r.e
		if r.seq != e.seq {
			continue
		}
		// A tomb matters only if the holder can know the item: it was
		// created by cursor and deleted after the first listing began.
		if e.deleted && (r.seq <= floor || e.created > cursor) {
			continue
		}
		if max > 0 && n == max {
			d.More = true
			d.Next = s.state(last, maxU(floor, last))
			break
		}
		if e.deleted {
			d.Removed = append(d.Removed, e.id)
		} else {
			d.Changed = append(d.Changed, e.id)
		}
		n++
		last = r.seq
	}
	return d, nil
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// Get implements sources.Source. The items returned are copies; their
// slices are shared with the store and must not be modified.
func (s *Source) Get(ctx context.Context, id sources.FolderID, ids []sources.ItemID, o *sources.GetOptions) ([]sources.Item, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if o == nil {
		o = &sources.GetOptions{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.folder(id)
	if err != nil {
		return nil, err
	}
	items := make([]sources.Item, 0, len(ids))
	for _, id := range ids {
		if e, ok := f.items[id]; ok {
			items = append(items, e.view(o))
		}
	}
	return items, nil
}

// view returns a copy of e's item with the parts o asks for.
func (e *entry) view(o *sources.GetOptions) sources.Item {
	it := copyItem(e.item)
	if m := it.Mail; m != nil {
		m.Text = cutBody(m.Text, o.Text, o.BodyLimit)
		m.HTML = cutBody(m.HTML, o.HTML, o.BodyLimit)
		if o.MIME && e.raw != nil {
			m.MIME = openBytes(e.raw)
		}
	}
	return it
}

// copyItem copies it and the struct of its kind, so that the store's copy
// and the caller's can change apart.
func copyItem(it *sources.Item) sources.Item {
	c := *it
	if c.Mail != nil {
		m := *c.Mail
		m.MIME = nil
		c.Mail = &m
	}
	if c.Contact != nil {
		v := *c.Contact
		c.Contact = &v
	}
	if c.Event != nil {
		v := *c.Event
		c.Event = &v
	}
	if c.Task != nil {
		v := *c.Task
		c.Task = &v
	}
	if c.Note != nil {
		v := *c.Note
		c.Note = &v
	}
	return c
}

func cutBody(b *sources.Body, want bool, limit int64) *sources.Body {
	if b == nil || !want {
		return nil
	}
	c := *b
	if limit > 0 && int64(len(c.Data)) > limit {
		n := int(limit)
		for n > 0 && !utf8.RuneStart(c.Data[n]) {
			n--
		}
		c.Data, c.Truncated = c.Data[:n], true
	}
	return &c
}
