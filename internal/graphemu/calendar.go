package graphemu

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/easgate/easgate/sources"
)

// The calendar keeps series masters and single events in a container
// "events:<calendar>" (not delta'd) and materialises what calendarView
// shows, single events, occurrences and exceptions, in "inst:<calendar>"
// over a horizon around now. Every change to an event re-expands its
// series and diffs the instances, so calendarView delta reports exactly
// the instances that appeared, changed or went (§2.5).

const graphDateTime = "2006-01-02T15:04:05.0000000"

// horizon bounds the materialised instances of a series.
func (s *Server) horizon() (time.Time, time.Time) {
	now := s.o.Now()
	return now.AddDate(-2, 0, 0), now.AddDate(3, 0, 0)
}

func eventsC(cal string) string { return "events:" + cal }
func instC(cal string) string   { return "inst:" + cal }

// serveCalendar answers calendars, calendarView delta and events.
func (s *Server) serveCalendar(c *call, rest []string) *graphError {
	low := lower(rest)
	get, post := c.r.Method == http.MethodGet, c.r.Method == http.MethodPost
	cal := func(id string) *object {
		s.mu.Lock()
		defer s.mu.Unlock()
		o := c.mb.objects[id]
		if o == nil || o.kind != kindCalendar {
			return nil
		}
		return o
	}
	def := c.mb.wellKnown["calendar"]
	switch {
	case low[0] == "calendars" && len(rest) == 1 && get:
		return s.itemList(c, "hier:calendars")
	case low[0] == "calendar" && len(rest) == 1 && get:
		s.mu.Lock()
		j := s.pimJSON(c, c.mb.objects[def])
		s.mu.Unlock()
		writeJSON(c.w, 200, j)
		return nil
	case low[0] == "calendarview" && len(rest) == 2 && low[1] == "delta":
		return s.calendarViewDelta(c, def)
	case low[0] == "calendars" && len(rest) == 4 && low[2] == "calendarview" && low[3] == "delta":
		// chosen (A5): v1.0 accepts calendarView delta of any calendar.
		k := cal(rest[1])
		if k == nil {
			return notFound("calendar " + rest[1])
		}
		return s.calendarViewDelta(c, k.id)
	case low[0] == "calendars" && len(rest) == 3 && low[2] == "events":
		k := cal(rest[1])
		if k == nil {
			return notFound("calendar " + rest[1])
		}
		if post {
			return s.createPIM(c, kindEvent, "I", k.id)
		}
		if get {
			return s.itemList(c, eventsC(k.id))
		}
	case low[0] == "events" && len(rest) == 1 && post:
		return s.createPIM(c, kindEvent, "I", def)
	case low[0] == "events" && len(rest) == 1 && get:
		return s.itemList(c, eventsC(def))
	case low[0] == "events" && len(rest) >= 2:
		s.mu.Lock()
		o := c.mb.lookup(rest[1])
		s.mu.Unlock()
		if o == nil || o.kind != kindEvent {
			return notFound("event " + rest[1])
		}
		switch {
		case len(rest) == 2:
			return s.servePIMItem(c, o)
		case len(rest) == 3 && low[2] == "instances" && get:
			return s.instances(c, o)
		case len(rest) == 3 && post && answers[low[2]].response != "":
			return s.respondEvent(c, o, low[2])
		case len(rest) == 3 && low[2] == "calendar":
			return s.serveEventCalendar(c, o)
		}
	}
	return notImplemented(c.r)
}

func (s *Server) calendarViewDelta(c *call, cal string) *graphError {
	// [D] api/event-delta: $select is not supported.
	if c.q.Get("$select") != "" {
		return badRequest("$select is not supported on calendarView delta.")
	}
	q := cloneQuery(c.q)
	q.Del("$skiptoken")
	q.Del("$deltatoken")
	return s.serveDelta(c, deltaSpec{container: instC(cal), odataType: "#microsoft.graph.event", window: true,
		path:     c.version + "/users/" + c.mb.id + "/calendars/" + cal + "/calendarView/delta",
		initialQ: q, context: "https://graph.microsoft.com/v1.0/$metadata#Collection(event)",
		inWindow: func(o *object, w [2]time.Time) bool {
			st, en := eventSpan(o)
			return st.Before(w[1]) && en.After(w[0])
		},
		render: func(o *object) map[string]any { return s.pimJSON(c, o) }})
}

