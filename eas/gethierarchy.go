package eas

// GetHierarchyRequest is the GetHierarchy command of protocol versions 2.5
// to 12.1, which lists the mail folders without a synchronization state.
// The request has no body: MS-ASCMD 2.2.1.8 defines only the response, so
// this type has no fields and exists to be validated.
type GetHierarchyRequest struct{}

// Validate rejects the command in the versions that do not have it (14.0
// and later).
func (r *GetHierarchyRequest) Validate(v ProtocolVersion) error {
	if !CmdGetHierarchy.Supports(v) {
		return schemaErrorf("GetHierarchy", "command does not exist in %v", v)
	}
	return nil
}

// GetHierarchyResponse lists the mailbox's mail folders; Contacts,
// Calendar and other non-mail folders are left out. MS-ASCMD 2.2.1.8,
// schema in MS-ASCMD 6.19.
type GetHierarchyResponse struct {
	_      struct{}             `wbxml:"FolderHierarchy:Folders"`
	Folder []GetHierarchyFolder `wbxml:"FolderHierarchy:Folder"`
}

// GetHierarchyFolder is one mail folder. Type is one of 1 to 6 (user
// folder, Inbox, Drafts, Deleted Items, Sent Items, Outbox); ParentID "0"
// is the root. MS-ASCMD 2.2.3.71.1.
type GetHierarchyFolder struct {
	DisplayName string     `wbxml:"FolderHierarchy:DisplayName"`
	ServerID    string     `wbxml:"FolderHierarchy:ServerId"`
	Type        FolderType `wbxml:"FolderHierarchy:Type"`
	ParentID    string     `wbxml:"FolderHierarchy:ParentId"`
}
