package gateway

import (
	"context"
	"fmt"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
	"github.com/easgate/easgate/statecache"
)

// handleFolderCreate answers FolderCreate, MS-ASCMD 2.2.1.3. The response
// carries the folder's CollectionId and a new hierarchy key, under which
// the next FolderSync does not report the folder back (see commit).
func (s *Server) handleFolderCreate(ctx context.Context, sess *Session, req *eas.FolderCreateRequest) (*eas.FolderCreateResponse, error) {
	fw, ok := sess.Source.(sources.FolderWriter)
	if !ok {
		// The store's hierarchy is fixed: as for a parent that takes no
		// folders, MS-ASCMD 2.2.3.177.3 status 3.
		return &eas.FolderCreateResponse{Status: eas.FolderCreateStatusSpecialFolder}, nil
	}
	e, err := s.beginFolderEdit(ctx, sess, req.SyncKey)
	if err != nil {
		return nil, err
	}
	kind, ok := folderKind(req.Type)
	if !ok {
		return nil, &eas.StatusError{Status: eas.Status(eas.FolderCreateStatusBadRequest)}
	}
	if e.pos.Retry {
		if resp, ok := s.folderCreateReplay(ctx, sess, e, req, kind); ok {
			return resp, nil
		}
		return nil, errBehind
	}
	parent, ok, err := s.storeFolder(ctx, sess.Account, e.h, req.ParentID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return &eas.FolderCreateResponse{Status: eas.FolderCreateStatusParentNotFound}, nil
	}
	if parent != "" && e.h.Known[parent].Type == eas.FolderTypeRecipientInfo {
		return &eas.FolderCreateResponse{Status: eas.FolderCreateStatusSpecialFolder}, nil
	}
	id, err := fw.CreateFolder(ctx, parent, req.DisplayName, kind)
	if err != nil {
		return nil, fmt.Errorf("gateway: creating folder %q: %w", req.DisplayName, err)
	}
	cids, err := s.collectionIDs(ctx, sess.Account, []sources.FolderID{id})
	if err != nil {
		return nil, err
	}
	e.h.Known[id] = knownFolder{Parent: parent, Name: req.DisplayName, Type: folderType(kind)}
	key, err := s.commit(ctx, sess, e, []statecache.Change{{Op: statecache.OpAdd, ServerID: cids[id], ItemID: string(id)}})
	if err != nil {
		return nil, err
	}
	return &eas.FolderCreateResponse{Status: eas.FolderCreateStatusSuccess, SyncKey: key, ServerID: cids[id]}, nil
}

// folderCreateReplay answers a FolderCreate repeated with the previous key
// after its response was lost: if the last edit created this very folder,
// the device gets the same answer instead of status 2 for its own folder.
func (s *Server) folderCreateReplay(ctx context.Context, sess *Session, e *folderEdit, req *eas.FolderCreateRequest, kind sources.FolderKind) (*eas.FolderCreateResponse, bool) {
	if len(e.pos.Window) != 1 || e.pos.Window[0].Op != statecache.OpAdd {
		return nil, false
	}
	c := e.pos.Window[0]
	k, ok := e.h.Known[sources.FolderID(c.ItemID)]
	if !ok || k.Name != req.DisplayName || k.Type != folderType(kind) {
		return nil, false
	}
	cids, err := s.collectionIDs(ctx, sess.Account, []sources.FolderID{k.Parent})
	if err != nil || cids[k.Parent] != req.ParentID {
		return nil, false
	}
	return &eas.FolderCreateResponse{Status: eas.FolderCreateStatusSuccess, SyncKey: string(e.pos.Key), ServerID: c.ServerID}, true
}