// instances answers GET /events/{id}/instances of a series master.
func (s *Server) instances(c *call, o *object) *graphError {
	from, err1 := parseQueryTime(c.q.Get("startDateTime"))
	to, err2 := parseQueryTime(c.q.Get("endDateTime"))
	if err1 != nil || err2 != nil {
		return badRequest("startDateTime and endDateTime are required.")
	}
	s.mu.Lock()
	var list []*object
	for _, inst := range c.mb.series(o.id) {
		st, en := eventSpan(inst)
		if st.Before(to) && en.After(from) {
			list = append(list, inst)
		}
	}
	slices.SortFunc(list, func(a, b *object) int {
		sa, _ := eventSpan(a)
		sb, _ := eventSpan(b)
		return sa.Compare(sb)
	})
	var out []map[string]any
	for _, inst := range list {
		out = append(out, s.pimJSON(c, inst))
	}
	s.mu.Unlock()
	writeJSON(c.w, 200, map[string]any{"value": nonNil(out)})
	return nil
}

// series returns the live instances of master id.
func (m *mailbox) series(id string) map[string]*object {
	if m.instances == nil {
		m.instances = make(map[string]map[string]*object)
	}
	return m.instances[id]
}

func readDTZ(v any) (time.Time, string) {
	d, _ := v.(map[string]any)
	s, _ := d["dateTime"].(string)
	tz, _ := d["timeZone"].(string)
	for _, layout := range []string{graphDateTime, "2006-01-02T15:04:05", time.RFC3339Nano} {
		if t, err := time.ParseInLocation(layout, s, zone(tz)); err == nil {
			return t, tz
		}
	}
	return time.Time{}, tz
}

func writeDTZ(t time.Time, tz string) map[string]any {
	return map[string]any{"dateTime": t.In(zone(tz)).Format(graphDateTime), "timeZone": tz}
}

// eventSpan is an event's start and end instants.
func eventSpan(o *object) (time.Time, time.Time) {
	st, _ := readDTZ(o.props["start"])
	en, _ := readDTZ(o.props["end"])
	return st, en
}

// eventTimes renders start and end in the zone of Prefer:
// outlook.timezone (the quoted and unquoted forms, A15), UTC without it
// (§6.1), and names the zones the organizer used.
func (s *Server) eventTimes(c *call, o *object, p map[string]any) {
	target := preferValue(c.r.Header, "outlook.timezone")
	if target == "" {
		target = "UTC"
	}
	st, stz := readDTZ(o.props["start"])
	en, etz := readDTZ(o.props["end"])
	if allDay, _ := o.props["isAllDay"].(bool); allDay {
		// An all-day event is midnight to midnight whatever the zone.
		p["start"] = map[string]any{"dateTime": st.Format("2006-01-02") + "T00:00:00.0000000", "timeZone": target}
		p["end"] = map[string]any{"dateTime": en.Format("2006-01-02") + "T00:00:00.0000000", "timeZone": target}
	} else {
		p["start"], p["end"] = writeDTZ(st, target), writeDTZ(en, target)
	}
	p["originalStartTimeZone"], p["originalEndTimeZone"] = stz, etz
	if os, ok := o.props["originalStart"].(string); ok {
		p["originalStart"] = os
	}
}

// newEventLocked stores a new event in calendar cal: a series master
// when it has a recurrence, else a single instance.
func (s *Server) newEventLocked(c *call, o *object, cal string) *graphError {
	k := c.mb.objects[cal]
	if k == nil || k.kind != kindCalendar {
		return notFound("calendar " + cal)
	}
	st, _ := readDTZ(o.props["start"])
	en, _ := readDTZ(o.props["end"])
	if st.IsZero() || en.IsZero() || en.Before(st) {
		return badRequest("start and end are required dateTimeTimeZone values, end not before start.")
	}
	if allDay, _ := o.props["isAllDay"].(bool); allDay {
		// [D] resources/event: all-day events run midnight to midnight.
		if h, m, sec := st.Clock(); h+m+sec != 0 {
			return badRequest("An all-day event must start and end at midnight.")
		}
		if h, m, sec := en.Clock(); h+m+sec != 0 {
			return badRequest("An all-day event must start and end at midnight.")
		}
	}
	o.props["type"] = "singleInstance"
	if o.props["recurrence"] != nil {
		o.props["type"] = "seriesMaster"
		if _, gerr := recurrenceOf(o); gerr != nil {
			return gerr
		}
	}
	if uid, _ := o.props["iCalUId"].(string); uid == "" {
		// An invitation's copies share the organizer's (Invite).
		o.props["iCalUId"] = "040000008200E00074C5B7101A82E008" + strings.ToUpper(newID(""))
	}
	if o.props["isOrganizer"] == nil {
		o.props["isOrganizer"] = true
	}
	c.mb.insert(o, cal, eventsC(cal))
	s.expandLocked(c.mb, o)
	return nil
}

