package eas

import "strings"

// ItemOperationsRequest is the body of an ItemOperations command request,
// MS-ASCMD 2.2.1.10: Fetch, EmptyFolderContents and Move operations, which
// the server runs in the order sent and answers one by one. The order is
// kept in Operations, so the type encodes and decodes itself.
type ItemOperationsRequest struct {
	_          struct{}        `wbxml:"ItemOperations:ItemOperations"`
	Operations []ItemOperation `wbxml:",choice"`
}

// ItemOperation is one operation of a request; exactly one field is set.
type ItemOperation struct {
	Fetch               *Fetch               `wbxml:"ItemOperations:Fetch"`
	EmptyFolderContents *EmptyFolderContents `wbxml:"ItemOperations:EmptyFolderContents"`
	Move                *MoveConversation    `wbxml:"ItemOperations:Move"`
}

// Fetch retrieves a mailbox item, an attachment, a search result or a
// document, MS-ASCMD 2.2.3.67.1. A mailbox item is named by CollectionID
// and ServerID, a search result by LongID, an attachment by FileReference,
// a document by LinkID (with Store "DocumentLibrary").
type Fetch struct {
	Store                            string        `wbxml:"ItemOperations:Store,omitempty"` // "Mailbox" or "DocumentLibrary"; required
	CollectionID                     string        `wbxml:"AirSync:CollectionId,omitempty"`
	ServerID                         string        `wbxml:"AirSync:ServerId,omitempty"`
	LinkID                           string        `wbxml:"DocumentLibrary:LinkId,omitempty"`
	LongID                           string        `wbxml:"Search:LongId,omitempty"` // MS-ASCMD 2.2.3.98.1: every version with ItemOperations (12.0+)
	FileReference                    string        `wbxml:"AirSyncBase:FileReference,omitempty"`
	Options                          *FetchOptions `wbxml:"ItemOperations:Options,omitempty"`
	RemoveRightsManagementProtection bool          `wbxml:"RightsManagement:RemoveRightsManagementProtection,empty"` // 14.1+
}

// The values of ItemOperations:Store, MS-ASCMD 2.2.3.178.2. Validate
// compares them ignoring case.
const (
	FetchStoreMailbox         = "Mailbox"
	FetchStoreDocumentLibrary = "DocumentLibrary"
)

// FetchOptions are the options of a Fetch, MS-ASCMD 2.2.3.125.3.
type FetchOptions struct {
	// Schema lists the properties wanted, as empty class elements
	// (<Email:Subject/>); absent means all.
	Schema                  Raw                  `wbxml:"ItemOperations:Schema,omitempty"`
	Range                   string               `wbxml:"ItemOperations:Range,omitempty"` // bytes "m-n" of a document or attachment
	UserName                string               `wbxml:"ItemOperations:UserName,omitempty"`
	Password                string               `wbxml:"ItemOperations:Password,omitempty"`
	MIMESupport             int                  `wbxml:"AirSync:MIMESupport,omitempty"` // 0 never, 1 S/MIME only, 2 always
	BodyPreference          []BodyPreference     `wbxml:"AirSyncBase:BodyPreference,omitempty"`
	BodyPartPreference      []BodyPartPreference `wbxml:"AirSyncBase:BodyPartPreference,omitempty"`           // 14.1+
	RightsManagementSupport bool                 `wbxml:"RightsManagement:RightsManagementSupport,omitempty"` // 14.1+
}

// EmptyFolderContents deletes every item of a folder, MS-ASCMD 2.2.3.58.
type EmptyFolderContents struct {
	CollectionID string                      `wbxml:"AirSync:CollectionId"`
	Options      *EmptyFolderContentsOptions `wbxml:"ItemOperations:Options,omitempty"`
}

// EmptyFolderContentsOptions is the Options of EmptyFolderContents.
type EmptyFolderContentsOptions struct {
	DeleteSubFolders bool `wbxml:"ItemOperations:DeleteSubFolders,empty"`
}

// MoveConversation moves a conversation to another folder (14.0+),
// MS-ASCMD 2.2.3.117.1.
type MoveConversation struct {
	ConversationID []byte                   `wbxml:"ItemOperations:ConversationId,opaque"`
	DstFldID       string                   `wbxml:"ItemOperations:DstFldId"`
	Options        *MoveConversationOptions `wbxml:"ItemOperations:Options,omitempty"`
}

// MoveConversationOptions is the Options of a Move; MoveAlways also moves
// the conversation's future messages.
type MoveConversationOptions struct {
	MoveAlways bool `wbxml:"ItemOperations:MoveAlways,empty"`
}

// ItemOperationsResponse is the body of an ItemOperations command
// response, MS-ASCMD 2.2.1.10.
type ItemOperationsResponse struct {
	_        struct{}                    `wbxml:"ItemOperations:ItemOperations"`
	Status   ItemOperationsStatus        `wbxml:"ItemOperations:Status"`
	Response *ItemOperationsResponseBody `wbxml:"ItemOperations:Response,omitempty"`
}

