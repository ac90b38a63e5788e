package gateway

import (
	"context"
	"fmt"
	"slices"

	"github.com/easgate/easgate/sources"
)

// folderDelta is hierarchyDelta with the user's choice of calendars and
// address books kept off the phones (statecache.UserPrefs, set in the user
// console) applied: a hidden folder is never listed, and one the device
// knows is removed. When the choice changed since the device's key, every
// folder is listed again, so that a folder shown again comes back as an
// Add although the store reports no change to it.
func (s *Server) folderDelta(ctx context.Context, sess *Session, h *hierarchyState) (sources.FolderDelta, error) {
	var hidden []string
	if s.state != nil {
		p, err := s.state.UserPrefs(ctx, s.mailbox(sess.User))
		if err != nil {
			return sources.FolderDelta{}, fmt.Errorf("gateway: reading the user's folder choices: %w", err)
		}
		hidden = p.Hidden
	}
	var (
		d   sources.FolderDelta
		err error
	)
	if h.Store == "" || !slices.Equal(hidden, h.Hidden) {
		d, err = fullDelta(ctx, sess.Source, h)
	} else {
		d, err = hierarchyDelta(ctx, sess.Source, h)
	}
	if err != nil || len(hidden) == 0 {
		h.Hidden = hidden
		return d, err
	}
	kept := d.Changed[:0:0]
	for _, f := range d.Changed {
		if slices.Contains(hidden, string(f.ID)) && choosable(f.Kind) {
			d.Removed = append(d.Removed, f.ID)
			continue
		}
		kept = append(kept, f)
	}
	d.Changed = kept
	h.Hidden = hidden
	return d, nil
}