// patchEventLocked changes an event. Changing an occurrence makes it an
// exception with the same id, as Graph does.
func (s *Server) patchEventLocked(c *call, o *object, props map[string]any) *graphError {
	if props["recurrence"] != nil && o.props["type"] != "seriesMaster" && o.props["type"] != "singleInstance" {
		return badRequest("The recurrence of an occurrence cannot be set.")
	}
	if o.props["type"] == "occurrence" {
		props["type"] = "exception"
		master := c.mb.objects[o.props["seriesMasterId"].(string)]
		exc, _ := master.props["_exceptions"].(map[string]any)
		if exc == nil {
			exc = make(map[string]any)
			master.props["_exceptions"] = exc
		}
		exc[o.props["originalStart"].(string)] = o.id
	}
	if props["recurrence"] != nil {
		props["type"] = "seriesMaster"
	}
	c.mb.touch(o, eventsC(o.parent), props)
	s.expandLocked(c.mb, o)
	return nil
}

// deleteEventLocked deletes a series or single event, or cancels one
// occurrence of a series.
func (s *Server) deleteEventLocked(m *mailbox, o *object) {
	switch o.props["type"] {
	case "occurrence", "exception":
		master := m.objects[o.props["seriesMasterId"].(string)]
		if master == nil {
			return
		}
		orig := o.props["originalStart"].(string)
		cancelled, _ := master.props["_cancelled"].([]any)
		master.props["_cancelled"] = append(cancelled, orig)
		if exc, _ := master.props["_exceptions"].(map[string]any); exc != nil {
			delete(exc, orig)
		}
		m.touch(master, eventsC(master.parent), map[string]any{"lastModifiedDateTime": s.o.Now().UTC().Format(graphTime)})
		s.expandLocked(m, master)
	default:
		m.remove(o, eventsC(o.parent))
		s.expandLocked(m, o)
	}
}

