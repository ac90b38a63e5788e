package eas

// Task is a task item as it travels in Sync ApplicationData,
// ItemOperations and Search Properties. Dates use the extended form;
// StartDate and DueDate are local wall-clock times written as UTC, their
// Utc twins the real instants. MS-ASTASK 2.2.2.
type Task struct {
	Body25          *string         `wbxml:"Tasks:Body,omitempty"`          // 2.5
	BodySize25      *uint32         `wbxml:"Tasks:BodySize,omitempty"`      // 2.5
	BodyTruncated25 *bool           `wbxml:"Tasks:BodyTruncated,omitempty"` // 2.5
	Rtf25           string          `wbxml:"Tasks:CompressedRTF,omitempty"` // 2.5
	Body            *Body           `wbxml:"AirSyncBase:Body,omitempty"`
	Categories      *TaskCategories `wbxml:"Tasks:Categories,omitempty"`
	Complete        *bool           `wbxml:"Tasks:Complete,omitempty"`
	DateCompleted   *DateTime       `wbxml:"Tasks:DateCompleted,omitempty"`
	DueDate         *DateTime       `wbxml:"Tasks:DueDate,omitempty"`
	UtcDueDate      *DateTime       `wbxml:"Tasks:UtcDueDate,omitempty"`
	Importance      *Importance     `wbxml:"Tasks:Importance,omitempty"`
	Recurrence      *TaskRecurrence `wbxml:"Tasks:Recurrence,omitempty"`
	ReminderSet     *bool           `wbxml:"Tasks:ReminderSet,omitempty"`
	ReminderTime    *DateTime       `wbxml:"Tasks:ReminderTime,omitempty"`
	Sensitivity     *Sensitivity    `wbxml:"Tasks:Sensitivity,omitempty"`
	StartDate       *DateTime       `wbxml:"Tasks:StartDate,omitempty"`
	UtcStartDate    *DateTime       `wbxml:"Tasks:UtcStartDate,omitempty"`
	Subject         string          `wbxml:"Tasks:Subject,omitempty"`
	NativeBodyType  *BodyType       `wbxml:"AirSyncBase:NativeBodyType,omitempty"`
}

// TaskCategories lists a task's categories. MS-ASTASK 2.2.2.4.
type TaskCategories struct {
	Category []string `wbxml:"Tasks:Category"`
}

// TaskRecurrence is a task's recurrence rule, with the Calendar values.
// Start is the first occurrence; Regenerate makes the next occurrence
// follow the completion of the last, DeadOccur marks the last one.
// MS-ASTASK 2.2.2.18.
type TaskRecurrence struct {
	Type           RecurrenceType `wbxml:"Tasks:Type"`
	Start          *DateTime      `wbxml:"Tasks:Start,omitempty"`
	Until          *DateTime      `wbxml:"Tasks:Until,omitempty"`
	Occurrences    *uint16        `wbxml:"Tasks:Occurrences,omitempty"`
	Interval       *uint16        `wbxml:"Tasks:Interval,omitempty"`
	DayOfMonth     *uint8         `wbxml:"Tasks:DayOfMonth,omitempty"`
	DayOfWeek      *uint8         `wbxml:"Tasks:DayOfWeek,omitempty"`
	WeekOfMonth    *uint8         `wbxml:"Tasks:WeekOfMonth,omitempty"`
	MonthOfYear    *uint8         `wbxml:"Tasks:MonthOfYear,omitempty"`
	Regenerate     *bool          `wbxml:"Tasks:Regenerate,omitempty"`
	DeadOccur      *bool          `wbxml:"Tasks:DeadOccur,omitempty"`
	CalendarType   *uint8         `wbxml:"Tasks:CalendarType,omitempty"`   // 14.0
	IsLeapMonth    *bool          `wbxml:"Tasks:IsLeapMonth,omitempty"`    // 14.0
	FirstDayOfWeek *uint8         `wbxml:"Tasks:FirstDayOfWeek,omitempty"` // 14.1
}

// Validate checks t against protocol version v: elements the version
// lacks and values out of range.
func (t *Task) Validate(v ProtocolVersion) error {
	if err := firstError(
		dropVersion("Tasks:Body", t.Body25 != nil || t.BodySize25 != nil || t.BodyTruncated25 != nil || t.Rtf25 != "", V25, v),
		t.Body.validate(v),
		needVersion("AirSyncBase:NativeBodyType", t.NativeBodyType != nil, V120, v),
		checkRange("Tasks:Importance", t.Importance, 0, ImportanceHigh),
		checkRange("Tasks:Sensitivity", t.Sensitivity, 0, SensitivityConfidential),
	); err != nil {
		return err
	}
	if (t.DueDate == nil) != (t.UtcDueDate == nil) {
		return schemaErrorf("Sync", "Tasks:DueDate and Tasks:UtcDueDate go together")
	}
	if (t.StartDate == nil) != (t.UtcStartDate == nil) {
		return schemaErrorf("Sync", "Tasks:StartDate and Tasks:UtcStartDate go together")
	}
	if t.Complete != nil && *t.Complete && t.DateCompleted == nil {
		return schemaErrorf("Sync", "Tasks:Complete 1 without Tasks:DateCompleted")
	}
	if r := t.Recurrence; r != nil {
		if r.Start == nil {
			return schemaErrorf("Sync", "Tasks:Recurrence without Tasks:Start")
		}
		return validateRecurrence("Tasks", recurrenceFields{
			typ: r.Type, occurrences: r.Occurrences, interval: r.Interval, weekOfMonth: r.WeekOfMonth,
			dayOfWeek: r.DayOfWeek, monthOfYear: r.MonthOfYear, dayOfMonth: r.DayOfMonth,
			calendarType: r.CalendarType, isLeapMonth: r.IsLeapMonth, firstDayOfWeek: r.FirstDayOfWeek,
		}, v)
	}
	return nil
}
