package pim

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	gojmap "git.sr.ht/~rockorager/go-jmap"

	"github.com/easgate/easgate/sources"
)

// cyrusEvents is Cyrus 3.6's CalendarEvent: an early JSCalendar draft
// ("@type": "jsevent", one calendarId, one recurrenceRule).
var cyrusEvents = &kind{
	name:            "CalendarEvent",
	using:           []gojmap.URI{CyrusCalendars},
	content:         sources.ContentCalendar,
	folderType:      "Calendar",
	folderPrefix:    Prefix + "cal:",
	defaultFolder:   "Default",
	folderProp:      "calendarId",
	queryFilter:     "inCalendars",
	ignoresPosition: true,
	newObject:       obj{"@type": "jsevent"},
	read:            func(o obj, it *sources.Item) error { return readEvent(o, it, false) },
	write:           func(it *sources.Item, base obj) (obj, error) { return writeEvent(it, base, false) },
	maps:            []string{"recurrenceOverrides", "participants", "alerts", "locations"},
}

// ietfEvents is JSCalendar (RFC 8984) as JMAP for Calendars has it:
// calendarIds and recurrenceRules.
var ietfEvents = &kind{
	name:         "CalendarEvent",
	using:        []gojmap.URI{Calendars},
	content:      sources.ContentCalendar,
	folderType:   "Calendar",
	folderPrefix: Prefix + "cal:",
	folderProp:   "calendarIds",
	folderSet:    true,
	queryFilter:  "inCalendars",
	newObject:    obj{"@type": "Event"},
	read:         func(o obj, it *sources.Item) error { return readEvent(o, it, true) },
	write:        func(it *sources.Item, base obj) (obj, error) { return writeEvent(it, base, true) },
	maps:         []string{"recurrenceOverrides", "participants", "alerts", "locations"},
}

// localLayout is JSCalendar's LocalDateTime (RFC 8984 section 1.4.4).
const localLayout = "2006-01-02T15:04:05"

func location(o obj) *time.Location {
	if tz := str(o, "timeZone"); tz != "" {
		if l, err := time.LoadLocation(tz); err == nil {
			return l
		}
	}
	return time.UTC
}

func readEvent(o obj, it *sources.Item, ietf bool) error {
	loc := location(o)
	e := &sources.Event{UID: str(o, "uid")}
	if err := readEventFields(o, e, loc, nil); err != nil {
		return err
	}
	if tz := str(o, "timeZone"); tz != "" && loc != time.UTC {
		e.TimeZone = tz
	}
	rules := listOf(o, "recurrenceRules")
	if !ietf {
		if r := objOf(o, "recurrenceRule"); r != nil {
			rules = []obj{r}
		}
	}
	if len(rules) > 0 {
		e.Recurrence = readRule(rules[0], loc)
	}
	for key, v := range objOf(o, "recurrenceOverrides") {
		ov, _ := v.(map[string]any)
		orig, err := time.ParseInLocation(localLayout, key, loc)
		if err != nil || ov == nil {
			continue
		}
		x := sources.Exception{OriginalStart: orig}
		if ov["excluded"] == true {
			x.Deleted = true
		} else {
			x.Override = &sources.Event{}
			if err := readEventFields(ov, x.Override, loc, e); err != nil {
				return err
			}
		}
		e.Exceptions = append(e.Exceptions, x)
	}
	slices.SortFunc(e.Exceptions, func(a, b sources.Exception) int { return a.OriginalStart.Compare(b.OriginalStart) })
	it.Event = e
	return nil
}

// readEventFields reads the properties an event and an override share;
// for an override (master non-nil) absent properties stay zero, and the
// end follows from the master's duration when only the start moved.
func readEventFields(o obj, e *sources.Event, loc *time.Location, master *sources.Event) error {
	e.Summary = str(o, "title")
	e.Description = str(o, "description")
	for _, l := range entriesOf(o, "locations") {
		e.Location = str(l.e, "name")
		break
	}
	if s := str(o, "start"); s != "" {
		start, err := time.ParseInLocation(localLayout, s, loc)
		if err != nil {
			return fmt.Errorf("start %q: %w", s, errBadValue)
		}
		e.Start = start
		dur := str(o, "duration")
		if dur == "" && master != nil {
			e.End = start.Add(master.End.Sub(master.Start))
		} else if e.End, err = addDuration(start, dur); err != nil {
			return err
		}
	}
	if v, ok := o["showWithoutTime"].(bool); ok {
		e.AllDay = v
	}
	switch str(o, "freeBusyStatus") {
	case "free":
		e.BusyStatus = sources.Free
	case "tentative":
		e.BusyStatus = sources.Tentative
	}
	switch str(o, "privacy") {
	case "private":
		e.Sensitivity = sources.SensitivityPrivate
	case "secret":
		e.Sensitivity = sources.SensitivityConfidential
	}
	for kw, v := range objOf(o, "keywords") {
		if v == true {
			e.Categories = append(e.Categories, kw)
		}
	}
	slices.Sort(e.Categories)
	for _, a := range entriesOf(o, "alerts") {
		if m, ok := alertMinutes(a.e); ok {
			e.Reminder = &m
			break
		}
	}
	readParticipants(o, e)
	return nil
}

