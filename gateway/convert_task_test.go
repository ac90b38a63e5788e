package gateway

import (
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

func testTask(loc *time.Location) *sources.Task {
	due := time.Date(2026, 4, 10, 0, 0, 0, 0, loc)
	start := time.Date(2026, 4, 1, 0, 0, 0, 0, loc)
	return &sources.Task{
		Subject: "Taxes", Body: "forms",
		Start: start.UTC(), StartLocal: start, Due: due.UTC(), DueLocal: due,
		Importance: sources.ImportanceHigh, Sensitivity: sources.SensitivityPrivate,
		Reminder:   time.Date(2026, 4, 9, 7, 0, 0, 0, time.UTC),
		Categories: []string{"Home"},
		Recurrence: &sources.TaskRecurrence{
			Recurrence: sources.Recurrence{Freq: sources.Yearly, ByMonth: []time.Month{4}, ByMonthDay: []int{1}},
			Start:      start, Regenerate: true,
		},
	}
}

func TestTaskRoundTrip(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	for _, v := range testVersions {
		t.Run(v.String(), func(t *testing.T) {
			p := newBodyPrefs(v, classTasks, nil)
			p.zone = berlin
			out := payload[eas.Task](t, &sources.Item{Task: testTask(berlin)}, v, p)
			if want := time.Date(2026, 4, 10, 0, 0, 0, 0, time.UTC); !out.DueDate.Time.Equal(want) {
				t.Errorf("DueDate = %v, want the local date %v", out.DueDate, want)
			}
			old := &sources.Item{Task: &sources.Task{DueLocal: time.Date(2000, 1, 1, 0, 0, 0, 0, berlin)}}
			got, err := fromEAS(classTasks, wire(t, eas.RawValue(out)), v, old)
			if err != nil {
				t.Fatal(err)
			}
			sameItem(t, got.Task, testTask(berlin))
		})
	}
}

func TestTaskComplete(t *testing.T) {
	old := &sources.Item{Task: testTask(time.UTC)}
	done := time.Date(2026, 4, 8, 12, 0, 0, 0, time.UTC)
	c := &eas.Task{Complete: ptr(true), DateCompleted: dateTime(done, eas.DateTimeExtended)}
	got, err := fromEAS(classTasks, wire(t, eas.RawValue(c)), eas.V141, old)
	if err != nil {
		t.Fatal(err)
	}
	want := testTask(time.UTC)
	want.Complete, want.Completed = true, done
	sameItem(t, got.Task, want)
}
