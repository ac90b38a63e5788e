package eas

import (
	"strconv"
	"strings"
)

// SearchRequest is the body of a Search command request, MS-ASCMD 2.2.1.16:
// one store (the GAL, the mailbox or a document library) and a query.
type SearchRequest struct {
	_     struct{}    `wbxml:"Search:Search"`
	Store SearchStore `wbxml:"Search:Store"`
}

// SearchStore names the store to search, the query and its options,
// MS-ASCMD 2.2.3.178.3.
type SearchStore struct {
	Name    string         `wbxml:"Search:Name"` // SearchStoreGAL, SearchStoreMailbox or SearchStoreDocumentLibrary
	Query   *SearchQuery   `wbxml:"Search:Query"`
	Options *SearchOptions `wbxml:"Search:Options,omitempty"`
}

// The values of Search:Name, MS-ASCMD 2.2.3.120.2. Validate compares them
// ignoring case, as Exchange does.
const (
	SearchStoreGAL             = "GAL"
	SearchStoreMailbox         = "Mailbox"
	SearchStoreDocumentLibrary = "DocumentLibrary"
)

// SearchQuery is a Search:Query element or one of its And and Or children,
// MS-ASCMD 2.2.3.142.2. A GAL query is plain text (Text); a mailbox query is
// a tree of criteria, usually one And holding FreeText, Class, CollectionId
// and a date bound; a document library query is one EqualTo. Because the
// element may hold text as well as children, SearchQuery encodes and decodes
// itself.
type SearchQuery struct {
	Text           string            // the GAL search string
	And            *SearchQuery      // Search:And: all criteria must match
	Or             *SearchQuery      // Search:Or: any criterion may match
	FreeText       string            // Search:FreeText
	Class          []string          // AirSync:Class, e.g. "Email"
	CollectionID   []string          // AirSync:CollectionId: folders to search
	ConversationID []byte            // Search:ConversationId (14.0+), opaque
	EqualTo        *SearchEqualTo    // Search:EqualTo, document libraries only
	GreaterThan    *SearchComparison // Search:GreaterThan
	LessThan       *SearchComparison // Search:LessThan
}

// SearchEqualTo matches a document library item by its link,
// MS-ASCMD 2.2.3.62.
type SearchEqualTo struct {
	LinkID string `wbxml:"DocumentLibrary:LinkId"`
	Value  string `wbxml:"Search:Value"`
}

// SearchComparison bounds the date an email was received, MS-ASCMD 2.2.3.86
// (GreaterThan) and 2.2.3.96 (LessThan). DateReceived is the only property
// the spec allows and is sent as an empty tag.
type SearchComparison struct {
	DateReceived bool   `wbxml:"Email:DateReceived,empty"`
	Value        string `wbxml:"Search:Value"` // "2006-01-02T15:04:05.000Z"
}

// SearchOptions are the options of a search, MS-ASCMD 2.2.3.125.5.
type SearchOptions struct {
	Range                   string               `wbxml:"Search:Range,omitempty"` // "m-n", zero-based
	UserName                string               `wbxml:"Search:UserName,omitempty"`
	Password                string               `wbxml:"Search:Password,omitempty"`
	DeepTraversal           bool                 `wbxml:"Search:DeepTraversal,empty"`
	RebuildResults          bool                 `wbxml:"Search:RebuildResults,empty"`
	MIMESupport             int                  `wbxml:"AirSync:MIMESupport,omitempty"` // 0 never, 1 S/MIME only, 2 always
	BodyPreference          []BodyPreference     `wbxml:"AirSyncBase:BodyPreference,omitempty"`
	BodyPartPreference      []BodyPartPreference `wbxml:"AirSyncBase:BodyPartPreference,omitempty"` // 14.1+
	RightsManagementSupport bool                 `wbxml:"RightsManagement:RightsManagementSupport,omitempty"`
	Picture                 *SearchPicture       `wbxml:"Search:Picture,omitempty"` // 14.1+, GAL only
}

