package gateway

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

// phoneZone is a TIMEZONE blob a phone sends with a new event, and the
// IANA zone it stands for.
type phoneZone struct {
	name string
	zone string
	blob string // base64, as on the wire
}

// phoneZones are the blobs of issue 10's zones. Two come from real
// devices: iOS 16's from eas/testdata/devices/ios/ios-16x-sync-calendar-
// client-add-empty-reminder-recurrence.wbxml (Europe/Berlin rules, empty
// names), and an Android client's from the log in tine20 issue 2840
// (the same zone with its end of daylight saving written as the fourth
// rather than the last Sunday of October). No capture holds the other
// zones, so their blobs are built with eas.NewTimeZone and sent with
// empty names as iOS does: the gateway must know them by their rules.
func phoneZones(t *testing.T) []phoneZone {
	zs := []phoneZone{
		{"ios-capture", "Europe/Berlin", "xP///wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAoAAAAFAAMAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAMAAAAFAAIAAAAAAAAAxP///w=="},
		{"android-log", "Europe/Berlin", "xP///wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAoAAAAEAAMAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAMAAAAFAAIAAAAAAAAAxP///w=="},
	}
	for _, z := range []string{"America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"} {
		tz := eas.NewTimeZone(mustLoad(t, z), 2026)
		tz.StandardName, tz.DaylightName = "", ""
		zs = append(zs, phoneZone{"built", z, tz.String()})
	}
	return zs
}

// TestPhoneEventsOnDAVServers: events a phone creates with a time zone
// (issue 10: Radicale refused every one with 400, for the VALUE=TEXT that
// go-ical put on TZOFFSETFROM) are stored by Radicale, Xandikos and Cyrus,
// which hold them at the wall time the phone chose, in the phone's zone,
// and a second phone receives them at that wall time. Each zone is tried
// in January and in July, so both sides of daylight saving are crossed
// (Lord Howe's by half an hour).
func TestPhoneEventsOnDAVServers(t *testing.T) {
	for _, kind := range []string{"radicale", "xandikos", "cyrus"} {
		t.Run(kind, func(t *testing.T) {
			e := imapE2EServer(t, kind)
			phoneEvents(t, e)
		})
	}
}