// ItemOperationsResponseBody is ItemOperations:Response, MS-ASCMD
// 2.2.3.153.4: one result per operation, in the request's order.
type ItemOperationsResponseBody struct {
	Results []ItemOperationResult `wbxml:",choice"`
}

// ItemOperationResult is the answer to one operation; exactly one field
// is set.
type ItemOperationResult struct {
	Fetch               *FetchResult               `wbxml:"ItemOperations:Fetch"`
	EmptyFolderContents *EmptyFolderContentsResult `wbxml:"ItemOperations:EmptyFolderContents"`
	Move                *MoveConversationResult    `wbxml:"ItemOperations:Move"`
}

// FetchResult answers a Fetch, MS-ASCMD 2.2.3.67.1, echoing the item's name.
// Properties holds the item: its class's ApplicationData type for a
// mailbox item (Class says which), or FetchFileProperties for an
// attachment or document.
type FetchResult struct {
	Status        ItemOperationsStatus `wbxml:"ItemOperations:Status"`
	CollectionID  string               `wbxml:"AirSync:CollectionId,omitempty"`
	ServerID      string               `wbxml:"AirSync:ServerId,omitempty"`
	LongID        string               `wbxml:"Search:LongId,omitempty"`
	Class         string               `wbxml:"AirSync:Class,omitempty"`
	LinkID        string               `wbxml:"DocumentLibrary:LinkId,omitempty"`
	FileReference string               `wbxml:"AirSyncBase:FileReference,omitempty"`
	Properties    Raw                  `wbxml:"ItemOperations:Properties,omitempty"`
}

// FetchFileProperties are the Properties of a fetched attachment or
// document, MS-ASCMD 2.2.3.139.2. Inline, Data holds the content in base64.
// In the multipart form (MS-ASCMD 2.2.1.10.1, MS-ASProtocolAcceptMultiPart)
// Part names the body part that carries the content instead.
type FetchFileProperties struct {
	ContentType string `wbxml:"AirSyncBase:ContentType,omitempty"`
	Range       string `wbxml:"ItemOperations:Range,omitempty"` // bytes returned, "m-n"
	Total       *int64 `wbxml:"ItemOperations:Total,omitempty"` // size of the whole file
	Data        string `wbxml:"ItemOperations:Data,omitempty"`  // base64
	Part        int    `wbxml:"ItemOperations:Part,omitempty"`  // 1-based index in the multipart response
	Version     string `wbxml:"ItemOperations:Version,omitempty"`
}

// EmptyFolderContentsResult answers an EmptyFolderContents.
type EmptyFolderContentsResult struct {
	Status       ItemOperationsStatus `wbxml:"ItemOperations:Status"`
	CollectionID string               `wbxml:"AirSync:CollectionId"`
}

// MoveConversationResult answers a Move.
type MoveConversationResult struct {
	Status         ItemOperationsStatus `wbxml:"ItemOperations:Status"`
	ConversationID []byte               `wbxml:"ItemOperations:ConversationId,opaque"`
}

// ItemOperationsStatus is the value of ItemOperations:Status, MS-ASCMD
// 2.2.3.177.8, for the command and for each operation. The common codes of
// MS-ASCMD 2.2.2 convert from Status.
type ItemOperationsStatus int

// The ItemOperations status codes.
const (
	ItemOperationsStatusSuccess             ItemOperationsStatus = 1  // the operation succeeded
	ItemOperationsStatusProtocolError       ItemOperationsStatus = 2  // the request broke the schema
	ItemOperationsStatusServerError         ItemOperationsStatus = 3  // a server problem; retry later
	ItemOperationsStatusBadURI              ItemOperationsStatus = 4  // a document library link is malformed
	ItemOperationsStatusAccessDenied        ItemOperationsStatus = 5  // the document library refused access
	ItemOperationsStatusNotFound            ItemOperationsStatus = 6  // the document does not exist or may not be seen
	ItemOperationsStatusConnectionFailed    ItemOperationsStatus = 7  // the server could not reach the document library
	ItemOperationsStatusBadByteRange        ItemOperationsStatus = 8  // Range is malformed or past the end
	ItemOperationsStatusUnknownStore        ItemOperationsStatus = 9  // Store names no store the server has
	ItemOperationsStatusEmptyFile           ItemOperationsStatus = 10 // the file has no content
	ItemOperationsStatusTooLarge            ItemOperationsStatus = 11 // the data asked for exceeds the server's limit
	ItemOperationsStatusIOFailure           ItemOperationsStatus = 12 // reading the file failed
	ItemOperationsStatusConversionFailed    ItemOperationsStatus = 14 // the item could not be converted for the client
	ItemOperationsStatusInvalidAttachment   ItemOperationsStatus = 15 // the attachment or its FileReference is invalid
	ItemOperationsStatusBlocked             ItemOperationsStatus = 16 // policy blocks access to the resource
	ItemOperationsStatusPartialSuccess      ItemOperationsStatus = 17 // EmptyFolderContents deleted only some items
	ItemOperationsStatusCredentialsRequired ItemOperationsStatus = 18 // UserName and Password are needed
)

