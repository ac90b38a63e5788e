package sources

import (
	"slices"
	"time"
)

// Occurrences returns the starts of the occurrences of r for a series
// that begins at start (in start's location, whose wall clock the rule
// follows across DST changes) that fall in [from, to), at most max of
// them (max <= 0 means 1000). Count counts from start, before from. It
// covers what devices and Graph patterns express: every Interval days,
// weeks, months or years; ByDay (with ordinals 1..5 and -1 in monthly
// and yearly rules), ByMonthDay (-1 for the last day) and ByMonth.
// BySetPos is not applied.
func (r *Recurrence) Occurrences(start, from, to time.Time, max int) []time.Time {
	if max <= 0 {
		max = 1000
	}
	loc := start.Location()
	interval := max1(r.Interval)
	y, m, d := start.Date()
	hh, mm, ss := start.Clock()
	first := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	weekStart := func(t time.Time) time.Time {
		back := (int(t.Weekday()) - int(r.WeekStart) + 7) % 7
		return t.AddDate(0, 0, -back)
	}
	var out []time.Time
	n := 0
	// A day at a time, at most ~30 years: enough for any window a phone
	// or Graph's calendar view asks for.
	for day, i := first, 0; i < 11000; day, i = day.AddDate(0, 0, 1), i+1 {
		at := time.Date(day.Year(), day.Month(), day.Day(), hh, mm, ss, 0, loc)
		if !to.IsZero() && !at.Before(to) || !r.Until.IsZero() && at.After(r.Until) {
			break
		}
		if !r.matches(day, first, interval, weekStart, start) {
			continue
		}
		n++
		if r.Count > 0 && n > r.Count {
			break
		}
		if !at.Before(from) {
			out = append(out, at)
			if len(out) >= max {
				break
			}
		}
	}
	return out
}

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}

// matches reports whether day (a UTC midnight of the local date) is an
// occurrence date.
func (r *Recurrence) matches(day, first time.Time, interval int, weekStart func(time.Time) time.Time, start time.Time) bool {
	months := (day.Year()-first.Year())*12 + int(day.Month()-first.Month())
	switch r.Freq {
	case Daily:
		if int(day.Sub(first).Hours()/24)%interval != 0 {
			return false
		}
		return len(r.ByDay) == 0 || r.hasDay(day.Weekday())
	case Weekly:
		weeks := int(weekStart(day).Sub(weekStart(first)).Hours() / 24 / 7)
		if weeks%interval != 0 {
			return false
		}
		if len(r.ByDay) == 0 {
			return day.Weekday() == start.Weekday()
		}
		return r.hasDay(day.Weekday())
	case Monthly:
		if months%interval != 0 {
			return false
		}
		return r.dayOfMonth(day, start)
	case Yearly:
		if (day.Year()-first.Year())%interval != 0 {
			return false
		}
		if len(r.ByMonth) == 0 && day.Month() != start.Month() || len(r.ByMonth) > 0 && !slices.Contains(r.ByMonth, day.Month()) {
			return false
		}
		return r.dayOfMonth(day, start)
	}
	return false
}

func (r *Recurrence) hasDay(wd time.Weekday) bool {
	for _, d := range r.ByDay {
		if d.Day == wd {
			return true
		}
	}
	return false
}

// dayOfMonth applies ByMonthDay or ordinal ByDay within day's month;
// without either, the series' own day of the month.
func (r *Recurrence) dayOfMonth(day, start time.Time) bool {
	last := time.Date(day.Year(), day.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
	switch {
	case len(r.ByMonthDay) > 0:
		for _, md := range r.ByMonthDay {
			if md == day.Day() || md < 0 && last+md+1 == day.Day() {
				return true
			}
		}
		return false
	case len(r.ByDay) > 0:
		nth := (day.Day()-1)/7 + 1
		fromEnd := -((last-day.Day())/7 + 1)
		for _, wd := range r.ByDay {
			if wd.Day == day.Weekday() && (wd.Ordinal == 0 || wd.Ordinal == nth || wd.Ordinal == fromEnd) {
				return true
			}
		}
		return false
	}
	return day.Day() == start.Day()
}
