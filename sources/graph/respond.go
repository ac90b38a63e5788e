package graph

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/easgate/easgate/sources"
)

var _ sources.Responder = (*Source)(nil)

// Respond implements sources.Responder for invitations on the calendar:
// Graph's accept, tentativelyAccept and decline on the event, or on the
// one occurrence answered, which also mail the organizer when a.Send is
// set. An invitation message is answered through its event, which the
// gateway finds on the calendar; the message itself is ErrNotFound here
// (Graph's eventMessage link is outside the emulated surface).
func (s *Source) Respond(ctx context.Context, ref sources.ItemRef, a sources.MeetingAnswer) (sources.ItemRef, error) {
	f, err := s.feed(ctx, ref.Folder)
	if err != nil {
		return sources.ItemRef{}, err
	}
	if f.kind != contentEvents {
		return sources.ItemRef{}, fmt.Errorf("graph: respond to %s in %s: not a calendar event: %w", ref.ID, ref.Folder, sources.ErrNotFound)
	}
	id := string(ref.ID)
	if !a.Occurrence.IsZero() {
		var page struct {
			Value []graphEvent `json:"value"`
		}
		q := url.Values{"startDateTime": {a.Occurrence.Add(-24 * time.Hour).UTC().Format(time.RFC3339)},
			"endDateTime": {a.Occurrence.Add(48 * time.Hour).UTC().Format(time.RFC3339)}}
		if err := s.c.getJSON(ctx, s.id, s.path+"/events/"+url.PathEscape(id)+"/instances", q, nil, &page); err != nil {
			return sources.ItemRef{}, fmt.Errorf("graph: instances of %s: %w", id, err)
		}
		id = ""
		for _, inst := range page.Value {
			if parseUTC(inst.OriginalStart).Equal(a.Occurrence.UTC()) {
				id = inst.ID
			}
		}
		if id == "" {
			return sources.ItemRef{}, fmt.Errorf("graph: no occurrence of %s at %v: %w", ref.ID, a.Occurrence, sources.ErrNotFound)
		}
	}
	action := map[sources.AttendeeStatus]string{sources.StatusAccepted: "accept", sources.StatusTentative: "tentativelyAccept",
		sources.StatusDeclined: "decline"}[a.Status]
	if action == "" {
		return sources.ItemRef{}, fmt.Errorf("graph: answer %v: %w", a.Status, sources.ErrUnsupported)
	}
	body := map[string]any{"comment": a.Comment, "sendResponse": a.Send}
	if !a.ProposedStart.IsZero() && a.Status != sources.StatusAccepted {
		body["proposedNewTime"] = map[string]any{"start": toTZ(a.ProposedStart), "end": toTZ(a.ProposedEnd)}
	}
	if err := s.c.sendJSON(ctx, s.id, "POST", s.path+"/events/"+url.PathEscape(id)+"/"+action, body, nil, ""); err != nil {
		return sources.ItemRef{}, fmt.Errorf("graph: %s %s: %w", action, id, err)
	}
	if a.Status == sources.StatusDeclined {
		return sources.ItemRef{}, nil
	}
	return ref, nil
}