// SearchPicture asks for contact photos in GAL results, MS-ASCMD
// 2.2.3.135.3. Zero fields mean no limit.
type SearchPicture struct {
	MaxSize     uint32 `wbxml:"Search:MaxSize,omitempty"` // bytes per photo
	MaxPictures uint32 `wbxml:"Search:MaxPictures,omitempty"`
}

// SearchResponse is the body of a Search command response, MS-ASCMD 2.2.1.16.
type SearchResponse struct {
	_        struct{}            `wbxml:"Search:Search"`
	Status   SearchStatus        `wbxml:"Search:Status"`
	Response *SearchResponseBody `wbxml:"Search:Response,omitempty"`
}

// SearchResponseBody is Search:Response, MS-ASCMD 2.2.3.153.7.
type SearchResponseBody struct {
	Store SearchStoreResult `wbxml:"Search:Store"`
}

// SearchStoreResult is Search:Store in a response: the outcome for the
// store searched and the matches, MS-ASCMD 2.2.3.178.3.
type SearchStoreResult struct {
	Status SearchStatus   `wbxml:"Search:Status"`
	Result []SearchResult `wbxml:"Search:Result,omitempty"`
	Range  string         `wbxml:"Search:Range,omitempty"` // the matches returned, "m-n"
	Total  *int           `wbxml:"Search:Total,omitempty"` // all matches found
}

// SearchResult is one match, MS-ASCMD 2.2.3.155.3. Properties depends on the
// store and the item's class: GALProperties for the GAL, the class's
// ApplicationData type for a mailbox item.
type SearchResult struct {
	Class        string `wbxml:"AirSync:Class,omitempty"`
	LongID       string `wbxml:"Search:LongId,omitempty"`
	CollectionID string `wbxml:"AirSync:CollectionId,omitempty"`
	Properties   Raw    `wbxml:"Search:Properties,omitempty"`
}

// GALProperties are the properties of a GAL entry in Search and Find
// results, MS-ASCMD 2.2.3.139.3 (GAL code page, MS-ASWBXML 2.1.2.1.17).
type GALProperties struct {
	DisplayName  string      `wbxml:"GAL:DisplayName,omitempty"`
	Phone        string      `wbxml:"GAL:Phone,omitempty"`
	Office       string      `wbxml:"GAL:Office,omitempty"`
	Title        string      `wbxml:"GAL:Title,omitempty"`
	Company      string      `wbxml:"GAL:Company,omitempty"`
	Alias        string      `wbxml:"GAL:Alias,omitempty"`
	FirstName    string      `wbxml:"GAL:FirstName,omitempty"`
	LastName     string      `wbxml:"GAL:LastName,omitempty"`
	HomePhone    string      `wbxml:"GAL:HomePhone,omitempty"`
	MobilePhone  string      `wbxml:"GAL:MobilePhone,omitempty"`
	EmailAddress string      `wbxml:"GAL:EmailAddress,omitempty"`
	Picture      *GALPicture `wbxml:"GAL:Picture,omitempty"` // 14.1+
}

// GALPicture is a contact photo, MS-ASCMD 2.2.3.135.3. Status is 1, or one
// of the common codes StatusNoPicture, StatusPictureTooLarge and
// StatusPictureLimitReached, in which case Data is absent.
type GALPicture struct {
	Status Status `wbxml:"GAL:Status"`
	Data   []byte `wbxml:"GAL:Data,opaque,omitempty"`
}

// SearchStatus is the value of Search:Status, MS-ASCMD 2.2.3.177.13. The
// common codes of MS-ASCMD 2.2.2 convert from Status.
type SearchStatus int

