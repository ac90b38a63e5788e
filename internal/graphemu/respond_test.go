package graphemu

import (
	"testing"
)

func invitation(subject string) map[string]any {
	return map[string]any{"subject": subject,
		"body":      map[string]any{"contentType": "text", "content": "Agenda follows."},
		"start":     map[string]any{"dateTime": "2026-12-10T09:00:00.0000000", "timeZone": "UTC"},
		"end":       map[string]any{"dateTime": "2026-12-10T10:00:00.0000000", "timeZone": "UTC"},
		"organizer": recipient("Alice Example", aliceUPN),
		"attendees": []any{map[string]any{"type": "required", "emailAddress": map[string]any{"name": "Bob Example", "address": "bob@example.com"},
			"status": map[string]any{"response": "none", "time": "0001-01-01T00:00:00Z"}}}}
}

// attendeeStatus is the response recorded for address among an event's
// attendees.
func attendeeStatus(ev map[string]any, address string) any {
	list, _ := ev["attendees"].([]any)
	for _, a := range list {
		x := a.(map[string]any)
		if _, addr := nameAddress(x); addr == address {
			return x["status"].(map[string]any)["response"]
		}
	}
	return nil
}

// An invitation leads from the meeting request to the invitee's event;
// the invitee's answer records the response, removes the request to
// Deleted Items and reaches the organizer.
func TestInvitationAnswers(t *testing.T) {
	e := newEmuTest(t, Options{})
	const bob = "/users/bob@example.com"
	imm := []string{"Prefer", `IdType="ImmutableId"`}
	msg, ev, err := e.s.Invite("bob@example.com", invitation("Planning"))
	if err != nil {
		t.Fatal(err)
	}
	code, _, out := e.call("GET", bob+"/messages/"+msg+"?$expand=microsoft.graph.eventMessage/event", nil, imm...)
	got, _ := out["event"].(map[string]any)
	if code != 200 || out["@odata.type"] != "#microsoft.graph.eventMessageRequest" || out["meetingMessageType"] != "meetingRequest" ||
		got["id"] != ev || got["isOrganizer"] != false || got["showAs"] != "tentative" {
		t.Fatalf("GET request with its event = %d %v", code, out)
	}
	if code, _, _ := e.call("GET", bob+"/messages/"+msg+"?$expand=event", nil); code != 400 {
		t.Errorf("$expand=event without the type cast = %d, want 400", code)
	}
	_, _, cal := e.call("GET", bob+"/calendar", nil)
	if code, _, out := e.call("GET", bob+"/events/"+ev+"/calendar?$select=id", nil); code != 200 || out["id"] != cal["id"] {
		t.Errorf("GET event's calendar = %d %v, want %v", code, out, cal["id"])
	}

	proposal := map[string]any{"start": map[string]any{"dateTime": "2026-12-11T09:00:00", "timeZone": "UTC"},
		"end": map[string]any{"dateTime": "2026-12-11T10:00:00", "timeZone": "UTC"}}
	for name, c := range map[string]struct {
		action string
		body   map[string]any
	}{
		"accept with a proposal":   {"accept", map[string]any{"proposedNewTime": proposal}},
		"proposal without sending": {"tentativelyAccept", map[string]any{"sendResponse": false, "proposedNewTime": proposal}},
		"unknown parameter":        {"decline", map[string]any{"reason": "busy"}},
	} {
		if code, _, out := e.call("POST", bob+"/events/"+ev+"/"+c.action, c.body); code != 400 {
			t.Errorf("%s = %d %v, want 400", name, code, out)
		}
	}

	code, _, out = e.call("POST", bob+"/events/"+ev+"/tentativelyAccept",
		map[string]any{"comment": "Maybe a day later?", "sendResponse": true, "proposedNewTime": proposal})
	if code != 202 {
		t.Fatalf("tentativelyAccept = %d %v", code, out)
	}
	_, _, got = e.call("GET", bob+"/events/"+ev, nil, imm...)
	if rs, _ := got["responseStatus"].(map[string]any); rs["response"] != "tentativelyAccepted" || got["showAs"] != "tentative" ||
		attendeeStatus(got, "bob@example.com") != "tentativelyAccepted" {
		t.Errorf("event after tentativelyAccept = %v", got)
	}
	_, _, del := e.call("GET", bob+"/mailFolders/deleteditems", nil)
	if _, _, m := e.call("GET", bob+"/messages/"+msg, nil, imm...); m["parentFolderId"] != del["id"] {
		t.Errorf("answered request in folder %v, want Deleted Items %v", m["parentFolderId"], del["id"])
	}
	_, _, inbox := e.call("GET", "/users/"+aliceUPN+"/mailFolders/inbox/messages", nil)
	answers := rows(inbox)
	if len(answers) != 1 || answers[0]["subject"] != "Tentative: Planning" || answers[0]["meetingMessageType"] != "meetingTenativelyAccepted" ||
		answers[0]["proposedNewTime"] == nil {
		t.Errorf("organizer's Inbox = %v, want the tentative answer with its proposal", answers)
	}
	_, _, orgEvents := e.call("GET", "/users/"+aliceUPN+"/events", nil)
	l := rows(orgEvents)
	if len(l) != 1 || attendeeStatus(l[0], "bob@example.com") != "tentativelyAccepted" || l[0]["isOrganizer"] != true {
		t.Fatalf("organizer's events = %v, want one tracking Bob as tentative", l)
	}
	if code, _, _ := e.call("POST", "/users/"+aliceUPN+"/events/"+l[0]["id"].(string)+"/accept", map[string]any{}); code != 400 {
		t.Errorf("the organizer accepting = %d, want 400", code)
	}

	if code, _, out := e.call("POST", bob+"/events/"+ev+"/decline", map[string]any{"sendResponse": false}); code != 202 {
		t.Fatalf("decline = %d %v", code, out)
	}
	if code, _, _ := e.call("GET", bob+"/events/"+ev, nil); code != 404 {
		t.Errorf("GET declined event = %d, want 404: it leaves the calendar", code)
	}
	_, _, out = e.call("GET", bob+"/messages/"+msg+"?$expand=microsoft.graph.eventMessage/event", nil)
	if got, ok := out["event"].(map[string]any); !ok || len(got) != 0 {
		t.Errorf("request's event after declining = %v, want {}", out["event"])
	}
	if _, _, inbox := e.call("GET", "/users/"+aliceUPN+"/mailFolders/inbox/messages", nil); len(rows(inbox)) != 1 {
		t.Errorf("organizer's Inbox after a decline not sent = %d messages, want 1", len(rows(inbox)))
	}
}

