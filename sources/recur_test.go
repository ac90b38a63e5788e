package sources

import (
	"testing"
	"time"
)

func TestOccurrences(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatalf("Europe/Berlin: %v (Debian package tzdata, installed by scripts/test.sh)", err)
	}
	day := func(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, berlin) }
	tests := []struct {
		name  string
		r     Recurrence
		start time.Time
		want  []time.Time
	}{
		{"weekly across DST keeps 09:00 local", Recurrence{Freq: Weekly, Count: 3},
			day(2026, 3, 23, 9), []time.Time{day(2026, 3, 23, 9), day(2026, 3, 30, 9), day(2026, 4, 6, 9)}},
		{"every other day", Recurrence{Freq: Daily, Interval: 2, Count: 3},
			day(2026, 1, 30, 8), []time.Time{day(2026, 1, 30, 8), day(2026, 2, 1, 8), day(2026, 2, 3, 8)}},
		{"weekdays", Recurrence{Freq: Weekly, ByDay: []WeekdayNum{{Day: time.Monday}, {Day: time.Friday}}, Until: day(2026, 12, 14, 23)},
			day(2026, 12, 4, 10), []time.Time{day(2026, 12, 4, 10), day(2026, 12, 7, 10), day(2026, 12, 11, 10), day(2026, 12, 14, 10)}},
		{"last day of the month", Recurrence{Freq: Monthly, ByMonthDay: []int{-1}, Count: 3},
			day(2026, 1, 31, 7), []time.Time{day(2026, 1, 31, 7), day(2026, 2, 28, 7), day(2026, 3, 31, 7)}},
		{"second Tuesday", Recurrence{Freq: Monthly, ByDay: []WeekdayNum{{Ordinal: 2, Day: time.Tuesday}}, Count: 2},
			day(2026, 1, 13, 9), []time.Time{day(2026, 1, 13, 9), day(2026, 2, 10, 9)}},
		{"last Friday of March, yearly", Recurrence{Freq: Yearly, ByMonth: []time.Month{3}, ByDay: []WeekdayNum{{Ordinal: -1, Day: time.Friday}}, Count: 2},
			day(2026, 3, 27, 9), []time.Time{day(2026, 3, 27, 9), day(2027, 3, 26, 9)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.r.Occurrences(tt.start, time.Time{}, tt.start.AddDate(3, 0, 0), 0)
			if len(got) != len(tt.want) {
				t.Fatalf("Occurrences = %v, want %v", got, tt.want)
			}
			for i := range got {
				if !got[i].Equal(tt.want[i]) {
					t.Errorf("occurrence %d = %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
	// A window past the count's end is empty; one in the middle skips
	// what came before it.
	r := Recurrence{Freq: Daily, Count: 5}
	start := day(2026, 1, 1, 9)
	if got := r.Occurrences(start, day(2026, 1, 3, 0), day(2026, 2, 1, 0), 0); len(got) != 3 {
		t.Errorf("window from the 3rd of 5 daily = %v, want 3", got)
	}
	if got := r.Occurrences(start, day(2026, 1, 6, 0), day(2026, 2, 1, 0), 0); len(got) != 0 {
		t.Errorf("window after the count = %v, want none", got)
	}
}