// The Search status codes.
const (
	SearchStatusSuccess            SearchStatus = 1  // the search ran; Total says whether anything matched
	SearchStatusInvalidRequest     SearchStatus = 2  // the request broke the schema or mixed incompatible options
	SearchStatusServerError        SearchStatus = 3  // a server problem, often transient
	SearchStatusBadLink            SearchStatus = 4  // a document library link is malformed
	SearchStatusAccessDenied       SearchStatus = 5  // the user may not read the store or item
	SearchStatusNotFound           SearchStatus = 6  // the link or item does not exist
	SearchStatusConnectionFailed   SearchStatus = 7  // the server could not reach the document library
	SearchStatusTooComplex         SearchStatus = 8  // the query is too complex for the server
	SearchStatusTimedOut           SearchStatus = 10 // the search took too long; narrow it and retry
	SearchStatusFolderSyncRequired SearchStatus = 11 // the folder hierarchy changed; run FolderSync first
	SearchStatusEndOfRange         SearchStatus = 12 // the requested range lies past the results the server keeps
	SearchStatusAccessBlocked      SearchStatus = 13 // policy forbids access to this document library
	SearchStatusCredentialsNeeded  SearchStatus = 14 // UserName and Password are needed for this store
)

// Validate checks r against the Search schema of protocol version v.
// As Android's Gmail client does (fixtures/devices/android/
// android-search-gal-*.wbxml), a GAL search may come without Options.
func (r *SearchRequest) Validate(v ProtocolVersion) error {
	st := &r.Store
	store := ""
	switch {
	case strings.EqualFold(st.Name, SearchStoreGAL):
		store = SearchStoreGAL
	case strings.EqualFold(st.Name, SearchStoreMailbox):
		store = SearchStoreMailbox
	case strings.EqualFold(st.Name, SearchStoreDocumentLibrary):
		store = SearchStoreDocumentLibrary
	case st.Name == "":
		return schemaErrorf("Search", "Store has no Name")
	default:
		return schemaErrorf("Search", "unknown store %q", st.Name)
	}
	if store != SearchStoreGAL && v < V120 {
		return schemaErrorf("Search", "store %s needs 12.0, not %s", store, v)
	}
	if st.Query == nil {
		return schemaErrorf("Search", "Store has no Query")
	}
	if store == SearchStoreGAL {
		if strings.TrimSpace(st.Query.Text) == "" {
			return schemaErrorf("Search", "GAL Query has no text")
		}
	} else if err := st.Query.validate(v, store, 0); err != nil {
		return err
	}
	if o := st.Options; o != nil {
		if err := o.validate(v, store); err != nil {
			return err
		}
	}
	return nil
}

// maxQueryDepth bounds nested And/Or: deeper trees are no real client's.
const maxQueryDepth = 8

func (q *SearchQuery) validate(v ProtocolVersion, store string, depth int) error {
	if depth > maxQueryDepth {
		return schemaErrorf("Search", "Query nested deeper than %d", maxQueryDepth)
	}
	if strings.TrimSpace(q.Text) != "" {
		return schemaErrorf("Search", "%s Query holds text outside FreeText", store)
	}
	n := 0
	for _, sub := range []*SearchQuery{q.And, q.Or} {
		if sub != nil {
			if err := sub.validate(v, store, depth+1); err != nil {
				return err
			}
			n++
		}
	}
	if q.FreeText != "" {
		n++
	}
	n += len(q.Class) + len(q.CollectionID)
	if q.ConversationID != nil {
		if v < V140 {
			return schemaErrorf("Search", "ConversationId needs 14.0, not %s", v)
		}
		n++
	}
	if q.EqualTo != nil {
		if store != SearchStoreDocumentLibrary {
			return schemaErrorf("Search", "EqualTo is for document libraries only")
		}
		if q.EqualTo.LinkID == "" || q.EqualTo.Value == "" {
			return schemaErrorf("Search", "EqualTo needs LinkId and Value")
		}
		n++
	}
	for _, c := range []*SearchComparison{q.GreaterThan, q.LessThan} {
		if c == nil {
			continue
		}
		if !c.DateReceived || c.Value == "" {
			return schemaErrorf("Search", "GreaterThan and LessThan need email:DateReceived and Value")
		}
		if len(c.Value) > 1024 {
			return schemaErrorf("Search", "Value longer than 1024 characters")
		}
		n++
	}
	if n == 0 {
		return schemaErrorf("Search", "empty %s Query", store)
	}
	return nil
}