// alertMinutes reads an alert that fires a whole number of minutes before
// the start, the only kind the model holds.
func alertMinutes(a obj) (int, bool) {
	t := objOf(a, "trigger")
	if str(t, "@type") != "OffsetTrigger" || (str(t, "relativeTo") != "" && str(t, "relativeTo") != "start") {
		return 0, false
	}
	off := str(t, "offset")
	neg := strings.HasPrefix(off, "-")
	d, err := parseDuration(strings.TrimPrefix(strings.TrimPrefix(off, "-"), "+"))
	if err != nil || (!neg && d != 0) || d%time.Minute != 0 {
		return 0, false
	}
	return int(d / time.Minute), true
}

func readParticipants(o obj, e *sources.Event) {
	self := str(o, "participantId")
	var organizer bool
	for _, p := range entriesOf(o, "participants") {
		a := sources.Address{Name: str(p.e, "name"), Email: participantEmail(p.e)}
		roles := objOf(p.e, "roles")
		if roles["owner"] == true {
			e.Organizer = a
			organizer = self != "" && p.id == self
			continue
		}
		at := sources.Attendee{Address: a}
		switch {
		case roles["chair"] == true:
			at.Role = sources.RoleChair
		case roles["optional"] == true:
			at.Role = sources.RoleOptional
		case roles["informational"] == true:
			at.Role = sources.RoleNonParticipant
		}
		switch str(p.e, "participationStatus") {
		case "accepted":
			at.Status = sources.StatusAccepted
		case "declined":
			at.Status = sources.StatusDeclined
		case "tentative":
			at.Status = sources.StatusTentative
		case "delegated":
			at.Status = sources.StatusDelegated
		}
		switch str(p.e, "kind") {
		case "group":
			at.Type = sources.TypeGroup
		case "resource":
			at.Type = sources.TypeResource
		case "location":
			at.Type = sources.TypeRoom
		}
		e.Attendees = append(e.Attendees, at)
	}
	if len(e.Attendees) == 0 && e.Organizer == (sources.Address{}) {
		return
	}
	e.MeetingStatus = sources.MeetingReceived
	if organizer || self == "" {
		e.MeetingStatus = sources.MeetingOrganized
	}
	if str(o, "status") == "cancelled" {
		e.MeetingStatus += sources.MeetingCanceled - sources.MeetingOrganized
	}
}

func participantEmail(p obj) string {
	if m := str(p, "email"); m != "" {
		return m
	}
	return strings.TrimPrefix(str(objOf(p, "sendTo"), "imip"), "mailto:")
}

var freqs = map[string]sources.Frequency{"daily": sources.Daily, "weekly": sources.Weekly, "monthly": sources.Monthly, "yearly": sources.Yearly}
var days = []string{"su", "mo", "tu", "we", "th", "fr", "sa"}

// readRule reads a RecurrenceRule (RFC 8984 section 4.3.3); nil for one
// the model cannot hold (hourly and finer, or rscale other than
// gregorian).
func readRule(r obj, loc *time.Location) *sources.Recurrence {
	f, ok := freqs[str(r, "frequency")]
	if !ok || (str(r, "rscale") != "" && str(r, "rscale") != "gregorian") {
		return nil
	}
	rec := &sources.Recurrence{Freq: f, WeekStart: time.Monday}
	if v, ok := r["interval"].(float64); ok {
		rec.Interval = int(v)
	}
	if v, ok := r["count"].(float64); ok {
		rec.Count = int(v)
	}
	if u := str(r, "until"); u != "" {
		rec.Until, _ = time.ParseInLocation(localLayout, u, loc)
	}
	if i := slices.Index(days, str(r, "firstDayOfWeek")); i >= 0 {
		rec.WeekStart = time.Weekday(i)
	}
	for _, d := range listOf(r, "byDay") {
		if i := slices.Index(days, str(d, "day")); i >= 0 {
			n, _ := d["nthOfPeriod"].(float64)
			rec.ByDay = append(rec.ByDay, sources.WeekdayNum{Ordinal: int(n), Day: time.Weekday(i)})
		}
	}
	ints := func(p string) []int {
		var out []int
		l, _ := r[p].([]any)
		for _, v := range l {
			switch v := v.(type) {
			case float64:
				out = append(out, int(v))
			case string: // byMonth holds strings, "1" to "12" (a leap month ends in "L")
				if n, err := strconv.Atoi(v); err == nil {
					out = append(out, n)
				}
			}
		}
		return out
	}
	rec.ByMonthDay = ints("byMonthDay")
	for _, m := range ints("byMonth") {
		rec.ByMonth = append(rec.ByMonth, time.Month(m))
	}
	rec.BySetPos = ints("bySetPosition")
	return rec
}

