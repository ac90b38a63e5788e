package gateway

import (
	"context"
	"fmt"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

// handleFolderUpdate answers FolderUpdate, MS-ASCMD 2.2.1.6: it renames
// the folder ServerId, moves it under ParentId, or both, and answers with a
// new hierarchy key under which the next FolderSync does not report the
// change back.
func (s *Server) handleFolderUpdate(ctx context.Context, sess *Session, req *eas.FolderUpdateRequest) (*eas.FolderUpdateResponse, error) {
	e, err := s.beginFolderEdit(ctx, sess, req.SyncKey)
	if err != nil {
		return nil, err
	}
	if e.pos.Retry {
		if e.replayed(statecache.OpChange, req.ServerID) &&
			e.h.Known[sources.FolderID(e.pos.Window[0].ItemID)].Name == req.DisplayName {
			return &eas.FolderUpdateResponse{Status: eas.FolderUpdateStatusSuccess, SyncKey: string(e.pos.Key)}, nil
		}
		return nil, errBehind
	}
	id, ok, err := s.storeFolder(ctx, sess.Account, e.h, req.ServerID)
	if err != nil {
		return nil, err
	}
	if !ok || id == "" {
		return &eas.FolderUpdateResponse{Status: eas.FolderUpdateStatusNotFound}, nil
	}
	parent, ok, err := s.storeFolder(ctx, sess.Account, e.h, req.ParentID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return &eas.FolderUpdateResponse{Status: eas.FolderUpdateStatusParentNotFound}, nil
	}
	k := e.h.Known[id]
	switch {
	case k.Type == eas.FolderTypeRecipientInfo:
		return &eas.FolderUpdateResponse{Status: eas.FolderUpdateStatusRecipientInfo}, nil
	case specialType(k.Type):
		// MS-ASCMD 2.2.3.177.6: status 2 also covers a default folder.
		return &eas.FolderUpdateResponse{Status: eas.FolderUpdateStatusExists}, nil
	}
	fw, ok := sess.Source.(sources.FolderWriter)
	if !ok {
		return &eas.FolderUpdateResponse{Status: eas.FolderUpdateStatusExists}, nil
	}
	if err := fw.RenameFolder(ctx, id, parent, req.DisplayName); err != nil {
		return nil, fmt.Errorf("gateway: updating folder %q: %w", id, err)
	}
	k.Parent, k.Name = parent, req.DisplayName
	e.h.Known[id] = k
	key, err := s.commit(ctx, sess, e, []statecache.Change{{Op: statecache.OpChange, ServerID: req.ServerID, ItemID: string(id)}})
	if err != nil {
		return nil, err
	}
	return &eas.FolderUpdateResponse{Status: eas.FolderUpdateStatusSuccess, SyncKey: key}, nil
}
