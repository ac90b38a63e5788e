package mux

import (
	"context"
	"errors"
	"testing"

	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/memory"
)

// answering is a memory store that answers invitations itself, as Graph
// does, with the event "answered" in its calendar.
type answering struct {
	*memory.Source
	asked []sources.ItemRef
}

func (a *answering) Respond(_ context.Context, ref sources.ItemRef, _ sources.MeetingAnswer) (sources.ItemRef, error) {
	a.asked = append(a.asked, ref)
	return sources.ItemRef{Folder: "calendar", ID: "answered"}, nil
}

// TestRespond: an invitation goes to its store when that store answers
// itself, names the event only when this Source serves its calendar, and
// is ErrUnsupported for a store that cannot answer, so that the gateway
// answers by iTIP.
func TestRespond(t *testing.T) {
	ctx := context.Background()
	all := []sources.Content{sources.ContentMail, sources.ContentContacts, sources.ContentCalendar, sources.ContentTasks, sources.ContentNotes}
	inbox := sources.ItemRef{Folder: "inbox", ID: "request"}
	accept := sources.MeetingAnswer{Status: sources.StatusAccepted}

	self := &answering{Source: memory.New(nil).User("alice")}
	if ev, err := New([]Route{{Source: self, Contents: all}}, 0).Respond(ctx, inbox, accept); err != nil ||
		ev != (sources.ItemRef{Folder: "calendar", ID: "answered"}) || len(self.asked) != 1 || self.asked[0] != inbox {
		t.Errorf("Respond through an answering store = %+v, %v (asked %v); want its event", ev, err, self.asked)
	}

	mailOnly := &answering{Source: memory.New(nil).User("alice")}
	split := New([]Route{{Source: mailOnly, Contents: []sources.Content{sources.ContentMail}},
		{Source: memory.New(nil).User("alice"), Contents: []sources.Content{sources.ContentCalendar}}}, 0)
	if ev, err := split.Respond(ctx, inbox, accept); err != nil || ev != (sources.ItemRef{}) || len(mailOnly.asked) != 1 {
		t.Errorf("Respond with calendars from another store = %+v, %v; want the answer without an event here", ev, err)
	}
	if _, err := split.Respond(ctx, sources.ItemRef{Folder: "calendar", ID: "x"}, accept); !errors.Is(err, sources.ErrUnsupported) {
		t.Errorf("Respond on the calendar of a store that cannot answer = %v, want ErrUnsupported", err)
	}
	if _, err := split.Respond(ctx, sources.ItemRef{Folder: "nowhere", ID: "x"}, accept); !errors.Is(err, sources.ErrNotFound) {
		t.Errorf("Respond in an unknown folder = %v, want ErrNotFound", err)
	}
}
