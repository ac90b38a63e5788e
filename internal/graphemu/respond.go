package graphemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Meeting invitations. Exchange delivers a meeting request as an
// eventMessage in the invitee's Inbox and puts the event in the invitee's
// default calendar, shown tentative ([D] resources/eventmessage); the
// message's event navigation property leads to it ([D]
// api/eventmessage-get). The invitee answers on the event with accept,
// tentativelyAccept or decline ([D] api/event-accept,
// event-tentativelyaccept, event-decline).

// meetingTypes are the eventMessage subtypes by meetingMessageType ([D]
// resources/eventmessage; "Tenatively" is Graph's own spelling).
var meetingTypes = map[string]string{
	"meetingRequest": "#microsoft.graph.eventMessageRequest", "meetingCancelled": "#microsoft.graph.eventMessage",
	"meetingAccepted": "#microsoft.graph.eventMessageResponse", "meetingTenativelyAccepted": "#microsoft.graph.eventMessageResponse",
	"meetingDeclined": "#microsoft.graph.eventMessageResponse",
}

// answers are the actions by lower-cased name: the responseStatus they
// record, the meetingMessageType of the answer mailed to the organizer
// and its subject prefix, as Exchange writes them in English.
var answers = map[string]struct{ response, messageType, prefix string }{
	"accept":            {"accepted", "meetingAccepted", "Accepted: "},
	"tentativelyaccept": {"tentativelyAccepted", "meetingTenativelyAccepted", "Tentative: "},
	"decline":           {"declined", "meetingDeclined", "Declined: "},
}

// Invite delivers a meeting request to mailbox user as Exchange does when
// an organizer sends one: the event in the user's default calendar
// (isOrganizer false, showAs tentative, responseStatus notResponded) and
// an eventMessageRequest in the Inbox leading to it. props are the
// event's Graph properties, organizer and attendees included. When the
// organizer has a mailbox here, it gets its own copy of the event, with
// the same iCalUId, whose attendees' statuses follow the answers. Invite
// returns the ids of the message and of the user's event.
func (s *Server) Invite(user string, props map[string]any) (messageID, eventID string, err error) {
	b, _ := json.Marshal(props)
	copyProps := func() map[string]any {
		var p map[string]any
		json.Unmarshal(b, &p)
		return p
	}
	s.mu.Lock()
	m := s.findLocked(user)
	if m == nil {
		s.mu.Unlock()
		return "", "", fmt.Errorf("graphemu: no mailbox %q", user)
	}
	orgName, orgAddr := nameAddress(props["organizer"])
	if orgAddr == "" {
		s.mu.Unlock()
		return "", "", fmt.Errorf("graphemu: an invitation needs an organizer")
	}
	now := s.o.Now().UTC().Format(graphTime)
	var created []func()
	uid := "040000008200E00074C5B7101A82E008" + strings.ToUpper(newID(""))
	if om := s.findLocked(orgAddr); om != nil && om != m {
		p := copyProps()
		p["isOrganizer"], p["showAs"], p["iCalUId"] = true, "busy", uid
		p["responseStatus"] = map[string]any{"response": "organizer", "time": now}
		p["createdDateTime"], p["lastModifiedDateTime"] = now, now
		o := &object{id: "I" + newID(""), kind: kindEvent, props: p, propSeq: make(map[string]uint64)}
		if gerr := s.newEventLocked(&call{mb: om}, o, om.wellKnown["calendar"]); gerr != nil {
			s.mu.Unlock()
			return "", "", gerr
		}
		created = append(created, func() { s.notify(om, "created", o) })
	}
	p := copyProps()
	p["isOrganizer"], p["showAs"], p["iCalUId"] = false, "tentative", uid
	p["responseStatus"] = map[string]any{"response": "notResponded", "time": "0001-01-01T00:00:00Z"}
	p["createdDateTime"], p["lastModifiedDateTime"] = now, now
	if p["responseRequested"] == nil {
		p["responseRequested"] = true
	}
	if p["allowNewTimeProposals"] == nil {
		p["allowNewTimeProposals"] = true
	}
	ev := &object{id: "I" + newID(""), kind: kindEvent, props: p, propSeq: make(map[string]uint64)}
	if gerr := s.newEventLocked(&call{mb: m}, ev, m.wellKnown["calendar"]); gerr != nil {
		s.mu.Unlock()
		return "", "", gerr
	}
	subject, _ := props["subject"].(string)
	body, _ := props["body"].(map[string]any)
	text, _ := body["content"].(string)
	msg, err := eventMessage(orgName, orgAddr, m.name, m.mail, subject, text, s.o.Now())
	if err != nil {
		s.mu.Unlock()
		return "", "", err
	}
	msg.props["meetingMessageType"] = "meetingRequest"
	for k, from := range map[string]string{"startDateTime": "start", "endDateTime": "end", "isAllDay": "isAllDay",
		"location": "location", "recurrence": "recurrence", "type": "type", "responseRequested": "responseRequested",
		"allowNewTimeProposals": "allowNewTimeProposals"} {
		if v, ok := ev.props[from]; ok {
			msg.props[k] = v
		}
	}
	msg.props["isOutOfDate"], msg.props["isDelegated"] = false, false
	msg.event = ev.id
	inbox := m.wellKnown["inbox"]
	m.insert(msg, inbox, inbox)
	s.mu.Unlock()
	for _, f := range created {
		f()
	}
	s.notify(m, "created", ev)
	s.notify(m, "created", msg)
	return msg.id, ev.id, nil
}

