package gateway

import (
	"context"
	"fmt"

	"github.com/easgate/easgate/eas"
	"github.com/easgate/easgate/sources"
)

// handleGetHierarchy answers GetHierarchy, MS-ASCMD 2.2.1.8, of protocol
// versions 2.5 to 12.1: the mail folders only, without a synchronization
// state, named by the same CollectionIds FolderSync gives. Type is one of
// the six values of MS-ASCMD 2.2.3.186.4, so a user-created mail folder is
// 1 there where FolderSync says 12. A failure is HTTP 500 (statusFor), as
// the command has no Status element.
func (s *Server) handleGetHierarchy(ctx context.Context, sess *Session, _ *eas.GetHierarchyRequest) (*eas.GetHierarchyResponse, error) {
	if s.state == nil {
		return nil, errNoState
	}
	d, err := sess.Source.Folders(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("gateway: GetHierarchy folders: %w", err)
	}
	var mail []sources.Folder
	var ids []sources.FolderID
	for _, f := range d.Changed {
		if f.Kind.Content() == sources.ContentMail {
			mail = append(mail, f)
			ids = append(ids, f.ID, f.ParentID)
		}
	}
	cids, err := s.collectionIDs(ctx, sess.Account, ids)
	if err != nil {
		return nil, err
	}
	resp := &eas.GetHierarchyResponse{}
	for _, f := range mail {
		t := folderType(f.Kind)
		if t < eas.FolderTypeUserGeneric || t > eas.FolderTypeOutbox {
			t = eas.FolderTypeUserGeneric
		}
		resp.Folder = append(resp.Folder, eas.GetHierarchyFolder{
			DisplayName: f.Name, ServerID: cids[f.ID], Type: t, ParentID: cids[f.ParentID],
		})
	}
	return resp, nil
}
