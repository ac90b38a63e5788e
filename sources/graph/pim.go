package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/easgate/easgate/sources"
)

// eventRow records one calendarView delta row. The view holds instances
// (§2.5); EAS wants series, so an occurrence or exception marks its
// series master changed, and the master is what Get returns. It returns
// the master id when a removed instance touched a series whose master may
// be gone too.
func (f *feed) eventRow(r deltaRow, seen map[sources.ItemID]bool) string {
	tag := r.ChangeKey
	if tag == "" {
		tag = r.ETag
	}
	if r.Removed != nil {
		master := f.masters[r.ID]
		delete(f.masters, r.ID)
		delete(f.instTags, r.ID)
		if master == "" || master == r.ID {
			f.drop(sources.ItemID(r.ID))
			return ""
		}
		f.touch(sources.ItemID(master))
		return master
	}
	switch r.Type {
	case "occurrence", "exception":
		if r.SeriesMasterID == "" {
			return ""
		}
		f.masters[r.ID] = r.SeriesMasterID
		seen[sources.ItemID(r.SeriesMasterID)] = true
		// A replayed instance with the same tag changes nothing.
		if old, ok := f.instTags[r.ID]; ok && old == tag && tag != "" {
			return ""
		}
		f.instTags[r.ID] = tag
		if e := f.entries[sources.ItemID(r.SeriesMasterID)]; e != nil && !e.removed && e.tag == "series:"+tag {
			return ""
		}
		f.touch(sources.ItemID(r.SeriesMasterID))
		f.entries[sources.ItemID(r.SeriesMasterID)].tag = "series:" + tag
	default:
		f.masters[r.ID] = r.ID
		seen[sources.ItemID(r.ID)] = true
		f.record(sources.ItemID(r.ID), tag)
	}
	return ""
}

// checkMasters drops the series among masters whose master is gone.
func (f *feed) checkMasters(ctx context.Context, masters []string) error {
	if len(masters) == 0 {
		return nil
	}
	items := make([]*batchItem, len(masters))
	for i, m := range masters {
		items[i] = &batchItem{path: f.s.path + "/events/" + url.PathEscape(m), query: url.Values{"$select": {"id"}}}
	}
	if err := f.s.c.batchGET(ctx, f.s.id, items); err != nil {
		return err
	}
	for i, it := range items {
		if it.status == 404 {
			f.drop(sources.ItemID(masters[i]))
		}
	}
	return nil
}

// pimItem converts a contact, event or task.
func (s *Source) pimItem(ctx context.Context, f *feed, id sources.ItemID, body json.RawMessage) (sources.Item, bool, error) {
	it := sources.Item{ID: id, Folder: f.folder}
	var head struct {
		ChangeKey    string    `json:"changeKey"`
		ETag         string    `json:"@odata.etag"`
		LastModified time.Time `json:"lastModifiedDateTime"`
	}
	json.Unmarshal(body, &head)
	it.ETag, it.Modified = head.ChangeKey, head.LastModified
	if it.ETag == "" {
		it.ETag = head.ETag
	}
	switch f.kind {
	case contentDirectory:
		var u graphUser
		if err := json.Unmarshal(body, &u); err != nil {
			return it, false, fmt.Errorf("graph: user %s: %w", id, err)
		}
		it.Contact, it.ETag = u.toSources(), u.tag()
	case contentContacts:
		var c graphContact
		if err := json.Unmarshal(body, &c); err != nil {
			return it, false, fmt.Errorf("graph: contact %s: %w", id, err)
		}
		it.Contact = c.toSources()
	case contentTasks:
		var t graphTask
		if err := json.Unmarshal(body, &t); err != nil {
			return it, false, fmt.Errorf("graph: task %s: %w", id, err)
		}
		it.Task = t.toSources()
	case contentEvents:
		var e graphEvent
		if err := json.Unmarshal(body, &e); err != nil {
			return it, false, fmt.Errorf("graph: event %s: %w", id, err)
		}
		ev := e.toSources()
		e.userAnswer(ev, s.upn)
		if e.Type == "seriesMaster" {
			if err := s.exceptions(ctx, &e, ev); err != nil {
				return it, false, err
			}
		}
		it.Event = ev
	}
	return it, true, nil
}