func (o *SearchOptions) validate(v ProtocolVersion, store string) error {
	if o.Range != "" {
		if _, _, ok := parseRangeMN(o.Range, 3); !ok {
			return schemaErrorf("Search", "Range %q is not m-n with m <= n <= 999", o.Range)
		}
	}
	if len(o.UserName) > 100 || len(o.Password) > 100 {
		return schemaErrorf("Search", "UserName or Password longer than 100 characters")
	}
	if o.MIMESupport < 0 || o.MIMESupport > 2 {
		return schemaErrorf("Search", "MIMESupport %d is not 0, 1 or 2", o.MIMESupport)
	}
	if v < V120 && (o.DeepTraversal || o.RebuildResults || o.MIMESupport != 0 || len(o.BodyPreference) > 0) {
		return schemaErrorf("Search", "only Range is an option in %s", v)
	}
	if v < V121 && (o.UserName != "" || o.Password != "") {
		return schemaErrorf("Search", "UserName and Password need 12.1, not %s", v)
	}
	if err := checkBodyTypes("Search", o.BodyPreference, o.BodyPartPreference); err != nil {
		return err
	}
	if v < V141 && (len(o.BodyPartPreference) > 0 || o.RightsManagementSupport || o.Picture != nil) {
		return schemaErrorf("Search", "BodyPartPreference, RightsManagementSupport and Picture need 14.1, not %s", v)
	}
	if o.Picture != nil && store != SearchStoreGAL {
		return schemaErrorf("Search", "Picture is for GAL searches only")
	}
	return nil
}

// checkBodyTypes checks the body types of BodyPreference and
// BodyPartPreference options (MS-ASAIRS 2.2.2.22).
func checkBodyTypes(cmd string, bp []BodyPreference, bpp []BodyPartPreference) error {
	for _, p := range bp {
		if p.Type < 1 || p.Type > 4 {
			return schemaErrorf(cmd, "BodyPreference Type %d is not within 1 to 4", p.Type)
		}
	}
	// A body part comes only as HTML, but other types earn the common status
	// StatusBodyPartPreferenceTypeNotSupported, not a schema error.
	for _, p := range bpp {
		if p.Type < 1 || p.Type > 4 {
			return schemaErrorf(cmd, "BodyPartPreference Type %d is not within 1 to 4", p.Type)
		}
	}
	return nil
}

// parseRangeMN parses a Range value "m-n" whose numbers have at most digits
// digits and m <= n.
func parseRangeMN(s string, digits int) (m, n int, ok bool) {
	a, b, found := strings.Cut(s, "-")
	if !found || len(a) == 0 || len(b) == 0 || len(a) > digits || len(b) > digits {
		return 0, 0, false
	}
	for _, c := range a + b {
		if c < '0' || c > '9' {
			return 0, 0, false
		}
	}
	m, _ = strconv.Atoi(a)
	n, _ = strconv.Atoi(b)
	return m, n, m <= n
}

var (
	tagSearchAnd            = Tag{PageSearch, "And"}
	tagSearchOr             = Tag{PageSearch, "Or"}
	tagSearchFreeText       = Tag{PageSearch, "FreeText"}
	tagSearchConversationID = Tag{PageSearch, "ConversationId"}
	tagSearchEqualTo        = Tag{PageSearch, "EqualTo"}
	tagSearchGreaterThan    = Tag{PageSearch, "GreaterThan"}
	tagSearchLessThan       = Tag{PageSearch, "LessThan"}
	tagQueryClass           = Tag{PageAirSync, "Class"}
	tagQueryCollectionID    = Tag{PageAirSync, "CollectionId"}
)