func writeRule(rec *sources.Recurrence, base obj, loc *time.Location) obj {
	r := clone(base)
	if r == nil {
		r = obj{"@type": "RecurrenceRule"}
	}
	for _, p := range []string{"interval", "count", "until", "byDay", "byMonthDay", "byMonth", "bySetPosition"} {
		delete(r, p)
	}
	for name, f := range freqs {
		if f == rec.Freq {
			r["frequency"] = name
		}
	}
	r["interval"] = max(rec.Interval, 1)
	if rec.Count > 0 {
		r["count"] = rec.Count
	}
	if !rec.Until.IsZero() {
		r["until"] = rec.Until.In(loc).Format(localLayout)
	}
	r["firstDayOfWeek"] = days[rec.WeekStart]
	var bd []any
	for _, d := range rec.ByDay {
		o := map[string]any{"day": days[d.Day]}
		if d.Ordinal != 0 {
			o["nthOfPeriod"] = d.Ordinal
		}
		bd = append(bd, o)
	}
	if bd != nil {
		r["byDay"] = bd
	}
	if rec.ByMonthDay != nil {
		r["byMonthDay"] = rec.ByMonthDay
	}
	var bm []string
	for _, m := range rec.ByMonth {
		bm = append(bm, strconv.Itoa(int(m)))
	}
	if bm != nil {
		r["byMonth"] = bm
	}
	if rec.BySetPos != nil {
		r["bySetPosition"] = rec.BySetPos
	}
	return r
}

func writeEvent(it *sources.Item, base obj, ietf bool) (obj, error) {
	e := it.Event
	if e == nil {
		return nil, fmt.Errorf("jmap: CalendarEvent: item %q is not an event: %w", it.ID, sources.ErrUnsupported)
	}
	if base == nil {
		base = obj{}
	}
	out := obj{}
	loc := time.UTC
	if e.TimeZone != "" {
		l, err := time.LoadLocation(e.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("jmap: CalendarEvent: time zone %q: %w", e.TimeZone, err)
		}
		loc = l
	}
	// A floating event read as UTC stays floating: the model cannot tell
	// the two apart, and the server can.
	switch {
	case e.AllDay && base["timeZone"] == nil:
		out["timeZone"] = nil
	case e.TimeZone == "" && base["timeZone"] == nil && base["start"] != nil:
		out["timeZone"] = nil
	case e.TimeZone == "":
		out["timeZone"] = "Etc/UTC"
	default:
		out["timeZone"] = e.TimeZone
	}
	if e.AllDay && base["timeZone"] != nil && e.TimeZone == "" {
		out["timeZone"] = base["timeZone"]
		loc = location(base)
	}
	writeEventFields(out, base, e, loc, nil)
	if base["uid"] == nil && e.UID != "" {
		out["uid"] = e.UID
	}

	ruleProp := "recurrenceRule"
	var baseRule obj
	if ietf {
		ruleProp = "recurrenceRules"
		if l := listOf(base, ruleProp); len(l) > 0 {
			baseRule = l[0]
		}
	} else {
		baseRule = objOf(base, ruleProp)
	}
	switch {
	case e.Recurrence != nil && ietf:
		rules := []any{writeRule(e.Recurrence, baseRule, loc)}
		if l := listOf(base, ruleProp); len(l) > 1 {
			rules = append(rules, anyList(l[1:])...) // rules the model cannot hold
		}
		out[ruleProp] = rules
	case e.Recurrence != nil:
		out[ruleProp] = writeRule(e.Recurrence, baseRule, loc)
	case base[ruleProp] != nil:
		out[ruleProp] = nil
	}

	overrides := make(map[string]any)
	baseOv := objOf(base, "recurrenceOverrides")
	for _, x := range e.Exceptions {
		key := x.OriginalStart.In(loc).Format(localLayout)
		if x.Deleted || x.Override == nil {
			overrides[key] = map[string]any{"excluded": true}
			continue
		}
		prev, _ := baseOv[key].(map[string]any)
		ov := clone(prev)
		if ov == nil || ov["excluded"] == true {
			ov = obj{}
		}
		writeEventFields(ov, prev, x.Override, loc, e)
		overrides[key] = ov
	}
	if len(overrides) > 0 || baseOv != nil {
		out["recurrenceOverrides"] = overrides
	}
	return out, nil
}

