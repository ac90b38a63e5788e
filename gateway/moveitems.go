package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

// handleMoveItems answers MoveItems, MS-ASCMD 2.2.1.12, with one Response
// per Move in request order. Moves between the same two folders go to the
// store in one Mover.Move call. The moved item gets a ServerId in the
// destination collection at once, even one the device has not synced yet,
// so that DstMsgId is always set on success.
func (s *Server) handleMoveItems(ctx context.Context, sess *Session, req *eas.MoveItemsRequest) (*eas.MoveItemsResponse, error) {
	if s.state == nil {
		return nil, errNoState
	}
	mover, ok := sess.Source.(sources.Mover)
	if !ok {
		return nil, &eas.StatusError{Status: eas.StatusCommandNotSupported, Scope: eas.ScopeCommand}
	}
	a := sess.Account
	resp := &eas.MoveItemsResponse{Response: make([]eas.MoveItemsResult, len(req.Move))}
	type pair struct{ src, dst string } // CollectionIds
	type batch struct {
		from, to sources.FolderID
		idx      []int
		ids      []sources.ItemID
	}
	var order []pair
	batches := make(map[pair]*batch)
	for i, m := range req.Move {
		r := &resp.Response[i]
		r.SrcMsgID = m.SrcMsgID
		from, to, item, err := s.moveTarget(ctx, a, m)
		if err != nil {
			r.Status = eas.MoveItemsStatus(s.statusOf(ctx, sess, eas.ScopeItem, err))
			continue
		}
		p := pair{m.SrcFldID, m.DstFldID}
		b := batches[p]
		if b == nil {
			b = &batch{from: from, to: to}
			batches[p] = b
			order = append(order, p)
		}
		b.idx = append(b.idx, i)
		b.ids = append(b.ids, item)
	}
	for _, p := range order {
		b := batches[p]
		moved, err := mover.Move(ctx, b.from, b.to, b.ids)
		if err != nil {
			st := eas.MoveItemsStatus(s.statusOf(ctx, sess, eas.ScopeItem, err))
			for _, i := range b.idx {
				resp.Response[i].Status = st
			}
			continue
		}
		var newIDs []string
		for _, id := range b.ids {
			if n, ok := moved[id]; ok {
				newIDs = append(newIDs, string(n))
			}
		}
		sids, err := s.destinationIDs(ctx, statecache.CollectionKey{Account: a, Collection: p.dst}, newIDs)
		if err != nil {
			return nil, err
		}
		for j, i := range b.idx {
			r := &resp.Response[i]
			if _, ok := moved[b.ids[j]]; !ok {
				r.Status = eas.MoveItemsStatusInvalidSource // gone before we got to it
				continue
			}
			r.Status, r.DstMsgID = eas.MoveItemsStatusSuccess, sids[0]
			sids = sids[1:]
		}
	}
	return resp, nil
}

// moveTarget resolves one Move to store ids, or to the error that refuses
// it: an unknown source folder or item (1), a move within one folder (4),
// an unknown destination (2), MS-ASCMD 2.2.3.177.10.
func (s *Server) moveTarget(ctx context.Context, a statecache.Account, m eas.MoveItem) (from, to sources.FolderID, item sources.ItemID, err error) {
	f, err := s.state.FolderID(ctx, a, m.SrcFldID)
	if err != nil {
		return "", "", "", fmt.Errorf("gateway: source collection %q: %w", m.SrcFldID, err)
	}
	if m.SrcFldID == m.DstFldID {
		return "", "", "", errSameFolder
	}
	t, err := s.state.FolderID(ctx, a, m.DstFldID)
	if errors.Is(err, statecache.ErrNotFound) {
		return "", "", "", fmt.Errorf("%w %q", errBadDestination, m.DstFldID)
	}
	if err != nil {
		return "", "", "", fmt.Errorf("gateway: destination collection %q: %w", m.DstFldID, err)
	}
	id, err := s.state.MapID(ctx, statecache.CollectionKey{Account: a, Collection: m.SrcFldID}, m.SrcMsgID)
	if err != nil {
		return "", "", "", fmt.Errorf("gateway: item %q: %w", m.SrcMsgID, err)
	}
	return sources.FolderID(f), sources.FolderID(t), sources.ItemID(id), nil
}

// errSameFolder refuses a move within one folder.
var errSameFolder = &eas.StatusError{Status: eas.Status(eas.MoveItemsStatusSameFolder), Scope: eas.ScopeItem}

// destinationIDs gives moved items their ServerIds in the destination
// collection. A collection the device never synced gets its id map started
// for them; the device's first Sync of it, with SyncKey 0, starts over.
func (s *Server) destinationIDs(ctx context.Context, key statecache.CollectionKey, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	sids, err := s.state.ServerIDs(ctx, key, ids)
	if errors.Is(err, statecache.ErrNotFound) {
		if _, err = s.state.Advance(ctx, key, statecache.InitialKey, statecache.SyncState{}); err == nil {
			sids, err = s.state.ServerIDs(ctx, key, ids)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: mapping moved items: %w", err)
	}
	return sids, nil
}
