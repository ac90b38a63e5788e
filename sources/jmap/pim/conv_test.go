package pim

import (
	"reflect"
	"testing"
	"time"

	"github.com/easgate/easgate/sources"
)

func TestDuration(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		start  time.Time
		dur    string
		allDay bool
	}{
		{"hour", time.Date(2026, 1, 5, 10, 0, 0, 0, berlin), "PT1H", false},
		{"mixed", time.Date(2026, 1, 5, 10, 0, 0, 0, berlin), "P1DT2H30M", false},
		{"day across DST", time.Date(2026, 3, 29, 0, 0, 0, 0, berlin), "P1D", true},
		{"zero", time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC), "PT0S", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			end, err := addDuration(tt.start, tt.dur)
			if err != nil {
				t.Fatal(err)
			}
			if got := formatDuration(tt.start, end, tt.allDay); got != tt.dur {
				t.Errorf("formatDuration(addDuration(%s)) = %s", tt.dur, got)
			}
		})
	}
}

// weekly is a weekly Monday meeting in Berlin with one occurrence
// excluded and one moved by an hour and renamed.
func weekly(berlin *time.Location) *sources.Event {
	start := time.Date(2026, 1, 5, 10, 0, 0, 0, berlin)
	rem := 15
	return &sources.Event{
		UID: "weekly-1@easgate", Summary: "Weekly", Location: "Room 1", Description: "agenda",
		Start: start, End: start.Add(time.Hour), TimeZone: "Europe/Berlin",
		Organizer: sources.Address{Name: "Alice", Email: "alice@internal"},
		Attendees: []sources.Attendee{
			{Address: sources.Address{Name: "Bob", Email: "bob@example.com"}, Status: sources.StatusAccepted},
			{Address: sources.Address{Name: "Carol", Email: "carol@example.com"}, Role: sources.RoleOptional},
		},
		Reminder: &rem, Sensitivity: sources.SensitivityPrivate, Categories: []string{"Work"},
		MeetingStatus: sources.MeetingOrganized,
		Recurrence:    &sources.Recurrence{Freq: sources.Weekly, Interval: 1, Count: 10, ByDay: []sources.WeekdayNum{{Day: time.Monday}}, WeekStart: time.Monday},
		Exceptions: []sources.Exception{
			{OriginalStart: start.AddDate(0, 0, 7), Deleted: true},
			{OriginalStart: start.AddDate(0, 0, 14), Override: &sources.Event{Summary: "Moved",
				Start: start.AddDate(0, 0, 14).Add(time.Hour), End: start.AddDate(0, 0, 14).Add(2 * time.Hour)}},
		},
	}
}

// TestEventRoundTrip stores events through the Store on Cyrus and reads
// them back.
func TestEventRoundTrip(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	c := startCyrus(t)
	const f = Prefix + "cal:Default"
	allDay := &sources.Event{Summary: "Holiday", AllDay: true,
		Start: time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC)}
	for _, tt := range []struct {
		name string
		ev   *sources.Event
	}{
		{"weekly Berlin with exceptions", weekly(berlin)},
		{"all day", allDay},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, _, err := c.store.Put(t.Context(), f, &sources.Item{Event: tt.ev}, "")
			if err != nil {
				t.Fatalf("Put = %v", err)
			}
			items, err := c.store.Get(t.Context(), f, []sources.ItemID{id}, nil)
			if err != nil || len(items) != 1 {
				t.Fatalf("Get = %v, %v", items, err)
			}
			got := items[0].Event
			if tt.ev.UID == "" {
				got.UID = ""
			}
			if !reflect.DeepEqual(got, tt.ev) {
				t.Errorf("Get after Put:\n got %+v\nwant %+v", got, tt.ev)
				for i := range got.Exceptions {
					t.Logf("exception %d: %+v %+v", i, got.Exceptions[i], got.Exceptions[i].Override)
				}
			}
		})
	}
}

