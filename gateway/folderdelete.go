package gateway

import (
	"context"
	"fmt"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

// handleFolderDelete answers FolderDelete, MS-ASCMD 2.2.1.4: it deletes
// the folder ServerId with its items and subfolders, and answers with a new
// hierarchy key. The window of that key holds a Delete for the folder and
// each subfolder, so that their CollectionIds and collection states are
// dropped once the device moves past the key.
func (s *Server) handleFolderDelete(ctx context.Context, sess *Session, req *eas.FolderDeleteRequest) (*eas.FolderDeleteResponse, error) {
	e, err := s.beginFolderEdit(ctx, sess, req.SyncKey)
	if err != nil {
		return nil, err
	}
	if e.pos.Retry {
		if e.replayed(statecache.OpDelete, req.ServerID) {
			return &eas.FolderDeleteResponse{Status: eas.FolderDeleteStatusSuccess, SyncKey: string(e.pos.Key)}, nil
		}
		return nil, errBehind
	}
	id, ok, err := s.storeFolder(ctx, sess.Account, e.h, req.ServerID)
	if err != nil {
		return nil, err
	}
	if !ok || id == "" {
		return &eas.FolderDeleteResponse{Status: eas.FolderDeleteStatusNotFound}, nil
	}
	if specialType(e.h.Known[id].Type) {
		return &eas.FolderDeleteResponse{Status: eas.FolderDeleteStatusSpecialFolder}, nil
	}
	fw, ok := sess.Source.(sources.FolderWriter)
	if !ok {
		return &eas.FolderDeleteResponse{Status: eas.FolderDeleteStatusSpecialFolder}, nil
	}
	if err := fw.DeleteFolder(ctx, id); err != nil {
		return nil, fmt.Errorf("gateway: deleting folder %q: %w", id, err)
	}
	gone := append([]sources.FolderID{id}, e.h.descendants(id)...)
	cids, err := s.collectionIDs(ctx, sess.Account, gone)
	if err != nil {
		return nil, err
	}
	window := make([]statecache.Change, len(gone))
	for i, g := range gone {
		window[i] = statecache.Change{Op: statecache.OpDelete, ServerID: cids[g], ItemID: string(g)}
		delete(e.h.Known, g)
	}
	key, err := s.commit(ctx, sess, e, window)
	if err != nil {
		return nil, err
	}
	return &eas.FolderDeleteResponse{Status: eas.FolderDeleteStatusSuccess, SyncKey: key}, nil
}
