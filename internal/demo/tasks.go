package demo

import (
	"time"

	"github.com/easgate/easgate/sources"
)

// taskSpecs are the to-do list. due and start are days from today; done
// tasks were completed due days from today (so before it).
var taskSpecs = []struct {
	subject, body string
	start, due    int
	noDue, done   bool
	importance    sources.Importance
	category      string
}{
	{"Send Q3 figures to Jürgen", "Revenue, churn and headcount; mark churn provisional.", -2, 1, false, false, sources.ImportanceHigh, "Work"},
	{"Review homepage wireframes", "", 0, 2, false, false, sources.ImportanceNormal, "Work"},
	{"Book hotel for Lisbon offsite", "Group rate expires on the 15th.", -5, 4, false, false, sources.ImportanceHigh, "Work"},
	{"Steuererklärung abgeben", "Belege liegen im Ordner »Steuer«.", -20, 12, false, false, sources.ImportanceNormal, "Personal"},
	{"Renew passport", "Appointment needed at the Bürgeramt.", 0, 30, false, false, sources.ImportanceNormal, "Personal"},
	{"Write interview feedback", "", -3, -1, false, false, sources.ImportanceHigh, "Work"},
	{"Buy birthday present for Mama", "She mentioned the new cookbook.", 0, 17, false, false, sources.ImportanceNormal, "Family"},
	{"Read \"The mathematics of queues\"", "", 0, 0, true, false, sources.ImportanceLow, ""},
	{"Plan sprint 42", "", 0, 7, false, false, sources.ImportanceNormal, "Work"},
	{"Fix rate-limit backoff in mobile app", "Exponential backoff, max 5 minutes, with jitter.", -6, -8, false, true, sources.ImportanceHigh, "Work"},
	{"Cancel old gym membership", "", -30, -21, false, true, sources.ImportanceNormal, "Personal"},
	{"Prepare slides for board meeting", "", -14, -10, false, true, sources.ImportanceHigh, "Work"},
	{"Call plumber about the kitchen sink", "", 0, -3, false, true, sources.ImportanceNormal, "Personal"},
	{"Learn 10 new kanji 漢字", "", 0, 0, true, false, sources.ImportanceLow, "Personal"},
}

// tasks returns the to-do list and a weekly recurring task.
func (g *gen) tasks() []*sources.Task {
	var ts []*sources.Task
	for _, s := range taskSpecs {
		t := &sources.Task{UID: g.uid("task"), Subject: s.subject, Body: s.body, Importance: s.importance}
		if s.category != "" {
			t.Categories = []string{s.category}
		}
		if !s.noDue {
			t.StartLocal, t.DueLocal = g.day(berlin, s.start), g.day(berlin, s.due)
			t.Start, t.Due = t.StartLocal.UTC(), t.DueLocal.UTC()
		}
		if s.done {
			t.Complete, t.Completed = true, at(t.DueLocal, 16, 20).UTC()
		} else if !s.noDue && s.due >= 0 && s.importance == sources.ImportanceHigh {
			t.Reminder = at(t.DueLocal, 9, 0).UTC()
		}
		ts = append(ts, t)
	}

	// Every Friday, starting from the last one.
	fri := g.day(berlin, (int(time.Friday)-int(g.now.In(berlin).Weekday())+7)%7)
	if fri.After(g.now) {
		fri = fri.AddDate(0, 0, -7)
	}
	next := fri.AddDate(0, 0, 7)
	ts = append(ts, &sources.Task{
		UID:        g.uid("task"),
		Subject:    "Submit timesheet",
		StartLocal: next, DueLocal: next,
		Start: next.UTC(), Due: next.UTC(),
		Reminder:   at(next, 15, 0).UTC(),
		Categories: []string{"Work"},
		Recurrence: &sources.TaskRecurrence{
			Recurrence: sources.Recurrence{Freq: sources.Weekly, ByDay: []sources.WeekdayNum{{Day: time.Friday}}},
			Start:      fri.AddDate(0, 0, -28).UTC(),
		},
	})
	return ts
}

var noteSpecs = []struct{ subject, body, category string }{
	{"Wi-Fi at the office", "Guest network: Northwind-Guest\nPassword changes monthly, ask reception.", "Work"},
	{"Gift ideas", "Mama: cookbook, scarf\nLena: board game\nFelix: coffee beans from the roastery", "Personal"},
	{"Books to read", "- Die Vermessung der Welt\n- The Mythical Man-Month\n- 三体\n- Cien años de soledad", ""},
	{"Offsite agenda draft", "Day 1: strategy, roadmap\nDay 2: team workshops, dinner\nDay 3: half day, travel back", "Work"},
	{"Recipe: Kürbissuppe", "1 Hokkaido, 1 Zwiebel, 1 Stück Ingwer, 400 ml Kokosmilch, Brühe. 25 Minuten köcheln, pürieren.", "Personal"},
	{"Car", "Next service due at 60,000 km. Tyres changed in October.", "Personal"},
	{"1:1 topics for Lena", "- feedback on the pager design\n- conference budget\n- on-call rotation", "Work"},
	{"Phrases for Tokyo", "おはようございます — good morning\nありがとうございます — thank you\nすみません — excuse me", ""},
	{"Meeting notes: vendor demo", "Pricing per seat, SSO only in enterprise tier. Follow up on data residency (EU).", "Work"},
	{"Packing list", "passport, adapter, chargers, running shoes", "Personal"},
}

// notes returns the notes, last changed over the past month.
func (g *gen) notes() []*sources.Note {
	var ns []*sources.Note
	for _, s := range noteSpecs {
		n := &sources.Note{Subject: s.subject, Body: s.body, Modified: g.past(30).UTC()}
		if s.category != "" {
			n.Categories = []string{s.category}
		}
		ns = append(ns, n)
	}
	return ns
}
