package graphemu

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Object kinds; each has its own JSON type name.
const (
	kindMessage    = "message"
	kindMailFolder = "mailFolder"
	kindContact    = "contact"
	kindContactF   = "contactFolder"
	kindEvent      = "event"
	kindCalendar   = "calendar"
	kindTaskList   = "todoTaskList"
	kindTask       = "todoTask"
)

// Container names of the folder hierarchies; item containers are named by
// their folder's id.
const (
	hierMail     = "hier:mail"
	hierContacts = "hier:contacts"
	hierTodo     = "hier:todo"
)

// object is one stored entity. Its JSON properties live in props, except
// the id spellings, etags and parentFolderId, which are computed.
type object struct {
	id     string // the immutable id
	kind   string
	rev    int    // bumped by a move: part of the REST id (§4.6)
	parent string // containing folder, list or calendar

	props   map[string]any
	propSeq map[string]uint64 // when each property last changed, for partial delta rows
	created uint64
	change  int // changeKey counter, bumped on every change (§4.5)

	fp string // events: the rendered properties at the last expansion

	mime        []byte        // messages only
	attachments []*attachment // messages only
	// edited says a message's properties or attachments were changed
	// through Graph since its MIME was made: sending rebuilds it.
	edited    bool
	inReplyTo string // drafts of createReply: the original's Message-ID
	// event is an eventMessage's event in the same mailbox (immutable
	// id), which its event navigation property leads to.
	event string
}

// restID is the default ("REST") id: it encodes the object's current
// folder generation, so it changes when the object moves (§4.6).
func (o *object) restID() string {
	if !immutableCapable(o.kind) {
		return o.id
	}
	return fmt.Sprintf("R%d.%s", o.rev, strings.TrimPrefix(o.id, "I"))
}

// immutableCapable reports whether the kind has two id spellings: folders,
// calendars and To Do items have one (§4.6, A14).
func immutableCapable(kind string) bool {
	switch kind {
	case kindMessage, kindEvent, kindContact:
		return true
	}
	return false
}

func (o *object) etag() string { return fmt.Sprintf(`W/"CQ%s%04d"`, shortHash(o.id), o.change) }

func (o *object) changeKey() string { return fmt.Sprintf("CQ%s%04d", shortHash(o.id), o.change) }

func shortHash(s string) string {
	if len(s) > 8 {
		return s[len(s)-8:]
	}
	return s
}

// set changes properties at seq, bumping the changeKey.
func (o *object) set(seq uint64, props map[string]any) {
	for k, v := range props {
		if v == nil {
			delete(o.props, k)
		} else {
			o.props[k] = v
		}
		o.propSeq[k] = seq
	}
	o.change++
}

type attachment struct {
	id          string
	kind        string // fileAttachment, itemAttachment, referenceAttachment
	name        string
	contentType string
	contentID   string
	inline      bool
	data        []byte
}

// entry is an object's membership in a container at a change sequence
// number; removed entries are tombstones, kept so delta can report them.
type entry struct {
	seq     uint64
	added   uint64 // seq at which the object entered the container
	removed bool
	oldRest string // the REST id the object had when it left
	obj     *object
}

// container is one delta-able collection: a folder's items or a folder
// hierarchy.
type container struct {
	entries map[string]*entry // by immutable id
}

// mailbox is one user's data. All its state is guarded by Server.mu.
type mailbox struct {
	id, upn, mail, name string

	seq        uint64
	objects    map[string]*object // by immutable id
	rest       map[string]*object // by current REST id
	containers map[string]*container
	wellKnown  map[string]string // "inbox" → folder id
	syncStates map[string]*syncState
	instances  map[string]map[string]*object // series master id → its instances
	oof        map[string]any

	active int       // requests in flight (§5.1 concurrency)
	window time.Time // start of the current request-budget window
	spent  int       // requests in the window
	reset  bool      // the next delta request gets the documented 410 reset
}

func newID(prefix string) string {
	b := make([]byte, 12)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func (m *mailbox) next() uint64 {
	m.seq++
	return m.seq
}

func (m *mailbox) container(name string) *container {
	c := m.containers[name]
	if c == nil {
		c = &container{entries: make(map[string]*entry)}
		m.containers[name] = c
	}
	return c
}

// lookup finds an object by either id spelling (§4.6: both are accepted
// on input).
func (m *mailbox) lookup(id string) *object {
	if o := m.objects[id]; o != nil {
		return o
	}
	return m.rest[id]
}

// insert adds a new object to container parent.
func (m *mailbox) insert(o *object, parent, containerName string) {
	seq := m.next()
	o.parent = parent
	o.created = seq
	if o.propSeq == nil {
		o.propSeq = make(map[string]uint64)
	}
	m.objects[o.id] = o
	m.rest[o.restID()] = o
	m.container(containerName).entries[o.id] = &entry{seq: seq, added: seq, obj: o}
}

// touch records a change of o in its container.
func (m *mailbox) touch(o *object, containerName string, props map[string]any) {
	seq := m.next()
	o.set(seq, props)
	if e := m.container(containerName).entries[o.id]; e != nil {
		e.seq = seq
	}
}

// remove deletes o from its container, leaving a tombstone.
func (m *mailbox) remove(o *object, containerName string) {
	if e := m.container(containerName).entries[o.id]; e != nil && !e.removed {
		e.seq, e.removed, e.oldRest = m.next(), true, o.restID()
	}
	delete(m.objects, o.id)
	delete(m.rest, o.restID())
}

// move takes o from one container to another: a tombstone in the source,
// a new entry in the destination and a new REST id (§4.4).
func (m *mailbox) move(o *object, fromC, toC, toParent string) {
	if e := m.container(fromC).entries[o.id]; e != nil && !e.removed {
		e.seq, e.removed, e.oldRest = m.next(), true, o.restID()
	}
	delete(m.rest, o.restID())
	o.rev++
	o.parent = toParent
	o.change++
	seq := m.next()
	o.propSeq["parentFolderId"] = seq
	m.rest[o.restID()] = o
	m.container(toC).entries[o.id] = &entry{seq: seq, added: seq, obj: o}
}

// live lists the live entries of a container, ordered by seq.
func (c *container) sorted(after uint64, withRemoved bool) []*entry {
	var out []*entry
	for _, e := range c.entries {
		if e.seq > after && (withRemoved || !e.removed) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b *entry) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return out
}

// clone copies a JSON property map deeply enough for our writes.
func clone(p map[string]any) map[string]any { return maps.Clone(p) }
