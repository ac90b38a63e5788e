package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

// handleFolderSync answers FolderSync, MS-ASCMD 2.2.1.5. SyncKey "0" lists
// every folder; the current key lists what changed since, compared with
// the hierarchy the device knows (hierarchyState); the previous key, from
// a device that lost our last response, gets that response again; any
// other key is status 9, and the device starts over at "0".
func (s *Server) handleFolderSync(ctx context.Context, sess *Session, req *eas.FolderSyncRequest) (*eas.FolderSyncResponse, error) {
	if s.state == nil {
		return nil, errNoState
	}
	a := sess.Account
	if statecache.SyncKey(req.SyncKey) == statecache.InitialKey {
		return s.folderSyncReset(ctx, sess)
	}
	pos, err := s.state.HierarchyPosition(ctx, a, statecache.SyncKey(req.SyncKey))
	if err != nil {
		return nil, fmt.Errorf("gateway: hierarchy key: %w", err)
	}
	h, err := decodeHierarchyState(pos.State)
	if err != nil {
		return nil, err
	}
	if pos.Retry {
		return s.folderSyncResend(ctx, a, pos.Key, h, pos.Window)
	}
	hiddenBefore := h.Hidden
	d, err := s.folderDelta(ctx, sess, h)
	if err != nil {
		return nil, fmt.Errorf("gateway: folder changes: %w", err)
	}
	before := h.Store
	ops := h.apply(d)
	if len(ops) == 0 && h.Store == before && !h.Confirm && slices.Equal(h.Hidden, hiddenBefore) {
		// Nothing to store: the device keeps its key.
		return &eas.FolderSyncResponse{Status: eas.FolderSyncStatusSuccess, SyncKey: req.SyncKey, Changes: &eas.FolderChanges{}}, nil
	}
	changes, window, err := s.hierarchyChanges(ctx, a, h, ops)
	if err != nil {
		return nil, err
	}
	key, err := s.state.AdvanceHierarchy(ctx, a, pos.Key, h.syncState(window))
	var retry *statecache.RetryError
	if errors.As(err, &retry) {
		// A concurrent FolderSync with the same key answered first: give
		// its answer.
		rh, err := decodeHierarchyState(retry.Resend.State)
		if err != nil {
			return nil, err
		}
		return s.folderSyncResend(ctx, a, retry.Key, rh, retry.Resend.Window)
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: storing the hierarchy: %w", err)
	}
	return &eas.FolderSyncResponse{Status: eas.FolderSyncStatusSuccess, SyncKey: string(key), Changes: changes}, nil
}

// folderSyncReset answers SyncKey "0": every folder is an Add. Folders keep
// the CollectionIds they had before, MS-ASCMD 3.1.5.3.
func (s *Server) folderSyncReset(ctx context.Context, sess *Session) (*eas.FolderSyncResponse, error) {
	h := &hierarchyState{Known: make(map[sources.FolderID]knownFolder)}
	d, err := s.folderDelta(ctx, sess, h)
	if err != nil {
		return nil, fmt.Errorf("gateway: listing folders: %w", err)
	}
	ops := h.apply(d)
	// The reset comes first: it creates the record that CollectionIds
	// are minted from. Its window stays empty, since no earlier key can
	// ask for it again and a reset has no Deletes to confirm.
	key, err := s.state.AdvanceHierarchy(ctx, sess.Account, statecache.InitialKey, statecache.SyncState{State: h.encode()})
	if err != nil {
		return nil, fmt.Errorf("gateway: resetting the hierarchy: %w", err)
	}
	changes, _, err := s.hierarchyChanges(ctx, sess.Account, h, ops)
	if err != nil {
		return nil, err
	}
	return &eas.FolderSyncResponse{Status: eas.FolderSyncStatusSuccess, SyncKey: string(key), Changes: changes}, nil
}

// folderSyncResend answers the previous key with the window stored with
// the current one.
func (s *Server) folderSyncResend(ctx context.Context, a statecache.Account, key statecache.SyncKey, h *hierarchyState, window []statecache.Change) (*eas.FolderSyncResponse, error) {
	changes, err := s.resendChanges(ctx, a, h, window)
	if err != nil {
		return nil, err
	}
	return &eas.FolderSyncResponse{Status: eas.FolderSyncStatusSuccess, SyncKey: string(key), Changes: changes}, nil
}
