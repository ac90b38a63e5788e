package eas

// FindRequest is the body of a Find command request (16.1 only), MS-ASCMD
// 2.2.1.2: a search of the mailbox or the GAL that returns previews.
type FindRequest struct {
	_             struct{}          `wbxml:"Find:Find"`
	SearchID      string            `wbxml:"Find:SearchId"` // a GUID the client picks, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
	ExecuteSearch FindExecuteSearch `wbxml:"Find:ExecuteSearch"`
}

// FindExecuteSearch holds exactly one criterion, MS-ASCMD 2.2.3.66.
type FindExecuteSearch struct {
	MailboxSearchCriterion *FindCriterion `wbxml:"Find:MailBoxSearchCriterion,omitempty"`
	GALSearchCriterion     *FindCriterion `wbxml:"Find:GalSearchCriterion,omitempty"`
}

// FindCriterion is a MailBoxSearchCriterion or GALSearchCriterion,
// MS-ASCMD 2.2.3.105 and 2.2.3.82.
type FindCriterion struct {
	Query   FindQuery    `wbxml:"Find:Query"`
	Options *FindOptions `wbxml:"Find:Options,omitempty"`
}

// FindQuery is what to look for, MS-ASCMD 2.2.3.142.1. A GAL search uses
// FreeText alone.
type FindQuery struct {
	FreeText     string `wbxml:"Find:FreeText,omitempty"`
	Class        string `wbxml:"AirSync:Class,omitempty"`
	CollectionID string `wbxml:"AirSync:CollectionId,omitempty"`
}

// FindOptions are the options of a Find, MS-ASCMD 2.2.3.125.1.
type FindOptions struct {
	Range         string       `wbxml:"Find:Range,omitempty"` // "m-n", 0 <= m <= n <= 999
	DeepTraversal bool         `wbxml:"Find:DeepTraversal,empty"`
	Picture       *FindPicture `wbxml:"Find:Picture,omitempty"`
}

// FindPicture asks for contact photos in GAL results, MS-ASCMD 2.2.3.135.1.
// Zero fields mean no limit.
type FindPicture struct {
	MaxSize     uint32 `wbxml:"Find:MaxSize,omitempty"`
	MaxPictures uint32 `wbxml:"Find:MaxPictures,omitempty"`
}

// FindResponse is the body of a Find command response, MS-ASCMD 2.2.1.2.
type FindResponse struct {
	_        struct{}          `wbxml:"Find:Find"`
	Status   FindStatus        `wbxml:"Find:Status"`
	Response *FindResponseBody `wbxml:"Find:Response,omitempty"`
}

// FindResponseBody is Find:Response, MS-ASCMD 2.2.3.153.2.
type FindResponseBody struct {
	Store  string       `wbxml:"ItemOperations:Store"` // "Mailbox" or "GAL"
	Status FindStatus   `wbxml:"Find:Status"`
	Result []FindResult `wbxml:"Find:Result,omitempty"`
	Range  string       `wbxml:"Find:Range,omitempty"`
	Total  *int         `wbxml:"Find:Total,omitempty"`
}

// FindResult is one match, MS-ASCMD 2.2.3.155.1.
type FindResult struct {
	Class        string         `wbxml:"AirSync:Class,omitempty"`
	ServerID     string         `wbxml:"AirSync:ServerId,omitempty"`
	CollectionID string         `wbxml:"AirSync:CollectionId,omitempty"`
	Properties   FindProperties `wbxml:"Find:Properties"`
}

// FindProperties are the properties of a match, MS-ASCMD 2.2.3.139.1: a
// message preview for mailbox results, the GAL fields (as in
// GALProperties) for GAL results.
type FindProperties struct {
	Subject        string      `wbxml:"Email:Subject,omitempty"`
	DateReceived   string      `wbxml:"Email:DateReceived,omitempty"`
	DisplayTo      string      `wbxml:"Email:DisplayTo,omitempty"`
	DisplayCc      string      `wbxml:"Find:DisplayCc,omitempty"`
	DisplayBcc     string      `wbxml:"Find:DisplayBcc,omitempty"`
	Importance     *int        `wbxml:"Email:Importance,omitempty"` // 0 low, 1 normal, 2 high
	Read           *bool       `wbxml:"Email:Read,omitempty"`
	IsDraft        *bool       `wbxml:"Email2:IsDraft,omitempty"`
	Preview        string      `wbxml:"Find:Preview,omitempty"`
	HasAttachments *bool       `wbxml:"Find:HasAttachments,omitempty"`
	From           string      `wbxml:"Email:From,omitempty"`
	DisplayName    string      `wbxml:"GAL:DisplayName,omitempty"`
	Phone          string      `wbxml:"GAL:Phone,omitempty"`
	Office         string      `wbxml:"GAL:Office,omitempty"`
	Title          string      `wbxml:"GAL:Title,omitempty"`
	Company        string      `wbxml:"GAL:Company,omitempty"`
	Alias          string      `wbxml:"GAL:Alias,omitempty"`
	FirstName      string      `wbxml:"GAL:FirstName,omitempty"`
	LastName       string      `wbxml:"GAL:LastName,omitempty"`
	HomePhone      string      `wbxml:"GAL:HomePhone,omitempty"`
	MobilePhone    string      `wbxml:"GAL:MobilePhone,omitempty"`
	EmailAddress   string      `wbxml:"GAL:EmailAddress,omitempty"`
	Picture        *GALPicture `wbxml:"GAL:Picture,omitempty"`
}

// FindStatus is the value of Find:Status, MS-ASCMD 2.2.3.177.2. The common
// codes of MS-ASCMD 2.2.2 convert from Status.
type FindStatus int

// The Find status codes.
const (
	FindStatusSuccess            FindStatus = 1 // the search ran; Total says whether anything matched
	FindStatusInvalidRequest     FindStatus = 2 // the request broke the schema
	FindStatusFolderSyncRequired FindStatus = 3 // the folder hierarchy changed; run FolderSync first
)

// Validate checks r against the Find schema of protocol version v.
func (r *FindRequest) Validate(v ProtocolVersion) error {
	const cmd = "Find"
	if v < V161 {
		return schemaErrorf(cmd, "Find needs 16.1, not %s", v)
	}
	if !isSearchID(r.SearchID) {
		return schemaErrorf(cmd, "SearchId %q is not a GUID", r.SearchID)
	}
	es := &r.ExecuteSearch
	c := es.MailboxSearchCriterion
	switch {
	case c != nil && es.GALSearchCriterion == nil:
		if c.Query.FreeText == "" {
			return schemaErrorf(cmd, "MailBoxSearchCriterion Query has no FreeText")
		}
	case es.GALSearchCriterion != nil && c == nil:
		c = es.GALSearchCriterion
		if c.Query.FreeText == "" || c.Query.Class != "" || c.Query.CollectionID != "" {
			return schemaErrorf(cmd, "GALSearchCriterion Query takes FreeText alone")
		}
	default:
		return schemaErrorf(cmd, "ExecuteSearch needs exactly one of MailBoxSearchCriterion, GALSearchCriterion")
	}
	if o := c.Options; o != nil && o.Range != "" {
		if _, _, ok := parseRangeMN(o.Range, 3); !ok {
			return schemaErrorf(cmd, "Range %q is not m-n with m <= n <= 999", o.Range)
		}
	}
	return nil
}

// isSearchID reports whether s has the form 8-4-4-4-12 hex digits.
func isSearchID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