// UnmarshalWBXML decodes a Query, And or Or element: its text and its
// criteria. Unknown children are skipped; a repeated single criterion
// keeps the last value.
func (q *SearchQuery) UnmarshalWBXML(d *Decoder, start StartTag) error {
	*q = SearchQuery{}
	var text []byte
	for {
		k, err := d.next()
		if err != nil {
			return noEOF(err)
		}
		switch k {
		case kindEnd:
			if text != nil {
				q.Text = string(text)
			}
			return nil
		case kindText:
			// Joined once at the end: appending to a string per piece
			// would cost the square of the pieces.
			if text, err = d.appendData(text, d.data); err != nil {
				return err
			}
		case kindStart:
			t := StartTag{Tag: d.tag(), Empty: d.empty}
			var dst any
			switch t.Tag {
			case tagSearchAnd:
				q.And = reuse(d, q.And)
				dst = q.And
			case tagSearchOr:
				q.Or = reuse(d, q.Or)
				dst = q.Or
			case tagSearchFreeText:
				dst = &q.FreeText
			case tagQueryClass:
				if q.Class, err = appendZero(d, q.Class); err != nil {
					return err
				}
				dst = &q.Class[len(q.Class)-1]
			case tagQueryCollectionID:
				if q.CollectionID, err = appendZero(d, q.CollectionID); err != nil {
					return err
				}
				dst = &q.CollectionID[len(q.CollectionID)-1]
			case tagSearchConversationID:
				dst = &q.ConversationID
			case tagSearchEqualTo:
				q.EqualTo = reuse(d, q.EqualTo)
				dst = q.EqualTo
			case tagSearchGreaterThan:
				q.GreaterThan = reuse(d, q.GreaterThan)
				dst = q.GreaterThan
			case tagSearchLessThan:
				q.LessThan = reuse(d, q.LessThan)
				dst = q.LessThan
			default:
				if err := d.Skip(); err != nil {
					return err
				}
				continue
			}
			if err := d.DecodeElement(dst, t); err != nil {
				return err
			}
			if t.Tag == tagSearchConversationID && q.ConversationID == nil {
				q.ConversationID = []byte{} // present but empty
			}
		}
	}
}

// MarshalWBXML writes q as the element start: the text first, then the
// criteria in schema order.
func (q *SearchQuery) MarshalWBXML(e *Encoder, start StartTag) error {
	hasKids := q.And != nil || q.Or != nil || q.FreeText != "" || len(q.Class) > 0 ||
		len(q.CollectionID) > 0 || q.ConversationID != nil || q.EqualTo != nil ||
		q.GreaterThan != nil || q.LessThan != nil
	empty := q.Text == "" && !hasKids
	e.EncodeToken(StartTag{Tag: start.Tag, Empty: empty})
	if q.Text != "" {
		e.EncodeToken(Text(q.Text))
	}
	for _, sub := range []struct {
		tag Tag
		q   *SearchQuery
	}{{tagSearchAnd, q.And}, {tagSearchOr, q.Or}} {
		if sub.q != nil {
			if err := sub.q.MarshalWBXML(e, StartTag{Tag: sub.tag}); err != nil {
				return err
			}
		}
	}
	if q.FreeText != "" {
		e.EncodeElement(q.FreeText, StartTag{Tag: tagSearchFreeText})
	}
	for _, c := range q.Class {
		e.EncodeElement(c, StartTag{Tag: tagQueryClass})
	}
	for _, c := range q.CollectionID {
		e.EncodeElement(c, StartTag{Tag: tagQueryCollectionID})
	}
	if q.ConversationID != nil {
		e.EncodeToken(StartTag{Tag: tagSearchConversationID, Empty: len(q.ConversationID) == 0})
		if len(q.ConversationID) > 0 {
			e.EncodeToken(Opaque(q.ConversationID))
		}
		e.EncodeToken(EndTag{Tag: tagSearchConversationID})
	}
	if q.EqualTo != nil {
		e.EncodeElement(q.EqualTo, StartTag{Tag: tagSearchEqualTo})
	}
	if q.GreaterThan != nil {
		e.EncodeElement(q.GreaterThan, StartTag{Tag: tagSearchGreaterThan})
	}
	if q.LessThan != nil {
		e.EncodeElement(q.LessThan, StartTag{Tag: tagSearchLessThan})
	}
	return e.EncodeToken(EndTag{Tag: start.Tag})
}
