package mux

import (
	"context"
	"errors"
	"testing"

	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/sources/memory"
)

// flakySource is a store whose folder listing fails with err, or comes
// back marked partial.
type flakySource struct {
	sources.Source
	err     error
	partial bool
}

func (f *flakySource) Folders(ctx context.Context, since sources.State) (sources.FolderDelta, error) {
	if f.err != nil {
		return sources.FolderDelta{}, f.err
	}
	d, err := f.Source.Folders(ctx, since)
	d.Partial = d.Partial || f.partial
	return d, err
}

// TestPartialHierarchy: a store that is down, or lists only part of its
// folders, makes the hierarchy partial rather than failing it or letting
// its folders look deleted; a store refusing the login still fails it.
func TestPartialHierarchy(t *testing.T) {
	ctx := context.Background()
	st := memory.New(nil)
	cal := &flakySource{Source: st.User("alice-calendars")}
	src := New([]Route{
		{Source: st.User("alice"), Contents: []sources.Content{sources.ContentMail}},
		{Source: cal, Contents: []sources.Content{sources.ContentCalendar}},
	}, 0)
	kinds := func(d sources.FolderDelta) (mail, calendars int) {
		for _, f := range d.Changed {
			switch f.Kind.Content() {
			case sources.ContentMail:
				mail++
			case sources.ContentCalendar:
				calendars++
			}
		}
		return mail, calendars
	}
	full, err := src.Folders(ctx, "")
	if m, c := kinds(full); err != nil || full.Partial || m == 0 || c != 1 {
		t.Fatalf("Folders = %d mail and %d calendar folders, partial %v, %v; want both, whole", m, c, full.Partial, err)
	}

	cal.err = sources.MarkTemporary(errors.New("calendar server down"))
	d, err := src.Folders(ctx, "")
	if m, c := kinds(d); err != nil || !d.Partial || m == 0 || c != 0 {
		t.Errorf("Folders with the calendar store down = %d mail and %d calendar folders, partial %v, %v; want the mail folders, partial", m, c, d.Partial, err)
	}
	if d, err := src.Folders(ctx, full.Next); err != nil || !d.Partial || len(d.Removed) != 0 {
		t.Errorf("Folders(since) with the calendar store down = %+v, %v; want partial, nothing removed", d, err)
	}

	cal.err, cal.partial = nil, true
	if d, err := src.Folders(ctx, full.Next); err != nil || !d.Partial {
		t.Errorf("Folders with the calendar store's listing partial = %+v, %v; want partial", d, err)
	}

	cal.partial = false
	if d, err := src.Folders(ctx, full.Next); err != nil || d.Partial || len(d.Changed)+len(d.Removed) != 0 {
		t.Errorf("Folders(since) with both stores back = %+v, %v; want whole and no changes", d, err)
	}

	cal.err = sources.ErrAuth
	if _, err := src.Folders(ctx, ""); !errors.Is(err, sources.ErrAuth) {
		t.Errorf("Folders with the calendar store refusing the login = %v, want ErrAuth", err)
	}
}