// writeEventFields writes what readEventFields reads. For an override
// (master non-nil) zero fields are inherited: they are left out, and the
// start and duration only written when they differ from the master's.
func writeEventFields(out, base obj, e *sources.Event, loc *time.Location, master *sources.Event) {
	str := func(p, v string) {
		if master != nil && v == "" {
			delete(out, p)
			return
		}
		setStr(out, base, p, v)
	}
	str("title", e.Summary)
	str("description", e.Description)

	if master == nil || !e.Start.IsZero() {
		start := e.Start.In(loc)
		if e.AllDay {
			start = time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, loc)
		}
		out["start"] = start.Format(localLayout)
		if master == nil || !e.End.IsZero() && e.End.Sub(e.Start) != master.End.Sub(master.Start) {
			out["duration"] = formatDuration(start, e.End.In(loc), e.AllDay)
		}
		if master == nil || e.AllDay != master.AllDay {
			out["showWithoutTime"] = e.AllDay
		}
	}

	if master == nil || e.Location != "" {
		locs := clone(objOf(base, "locations"))
		first := ""
		for _, l := range entriesOf(base, "locations") {
			first = l.id
			break
		}
		switch {
		case e.Location == "" && first != "":
			delete(locs, first)
		case e.Location != "" && first != "":
			locs[first].(map[string]any)["name"] = e.Location
		case e.Location != "":
			locs = obj{"l1": map[string]any{"@type": "Location", "name": e.Location}}
		}
		if len(locs) > 0 || base["locations"] != nil {
			out["locations"] = locs
		}
	}

	if master == nil {
		switch e.BusyStatus {
		case sources.Free:
			out["freeBusyStatus"] = "free"
		default:
			out["freeBusyStatus"] = "busy"
		}
		switch e.Sensitivity {
		case sources.SensitivityPrivate, sources.SensitivityPersonal:
			out["privacy"] = "private"
		case sources.SensitivityConfidential:
			out["privacy"] = "secret"
		default:
			out["privacy"] = "public"
		}
		if len(e.Categories) > 0 || base["keywords"] != nil {
			kw := make(map[string]any)
			for _, c := range e.Categories {
				kw[c] = true
			}
			out["keywords"] = kw
		}
		writeAlerts(out, base, e.Reminder)
		writeParticipants(out, base, e)
	}
}

func writeAlerts(out, base obj, reminder *int) {
	alerts := clone(objOf(base, "alerts"))
	mapped := ""
	for _, a := range entriesOf(base, "alerts") {
		if _, ok := alertMinutes(a.e); ok {
			mapped = a.id
			break
		}
	}
	switch {
	case reminder == nil && mapped != "":
		delete(alerts, mapped)
	case reminder != nil && mapped != "":
		objOf(alerts[mapped].(map[string]any), "trigger")["offset"] = fmt.Sprintf("-PT%dM", *reminder)
	case reminder != nil:
		if alerts == nil {
			alerts = obj{}
		}
		alerts["easgate"] = map[string]any{"@type": "Alert", "action": "display",
			"trigger": map[string]any{"@type": "OffsetTrigger", "relativeTo": "start", "offset": fmt.Sprintf("-PT%dM", *reminder)}}
	}
	if len(alerts) > 0 || base["alerts"] != nil {
		out["alerts"] = alerts
	}
}

