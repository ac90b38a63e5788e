package eas

// FolderDeleteRequest deletes the folder ServerID and everything in it.
// MS-ASCMD 2.2.1.4.
type FolderDeleteRequest struct {
	_        struct{} `wbxml:"FolderHierarchy:FolderDelete"`
	SyncKey  string   `wbxml:"FolderHierarchy:SyncKey"`
	ServerID string   `wbxml:"FolderHierarchy:ServerId"`
}

// Validate checks r against the FolderDelete request schema of version v.
func (r *FolderDeleteRequest) Validate(v ProtocolVersion) error {
	switch {
	case r.SyncKey == "":
		return schemaErrorf("FolderDelete", "SyncKey is missing")
	case r.ServerID == "":
		return schemaErrorf("FolderDelete", "ServerId is missing")
	}
	return nil
}

// FolderDeleteResponse answers a FolderDelete request. MS-ASCMD 2.2.1.4.
type FolderDeleteResponse struct {
	_       struct{}           `wbxml:"FolderHierarchy:FolderDelete"`
	Status  FolderDeleteStatus `wbxml:"FolderHierarchy:Status"`
	SyncKey string             `wbxml:"FolderHierarchy:SyncKey,omitempty"`
}

// FolderDeleteStatus is the Status of a FolderDelete response.
// MS-ASCMD 2.2.3.177.4.
type FolderDeleteStatus int

// The FolderDelete status codes.
const (
	FolderDeleteStatusSuccess        FolderDeleteStatus = 1
	FolderDeleteStatusSpecialFolder  FolderDeleteStatus = 3  // special folders cannot be deleted
	FolderDeleteStatusNotFound       FolderDeleteStatus = 4  // no folder has ServerId
	FolderDeleteStatusServerError    FolderDeleteStatus = 6  // transient; the client retries
	FolderDeleteStatusInvalidSyncKey FolderDeleteStatus = 9  // the client must FolderSync first
	FolderDeleteStatusBadRequest     FolderDeleteStatus = 10 // the request does not follow the schema
	FolderDeleteStatusUnknownError   FolderDeleteStatus = 11 // an error the server cannot name
)
