package sources

import "time"

// Task is a to-do item.
type Task struct {
	UID     string
	Subject string
	Body    string

	// Start and Due are instants. StartLocal and DueLocal are the same
	// dates as the owner's wall clock shows them, in a time.Location of
	// the owner's zone: task dates are usually dates, and devices read
	// one form or the other.
	Start, Due           time.Time
	StartLocal, DueLocal time.Time

	Complete  bool
	Completed time.Time // when it was completed

	Importance  Importance
	Reminder    time.Time // zero for no reminder
	Sensitivity Sensitivity
	Categories  []string

	Recurrence *TaskRecurrence
}

// TaskRecurrence is a task's recurrence rule.
type TaskRecurrence struct {
	Recurrence

	Start time.Time // the first occurrence

	// Regenerate repeats the task an interval after the last one was
	// completed rather than on fixed dates.
	Regenerate bool

	// DeadOccur is set when the series has ended: no occurrence is left.
	DeadOccur bool
}
