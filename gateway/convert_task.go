package gateway

import (
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

// taskToEAS converts a task. StartDate and DueDate are the owner's wall
// clock written as UTC, their Utc twins the instants. MS-ASTASK 2.2.2.
func taskToEAS(t *sources.Task, v eas.ProtocolVersion, p bodyPrefs) *eas.Task {
	c := &eas.Task{
		Subject:     t.Subject,
		Importance:  ptr(easImportance(t.Importance)),
		Complete:    ptr(t.Complete),
		Sensitivity: ptr(eas.Sensitivity(t.Sensitivity)),
		ReminderSet: ptr(!t.Reminder.IsZero()),
	}
	if t.Complete {
		done := t.Completed
		if done.IsZero() {
			done = time.Unix(0, 0) // the schema needs a date; the store has none
		}
		c.DateCompleted = dateTime(done, eas.DateTimeExtended)
	}
	c.StartDate, c.UtcStartDate = taskDates(t.Start, t.StartLocal, p.location())
	c.DueDate, c.UtcDueDate = taskDates(t.Due, t.DueLocal, p.location())
	c.ReminderTime = dateTime(t.Reminder, eas.DateTimeExtended)
	if len(t.Categories) > 0 {
		c.Categories = &eas.TaskCategories{Category: t.Categories}
	}
	if v == eas.V25 {
		c.Body25, c.BodySize25, c.BodyTruncated25 = p.body25(plainBody(t.Body))
	} else {
		c.Body = p.textBody(t.Body)
		c.NativeBodyType = ptr(eas.BodyPlainText)
	}
	if r := t.Recurrence; r != nil {
		start := r.Start
		if start.IsZero() {
			start = t.Start
		}
		if start.IsZero() {
			start = t.Due
		}
		loc := p.location()
		rc := recurrenceToEAS(&r.Recurrence, start.In(loc), v)
		c.Recurrence = &eas.TaskRecurrence{
			Type: rc.Type, Start: dateTime(wallAsUTC(start, loc), eas.DateTimeExtended),
			Until: rc.Until, Occurrences: rc.Occurrences, Interval: rc.Interval,
			DayOfMonth: rc.DayOfMonth, DayOfWeek: rc.DayOfWeek, WeekOfMonth: rc.WeekOfMonth,
			MonthOfYear: rc.MonthOfYear, FirstDayOfWeek: rc.FirstDayOfWeek,
			Regenerate: ptr(r.Regenerate), DeadOccur: ptr(r.DeadOccur),
		}
		if c.Recurrence.Start == nil {
			c.Recurrence.Start = dateTime(time.Unix(0, 0), eas.DateTimeExtended)
		}
		if u := c.Recurrence.Until; u != nil {
			u.Form = eas.DateTimeExtended
		}
	}
	return c
}

// taskDates returns the local and UTC forms of a task date; both or
// neither are sent (MS-ASTASK 2.2.2.9).
func taskDates(instant, local time.Time, loc *time.Location) (*eas.DateTime, *eas.DateTime) {
	if instant.IsZero() && local.IsZero() {
		return nil, nil
	}
	if instant.IsZero() {
		instant = local
	}
	if local.IsZero() {
		local = instant.In(loc)
	}
	return dateTime(wallAsUTC(local, local.Location()), eas.DateTimeExtended), dateTime(instant, eas.DateTimeExtended)
}

// taskFromEAS applies a client's task to old (nil for an Add). Local
// dates are read in the zone of old's local dates, or UTC.
func taskFromEAS(c *eas.Task, sent elements, old *sources.Task) *sources.Task {
	t := &sources.Task{}
	if old != nil {
		*t = *old
	}
	loc := time.UTC
	if !t.DueLocal.IsZero() {
		loc = t.DueLocal.Location()
	} else if !t.StartLocal.IsZero() {
		loc = t.StartLocal.Location()
	}
	if sent.has("Tasks:Subject") {
		t.Subject = c.Subject
	}
	if c.Importance != nil {
		t.Importance = modelImportance(c.Importance)
	}
	if c.Sensitivity != nil {
		t.Sensitivity = sources.Sensitivity(*c.Sensitivity)
	}
	if c.Complete != nil {
		t.Complete = *c.Complete
		t.Completed = time.Time{}
		if t.Complete {
			t.Completed = timeOf(c.DateCompleted)
		}
	}
	if sent.has("Tasks:StartDate") || sent.has("Tasks:UtcStartDate") {
		t.Start, t.StartLocal = timeOf(c.UtcStartDate), utcAsWall(timeOf(c.StartDate), loc)
	}
	if sent.has("Tasks:DueDate") || sent.has("Tasks:UtcDueDate") {
		t.Due, t.DueLocal = timeOf(c.UtcDueDate), utcAsWall(timeOf(c.DueDate), loc)
	}
	if c.ReminderSet != nil {
		t.Reminder = time.Time{}
		if *c.ReminderSet {
			t.Reminder = timeOf(c.ReminderTime)
		}
	} else if c.ReminderTime != nil {
		t.Reminder = c.ReminderTime.Time
	}
	if sent.has("Tasks:Categories") {
		t.Categories = nil
		if c.Categories != nil {
			t.Categories = categories(c.Categories.Category)
		}
	}
	switch {
	case sent.has("AirSyncBase:Body"):
		t.Body = bodyText(c.Body)
	case sent.has("Tasks:Body"):
		t.Body = ""
		if c.Body25 != nil {
			t.Body = *c.Body25
		}
	}
	if sent.has("Tasks:Recurrence") {
		t.Recurrence = nil
		if rc := c.Recurrence; rc != nil && !sent.empty("Tasks:Recurrence") {
			start := utcAsWall(timeOf(rc.Start), loc)
			r := recurrenceFromEAS(&eas.Recurrence{
				Type: rc.Type, Occurrences: rc.Occurrences, Interval: rc.Interval, WeekOfMonth: rc.WeekOfMonth,
				DayOfWeek: rc.DayOfWeek, MonthOfYear: rc.MonthOfYear, Until: rc.Until, DayOfMonth: rc.DayOfMonth,
				FirstDayOfWeek: rc.FirstDayOfWeek,
			}, start)
			t.Recurrence = &sources.TaskRecurrence{Recurrence: *r, Start: start}
			if rc.Regenerate != nil {
				t.Recurrence.Regenerate = *rc.Regenerate
			}
			if rc.DeadOccur != nil {
				t.Recurrence.DeadOccur = *rc.DeadOccur
			}
		}
	}
	return t
}