// exceptions adds a series' exceptions and deleted occurrences (§2.5):
// the instances Graph lists in the calendar window, compared with the
// occurrences the pattern gives there.
func (s *Source) exceptions(ctx context.Context, g *graphEvent, ev *sources.Event) error {
	now := time.Now().UTC()
	from, to := now.Add(-s.b.o.CalendarPast), now.Add(s.b.o.CalendarFuture)
	var page struct {
		Value []graphEvent `json:"value"`
	}
	q := url.Values{"startDateTime": {from.Format(time.RFC3339)}, "endDateTime": {to.Format(time.RFC3339)}, "$top": {"1000"}}
	if err := s.c.getJSON(ctx, s.id, s.path+"/events/"+url.PathEscape(g.ID)+"/instances", q, nil, &page); err != nil {
		return fmt.Errorf("graph: instances of %s: %w", g.ID, err)
	}
	present := make(map[time.Time]bool)
	for i := range page.Value {
		inst := &page.Value[i]
		orig := parseUTC(inst.OriginalStart)
		present[orig] = true
		if inst.Type != "exception" {
			continue
		}
		o := inst.toSources()
		inst.userAnswer(o, s.upn)
		o.Recurrence, o.UID = nil, ""
		ev.Exceptions = append(ev.Exceptions, sources.Exception{OriginalStart: orig, Override: o})
	}
	if ev.Recurrence == nil {
		return nil
	}
	start := ev.Start
	if loc, ok := sources.WindowsZone(g.OriginalStartTimeZone); ok {
		start = start.In(loc)
	}
	for _, at := range ev.Recurrence.Occurrences(start, from, to, 2000) {
		if !present[at.UTC()] {
			ev.Exceptions = append(ev.Exceptions, sources.Exception{OriginalStart: at.UTC(), Deleted: true})
		}
	}
	return nil
}

