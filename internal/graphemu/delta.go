package graphemu

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// syncState is the server side of one (mailbox, collection, query) delta
// sync: a generation counter and the cursors of the newest generations
// (§2.4). A token names its state and generation; only the newest
// Options.Generations are honoured.
type syncState struct {
	id      string
	key     string
	gen     int
	cursors map[int]*cursor
}

// cursor is what a token stands for: a round of changes since a sequence
// number, continued after another one.
type cursor struct {
	since, after uint64
	roundSince   uint64 // since of the round, for ReplayNext
	initial      bool
	size         int
	window       [2]time.Time // calendarView only
	sel          string       // $select of the initial request, frozen into its tokens (§2.1)
}

// deltaSpec describes one delta endpoint.
type deltaSpec struct {
	container string
	path      string     // link path after the host, with the version
	initialQ  url.Values // query of the initial request, for the reset Location
	odataType string
	context   string
	window    bool // calendarView: startDateTime/endDateTime, out-of-window rows are @removed
	inWindow  func(o *object, w [2]time.Time) bool
	render    func(o *object) map[string]any
	sel       string
}

// serveDelta answers one delta request: an initial round, a nextLink
// ($skiptoken) or a deltaLink ($deltatoken).
func (s *Server) serveDelta(c *call, d deltaSpec) *graphError {
	if c.r.Method != http.MethodGet {
		return errf(405, "ErrorInvalidRequest", "The OData request is not supported.")
	}
	m := c.mb
	tok := c.q.Get("$skiptoken")
	if tok == "" {
		tok = c.q.Get("$deltatoken")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.reset {
		// [D] DQ "Synchronization reset": 410 with the initial URL.
		m.reset = false
		e := errf(410, "resyncRequired", "The delta token is no longer valid; reset the sync state.")
		e.header = http.Header{"Location": {s.link(d.path, d.initialQ)}}
		return e
	}
	var st *syncState
	var cur *cursor
	if tok == "" {
		size := 0
		if v := preferValue(c.r.Header, "odata.maxpagesize"); v != "" {
			size, _ = strconv.Atoi(v)
		}
		if size <= 0 {
			size = atoiDefault(c.q.Get("$top"), s.o.PageSize)
		}
		cur = &cursor{initial: true, size: size, sel: d.sel}
		if d.window {
			var err1, err2 error
			cur.window[0], err1 = parseQueryTime(c.q.Get("startDateTime"))
			cur.window[1], err2 = parseQueryTime(c.q.Get("endDateTime"))
			if err1 != nil || err2 != nil || !cur.window[0].Before(cur.window[1]) {
				return badRequest("startDateTime and endDateTime are required ISO 8601 values, start before end.")
			}
		}
		key := fmt.Sprintf("%s|%s|%d|%v", d.container, d.sel, size, cur.window)
		for _, x := range m.syncStates {
			if x.key == key {
				st = x
			}
		}
		if st == nil {
			st = &syncState{id: newID("S"), key: key, cursors: make(map[int]*cursor)}
			m.syncStates[st.id] = st
		}
	} else {
		id, g, ok := strings.Cut(tok, ".")
		gen, err := strconv.Atoi(g)
		if ok && err == nil {
			st = m.syncStates[id]
		}
		if st != nil {
			cur = st.cursors[gen]
		}
		if cur == nil {
			// observed (microsoft-graph-docs#2350): 410 SyncStateNotFound with
			// the generations still known.
			highest := 0
			if st != nil {
				highest = st.gen
			}
			return errf(410, "SyncStateNotFound", "The sync state generation is not found; generation=%d;[highest=%d].", gen, highest)
		}
		c := *cur
		cur = &c
	}
	if !cur.initial && cur.after == 0 {
		cur.roundSince = cur.since
	}

	var rows []map[string]any
	next := *cur
	more := true // an empty page injected by EmptyPages continues the round
	if s.emptyNext > 0 {
		s.emptyNext--
	} else {
		es := m.container(d.container).sorted(max(cur.since, cur.after), !cur.initial)
		i := 0
		for ; i < len(es) && len(rows) < cur.size; i++ {
			e := es[i]
			next.after = e.seq
			in := !d.window || d.inWindow(e.obj, cur.window)
			if cur.initial && !in {
				continue
			}
			if e.removed || !in {
				// chosen (A3): the reason is always "deleted".
				rows = append(rows, map[string]any{"@odata.type": d.odataType, "id": c.outID(e.obj, e),
					"@removed": map[string]any{"reason": "deleted"}})
				continue
			}
			// [D] api/event-delta: calendar view rows carry every property.
			full := cur.initial || e.added > cur.since || d.window
			rows = append(rows, s.deltaRow(c, d, e, full, cur.since, cur.sel))
		}
		if more = i < len(es); !more {
			// The round is over: the deltaLink picks up after every change
			// made so far.
			next = cursor{since: m.seq, size: cur.size, window: cur.window, sel: cur.sel}
			if s.replay {
				s.replay = false
				next.since = cur.roundSince
			}
		}
	}
	st.gen++
	st.cursors[st.gen] = &next
	delete(st.cursors, st.gen-s.o.Generations)
	token := st.id + "." + strconv.Itoa(st.gen)
	out := map[string]any{"@odata.context": d.context, "value": nonNil(rows)}
	if more {
		out["@odata.nextLink"] = s.link(d.path, url.Values{"$skiptoken": {token}})
	} else {
		out["@odata.deltaLink"] = s.link(d.path, url.Values{"$deltatoken": {token}})
	}
	writeJSON(c.w, 200, out)
	return nil
}

// deltaRow renders a changed entry: in full when new to the caller,
// otherwise its id and the properties changed since (§2.1: "at least the
// changed properties").
func (s *Server) deltaRow(c *call, d deltaSpec, e *entry, full bool, since uint64, sel string) map[string]any {
	p := d.render(e.obj)
	typ := d.odataType
	if t, ok := p["@odata.type"].(string); ok {
		typ = t // an eventMessage's subtype
	}
	if !full {
		part := map[string]any{"id": p["id"]}
		for k, v := range p {
			if strings.HasPrefix(k, "@odata.etag") || k == "changeKey" || e.obj.propSeq[k] > since {
				part[k] = v
			}
		}
		p = part
	}
	p["@odata.type"] = typ
	return selectProps(p, sel)
}

// outID is the id an object has in this call: immutable with the
// Prefer header, the REST id otherwise (§4.6). A tombstone keeps the REST
// id the object had when it left.
func (c *call) outID(o *object, e *entry) string {
	if c.immutable {
		return o.id
	}
	if e != nil && e.removed && e.oldRest != "" {
		return e.oldRest
	}
	return o.restID()
}

func parseQueryTime(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("bad time %q", v)
}
