package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/itip"
	"github.com/easgate/easgate/statecache"
)

// errNoInvitation answers a MeetingResponse about an item that is no
// invitation to the user: status 2.
var errNoInvitation = fmt.Errorf("gateway: not a meeting request: %w", sources.ErrNotFound)

// handleMeetingResponse answers MeetingResponse, MS-ASCMD 2.2.1.11: each
// Request accepts, tentatively accepts or declines a meeting request in a
// mail folder or an event in a calendar, with one Result in request order.
// A store that is a sources.Responder answers itself; for the others
// answerInvitation does it from their common abilities. The organizer is
// mailed an iTIP answer only when a 16.x client sends SendResponse: before
// 16.0 the client sends its own with SendMail (MS-ASCMD 2.2.1.11).
func (s *Server) handleMeetingResponse(ctx context.Context, sess *Session, req *eas.MeetingResponseRequest) (*eas.MeetingResponseResponse, error) {
	if s.state == nil {
		return nil, errNoState
	}
	resp := &eas.MeetingResponseResponse{}
	for i := range req.Requests {
		q := &req.Requests[i]
		res := eas.MeetingResponseResult{RequestID: q.RequestID, Status: eas.MeetingResponseStatusSuccess}
		cal, err := s.meetingResponse(ctx, sess, q)
		if err != nil {
			res.Status = eas.MeetingResponseStatus(s.statusOf(ctx, sess, eas.ScopeItem, err))
		}
		res.CalendarID = cal
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

// meetingResponse carries out one Request and returns the ServerId of the
// calendar event in its calendar collection, "" when declined.
func (s *Server) meetingResponse(ctx context.Context, sess *Session, q *eas.MeetingResponseItem) (string, error) {
	var ref sources.ItemRef
	var err error
	if q.LongID != "" {
		ref, err = parseLongID(q.LongID)
	} else {
		ref, err = s.itemRef(ctx, sess, q.CollectionID, q.RequestID)
	}
	if err != nil {
		return "", err
	}
	a := sources.MeetingAnswer{Status: [...]sources.AttendeeStatus{
		eas.UserResponseAccepted: sources.StatusAccepted, eas.UserResponseTentative: sources.StatusTentative,
		eas.UserResponseDeclined: sources.StatusDeclined}[q.UserResponse]}
	if q.InstanceID != "" {
		if a.Occurrence, err = meetingTime(q.InstanceID); err != nil {
			return "", fmt.Errorf("%w: InstanceId %q", errNoInvitation, q.InstanceID)
		}
	}
	if sr := q.SendResponse; sr != nil {
		a.Send = true
		if b := sr.Body; b != nil && b.Data != nil {
			a.Comment = *b.Data
			if b.Type == eas.BodyHTML {
				a.Comment = htmlToText(a.Comment)
			}
		}
		// Validate checked the form; a time given alone proposes nothing.
		a.ProposedStart, _ = meetingTime(sr.ProposedStartTime)
		a.ProposedEnd, _ = meetingTime(sr.ProposedEndTime)
	}
	var ev sources.ItemRef
	r, ok := sess.Source.(sources.Responder)
	if ok {
		ev, err = r.Respond(ctx, ref, a)
	}
	if !ok || errors.Is(err, sources.ErrUnsupported) {
		// A store that answers only some invitations (package mux, for
		// the stores behind it that cannot) leaves the rest to this route.
		ev, err = s.answerInvitation(ctx, sess, ref, a)
	}
	if err != nil || ev.ID == "" {
		return "", err
	}
	cids, err := s.collectionIDs(ctx, sess.Account, []sources.FolderID{ev.Folder})
	if err != nil {
		return "", err
	}
	sids, err := s.destinationIDs(ctx, statecache.CollectionKey{Account: sess.Account, Collection: cids[ev.Folder]}, []string{string(ev.ID)})
	if err != nil {
		return "", err
	}
	return sids[0], nil
}

// meetingTime reads an InstanceId or proposed time: the dateTime form
// "2026-03-20T22:40:00.000Z" or the compact "20260320T224000Z".
func meetingTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse("20060102T150405Z", s)
}

// answerInvitation answers an invitation with the store's common abilities: the
// event in the calendar gets the user's participation status (created from
// the invitation when the calendar does not hold it; removed, or for one
// occurrence excepted, when declined), the organizer gets the iTIP answer
// through Sender when a.Send, and an invitation mail goes to Deleted Items
// as Exchange moves it.
func (s *Server) answerInvitation(ctx context.Context, sess *Session, ref sources.ItemRef, a sources.MeetingAnswer) (sources.ItemRef, error) {
	src := sess.Source
	wr, ok := src.(sources.Writer)
	if !ok {
		return sources.ItemRef{}, fmt.Errorf("gateway: store cannot write its calendar: %w", sources.ErrUnsupported)
	}
	items, err := src.Get(ctx, ref.Folder, []sources.ItemID{ref.ID}, nil)
	if err != nil {
		return sources.ItemRef{}, err
	}
	if len(items) == 0 {
		return sources.ItemRef{}, errNoInvitation
	}
	it := &items[0]
	var mr *sources.MeetingRequest
	var ev *sources.Item // the calendar's event, nil if it has none yet
	var cal sources.FolderID
	switch {
	case it.Mail != nil:
		mr = it.Mail.Meeting
		if mr == nil {
			mr = meetingOf(ctx, src, it)
		}
		if mr == nil || mr.Method != sources.MethodRequest {
			return sources.ItemRef{}, errNoInvitation
		}
		if cal, err = s.folderOfKind(ctx, sess, sources.KindCalendar); err != nil {
			return sources.ItemRef{}, err
		}
		if ev, err = findEvent(ctx, src, cal, mr.Event.UID); err != nil {
			return sources.ItemRef{}, err
		}
	case it.Event != nil && userMeetingStatus(it.Event, s.primaryAddress(sess.User)) == sources.MeetingReceived:
		ev, cal = it, ref.Folder
		mr = &sources.MeetingRequest{Method: sources.MethodRequest, Event: *it.Event, Stamp: it.Event.Stamp,
			ResponseRequested: it.Event.ResponseRequested}
	default:
		// An appointment, or a meeting the user organizes (MS-ASCMD
		// 2.2.3.177.9).
		return sources.ItemRef{}, errNoInvitation
	}
	var m *sources.Message
	if it.Mail != nil {
		m = it.Mail
	}
	self := s.attendeeSelf(sess, &mr.Event, m)

	var out sources.ItemRef
	for attempt := 0; ; attempt++ {
		out, err = answerEvent(ctx, wr, cal, ev, mr, self, a)
		if !errors.Is(err, sources.ErrConflict) || ev == nil || attempt > 0 {
			break
		}
		// Changed since we read it: answer on the new version.
		fresh, gerr := src.Get(ctx, cal, []sources.ItemID{ev.ID}, nil)
		if gerr != nil {
			return sources.ItemRef{}, gerr
		}
		ev = nil
		if len(fresh) == 1 && fresh[0].Event != nil {
			ev = &fresh[0]
		}
	}
	if err != nil {
		return sources.ItemRef{}, err
	}

	if a.Send {
		snd, ok := src.(sources.Sender)
		if !ok {
			return sources.ItemRef{}, fmt.Errorf("gateway: store cannot send the answer: %w", sources.ErrUnsupported)
		}
		answered := *mr
		if !a.Occurrence.IsZero() {
			answered.RecurrenceID = a.Occurrence
		}
		r := itip.Reply{Meeting: &answered, From: self, Status: a.Status, Comment: a.Comment,
			ProposedStart: a.ProposedStart, ProposedEnd: a.ProposedEnd}
		msg, err := r.Message(s.now())
		if err != nil {
			return sources.ItemRef{}, fmt.Errorf("%w: %w", errNoInvitation, err)
		}
		if err := snd.Send(ctx, bytes.NewReader(msg), true); err != nil {
			return sources.ItemRef{}, err
		}
	}
	if it.Mail != nil {
		s.discardInvitation(ctx, sess, ref)
	}
	return out, nil
}

// answerEvent writes the answer into the calendar and returns the event's
// ref, zero when the event is gone.
func answerEvent(ctx context.Context, wr sources.Writer, cal sources.FolderID, ev *sources.Item, mr *sources.MeetingRequest,
	self sources.Address, a sources.MeetingAnswer) (sources.ItemRef, error) {
	base := mr.Event
	etag := ""
	it := &sources.Item{}
	if ev != nil {
		base, etag, it.ID = *ev.Event, ev.ETag, ev.ID
	}
	switch {
	case !a.Occurrence.IsZero() && base.Recurrence != nil:
		// One occurrence: an exception of its own, deleted when declined.
		x := sources.Exception{OriginalStart: a.Occurrence, Deleted: a.Status == sources.StatusDeclined}
		if !x.Deleted {
			o := withAnswer(base, self, a.Status)
			x.Override = &sources.Event{Attendees: o.Attendees, BusyStatus: o.BusyStatus}
		}
		base.Exceptions = slices.DeleteFunc(slices.Clone(base.Exceptions), func(e sources.Exception) bool {
			return e.OriginalStart.Equal(a.Occurrence)
		})
		base.Exceptions = append(base.Exceptions, x)
	case a.Status == sources.StatusDeclined:
		if ev == nil {
			return sources.ItemRef{}, nil
		}
		if err := wr.Delete(ctx, cal, ev.ID); err != nil && !errors.Is(err, sources.ErrNotFound) {
			return sources.ItemRef{}, err
		}
		return sources.ItemRef{}, nil
	default:
		base = withAnswer(base, self, a.Status)
	}
	it.Event = &base
	id, _, err := wr.Put(ctx, cal, it, etag)
	if err != nil {
		return sources.ItemRef{}, err
	}
	if a.Status == sources.StatusDeclined {
		return sources.ItemRef{}, nil
	}
	return sources.ItemRef{Folder: cal, ID: id}, nil
}

// withAnswer is ev with self's participation status set to st (self added
// when the invitation did not list the user by that address) and the busy
// status following it.
func withAnswer(ev sources.Event, self sources.Address, st sources.AttendeeStatus) sources.Event {
	ev.Attendees = slices.Clone(ev.Attendees)
	found := false
	for i := range ev.Attendees {
		if strings.EqualFold(ev.Attendees[i].Email, self.Email) {
			ev.Attendees[i].Status, found = st, true
		}
	}
	if !found {
		ev.Attendees = append(ev.Attendees, sources.Attendee{Address: self, Status: st})
	}
	ev.MeetingStatus = sources.MeetingReceived
	switch {
	case st == sources.StatusTentative:
		ev.BusyStatus = sources.Tentative
	case ev.BusyStatus == sources.Tentative:
		ev.BusyStatus = sources.Busy
	}
	return ev
}

// attendeeSelf is the user among the attendees of ev: by the user's
// address, else by an address the invitation mail m was sent to (a user
// with several addresses), else the user's address as it is.
func (s *Server) attendeeSelf(sess *Session, ev *sources.Event, m *sources.Message) sources.Address {
	cands := []string{s.primaryAddress(sess.User)}
	if m != nil {
		for _, a := range slices.Concat(m.To, m.Cc) {
			cands = append(cands, a.Email)
		}
	}
	for _, c := range cands {
		for _, at := range ev.Attendees {
			if strings.EqualFold(at.Email, c) {
				return at.Address
			}
		}
	}
	return sources.Address{Email: cands[0]}
}

// findEvent returns the event of calendar cal whose UID is uid, or nil. It
// pages through the calendar: a store has no index by UID that every
// adapter offers.
func findEvent(ctx context.Context, src sources.Source, cal sources.FolderID, uid string) (*sources.Item, error) {
	for st := sources.State(""); ; {
		d, err := src.Changes(ctx, cal, st, directoryPage)
		if err != nil {
			return nil, err
		}
		items, err := src.Get(ctx, cal, d.Changed, nil)
		if err != nil {
			return nil, err
		}
		for i := range items {
			if e := items[i].Event; e != nil && e.UID == uid {
				return &items[i], nil
			}
		}
		if st = d.Next; !d.More {
			return nil, nil
		}
	}
}

// discardInvitation moves an answered invitation to Deleted Items, as
// Exchange does; a store without Mover or Deleted Items keeps it. A
// failure leaves the mail where it is and is only logged: the answer
// itself went through.
func (s *Server) discardInvitation(ctx context.Context, sess *Session, ref sources.ItemRef) {
	mv, ok := sess.Source.(sources.Mover)
	if !ok {
		return
	}
	del, err := s.folderOfKind(ctx, sess, sources.KindDeleted)
	if err != nil || del == ref.Folder {
		return
	}
	if _, err := mv.Move(ctx, ref.Folder, del, []sources.ItemID{ref.ID}); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "MeetingResponse: moving the invitation to Deleted Items", slog.String("user", sess.User),
			slog.String("device_id", sess.Request.DeviceID), slog.Any("err", err))
	}
}