func parseUTC(s string) time.Time {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.9999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// pimPut creates or replaces a contact, event or task.
func (s *Source) pimPut(ctx context.Context, f *feed, it *sources.Item, ifMatch string) (sources.ItemID, string, error) {
	var body map[string]any
	var create string
	gid := url.PathEscape(graphID(f.folder))
	switch {
	case f.kind == contentDirectory:
		return "", "", fmt.Errorf("graph: the directory is read-only: %w", sources.ErrUnsupported)
	case f.kind == contentContacts && it.Contact != nil:
		body, create = contactJSON(it.Contact), s.path+"/contactFolders/"+gid+"/contacts"
	case f.kind == contentTasks && it.Task != nil:
		body, create = taskJSON(it.Task), s.path+"/todo/lists/"+gid+"/tasks"
	case f.kind == contentEvents && it.Event != nil:
		body, create = eventJSON(it.Event), s.path+"/calendars/"+gid+"/events"
	default:
		return "", "", fmt.Errorf("graph: put into %s: the item does not fit the folder: %w", f.folder, sources.ErrUnsupported)
	}
	var out struct {
		ID        string `json:"id"`
		ChangeKey string `json:"changeKey"`
		ETag      string `json:"@odata.etag"`
	}
	var err error
	if it.ID == "" {
		err = s.c.sendJSON(ctx, s.id, "POST", create, body, &out, "")
	} else {
		im := ifMatch
		if f.kind != contentTasks {
			im = etagOf(ifMatch)
		}
		err = s.c.sendJSON(ctx, s.id, "PATCH", s.itemPath(f, it.ID), body, &out, im)
	}
	if err != nil {
		return "", "", fmt.Errorf("graph: put into %s: %w", f.folder, err)
	}
	if f.kind == contentEvents && len(it.Event.Exceptions) > 0 {
		if err := s.putExceptions(ctx, out.ID, it.Event); err != nil {
			return "", "", err
		}
		// The exceptions changed the series' changeKey.
		var again struct {
			ChangeKey string `json:"changeKey"`
		}
		if err := s.c.getJSON(ctx, s.id, s.path+"/events/"+url.PathEscape(out.ID), url.Values{"$select": {"changeKey"}}, nil, &again); err == nil {
			out.ChangeKey = again.ChangeKey
		}
	}
	etag := out.ChangeKey
	if etag == "" {
		etag = out.ETag
	}
	return sources.ItemID(out.ID), etag, nil
}

// putExceptions applies a device's exceptions to a series: each one
// patches or deletes the instance at its original start.
func (s *Source) putExceptions(ctx context.Context, master string, ev *sources.Event) error {
	from, to := ev.Exceptions[0].OriginalStart, ev.Exceptions[0].OriginalStart
	for _, x := range ev.Exceptions {
		from, to = minTime(from, x.OriginalStart), maxTime(to, x.OriginalStart)
	}
	var page struct {
		Value []graphEvent `json:"value"`
	}
	q := url.Values{"startDateTime": {from.Add(-24 * time.Hour).UTC().Format(time.RFC3339)},
		"endDateTime": {to.Add(48 * time.Hour).UTC().Format(time.RFC3339)}}
	if err := s.c.getJSON(ctx, s.id, s.path+"/events/"+url.PathEscape(master)+"/instances", q, nil, &page); err != nil {
		return fmt.Errorf("graph: instances of %s: %w", master, err)
	}
	byStart := make(map[time.Time]string)
	for _, inst := range page.Value {
		byStart[parseUTC(inst.OriginalStart)] = inst.ID
	}
	for _, x := range ev.Exceptions {
		id, ok := byStart[x.OriginalStart.UTC()]
		if !ok {
			continue // already deleted, or outside the series
		}
		path := s.path + "/events/" + url.PathEscape(id)
		var err error
		if x.Deleted || x.Override == nil {
			err = s.c.sendJSON(ctx, s.id, "DELETE", path, nil, nil, "")
		} else {
			o := *x.Override
			o.Recurrence, o.Exceptions = nil, nil
			if o.Start.IsZero() {
				o.Start, o.End = x.OriginalStart, x.OriginalStart.Add(ev.End.Sub(ev.Start))
			}
			if o.TimeZone == "" {
				o.TimeZone = ev.TimeZone
			}
			body := eventJSON(&o)
			if o.Summary == "" {
				delete(body, "subject")
			}
			err = s.c.sendJSON(ctx, s.id, "PATCH", path, body, nil, "")
		}
		if err != nil && !errors.Is(err, sources.ErrNotFound) {
			return fmt.Errorf("graph: exception %v of %s: %w", x.OriginalStart, master, err)
		}
	}
	return nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

type physicalAddress struct {
	Street          string `json:"street,omitempty"`
	City            string `json:"city,omitempty"`
	State           string `json:"state,omitempty"`
	PostalCode      string `json:"postalCode,omitempty"`
	CountryOrRegion string `json:"countryOrRegion,omitempty"`
}

func (a physicalAddress) toSources() sources.PostalAddress {
	return sources.PostalAddress{Street: a.Street, City: a.City, State: a.State, PostalCode: a.PostalCode, Country: a.CountryOrRegion}
}

func fromPostal(a sources.PostalAddress) physicalAddress {
	return physicalAddress{Street: a.Street, City: a.City, State: a.State, PostalCode: a.PostalCode, CountryOrRegion: a.Country}
}

// graphContact is a contact resource ([D] resources/contact).
type graphContact struct {
	GivenName       string `json:"givenName"`
	MiddleName      string `json:"middleName"`
	Surname         string `json:"surname"`
	Title           string `json:"title"`
	Generation      string `json:"generation"`
	NickName        string `json:"nickName"`
	FileAs          string `json:"fileAs"`
	YomiGivenName   string `json:"yomiGivenName"`
	YomiSurname     string `json:"yomiSurname"`
	YomiCompanyName string `json:"yomiCompanyName"`
	EmailAddresses  []struct {
		Name    string `json:"name"`
		Address string `json:"address"`
	} `json:"emailAddresses"`
	IMAddresses      []string        `json:"imAddresses"`
	BusinessPhones   []string        `json:"businessPhones"`
	HomePhones       []string        `json:"homePhones"`
	MobilePhone      string          `json:"mobilePhone"`
	HomeAddress      physicalAddress `json:"homeAddress"`
	BusinessAddress  physicalAddress `json:"businessAddress"`
	OtherAddress     physicalAddress `json:"otherAddress"`
	CompanyName      string          `json:"companyName"`
	JobTitle         string          `json:"jobTitle"`
	Department       string          `json:"department"`
	OfficeLocation   string          `json:"officeLocation"`
	Manager          string          `json:"manager"`
	AssistantName    string          `json:"assistantName"`
	SpouseName       string          `json:"spouseName"`
	Children         []string        `json:"children"`
	BusinessHomePage string          `json:"businessHomePage"`
	Birthday         *time.Time      `json:"birthday"`
	PersonalNotes    string          `json:"personalNotes"`
	Categories       []string        `json:"categories"`
}

func (g *graphContact) toSources() *sources.Contact {
	c := &sources.Contact{FirstName: g.GivenName, MiddleName: g.MiddleName, LastName: g.Surname, Title: g.Title,
		Suffix: g.Generation, Nickname: g.NickName, FileAs: g.FileAs, YomiFirstName: g.YomiGivenName,
		YomiLastName: g.YomiSurname, YomiCompanyName: g.YomiCompanyName, IMAddresses: g.IMAddresses,
		Home: g.HomeAddress.toSources(), Business: g.BusinessAddress.toSources(), Other: g.OtherAddress.toSources(),
		Company: g.CompanyName, JobTitle: g.JobTitle, Department: g.Department, OfficeLocation: g.OfficeLocation,
		ManagerName: g.Manager, AssistantName: g.AssistantName, Spouse: g.SpouseName, Children: g.Children,
		WebPage: g.BusinessHomePage, Notes: g.PersonalNotes, Categories: g.Categories}
	for _, e := range g.EmailAddresses {
		c.Emails = append(c.Emails, e.Address)
	}
	nth := func(l []string, i int) string {
		if i < len(l) {
			return l[i]
		}
		return ""
	}
	c.Phones = sources.Phones{Business: nth(g.BusinessPhones, 0), Business2: nth(g.BusinessPhones, 1),
		Home: nth(g.HomePhones, 0), Home2: nth(g.HomePhones, 1), Mobile: g.MobilePhone}
	if g.Birthday != nil {
		c.Birthday = g.Birthday.UTC()
	}
	return c
}

func contactJSON(c *sources.Contact) map[string]any {
	var emails []map[string]string
	for _, e := range c.Emails {
		emails = append(emails, map[string]string{"address": e})
	}
	nonEmpty := func(l ...string) []string {
		out := []string{}
		for _, s := range l {
			if s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	j := map[string]any{"givenName": c.FirstName, "middleName": c.MiddleName, "surname": c.LastName, "title": c.Title,
		"generation": c.Suffix, "nickName": c.Nickname, "fileAs": c.FileAs, "yomiGivenName": c.YomiFirstName,
		"yomiSurname": c.YomiLastName, "yomiCompanyName": c.YomiCompanyName, "emailAddresses": nonNilSlice(emails),
		"imAddresses": nonEmpty(c.IMAddresses...), "businessPhones": nonEmpty(c.Phones.Business, c.Phones.Business2),
		"homePhones": nonEmpty(c.Phones.Home, c.Phones.Home2), "mobilePhone": c.Phones.Mobile,
		"homeAddress": fromPostal(c.Home), "businessAddress": fromPostal(c.Business), "otherAddress": fromPostal(c.Other),
		"companyName": c.Company, "jobTitle": c.JobTitle, "department": c.Department, "officeLocation": c.OfficeLocation,
		"manager": c.ManagerName, "assistantName": c.AssistantName, "spouseName": c.Spouse, "children": nonEmpty(c.Children...),
		"businessHomePage": c.WebPage, "personalNotes": c.Notes, "categories": nonEmpty(c.Categories...)}
	if !c.Birthday.IsZero() {
		j["birthday"] = c.Birthday.UTC().Format(time.RFC3339)
	}
	return j
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// graphTask is a todoTask ([D] resources/todotask).
type graphTask struct {
	Title string `json:"title"`
	Body  *struct {
		Content string `json:"content"`
	} `json:"body"`
	Status            string      `json:"status"`
	Importance        string      `json:"importance"`
	DueDateTime       *dateTimeTZ `json:"dueDateTime"`
	StartDateTime     *dateTimeTZ `json:"startDateTime"`
	CompletedDateTime *dateTimeTZ `json:"completedDateTime"`
	ReminderDateTime  *dateTimeTZ `json:"reminderDateTime"`
	IsReminderOn      bool        `json:"isReminderOn"`
	Categories        []string    `json:"categories"`
}

func (g *graphTask) toSources() *sources.Task {
	t := &sources.Task{Subject: g.Title, Complete: g.Status == "completed", Categories: g.Categories,
		Due: tzTime(g.DueDateTime), Start: tzTime(g.StartDateTime), Completed: tzTime(g.CompletedDateTime)}
	t.DueLocal, t.StartLocal = t.Due, t.Start
	if g.Body != nil {
		t.Body = g.Body.Content
	}
	if g.IsReminderOn {
		t.Reminder = tzTime(g.ReminderDateTime)
	}
	switch g.Importance {
	case "high":
		t.Importance = sources.ImportanceHigh
	case "low":
		t.Importance = sources.ImportanceLow
	}
	return t
}

func taskJSON(t *sources.Task) map[string]any {
	j := map[string]any{"title": t.Subject, "body": map[string]any{"content": t.Body, "contentType": "text"},
		"status": "notStarted", "importance": "normal", "categories": nonNilSlice(t.Categories),
		"isReminderOn": !t.Reminder.IsZero()}
	if t.Complete {
		j["status"] = "completed"
		if !t.Completed.IsZero() {
			j["completedDateTime"] = toTZ(t.Completed)
		}
	}
	switch t.Importance {
	case sources.ImportanceHigh:
		j["importance"] = "high"
	case sources.ImportanceLow:
		j["importance"] = "low"
	}
	if !t.Due.IsZero() {
		j["dueDateTime"] = toTZ(t.Due)
	}
	if !t.Start.IsZero() {
		j["startDateTime"] = toTZ(t.Start)
	}
	if !t.Reminder.IsZero() {
		j["reminderDateTime"] = toTZ(t.Reminder)
	}
	return j
}

// graphEvent is an event ([D] resources/event).
type graphEvent struct {
	ID                    string      `json:"id"`
	Type                  string      `json:"type"`
	SeriesMasterID        string      `json:"seriesMasterId"`
	OriginalStart         string      `json:"originalStart"`
	OriginalStartTimeZone string      `json:"originalStartTimeZone"`
	ICalUID               string      `json:"iCalUId"`
	Subject               string      `json:"subject"`
	Start                 *dateTimeTZ `json:"start"`
	End                   *dateTimeTZ `json:"end"`
	IsAllDay              bool        `json:"isAllDay"`
	Body                  *struct {
		ContentType string `json:"contentType"`
		Content     string `json:"content"`
	} `json:"body"`
	Location *struct {
		DisplayName string `json:"displayName"`
	} `json:"location"`
	Organizer *emailAddress `json:"organizer"`
	Attendees []struct {
		emailAddress
		Type   string `json:"type"`
		Status struct {
			Response string `json:"response"`
		} `json:"status"`
	} `json:"attendees"`
	IsOrganizer                bool            `json:"isOrganizer"`
	IsCancelled                bool            `json:"isCancelled"`
	ResponseRequested          bool            `json:"responseRequested"`
	IsReminderOn               bool            `json:"isReminderOn"`
	ReminderMinutesBeforeStart int             `json:"reminderMinutesBeforeStart"`
	ShowAs                     string          `json:"showAs"`
	Sensitivity                string          `json:"sensitivity"`
	Categories                 []string        `json:"categories"`
	Recurrence                 json.RawMessage `json:"recurrence"`

	// The user's own answer to an invitation, and whether its organizer
	// takes proposals for new times.
	ResponseStatus struct {
		Response string `json:"response"`
	} `json:"responseStatus"`
	AllowNewTimeProposals *bool `json:"allowNewTimeProposals"`
}

var showAs = map[string]sources.BusyStatus{"free": sources.Free, "tentative": sources.Tentative, "busy": sources.Busy,
	"oof": sources.OutOfOffice, "workingElsewhere": sources.WorkingElsewhere}

var sensitivities = map[string]sources.Sensitivity{"normal": sources.SensitivityNormal, "personal": sources.SensitivityPersonal,
	"private": sources.SensitivityPrivate, "confidential": sources.SensitivityConfidential}

var responses = map[string]sources.AttendeeStatus{"accepted": sources.StatusAccepted, "declined": sources.StatusDeclined,
	"tentativelyAccepted": sources.StatusTentative}

func (g *graphEvent) toSources() *sources.Event {
	e := &sources.Event{UID: g.ICalUID, Summary: g.Subject, Start: tzTime(g.Start), End: tzTime(g.End), AllDay: g.IsAllDay,
		BusyStatus: showAs[g.ShowAs], Sensitivity: sensitivities[g.Sensitivity], Categories: g.Categories,
		ResponseRequested: g.ResponseRequested}
	// Times come in UTC (no Prefer time zone, §6.1); the zone the
	// organizer used names the device's TimeZone.
	if loc, ok := sources.WindowsZone(g.OriginalStartTimeZone); ok && loc != time.UTC {
		e.TimeZone = loc.String()
	}
	if g.IsAllDay && e.TimeZone != "" {
		// All-day dates are midnights in the event's zone, not in UTC.
		loc, _ := sources.WindowsZone(g.OriginalStartTimeZone)
		e.Start = wallIn(e.Start, loc)
		e.End = wallIn(e.End, loc)
	}
	if g.Location != nil {
		e.Location = g.Location.DisplayName
	}
	if g.Body != nil {
		e.Description = g.Body.Content
	}
	if g.Organizer != nil {
		e.Organizer = addrs(g.Organizer)[0]
	}
	for _, a := range g.Attendees {
		at := sources.Attendee{Address: addrs(&a.emailAddress)[0], Status: responses[a.Status.Response]}
		switch a.Type {
		case "optional":
			at.Role = sources.RoleOptional
		case "resource":
			at.Type = sources.TypeResource
		}
		e.Attendees = append(e.Attendees, at)
	}
	switch {
	case g.IsCancelled && g.IsOrganizer:
		e.MeetingStatus = sources.MeetingCanceled
	case g.IsCancelled:
		e.MeetingStatus = sources.MeetingCanceledReceived
	case len(g.Attendees) > 0 && g.IsOrganizer:
		e.MeetingStatus = sources.MeetingOrganized
	case !g.IsOrganizer:
		e.MeetingStatus = sources.MeetingReceived
	}
	if g.IsReminderOn {
		m := g.ReminderMinutesBeforeStart
		e.Reminder = &m
	}
	if len(g.Recurrence) > 0 && string(g.Recurrence) != "null" {
		e.Recurrence = recurrenceFromGraph(g.Recurrence, g.OriginalStartTimeZone)
	}
	return e
}

// wallIn reads t's UTC wall clock as a time in loc: Graph writes all-day
// dates as midnights labelled with whatever zone was asked for.
func wallIn(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

var weekdays = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

var indexes = map[string]int{"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}

// recurrenceFromGraph maps a patternedRecurrence to a sources
// Recurrence (§6.2).
func recurrenceFromGraph(raw json.RawMessage, tz string) *sources.Recurrence {
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
	if json.Unmarshal(raw, &rec) != nil {
		return nil
	}
	p := rec.Pattern
	r := &sources.Recurrence{Interval: p.Interval}
	for i, d := range weekdays {
		if strings.EqualFold(p.FirstDayOfWeek, d) {
			r.WeekStart = time.Weekday(i)
		}
	}
	byDay := func(ord int) {
		for _, name := range p.DaysOfWeek {
			for i, d := range weekdays {
				if strings.EqualFold(name, d) {
					r.ByDay = append(r.ByDay, sources.WeekdayNum{Ordinal: ord, Day: time.Weekday(i)})
				}
			}
		}
	}
	ord, ok := indexes[p.Index]
	if !ok {
		ord = 1
	}
	switch p.Type {
	case "daily":
		r.Freq = sources.Daily
	case "weekly":
		r.Freq = sources.Weekly
		byDay(0)
	case "absoluteMonthly":
		r.Freq, r.ByMonthDay = sources.Monthly, []int{p.DayOfMonth}
	case "relativeMonthly":
		r.Freq = sources.Monthly
		byDay(ord)
	case "absoluteYearly":
		r.Freq, r.ByMonthDay, r.ByMonth = sources.Yearly, []int{p.DayOfMonth}, []time.Month{time.Month(p.Month)}
	case "relativeYearly":
		r.Freq, r.ByMonth = sources.Yearly, []time.Month{time.Month(p.Month)}
		byDay(ord)
	default:
		return nil
	}
	switch rec.Range.Type {
	case "numbered":
		r.Count = rec.Range.NumberOfOccurrences
	case "endDate":
		zone := rec.Range.RecurrenceTimeZone
		if zone == "" {
			zone = tz
		}
		loc, _ := sources.WindowsZone(zone)
		if d, err := time.ParseInLocation("2006-01-02", rec.Range.EndDate, loc); err == nil {
			// The end of that local day: EAS Until is a time (§6.2).
			r.Until = d.AddDate(0, 0, 1).Add(-time.Second).UTC()
		}
	}
	return r
}

// eventJSON writes an event for POST or PATCH, times in the event's own
// zone so that a series keeps its wall clock across DST.
func eventJSON(e *sources.Event) map[string]any {
	tz := e.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	loc, _ := sources.WindowsZone(tz)
	at := func(t time.Time) map[string]any {
		return map[string]any{"dateTime": t.In(loc).Format("2006-01-02T15:04:05.0000000"), "timeZone": tz}
	}
	j := map[string]any{"subject": e.Summary, "start": at(e.Start), "end": at(e.End), "isAllDay": e.AllDay,
		"body": map[string]any{"contentType": "text", "content": e.Description}, "location": map[string]any{"displayName": e.Location},
		"categories": nonNilSlice(e.Categories), "isReminderOn": e.Reminder != nil, "responseRequested": e.ResponseRequested}
	if e.AllDay {
		y, m, d := e.Start.In(loc).Date()
		ey, em, ed := e.End.In(loc).Date()
		j["start"] = map[string]any{"dateTime": time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Format("2006-01-02T15:04:05.0000000"), "timeZone": tz}
		j["end"] = map[string]any{"dateTime": time.Date(ey, em, ed, 0, 0, 0, 0, time.UTC).Format("2006-01-02T15:04:05.0000000"), "timeZone": tz}
	}
	if e.Reminder != nil {
		j["reminderMinutesBeforeStart"] = *e.Reminder
	}
	for k, v := range showAs {
		if v == e.BusyStatus {
			j["showAs"] = k
		}
	}
	for k, v := range sensitivities {
		if v == e.Sensitivity {
			j["sensitivity"] = k
		}
	}
	var atts []map[string]any
	for _, a := range e.Attendees {
		typ := "required"
		if a.Role == sources.RoleOptional {
			typ = "optional"
		}
		if a.Type == sources.TypeResource || a.Type == sources.TypeRoom {
			typ = "resource"
		}
		atts = append(atts, map[string]any{"emailAddress": map[string]string{"name": a.Name, "address": a.Email}, "type": typ})
	}
	j["attendees"] = nonNilSlice(atts)
	if r := e.Recurrence; r != nil {
		j["recurrence"] = recurrenceJSON(r, e.Start.In(loc), tz)
	}
	return j
}

// recurrenceJSON maps a sources Recurrence to a patternedRecurrence with
// only the properties its type needs (§6.2).
func recurrenceJSON(r *sources.Recurrence, start time.Time, tz string) map[string]any {
	interval := max(r.Interval, 1)
	var days []string
	ord := 0
	for _, d := range r.ByDay {
		days = append(days, weekdays[d.Day])
		ord = d.Ordinal
	}
	index := "first"
	for k, v := range indexes {
		if v == ord {
			index = k
		}
	}
	p := map[string]any{"interval": interval}
	switch r.Freq {
	case sources.Daily:
		p["type"] = "daily"
		if len(days) > 0 {
			// An EAS daily rule with weekdays is "every weekday" (§6.2).
			p["type"], p["daysOfWeek"], p["firstDayOfWeek"] = "weekly", days, weekdays[r.WeekStart]
		}
	case sources.Weekly:
		if len(days) == 0 {
			days = []string{weekdays[start.Weekday()]}
		}
		p["type"], p["daysOfWeek"], p["firstDayOfWeek"] = "weekly", days, weekdays[r.WeekStart]
	case sources.Monthly:
		if len(days) > 0 {
			p["type"], p["daysOfWeek"], p["index"] = "relativeMonthly", days, index
		} else {
			dom := start.Day()
			if len(r.ByMonthDay) > 0 {
				dom = r.ByMonthDay[0]
			}
			p["type"], p["dayOfMonth"] = "absoluteMonthly", dom
		}
	case sources.Yearly:
		month := int(start.Month())
		if len(r.ByMonth) > 0 {
			month = int(r.ByMonth[0])
		}
		if len(days) > 0 {
			p["type"], p["daysOfWeek"], p["index"], p["month"] = "relativeYearly", days, index, month
		} else {
			dom := start.Day()
			if len(r.ByMonthDay) > 0 {
				dom = r.ByMonthDay[0]
			}
			p["type"], p["dayOfMonth"], p["month"] = "absoluteYearly", dom, month
		}
	}
	rg := map[string]any{"type": "noEnd", "startDate": start.Format("2006-01-02"), "recurrenceTimeZone": tz}
	switch {
	case r.Count > 0:
		rg["type"], rg["numberOfOccurrences"] = "numbered", r.Count
	case !r.Until.IsZero():
		loc, _ := sources.WindowsZone(tz)
		rg["type"], rg["endDate"] = "endDate", r.Until.In(loc).Format("2006-01-02")
	}
	return map[string]any{"pattern": p, "range": rg}
}
