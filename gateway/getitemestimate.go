package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

// Counting stops at estimateCap changes, read estimatePage at a time: a
// progress bar needs no exact figure past a few thousand, and counting a
// large first sync must stay cheap.
const (
	estimateCap  = 5000
	estimatePage = 500
)

// handleGetItemEstimate answers GetItemEstimate, MS-ASCMD 2.2.1.9: for
// each collection, how many changes a Sync from its key would bring. It
// counts the store's change feed since the key's state, as Sync reads it,
// without fetching items, so FilterType is not applied and an item that
// leaves the filter still counts; items removed before the device saw
// them do not. A key the device lost the answer to counts the window it
// will get again as well.
func (s *Server) handleGetItemEstimate(ctx context.Context, sess *Session, req *eas.GetItemEstimateRequest) (*eas.GetItemEstimateResponse, error) {
	if s.state == nil {
		return nil, errNoState
	}
	resp := &eas.GetItemEstimateResponse{}
	for _, c := range req.Collections.Collection {
		st, n, err := s.estimate(ctx, sess, &c)
		if err != nil {
			// A folder gone or a state expired answers the one
			// collection (2, 4); anything else fails the command.
			ss := s.statusOf(ctx, sess, eas.ScopeCollection, err)
			if ss == 0 {
				return nil, err
			}
			st = eas.GetItemEstimateStatus(ss)
		}
		count := &eas.GetItemEstimateCount{CollectionID: c.CollectionID, Estimate: n}
		if sess.Version() < eas.V140 {
			count.Class = c.Class
		}
		resp.Response = append(resp.Response, eas.GetItemEstimateResult{Status: st, Collection: count})
	}
	return resp, nil
}

// estimate counts the changes waiting for one collection, or gives the
// status that refuses it: 3 for one it has not synced yet (SyncKey 0
// included), 4 for a key that is not the collection's (MS-ASCMD
// 2.2.3.177.7). A folder the device cannot name is an error, which the
// status table answers 2.
func (s *Server) estimate(ctx context.Context, sess *Session, c *eas.GetItemEstimateCollection) (eas.GetItemEstimateStatus, int, error) {
	a := sess.Account
	folder, err := s.state.FolderID(ctx, a, c.CollectionID)
	if err != nil {
		return 0, 0, fmt.Errorf("gateway: looking up collection %q: %w", c.CollectionID, err)
	}
	key := statecache.CollectionKey{Account: a, Collection: c.CollectionID}
	if statecache.SyncKey(c.SyncKey) == statecache.InitialKey {
		return eas.GetItemEstimateStatusNotPrimed, 0, nil
	}
	pos, err := s.state.Position(ctx, key, statecache.SyncKey(c.SyncKey))
	if errors.Is(err, statecache.ErrSyncKeyMismatch) {
		if _, _, err := s.state.CurrentState(ctx, key); errors.Is(err, statecache.ErrNotFound) {
			return eas.GetItemEstimateStatusNotPrimed, 0, nil
		}
		return eas.GetItemEstimateStatusInvalidSyncKey, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("gateway: collection %q key: %w", c.CollectionID, err)
	}
	if onlySMS(c) {
		return eas.GetItemEstimateStatusSuccess, 0, nil // no store holds SMS
	}
	n := 0
	for _, ch := range pos.Window {
		if ch.Op != statecache.OpClientAdd {
			n++
		}
	}
	state := sources.State(pos.State)
	for n < estimateCap {
		d, err := sess.Source.Changes(ctx, sources.FolderID(folder), state, min(estimatePage, estimateCap-n))
		if err != nil {
			return 0, 0, fmt.Errorf("gateway: counting changes of %q: %w", folder, err)
		}
		n += len(d.Changed)
		if len(d.Removed) > 0 {
			ids := make([]string, len(d.Removed))
			for i, id := range d.Removed {
				ids[i] = string(id)
			}
			sids, err := s.state.KnownIDs(ctx, key, ids)
			if err != nil {
				return 0, 0, err
			}
			for _, sid := range sids {
				if sid != "" {
					n++
				}
			}
		}
		if !d.More {
			break
		}
		state = d.Next
	}
	return eas.GetItemEstimateStatusSuccess, min(n, estimateCap), nil
}

// onlySMS reports whether a 14.x collection asks for SMS alone.
func onlySMS(c *eas.GetItemEstimateCollection) bool {
	if len(c.Options) == 0 {
		return false
	}
	for _, o := range c.Options {
		if o.Class != "SMS" {
			return false
		}
	}
	return true
}