// One occurrence of a series is answered on its own instance: declining
// cancels it, accepting makes it an exception.
func TestInvitationOccurrence(t *testing.T) {
	e := newEmuTest(t, Options{})
	const bob = "/users/bob@example.com"
	p := invitation("Weekly")
	p["recurrence"] = weekly("", 4)["recurrence"]
	p["start"], p["end"] = weekly("", 4)["start"], weekly("", 4)["end"]
	_, master, err := e.s.Invite("bob@example.com", p)
	if err != nil {
		t.Fatal(err)
	}
	inst := bob + "/events/" + master + "/instances?startDateTime=2026-12-01T00:00:00Z&endDateTime=2027-01-31T00:00:00Z"
	_, _, out := e.call("GET", inst, nil, "Prefer", `IdType="ImmutableId"`)
	list := rows(out)
	if len(list) != 4 {
		t.Fatalf("instances = %d, want 4", len(list))
	}
	if code, _, _ := e.call("POST", bob+"/events/"+list[1]["id"].(string)+"/decline", map[string]any{"sendResponse": false}); code != 202 {
		t.Fatalf("decline occurrence = %d", code)
	}
	if code, _, _ := e.call("POST", bob+"/events/"+list[2]["id"].(string)+"/accept", map[string]any{"sendResponse": false}); code != 202 {
		t.Fatalf("accept occurrence = %d", code)
	}
	_, _, out = e.call("GET", inst, nil, "Prefer", `IdType="ImmutableId"`)
	after := rows(out)
	if len(after) != 3 {
		t.Fatalf("instances after declining one = %d, want 3", len(after))
	}
	for _, r := range after {
		rs, _ := r["responseStatus"].(map[string]any)
		want, wantType := "notResponded", "occurrence"
		if r["originalStart"] == list[2]["originalStart"] {
			want, wantType = "accepted", "exception"
		}
		if rs["response"] != want || r["type"] != wantType {
			t.Errorf("instance %v: %v %v, want %s %s", r["originalStart"], r["type"], rs["response"], wantType, want)
		}
	}
}