// recurrenceOf reads a patternedRecurrence (§6.2) as a sources
// Recurrence and the series' start.
func recurrenceOf(o *object) (*sources.Recurrence, *graphError) {
	b, _ := json.Marshal(o.props["recurrence"])
	var rec struct {
		Pattern struct {
			Type           string   `json:"type"`
			Interval       int      `json:"interval"`
			DaysOfWeek     []string `json:"daysOfWeek"`
			DayOfMonth     int      `json:"dayOfMonth"`
			Month          int      `json:"month"`
			Index          string   `json:"index"`
			FirstDayOfWeek string   `json:"firstDayOfWeek"`
		} `json:"pattern"`
		Range struct {
			Type                string `json:"type"`
			EndDate             string `json:"endDate"`
			NumberOfOccurrences int    `json:"numberOfOccurrences"`
			RecurrenceTimeZone  string `json:"recurrenceTimeZone"`
		} `json:"range"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, badRequest("Invalid recurrence: %v", err)
	}
	days := map[string]time.Weekday{"sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6}
	ordinal := map[string]int{"": 1, "first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}[rec.Pattern.Index]
	r := &sources.Recurrence{Interval: rec.Pattern.Interval, WeekStart: days[strings.ToLower(rec.Pattern.FirstDayOfWeek)]}
	byDay := func(ord int) {
		for _, d := range rec.Pattern.DaysOfWeek {
			r.ByDay = append(r.ByDay, sources.WeekdayNum{Ordinal: ord, Day: days[strings.ToLower(d)]})
		}
	}
	switch rec.Pattern.Type {
	case "daily":
		r.Freq = sources.Daily
	case "weekly":
		r.Freq = sources.Weekly
		byDay(0)
	case "absoluteMonthly":
		r.Freq, r.ByMonthDay = sources.Monthly, []int{rec.Pattern.DayOfMonth}
	case "relativeMonthly":
		r.Freq = sources.Monthly
		byDay(ordinal)
	case "absoluteYearly":
		r.Freq, r.ByMonthDay, r.ByMonth = sources.Yearly, []int{rec.Pattern.DayOfMonth}, []time.Month{time.Month(rec.Pattern.Month)}
	case "relativeYearly":
		r.Freq, r.ByMonth = sources.Yearly, []time.Month{time.Month(rec.Pattern.Month)}
		byDay(ordinal)
	default:
		return nil, badRequest("Unknown recurrence pattern type %q.", rec.Pattern.Type)
	}
	switch rec.Range.Type {
	case "numbered":
		if rec.Range.NumberOfOccurrences <= 0 {
			return nil, badRequest("numberOfOccurrences must be positive.")
		}
		r.Count = rec.Range.NumberOfOccurrences
	case "endDate":
		_, tz := readDTZ(o.props["start"])
		d, err := time.ParseInLocation("2006-01-02", rec.Range.EndDate, zone(tz))
		if err != nil {
			return nil, badRequest("Invalid endDate %q.", rec.Range.EndDate)
		}
		r.Until = d.AddDate(0, 0, 1).Add(-time.Second)
	case "noEnd", "":
	default:
		return nil, badRequest("Unknown recurrence range type %q.", rec.Range.Type)
	}
	return r, nil
}

// expandLocked re-materialises the instances of o's series (or o itself
// when single) and records the differences in the calendar's instance
// container.
func (s *Server) expandLocked(m *mailbox, o *object) {
	if o.kind != kindEvent {
		return
	}
	master := o
	if id, ok := o.props["seriesMasterId"].(string); ok && o.props["type"] != "seriesMaster" {
		if master = m.objects[id]; master == nil {
			return
		}
	}
	cal := master.parent
	want := make(map[string]*object)
	if m.objects[master.id] != nil {
		if master.props["type"] != "seriesMaster" {
			want[master.id] = master
		} else if rec, gerr := recurrenceOf(master); gerr == nil {
			s.occurrences(m, master, rec, want)
		}
	}
	c := m.container(instC(cal))
	for id, inst := range want {
		fp, _ := json.Marshal(inst.props)
		e := c.entries[id]
		switch {
		case e == nil || e.removed:
			seq := m.next()
			if e == nil {
				e = &entry{obj: inst}
				c.entries[id] = e
			}
			e.seq, e.added, e.removed, e.obj = seq, seq, false, inst
			inst.fp = string(fp)
			m.objects[inst.id] = inst
			m.rest[inst.restID()] = inst
		case inst.fp != string(fp):
			e.seq = m.next()
			inst.fp = string(fp)
		}
	}
	for id, inst := range m.series(master.id) {
		if want[id] == nil {
			m.remove(inst, instC(cal))
		}
	}
	m.instances[master.id] = want
}

// occurrences fills want with the occurrences and exceptions of master
// within the horizon.
func (s *Server) occurrences(m *mailbox, master *object, rec *sources.Recurrence, want map[string]*object) {
	st, stz := readDTZ(master.props["start"])
	en, _ := readDTZ(master.props["end"])
	dur := en.Sub(st)
	from, to := s.horizon()
	cancelled := make(map[string]bool)
	list, _ := master.props["_cancelled"].([]any)
	for _, c := range list {
		cancelled[c.(string)] = true
	}
	exc, _ := master.props["_exceptions"].(map[string]any)
	for _, at := range rec.Occurrences(st, from, to, 2000) {
		key := at.UTC().Format(graphTime)
		if cancelled[key] {
			continue
		}
		if id, ok := exc[key].(string); ok && m.objects[id] != nil {
			want[id] = m.objects[id]
			continue
		}
		id := master.id + "_" + at.UTC().Format("20060102T150405")
		props := make(map[string]any, len(master.props))
		for k, v := range master.props {
			if k != "recurrence" && !strings.HasPrefix(k, "_") {
				props[k] = v
			}
		}
		props["type"], props["seriesMasterId"], props["originalStart"] = "occurrence", master.id, key
		props["start"], props["end"] = writeDTZ(at, stz), writeDTZ(at.Add(dur), stz)
		// [D] resources/event: iCalUId differs per occurrence.
		props["iCalUId"] = master.props["iCalUId"].(string) + at.UTC().Format("20060102")
		inst := m.objects[id]
		if inst == nil || inst.props["type"] != "occurrence" {
			inst = &object{id: id, kind: kindEvent, parent: master.parent, propSeq: make(map[string]uint64)}
		}
		inst.props, inst.change = props, master.change
		want[id] = inst
	}
}
