package eas

// FolderSyncRequest asks for the changes to the folder hierarchy since
// SyncKey; SyncKey "0" asks for the whole hierarchy. MS-ASCMD 2.2.1.5.
type FolderSyncRequest struct {
	_       struct{} `wbxml:"FolderHierarchy:FolderSync"`
	SyncKey string   `wbxml:"FolderHierarchy:SyncKey"`
}

// Validate checks r against the FolderSync request schema of version v.
func (r *FolderSyncRequest) Validate(v ProtocolVersion) error {
	if r.SyncKey == "" {
		return schemaErrorf("FolderSync", "SyncKey is missing")
	}
	return nil
}

// FolderSyncResponse answers a FolderSync request. MS-ASCMD 2.2.1.5.
type FolderSyncResponse struct {
	_       struct{}         `wbxml:"FolderHierarchy:FolderSync"`
	Status  FolderSyncStatus `wbxml:"FolderHierarchy:Status"`
	SyncKey string           `wbxml:"FolderHierarchy:SyncKey,omitempty"`
	Changes *FolderChanges   `wbxml:"FolderHierarchy:Changes"`
}

// FolderChanges lists the hierarchy changes of a FolderSync response.
// Count is the number of Update, Delete and Add elements together.
// MS-ASCMD 2.2.3.25.
type FolderChanges struct {
	Count  int                `wbxml:"FolderHierarchy:Count"`
	Update []FolderSyncFolder `wbxml:"FolderHierarchy:Update"`
	Delete []FolderSyncDelete `wbxml:"FolderHierarchy:Delete"`
	Add    []FolderSyncFolder `wbxml:"FolderHierarchy:Add"`
}

// FolderSyncFolder is a folder added or updated (renamed or moved) since
// the client's SyncKey. MS-ASCMD 2.2.3.7.1 (Add), 2.2.3.190 (Update).
type FolderSyncFolder struct {
	ServerID    string     `wbxml:"FolderHierarchy:ServerId"`
	ParentID    string     `wbxml:"FolderHierarchy:ParentId"`
	DisplayName string     `wbxml:"FolderHierarchy:DisplayName"`
	Type        FolderType `wbxml:"FolderHierarchy:Type"`
}

// FolderSyncDelete is a folder deleted since the client's SyncKey.
// MS-ASCMD 2.2.3.42.1.
type FolderSyncDelete struct {
	ServerID string `wbxml:"FolderHierarchy:ServerId"`
}

// FolderType is the type of a folder in FolderSync, FolderCreate and
// GetHierarchy. MS-ASCMD 2.2.3.186.3.
type FolderType int

// The folder types. ParentID "0" of a folder means the mailbox root.
const (
	FolderTypeUserGeneric   FolderType = 1  // user-created folder of no particular kind
	FolderTypeInbox         FolderType = 2  // default Inbox
	FolderTypeDrafts        FolderType = 3  // default Drafts
	FolderTypeDeletedItems  FolderType = 4  // default Deleted Items
	FolderTypeSentItems     FolderType = 5  // default Sent Items
	FolderTypeOutbox        FolderType = 6  // default Outbox
	FolderTypeTasks         FolderType = 7  // default Tasks
	FolderTypeCalendar      FolderType = 8  // default Calendar
	FolderTypeContacts      FolderType = 9  // default Contacts
	FolderTypeNotes         FolderType = 10 // default Notes
	FolderTypeJournal       FolderType = 11 // default Journal
	FolderTypeUserMail      FolderType = 12 // user-created mail folder
	FolderTypeUserCalendar  FolderType = 13 // user-created calendar
	FolderTypeUserContacts  FolderType = 14 // user-created contacts folder
	FolderTypeUserTasks     FolderType = 15 // user-created tasks folder
	FolderTypeUserJournal   FolderType = 16 // user-created journal
	FolderTypeUserNotes     FolderType = 17 // user-created notes folder
	FolderTypeUnknown       FolderType = 18 // a folder of a kind EAS does not name
	FolderTypeRecipientInfo FolderType = 19 // recipient information cache, 14.0 and later
)

// FolderSyncStatus is the Status of a FolderSync response.
// MS-ASCMD 2.2.3.177.5; codes from 101 up are the common ones of
// MS-ASCMD 2.2.2.
type FolderSyncStatus int

// The FolderSync status codes.
const (
	FolderSyncStatusSuccess        FolderSyncStatus = 1
	FolderSyncStatusServerError    FolderSyncStatus = 6  // transient; the client retries
	FolderSyncStatusInvalidSyncKey FolderSyncStatus = 9  // key unknown or out of date; the client starts again at "0"
	FolderSyncStatusBadRequest     FolderSyncStatus = 10 // the request does not follow the schema
	FolderSyncStatusUnknownError   FolderSyncStatus = 11 // an error the server cannot name
	FolderSyncStatusCodeUnknown    FolderSyncStatus = 12 // an unusual back-end failure
)