// eventMessage makes a plain-text message from one address to another,
// to carry meeting properties.
func eventMessage(fromName, fromAddr, toName, toAddr, subject, text string, now time.Time) (*object, error) {
	clean := func(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }
	raw := fmt.Sprintf("From: %q <%s>\r\nTo: %q <%s>\r\nSubject: %s\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
		clean(fromName), clean(fromAddr), clean(toName), clean(toAddr), clean(subject), text)
	return newMessage([]byte(raw), now)
}

// nameAddress reads a recipient's emailAddress.
func nameAddress(r any) (name, addr string) {
	m, _ := r.(map[string]any)
	ea, _ := m["emailAddress"].(map[string]any)
	name, _ = ea["name"].(string)
	addr, _ = ea["address"].(string)
	return name, addr
}

// respondEvent answers an event's accept, tentativelyAccept or decline:
// 202 with no body. Only an invitee answers, and only tentativelyAccept
// and decline take a proposedNewTime, which needs sendResponse and an
// event that allows new time proposals ([D] api/event-decline).
func (s *Server) respondEvent(c *call, o *object, action string) *graphError {
	b, gerr := readBody(c.r)
	if gerr != nil {
		return gerr
	}
	var req map[string]json.RawMessage
	if len(strings.TrimSpace(string(b))) > 0 {
		if err := json.Unmarshal(b, &req); err != nil {
			return badRequest("Invalid JSON: %v", err)
		}
	}
	var comment string
	send := true
	var proposed map[string]any
	for k, v := range req {
		var err error
		switch {
		case k == "comment":
			err = json.Unmarshal(v, &comment)
		case k == "sendResponse":
			err = json.Unmarshal(v, &send)
		case k == "proposedNewTime" && action != "accept":
			err = json.Unmarshal(v, &proposed)
		default:
			// An OData action takes only its declared parameters.
			return badRequest("The parameter '%s' in the request payload is not a valid parameter for the operation '%s'.", k, action)
		}
		if err != nil {
			return badRequest("Invalid value of '%s': %v", k, err)
		}
	}
	s.mu.Lock()
	notes, gerr := s.respondEventLocked(c, o, action, comment, send, proposed)
	s.mu.Unlock()
	if gerr != nil {
		return gerr
	}
	for _, n := range notes {
		n()
	}
	c.w.WriteHeader(202)
	return nil
}

