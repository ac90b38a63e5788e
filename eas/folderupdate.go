package eas

// FolderUpdateRequest renames or moves the folder ServerID. MS-ASCMD 2.2.1.6.
type FolderUpdateRequest struct {
	_           struct{} `wbxml:"FolderHierarchy:FolderUpdate"`
	SyncKey     string   `wbxml:"FolderHierarchy:SyncKey"`
	ServerID    string   `wbxml:"FolderHierarchy:ServerId"`
	ParentID    string   `wbxml:"FolderHierarchy:ParentId"`
	DisplayName string   `wbxml:"FolderHierarchy:DisplayName"`
}

// Validate checks r against the FolderUpdate request schema of version v.
func (r *FolderUpdateRequest) Validate(v ProtocolVersion) error {
	switch {
	case r.SyncKey == "":
		return schemaErrorf("FolderUpdate", "SyncKey is missing")
	case r.ServerID == "":
		return schemaErrorf("FolderUpdate", "ServerId is missing")
	case r.ParentID == "":
		return schemaErrorf("FolderUpdate", "ParentId is missing")
	case r.DisplayName == "":
		return schemaErrorf("FolderUpdate", "DisplayName is missing")
	}
	return nil
}

// FolderUpdateResponse answers a FolderUpdate request. MS-ASCMD 2.2.1.6.
type FolderUpdateResponse struct {
	_       struct{}           `wbxml:"FolderHierarchy:FolderUpdate"`
	Status  FolderUpdateStatus `wbxml:"FolderHierarchy:Status"`
	SyncKey string             `wbxml:"FolderHierarchy:SyncKey,omitempty"`
}

// FolderUpdateStatus is the Status of a FolderUpdate response.
// MS-ASCMD 2.2.3.177.6.
type FolderUpdateStatus int

// The FolderUpdate status codes.
const (
	FolderUpdateStatusSuccess        FolderUpdateStatus = 1
	FolderUpdateStatusExists         FolderUpdateStatus = 2  // the name is taken, or the folder is a special one (Inbox, Drafts…)
	FolderUpdateStatusRecipientInfo  FolderUpdateStatus = 3  // the folder is the recipient information cache
	FolderUpdateStatusNotFound       FolderUpdateStatus = 4  // no folder has ServerId
	FolderUpdateStatusParentNotFound FolderUpdateStatus = 5  // no folder has ParentId
	FolderUpdateStatusServerError    FolderUpdateStatus = 6  // transient; the client retries
	FolderUpdateStatusInvalidSyncKey FolderUpdateStatus = 9  // the client must FolderSync first
	FolderUpdateStatusBadRequest     FolderUpdateStatus = 10 // the request does not follow the schema
	FolderUpdateStatusUnknownError   FolderUpdateStatus = 11 // an error the server cannot name
)