// Validate checks r against the ItemOperations schema of protocol version v.
func (r *ItemOperationsRequest) Validate(v ProtocolVersion) error {
	if v < V120 {
		return schemaErrorf("ItemOperations", "ItemOperations needs 12.0, not %s", v)
	}
	if len(r.Operations) == 0 {
		return schemaErrorf("ItemOperations", "no operation")
	}
	for i, op := range r.Operations {
		var err error
		switch {
		case op.Fetch != nil && op.EmptyFolderContents == nil && op.Move == nil:
			err = op.Fetch.validate(v)
		case op.EmptyFolderContents != nil && op.Fetch == nil && op.Move == nil:
			if op.EmptyFolderContents.CollectionID == "" {
				err = schemaErrorf("ItemOperations", "EmptyFolderContents has no CollectionId")
			}
		case op.Move != nil && op.Fetch == nil && op.EmptyFolderContents == nil:
			err = op.Move.validate(v)
		default:
			err = schemaErrorf("ItemOperations", "operation %d is not exactly one of Fetch, EmptyFolderContents, Move", i)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (f *Fetch) validate(v ProtocolVersion) error {
	if f.RemoveRightsManagementProtection && v < V141 {
		return schemaErrorf("ItemOperations", "RemoveRightsManagementProtection needs 14.1, not %s", v)
	}
	switch {
	case strings.EqualFold(f.Store, FetchStoreMailbox):
		n := 0
		for _, id := range []string{f.ServerID, f.LongID, f.FileReference} {
			if id != "" {
				n++
			}
		}
		if n != 1 || f.LinkID != "" {
			return schemaErrorf("ItemOperations", "a mailbox Fetch names its item by exactly one of ServerId, LongId, FileReference")
		}
		if f.ServerID != "" && f.CollectionID == "" {
			return schemaErrorf("ItemOperations", "Fetch by ServerId needs CollectionId")
		}
		if f.LongID != "" && f.CollectionID != "" {
			return schemaErrorf("ItemOperations", "Fetch by LongId takes no CollectionId")
		}
	case strings.EqualFold(f.Store, FetchStoreDocumentLibrary):
		if f.LinkID == "" || f.ServerID != "" || f.LongID != "" || f.FileReference != "" {
			return schemaErrorf("ItemOperations", "a document library Fetch names its document by LinkId alone")
		}
	case f.Store == "":
		return schemaErrorf("ItemOperations", "Fetch has no Store")
	default:
		return schemaErrorf("ItemOperations", "unknown Store %q", f.Store)
	}
	if len(f.Store) > 256 || len(f.LongID) > 256 {
		return schemaErrorf("ItemOperations", "Store or LongId longer than 256 characters")
	}
	o := f.Options
	if o == nil {
		return nil
	}
	if o.Range != "" {
		if _, _, ok := parseRangeMN(o.Range, 9); !ok {
			return schemaErrorf("ItemOperations", "Range %q is not m-n with m <= n", o.Range)
		}
	}
	if len(o.UserName) > 100 || len(o.Password) > 256 {
		return schemaErrorf("ItemOperations", "UserName longer than 100 or Password longer than 256 characters")
	}
	if o.MIMESupport < 0 || o.MIMESupport > 2 {
		return schemaErrorf("ItemOperations", "MIMESupport %d is not 0, 1 or 2", o.MIMESupport)
	}
	if v < V121 && (o.UserName != "" || o.Password != "") {
		return schemaErrorf("ItemOperations", "UserName and Password need 12.1, not %s", v)
	}
	if err := checkBodyTypes("ItemOperations", o.BodyPreference, o.BodyPartPreference); err != nil {
		return err
	}
	if v < V141 && (len(o.BodyPartPreference) > 0 || o.RightsManagementSupport) {
		return schemaErrorf("ItemOperations", "BodyPartPreference and RightsManagementSupport need 14.1, not %s", v)
	}
	return nil
}

func (m *MoveConversation) validate(v ProtocolVersion) error {
	if v < V140 {
		return schemaErrorf("ItemOperations", "Move needs 14.0, not %s", v)
	}
	if len(m.ConversationID) == 0 {
		return schemaErrorf("ItemOperations", "Move has no ConversationId")
	}
	if m.DstFldID == "" || len(m.DstFldID) > 64 {
		return schemaErrorf("ItemOperations", "Move DstFldId missing or longer than 64 characters")
	}
	return nil
}
