package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/easgate/easgate/sources"
)

var _ sources.Responder = (*Source)(nil)

// errNoInvitation is a ref that no invitation to the user names.
var errNoInvitation = fmt.Errorf("graph: not an invitation to the user: %w", sources.ErrNotFound)

// actions are Graph's answers to an invitation by attendee status ([D]
// api/event-accept, event-tentativelyaccept, event-decline).
var actions = map[sources.AttendeeStatus]string{sources.StatusAccepted: "accept",
	sources.StatusTentative: "tentativelyAccept", sources.StatusDeclined: "decline"}

// Respond implements sources.Responder with the event's own accept,
// tentativelyAccept or decline, so that Exchange records the answer and
// mails the organizer itself: easgate writes no attendee status and
// sends no iTIP REPLY. ref is a meeting request in a mail folder, whose
// event navigation property leads to the user's event ([D]
// api/eventmessage-get), or that event in a calendar. One occurrence is
// answered on its own instance of the series. An answered meeting
// request goes to Deleted Items, where Exchange puts it when answered in
// Outlook, as the gateway's iTIP route does. Whether Graph's answer
// removes it is not documented (the docs' author says it does in
// microsoft-graph-docs#9756; obot-platform/obot#349 saw it stay), so it
// is moved here, which is harmless when Graph did it already.
func (s *Source) Respond(ctx context.Context, ref sources.ItemRef, a sources.MeetingAnswer) (sources.ItemRef, error) {
	action, ok := actions[a.Status]
	if !ok {
		return sources.ItemRef{}, fmt.Errorf("graph: answering an invitation with status %d: %w", a.Status, sources.ErrUnsupported)
	}
	f, err := s.feed(ctx, ref.Folder)
	if err != nil {
		return sources.ItemRef{}, err
	}
	var ev *graphEvent
	cal := ref.Folder
	switch f.kind {
	case contentMail:
		if ev, cal, err = s.invitation(ctx, ref.ID); err != nil {
			return sources.ItemRef{}, err
		}
	case contentEvents:
		ev = &graphEvent{}
		if err := s.c.getJSON(ctx, s.id, s.path+"/events/"+url.PathEscape(string(ref.ID)),
			url.Values{"$select": {"id,type,seriesMasterId,isOrganizer,allowNewTimeProposals"}}, nil, ev); err != nil {
			return sources.ItemRef{}, fmt.Errorf("graph: event %s: %w", ref.ID, err)
		}
	default:
		return sources.ItemRef{}, errNoInvitation
	}
	if ev.ID == "" || ev.IsOrganizer {
		// An appointment, or a meeting the user organizes.
		return sources.ItemRef{}, errNoInvitation
	}
	// EAS knows a series by its master.
	answered := ev.ID
	if ev.SeriesMasterID != "" {
		answered = ev.SeriesMasterID
	}
	target := ev.ID
	if !a.Occurrence.IsZero() && ev.Type == "seriesMaster" {
		if target, err = s.instanceAt(ctx, ev.ID, a.Occurrence); err != nil {
			return sources.ItemRef{}, err
		}
	}
	body := map[string]any{"comment": a.Comment, "sendResponse": a.Send}
	// A proposal needs the answer sent and an event that allows one ([D]
	// api/event-decline); without them the answer goes alone.
	if a.Status != sources.StatusAccepted && a.Send && !a.ProposedStart.IsZero() && a.ProposedEnd.After(a.ProposedStart) &&
		(ev.AllowNewTimeProposals == nil || *ev.AllowNewTimeProposals) {
		body["proposedNewTime"] = map[string]any{"start": toTZ(a.ProposedStart), "end": toTZ(a.ProposedEnd)}
	}
	path := s.path + "/events/" + url.PathEscape(target) + "/" + action
	if err := s.c.sendJSON(ctx, s.id, "POST", path, body, nil, ""); err != nil {
		return sources.ItemRef{}, fmt.Errorf("graph: %s event %s: %w", action, target, err)
	}
	if f.kind == contentMail {
		s.discardRequest(ctx, ref.ID)
	}
	if a.Status == sources.StatusDeclined {
		return sources.ItemRef{}, nil
	}
	return sources.ItemRef{Folder: cal, ID: sources.ItemID(answered)}, nil
}