func writeParticipants(out, base obj, e *sources.Event) {
	prev := entriesOf(base, "participants")
	ps := obj{}
	find := func(email string, owner bool) (string, obj) {
		for _, p := range prev {
			if (owner && objOf(p.e, "roles")["owner"] == true) ||
				(!owner && strings.EqualFold(participantEmail(p.e), email) && objOf(p.e, "roles")["owner"] != true) {
				return p.id, clone(p.e)
			}
		}
		return "", nil
	}
	put := func(a sources.Address, owner bool) obj {
		id, p := find(a.Email, owner)
		if p == nil {
			p = obj{"@type": "Participant", "roles": map[string]any{}}
			id = "p" + strconv.Itoa(len(ps)+1)
			for ps[id] != nil || slices.ContainsFunc(prev, func(x entry) bool { return x.id == id }) {
				id += "x"
			}
			p["sendTo"] = map[string]any{"imip": "mailto:" + a.Email}
		}
		setStr(p, p, "name", a.Name)
		p["email"] = a.Email
		if objOf(p, "roles") == nil {
			p["roles"] = map[string]any{}
		}
		ps[id] = p
		return p
	}
	if e.Organizer.Email != "" {
		objOf(put(e.Organizer, true), "roles")["owner"] = true
	}
	for _, a := range e.Attendees {
		p := put(a.Address, false)
		roles := objOf(p, "roles")
		for _, r := range []string{"chair", "optional", "informational"} {
			delete(roles, r)
		}
		roles["attendee"] = true
		switch a.Role {
		case sources.RoleChair:
			roles["chair"] = true
		case sources.RoleOptional:
			roles["optional"] = true
		case sources.RoleNonParticipant:
			roles["informational"] = true
			delete(roles, "attendee")
		}
		p["participationStatus"] = [...]string{"needs-action", "accepted", "declined", "tentative", "delegated"}[a.Status]
		switch a.Type {
		case sources.TypeGroup:
			p["kind"] = "group"
		case sources.TypeResource:
			p["kind"] = "resource"
		case sources.TypeRoom:
			p["kind"] = "location"
		default:
			if str(p, "kind") != "" {
				p["kind"] = "individual"
			}
		}
	}
	if len(ps) > 0 || base["participants"] != nil {
		out["participants"] = ps
	}
	// Where replies go (RFC 8984 section 4.4.4): Cyrus rejects
	// participants without it.
	if e.Organizer.Email != "" && base["replyTo"] == nil {
		out["replyTo"] = map[string]any{"imip": "mailto:" + e.Organizer.Email}
	}
}

// parseDuration reads an ISO 8601 duration without years or months
// (RFC 8984 section 1.4.6) as an exact span: days count 24 hours.
func parseDuration(s string) (time.Duration, error) {
	if !strings.HasPrefix(s, "P") {
		return 0, fmt.Errorf("duration %q: %w", s, errBadValue)
	}
	var d time.Duration
	inTime := false
	n := ""
	for _, c := range s[1:] {
		switch {
		case c >= '0' && c <= '9':
			n += string(c)
		case c == 'T':
			inTime = true
		default:
			v, err := strconv.Atoi(n)
			if err != nil {
				return 0, fmt.Errorf("duration %q: %w", s, errBadValue)
			}
			n = ""
			unit := map[rune]time.Duration{'W': 7 * 24 * time.Hour, 'D': 24 * time.Hour, 'H': time.Hour, 'M': time.Minute, 'S': time.Second}[c]
			if c == 'M' && !inTime || unit == 0 {
				return 0, fmt.Errorf("duration %q: %w", s, errBadValue)
			}
			d += time.Duration(v) * unit
		}
	}
	return d, nil
}

// addDuration adds a JSCalendar duration to start: its days and weeks as
// calendar days in start's zone (nominal, so a day across a DST change
// stays midnight to midnight), its hours, minutes and seconds exactly.
func addDuration(start time.Time, s string) (time.Time, error) {
	if s == "" {
		return start, nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return time.Time{}, err
	}
	days := d / (24 * time.Hour)
	return start.AddDate(0, 0, int(days)).Add(d - days*24*time.Hour), nil
}

// formatDuration writes end-start as nominal days plus exact time, the
// inverse of addDuration.
func formatDuration(start, end time.Time, allDay bool) string {
	if end.Before(start) {
		end = start
	}
	days := 0
	for !start.AddDate(0, 0, days+1).After(end) {
		days++
	}
	rest := end.Sub(start.AddDate(0, 0, days))
	if allDay && rest > 0 {
		days++
		rest = 0
	}
	var b strings.Builder
	b.WriteString("P")
	if days > 0 {
		fmt.Fprintf(&b, "%dD", days)
	}
	if rest > 0 || days == 0 {
		b.WriteString("T")
		h, m, sec := int(rest/time.Hour), int(rest/time.Minute)%60, int(rest/time.Second)%60
		if h > 0 {
			fmt.Fprintf(&b, "%dH", h)
		}
		if m > 0 {
			fmt.Fprintf(&b, "%dM", m)
		}
		if sec > 0 || h == 0 && m == 0 {
			fmt.Fprintf(&b, "%dS", sec)
		}
	}
	return b.String()
}