// respondEventLocked records an answer and returns the notifications to
// send once the lock is released.
func (s *Server) respondEventLocked(c *call, o *object, action, comment string, send bool, proposed map[string]any) ([]func(), *graphError) {
	if org, _ := o.props["isOrganizer"].(bool); org {
		// chosen: the docs do not name the error of an organizer answering.
		return nil, badRequest("You can't respond to a meeting you organized.")
	}
	if proposed != nil {
		st, _ := readDTZ(proposed["start"])
		en, _ := readDTZ(proposed["end"])
		switch {
		case !send:
			return nil, badRequest("A new time can only be proposed when the response is sent to the organizer.")
		case o.props["allowNewTimeProposals"] == false:
			return nil, badRequest("The organizer does not allow new time proposals for this meeting.")
		case st.IsZero() || en.IsZero() || en.Before(st):
			return nil, badRequest("proposedNewTime needs a start and an end, end not before start.")
		}
	}
	a := answers[action]
	now := s.o.Now().UTC().Format(graphTime)
	status := map[string]any{"response": a.response, "time": now}
	attendees, _ := o.props["attendees"].([]any)
	var mine []any
	for _, at := range attendees {
		x, _ := at.(map[string]any)
		if _, addr := nameAddress(x); strings.EqualFold(addr, c.mb.mail) {
			x = clone(x)
			x["status"] = status
		}
		mine = append(mine, x)
	}
	iCalUID, _ := o.props["iCalUId"].(string)
	subject, _ := o.props["subject"].(string)
	_, orgAddr := nameAddress(o.props["organizer"])
	var notes []func()
	if action == "decline" {
		// observed (microsoft-graph-docs-contrib#7924): a declined event
		// leaves the invitee's calendar; one occurrence is cancelled.
		s.deleteEventLocked(c.mb, o)
		notes = append(notes, func() { s.notify(c.mb, "deleted", o) })
	} else {
		showAs := "busy"
		if action == "tentativelyaccept" {
			showAs = "tentative"
		}
		props := map[string]any{"responseStatus": status, "showAs": showAs, "lastModifiedDateTime": now}
		if mine != nil {
			props["attendees"] = mine
		}
		s.patchEventLocked(c, o, props)
		notes = append(notes, func() { s.notify(c.mb, "updated", o) })
	}
	// observed (microsoft-graph-docs#9756, answered by the docs' author):
	// answering removes the meeting request; chosen: to Deleted Items, as
	// Outlook does.
	del := c.mb.wellKnown["deleteditems"]
	for _, msg := range c.mb.objects {
		if msg.kind == kindMessage && msg.event == o.id && msg.parent != del {
			c.mb.move(msg, msg.parent, del, del)
			notes = append(notes, func() { s.notify(c.mb, "updated", msg) })
		}
	}
	if om := s.findLocked(orgAddr); send && om != nil && om != c.mb {
		notes = append(notes, s.answerOrganizerLocked(om, c.mb, a.response, a.messageType, a.prefix+subject, comment, iCalUID, proposed))
	}
	return notes, nil
}

// answerOrganizerLocked delivers an invitee's answer to the organizer's
// Inbox as an eventMessageResponse and records it on the organizer's
// event with that iCalUId, as Exchange processes answers. It returns the
// notification to send once the lock is released.
func (s *Server) answerOrganizerLocked(om, from *mailbox, response, messageType, subject, comment, iCalUID string, proposed map[string]any) func() {
	msg, err := eventMessage(from.name, from.mail, om.name, om.mail, subject, comment, s.o.Now())
	if err != nil {
		return func() {}
	}
	msg.props["meetingMessageType"], msg.props["responseType"] = messageType, response
	if proposed != nil {
		msg.props["proposedNewTime"] = proposed
	}
	now := s.o.Now().UTC().Format(graphTime)
	for _, ev := range om.objects {
		if ev.kind != kindEvent || ev.props["iCalUId"] != iCalUID || ev.props["type"] == "occurrence" {
			continue
		}
		msg.event = ev.id
		attendees, _ := ev.props["attendees"].([]any)
		var next []any
		for _, at := range attendees {
			x, _ := at.(map[string]any)
			if _, addr := nameAddress(x); strings.EqualFold(addr, from.mail) {
				x = clone(x)
				x["status"] = map[string]any{"response": response, "time": now}
			}
			next = append(next, x)
		}
		if next != nil {
			s.patchEventLocked(&call{mb: om}, ev, map[string]any{"attendees": next})
		}
	}
	inbox := om.wellKnown["inbox"]
	om.insert(msg, inbox, inbox)
	return func() { s.notify(om, "created", msg) }
}

// expandEvent adds the event navigation property of an eventMessage to
// j for $expand=microsoft.graph.eventMessage/event ([D]
// api/eventmessage-get); an event no longer in the calendar (declined)
// comes as an empty object (observed,
// microsoft-graph-docs-contrib#7924). A plain message has no event.
func (s *Server) expandEvent(c *call, o *object, j map[string]any) {
	if o.props["meetingMessageType"] == nil {
		return
	}
	if ev := c.mb.objects[o.event]; ev != nil && ev.kind == kindEvent {
		j["event"] = s.pimJSON(c, ev)
		return
	}
	j["event"] = map[string]any{}
}

// serveEventCalendar answers GET /events/{id}/calendar, the calendar
// that holds the event ([D] resources/event, relationships).
func (s *Server) serveEventCalendar(c *call, o *object) *graphError {
	if c.r.Method != http.MethodGet {
		return notImplemented(c.r)
	}
	s.mu.Lock()
	k := c.mb.objects[o.parent]
	if k == nil || k.kind != kindCalendar {
		s.mu.Unlock()
		return notFound("calendar of event " + o.id)
	}
	j := selectProps(s.pimJSON(c, k), c.q.Get("$select"))
	s.mu.Unlock()
	writeJSON(c.w, 200, j)
	return nil
}