func phoneEvents(t *testing.T, e *imapE2EEnv) {
	env := e.conv(t)
	iphone := env.device("tziphone"+e.davKind, "iPhone", eas.V161)
	android := env.device("tzandroid"+e.davKind, "Android", eas.V141)
	calOf := func(d *convDevice) *convFolder {
		t.Helper()
		for _, f := range d.folderSync("0").Changes.Add {
			if f.Type != eas.FolderTypeCalendar {
				continue
			}
			id, err := e.state.FolderID(context.Background(), d.account(), f.ServerID)
			if err != nil {
				t.Fatal(err)
			}
			cal := &convFolder{id: sources.FolderID(id), class: "Calendar", cid: f.ServerID, items: make(map[string]eas.Raw)}
			imapE2ESyncStart(t, d, cal)
			return cal
		}
		t.Fatalf("%s: FolderSync has no calendar", d.typ)
		return nil
	}
	mine, theirs := calOf(iphone), calOf(android)

	type sent struct {
		z     phoneZone
		start time.Time
		sid   string
	}
	var adds []eas.SyncAdd
	var want []*sent
	for _, z := range phoneZones(t) {
		loc := mustLoad(t, z.zone)
		blob, err := eas.ParseTimeZone(z.blob)
		if err != nil {
			t.Fatal(err)
		}
		for _, month := range []time.Month{time.January, time.July} {
			start := time.Date(2026, month, 15, 9, 30, 0, 0, loc)
			subject := fmt.Sprintf("tz %s %s %s", z.name, z.zone, month)
			adds = append(adds, eas.SyncAdd{ClientID: fmt.Sprint(len(adds) + 1), ApplicationData: eas.RawValue(&eas.Calendar{
				TimeZone: &blob, AllDayEvent: ptr(false), BusyStatus: ptr(eas.BusyStatus(2)),
				StartTime: dateTime(start.UTC(), eas.DateTimeCompact), EndTime: dateTime(start.Add(time.Hour).UTC(), eas.DateTimeCompact),
				Subject: subject, Sensitivity: ptr(eas.Sensitivity(0)), MeetingStatus: ptr(eas.MeetingStatus(0)),
				ClientUID: fmt.Sprintf("tz-%d-%s", len(adds)+1, e.davKind),
			})})
			want = append(want, &sent{z: z, start: start})
		}
	}
	res := iphone.sync(eas.SyncCollection{SyncKey: mine.key, CollectionID: mine.cid, Commands: &eas.SyncCommands{Add: adds}})[mine.cid]
	if res.Status != eas.SyncStatusSuccess || res.Responses == nil || len(res.Responses.Add) != len(adds) {
		t.Fatalf("Sync of %d Adds = %+v, want status 1 and a response per Add", len(adds), res)
	}
	mine.key = res.SyncKey
	for _, r := range res.Responses.Add {
		var i int
		fmt.Sscan(r.ClientID, &i)
		if i < 1 || i > len(want) {
			t.Fatalf("Add response for unknown ClientId %q", r.ClientID)
		}
		if r.Status != eas.SyncStatusSuccess || r.ServerID == "" {
			t.Errorf("Add of %q = status %d, want 1 with a ServerId", adds[i-1].ClientID, r.Status)
			continue
		}
		want[i-1].sid = r.ServerID
	}
	if t.Failed() {
		t.Log(e.log)
		t.FailNow()
	}

	// The server holds each at the phone's wall time in the phone's zone.
	for _, w := range want {
		what := fmt.Sprintf("%s %s %s", w.z.name, w.z.zone, w.start.Month())
		it := e2eItem(t, e.state, e.src, iphone, mine, w.sid)
		if it == nil || it.Event == nil {
			t.Errorf("%s: not on the %s server", what, e.davKind)
			continue
		}
		ev := it.Event
		if !ev.Start.Equal(w.start) || ev.End.Sub(ev.Start) != time.Hour {
			t.Errorf("%s on the server: %v – %v, want %v for an hour", what, ev.Start, ev.End, w.start)
		}
		// A UTC time reads back without a zone.
		if ev.TimeZone != w.z.zone && !(w.z.zone == "UTC" && ev.TimeZone == "") {
			t.Errorf("%s on the server: zone %q, want %q", what, ev.TimeZone, w.z.zone)
		}
		ics := imapE2EGet(t, e.cal+string(it.ID))
		wall := "DTSTART;TZID=" + w.z.zone + ":" + w.start.Format("20060102T150405")
		if w.z.zone == "UTC" {
			wall = "DTSTART:" + w.start.Format("20060102T150405Z")
		}
		if !strings.Contains(ics, wall) || strings.Contains(ics, "VALUE=TEXT") {
			t.Errorf("%s as the %s server has it lacks %q or has VALUE=TEXT:\n%s", what, e.davKind, wall, ics)
		}
	}

	// The second phone receives each at the same wall time.
	convSyncAll(t, android, theirs)
	for _, w := range want {
		what := fmt.Sprintf("%s %s %s", w.z.name, w.z.zone, w.start.Month())
		subject := fmt.Sprintf("tz %s %s %s", w.z.name, w.z.zone, w.start.Month())
		sid, ev := imapE2EFind(theirs, subject, imapE2EEventSubject)
		if sid == "" {
			t.Errorf("%s did not reach the second phone", what)
			continue
		}
		if ev.StartTime == nil || ev.TimeZone == nil || !ev.StartTime.Time.Equal(w.start) {
			t.Errorf("%s on the second phone: start %v, zone %v, want %v", what, ev.StartTime, ev.TimeZone, w.start)
			continue
		}
		// A phone shows the UTC instant shifted by the blob's offset.
		start := ev.StartTime.Time
		if got := start.Add(ev.TimeZone.Offset(start)).UTC().Format("15:04"); got != "09:30" {
			t.Errorf("%s on the second phone shows %s, want 09:30 (blob %s)", what, got, ev.TimeZone)
		}
	}
}