// TestPutKeepsUnknown edits items whose server objects hold what the
// model cannot express, and checks that it survives.
func TestPutKeepsUnknown(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	c := startCyrus(t)
	ctx := t.Context()

	t.Run("event", func(t *testing.T) {
		const f = Prefix + "cal:Default"
		id, _, err := c.store.Put(ctx, f, &sources.Item{Event: weekly(berlin)}, "")
		if err != nil {
			t.Fatal(err)
		}
		// Things a device never sees: a color, a second alert, a link in
		// an attendee, a changed attendee name inside the override.
		c.mustCall("CalendarEvent/set", map[string]any{"update": map[string]any{string(id): map[string]any{
			"color": "red",
			"alerts/extra": map[string]any{"@type": "Alert", "action": "email",
				"trigger": map[string]any{"@type": "AbsoluteTrigger", "when": "2026-01-01T00:00:00Z"}},
			"recurrenceOverrides/2026-01-19T10:00:00/description": "only this one",
		}}})
		items, err := c.store.Get(ctx, f, []sources.ItemID{id}, nil)
		if err != nil || len(items) != 1 {
			t.Fatalf("Get = %v, %v", items, err)
		}
		it := items[0]
		it.Event.Summary = "Weekly (renamed)"
		if _, _, err := c.store.Put(ctx, f, &it, it.ETag); err != nil {
			t.Fatalf("Put = %v", err)
		}
		got := c.mustCall("CalendarEvent/get", map[string]any{"ids": []sources.ItemID{id}})["list"].([]any)[0].(map[string]any)
		if got["title"] != "Weekly (renamed)" || got["color"] != "red" {
			t.Errorf("after Put: title %v, color %v; want the new title and red", got["title"], got["color"])
		}
		if _, ok := got["alerts"].(map[string]any)["extra"]; !ok {
			t.Errorf("after Put: alerts %v lost the email alert", got["alerts"])
		}
		ov := got["recurrenceOverrides"].(map[string]any)["2026-01-19T10:00:00"].(map[string]any)
		if ov["description"] != "only this one" {
			t.Errorf("after Put: override %v lost its description", ov)
		}
	})

	t.Run("contact", func(t *testing.T) {
		const f = Prefix + "contacts"
		id, err := c.create(ctx, "Contact", map[string]any{"firstName": "Carol", "lastName": "Jones",
			"emails": []any{
				map[string]any{"type": "work", "value": "1@example.com"}, map[string]any{"type": "work", "value": "2@example.com"},
				map[string]any{"type": "work", "value": "3@example.com"}, map[string]any{"type": "other", "value": "4@example.com"}},
			"phones": []any{map[string]any{"type": "other", "label": "boat", "value": "+49 3"}, map[string]any{"type": "mobile", "value": "+49 1"}},
			"online": []any{map[string]any{"type": "other", "value": "xmpp:carol@example.com"}}})
		if err != nil {
			t.Fatal(err)
		}
		items, err := c.store.Get(ctx, f, []sources.ItemID{id}, nil)
		if err != nil || len(items) != 1 {
			t.Fatalf("Get = %v, %v", items, err)
		}
		it := items[0]
		want := sources.Phones{Mobile: "+49 1"}
		if it.Contact.Phones != want || len(it.Contact.Emails) != 3 {
			t.Errorf("Get: phones %+v, emails %v; want only the mobile and three emails", it.Contact.Phones, it.Contact.Emails)
		}
		it.Contact.Phones.Business = "+49 2"
		it.Contact.Company = "ACME"
		if _, _, err := c.store.Put(ctx, f, &it, it.ETag); err != nil {
			t.Fatalf("Put = %v", err)
		}
		got := c.mustCall("Contact/get", map[string]any{"ids": []sources.ItemID{id}})["list"].([]any)[0].(map[string]any)
		if got["company"] != "ACME" || len(got["emails"].([]any)) != 4 || len(got["phones"].([]any)) != 3 || len(got["online"].([]any)) != 1 {
			t.Errorf("after Put: %v; want ACME, 4 emails, 3 phones, the xmpp address", got)
		}
	})
}

// TestCardFileAs: a ContactCard keeps FileAs as its full name (issue 10:
// it was lost), and a card written without one drops a stale full name.
func TestCardFileAs(t *testing.T) {
	c := &sources.Contact{FirstName: "John", LastName: "Doe", FileAs: "Doe, John"}
	o, err := writeCard(&sources.Item{Contact: c}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var it sources.Item
	if err := readCard(o, &it); err != nil {
		t.Fatal(err)
	}
	if it.Contact.FileAs != "Doe, John" || it.Contact.FirstName != "John" || it.Contact.LastName != "Doe" {
		t.Errorf("readCard(writeCard(%+v)) = %+v", c, it.Contact)
	}
	o, err = writeCard(&sources.Item{Contact: &sources.Contact{FirstName: "Jane", LastName: "Doe"}}, o)
	if err != nil {
		t.Fatal(err)
	}
	if full, ok := objOf(o, "name")["full"]; ok {
		t.Errorf("card without FileAs keeps full name %v", full)
	}
}
