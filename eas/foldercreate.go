package eas

// FolderCreateRequest creates a folder. ParentID "0" means the mailbox
// root. MS-ASCMD 2.2.1.3.
type FolderCreateRequest struct {
	_           struct{}   `wbxml:"FolderHierarchy:FolderCreate"`
	SyncKey     string     `wbxml:"FolderHierarchy:SyncKey"`
	ParentID    string     `wbxml:"FolderHierarchy:ParentId"`
	DisplayName string     `wbxml:"FolderHierarchy:DisplayName"`
	Type        FolderType `wbxml:"FolderHierarchy:Type"`
}

// Validate checks r against the FolderCreate request schema of version v.
// Only the user-created folder types may be created (MS-ASCMD 2.2.3.186.2).
func (r *FolderCreateRequest) Validate(v ProtocolVersion) error {
	switch {
	case r.SyncKey == "":
		return schemaErrorf("FolderCreate", "SyncKey is missing")
	case r.ParentID == "":
		return schemaErrorf("FolderCreate", "ParentId is missing")
	case r.DisplayName == "":
		return schemaErrorf("FolderCreate", "DisplayName is missing")
	}
	if r.Type != FolderTypeUserGeneric && (r.Type < FolderTypeUserMail || r.Type > FolderTypeUserNotes) {
		return schemaErrorf("FolderCreate", "Type %d is not a type a client can create", r.Type)
	}
	return nil
}

// FolderCreateResponse answers a FolderCreate request with the new
// folder's ServerID and the new hierarchy SyncKey. MS-ASCMD 2.2.1.3.
type FolderCreateResponse struct {
	_        struct{}           `wbxml:"FolderHierarchy:FolderCreate"`
	Status   FolderCreateStatus `wbxml:"FolderHierarchy:Status"`
	SyncKey  string             `wbxml:"FolderHierarchy:SyncKey,omitempty"`
	ServerID string             `wbxml:"FolderHierarchy:ServerId,omitempty"`
}

// FolderCreateStatus is the Status of a FolderCreate response.
// MS-ASCMD 2.2.3.177.3.
type FolderCreateStatus int

// The FolderCreate status codes.
const (
	FolderCreateStatusSuccess        FolderCreateStatus = 1
	FolderCreateStatusExists         FolderCreateStatus = 2  // the parent already holds a folder of that name
	FolderCreateStatusSpecialFolder  FolderCreateStatus = 3  // the parent is the recipient information cache
	FolderCreateStatusParentNotFound FolderCreateStatus = 5  // no folder has ParentId
	FolderCreateStatusServerError    FolderCreateStatus = 6  // transient; the client retries
	FolderCreateStatusInvalidSyncKey FolderCreateStatus = 9  // the client must FolderSync first
	FolderCreateStatusBadRequest     FolderCreateStatus = 10 // the request does not follow the schema
	FolderCreateStatusUnknownError   FolderCreateStatus = 11 // an error the server cannot name
	FolderCreateStatusCodeUnknown    FolderCreateStatus = 12 // an unusual back-end failure
)