// invitation returns the user's event of the meeting request id and the
// calendar folder holding it; a message that is no meeting request, or
// whose event is gone (declined before), is errNoInvitation.
func (s *Source) invitation(ctx context.Context, id sources.ItemID) (*graphEvent, sources.FolderID, error) {
	var m struct {
		MeetingMessageType string      `json:"meetingMessageType"`
		Event              *graphEvent `json:"event"`
	}
	// The event is a property of eventMessage only: $expand needs the
	// type cast (observed, msgraph-sdk-java#958).
	if err := s.c.getJSON(ctx, s.id, s.path+"/messages/"+url.PathEscape(string(id)),
		url.Values{"$expand": {"microsoft.graph.eventMessage/event"}}, nil, &m); err != nil {
		return nil, "", fmt.Errorf("graph: message %s: %w", id, err)
	}
	if m.MeetingMessageType != "meetingRequest" || m.Event == nil || m.Event.ID == "" {
		return nil, "", errNoInvitation
	}
	var cal struct {
		ID string `json:"id"`
	}
	if err := s.c.getJSON(ctx, s.id, s.path+"/events/"+url.PathEscape(m.Event.ID)+"/calendar",
		url.Values{"$select": {"id"}}, nil, &cal); err != nil {
		return nil, "", fmt.Errorf("graph: calendar of event %s: %w", m.Event.ID, err)
	}
	return m.Event, sources.FolderID(prefixCalendar + cal.ID), nil
}

// instanceAt returns the id of series master's instance whose original
// start is at ([D] api/event-list-instances).
func (s *Source) instanceAt(ctx context.Context, master string, at time.Time) (string, error) {
	var page struct {
		Value []graphEvent `json:"value"`
	}
	// A day either side finds the occurrence however far it was moved
	// within its day; its originalStart picks it.
	q := url.Values{"startDateTime": {at.Add(-24 * time.Hour).UTC().Format(time.RFC3339)},
		"endDateTime": {at.Add(48 * time.Hour).UTC().Format(time.RFC3339)}, "$select": {"id,originalStart"}}
	if err := s.c.getJSON(ctx, s.id, s.path+"/events/"+url.PathEscape(master)+"/instances", q, nil, &page); err != nil {
		return "", fmt.Errorf("graph: instances of %s: %w", master, err)
	}
	for _, inst := range page.Value {
		if parseUTC(inst.OriginalStart).Equal(at.UTC()) {
			return inst.ID, nil
		}
	}
	return "", fmt.Errorf("graph: series %s has no occurrence at %v: %w", master, at.UTC(), errNoInvitation)
}

// discardRequest moves an answered meeting request to Deleted Items. A
// failure is only logged: the answer itself went through.
func (s *Source) discardRequest(ctx context.Context, id sources.ItemID) {
	err := s.c.sendJSON(ctx, s.id, "POST", s.path+"/messages/"+url.PathEscape(string(id))+"/move",
		map[string]any{"destinationId": "deleteditems"}, nil, "")
	if err != nil && !errors.Is(err, sources.ErrNotFound) {
		s.b.log.LogAttrs(ctx, slog.LevelWarn, "graph: moving an answered meeting request to Deleted Items",
			slog.String("mailbox", s.id), slog.Any("err", err))
	}
}

// meeting reads a meeting request or cancellation from an eventMessage
// and its event, so that phones show it as one and offer to answer it.
// Exchange's iCalendar is not among the message's attachments, so the
// gateway could not read it there. A request whose event is gone
// (declined) is plain mail.
//
// meetingMessageType is a property of eventMessage only, which a $select
// on messages cannot name; the type (eventMessage, or its subtype
// eventMessageRequest, not eventMessageResponse) and the event tell
// instead: an answer in the organizer's mailbox leads to the organizer's
// own event.
func (s *Source) meeting(g *graphMessage) *sources.MeetingRequest {
	if g.Event == nil || g.Event.ID == "" || g.Event.IsOrganizer ||
		!strings.Contains(g.ODataType, "eventMessage") || strings.Contains(g.ODataType, "Response") {
		return nil
	}
	method := sources.MethodRequest
	if g.MeetingMessageType == "meetingCancelled" || g.Event.IsCancelled {
		method = sources.MethodCancel
	}
	ev := g.Event.toSources()
	g.Event.userAnswer(ev, s.upn)
	mr := &sources.MeetingRequest{Method: method, Event: *ev, Stamp: g.SentDateTime, ResponseRequested: ev.ResponseRequested}
	if g.Event.Type == "occurrence" || g.Event.Type == "exception" {
		mr.RecurrenceID = parseUTC(g.Event.OriginalStart)
	}
	return mr
}

// userAnswer sets the user's own attendee status from responseStatus,
// which Graph keeps for the mailbox's answer to an invitation; the
// attendee list of the invitee's copy need not carry it.
func (g *graphEvent) userAnswer(e *sources.Event, self string) {
	st, ok := responses[g.ResponseStatus.Response]
	if !ok || g.IsOrganizer {
		return
	}
	for i := range e.Attendees {
		if strings.EqualFold(e.Attendees[i].Email, self) {
			e.Attendees[i].Status = st
		}
	}
}
