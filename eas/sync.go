package eas

// SyncRequest synchronizes the items of one or more folders.
// MS-ASCMD 2.2.1.21.
//
// Wait (minutes, 12.1 and later) and HeartbeatInterval (seconds, 14.0 and
// later) make the server hold the request until something changes. Their
// ranges are the server's to set: a value out of range is answered with
// status 14 and a Limit, not rejected by Validate. With Partial, the
// collections left out keep the settings of the previous Sync.
type SyncRequest struct {
	_                 struct{}         `wbxml:"AirSync:Sync"`
	Collections       *SyncCollections `wbxml:"AirSync:Collections"`
	Wait              int              `wbxml:"AirSync:Wait,omitempty"`
	HeartbeatInterval int              `wbxml:"AirSync:HeartbeatInterval,omitempty"`
	WindowSize        int              `wbxml:"AirSync:WindowSize,omitempty"`
	Partial           bool             `wbxml:"AirSync:Partial,empty"`
}

// SyncCollections holds the collections of a Sync request.
// MS-ASCMD 2.2.3.31.2.
type SyncCollections struct {
	Collection []SyncCollection `wbxml:"AirSync:Collection"`
}

// SyncCollection is one folder of a Sync request. MS-ASCMD 2.2.3.29.2.
//
// GetChanges and DeletesAsMoves are nil when absent (both then default to
// true, GetChanges only for a SyncKey other than "0"); clients before 14.0
// send them as empty tags, which decode as true. Supported, sent with
// SyncKey "0", names the contact or calendar properties the client
// manages; its children are class elements, kept as Raw.
type SyncCollection struct {
	// Class is the collection's class in 2.5 to 12.1. iPhone and Windows
	// Mobile 6.1 clients send it ahead of SyncKey whatever version they
	// speak (testdata/devices/ios/iphone-sync-*.wbxml,
	// windows-mobile/wm61-sync-*.wbxml), so it is accepted in every version.
	Class            string        `wbxml:"AirSync:Class,omitempty"`
	SyncKey          string        `wbxml:"AirSync:SyncKey"`
	CollectionID     string        `wbxml:"AirSync:CollectionId"`
	Supported        Raw           `wbxml:"AirSync:Supported"`
	DeletesAsMoves   *bool         `wbxml:"AirSync:DeletesAsMoves,emptytrue"`
	GetChanges       *bool         `wbxml:"AirSync:GetChanges,emptytrue"`
	WindowSize       int           `wbxml:"AirSync:WindowSize,omitempty"`
	ConversationMode *bool         `wbxml:"AirSync:ConversationMode"`
	Options          []SyncOptions `wbxml:"AirSync:Options"`
	Commands         *SyncCommands `wbxml:"AirSync:Commands"`
}

// SyncOptions controls what a Sync returns for a collection. A collection
// has at most two: one for its own class and, from 14.0, one with Class
// "SMS". The server keeps options from request to request. Pointer fields
// are nil when absent, where absence and zero differ.
// MS-ASCMD 2.2.3.125.6.
type SyncOptions struct {
	Class              string               `wbxml:"AirSync:Class,omitempty"` // 14.0 and later
	FilterType         FilterType           `wbxml:"AirSync:FilterType,omitempty"`
	BodyPreference     []BodyPreference     `wbxml:"AirSyncBase:BodyPreference"`     // 12.0 and later
	BodyPartPreference []BodyPartPreference `wbxml:"AirSyncBase:BodyPartPreference"` // 14.1 and later

	// Truncation and RTFTruncation are the body size codes of 2.5
	// (0 to 9; 8 and 9 mean no truncation), replaced by BodyPreference in
	// 12.0. iPhone and Windows Mobile 6.1 clients still send them at any
	// version (testdata/devices/ios/iphone-sync-email-getchanges.wbxml,
	// windows-mobile/wm61-sync-contacts-client-adds.wbxml), so they are
	// accepted in every version.
	Truncation    *int `wbxml:"AirSync:Truncation"`
	RTFTruncation *int `wbxml:"AirSync:RTFTruncation"`

	// MIMESupport is 0 (never send MIME), 1 (for S/MIME only) or 2
	// (always). MIMETruncation is a size code 0 to 8 for the MIME data;
	// 8 means no truncation.
	MIMESupport    int  `wbxml:"AirSync:MIMESupport,omitempty"`
	MIMETruncation *int `wbxml:"AirSync:MIMETruncation"`

	// Conflict says who wins when both sides changed an item: 0 the
	// client, 1 the server (the default).
	Conflict *int `wbxml:"AirSync:Conflict"`

	// MaxItems bounds the recipient information cache sync (14.0 and later).
	MaxItems                int   `wbxml:"AirSync:MaxItems,omitempty"`
	RightsManagementSupport *bool `wbxml:"RightsManagement:RightsManagementSupport"` // 14.1 and later
}

// FilterType limits a Sync or GetItemEstimate to recent items.
// MS-ASCMD 2.2.3.68.
type FilterType int

// The filter types. The time windows apply to email and calendar items.
const (
	FilterNone            FilterType = 0 // all items
	FilterOneDay          FilterType = 1
	FilterThreeDays       FilterType = 2
	FilterOneWeek         FilterType = 3
	FilterTwoWeeks        FilterType = 4
	FilterOneMonth        FilterType = 5
	FilterThreeMonths     FilterType = 6 // calendar only
	FilterSixMonths       FilterType = 7 // calendar only
	FilterIncompleteTasks FilterType = 8 // tasks only
)

// BodyPreference asks for item bodies of one Type (1 plain text, 2 HTML,
// 3 RTF, 4 MIME), truncated to TruncationSize bytes (nil: no limit);
// with AllOrNone a body too large is not sent at all. Preview (14.0 and
// later) asks for up to that many characters of plain-text preview.
// MS-ASAIRS 2.2.2.12.
type BodyPreference struct {
	Type           int     `wbxml:"AirSyncBase:Type"`
	TruncationSize *uint32 `wbxml:"AirSyncBase:TruncationSize"`
	AllOrNone      bool    `wbxml:"AirSyncBase:AllOrNone,omitempty"`
	Preview        int     `wbxml:"AirSyncBase:Preview,omitempty"`
}

// BodyPartPreference asks for the message part of a conversation-mode
// item, as BodyPreference does for the body (14.1 and later).
// MS-ASAIRS 2.2.2.11.
type BodyPartPreference struct {
	Type           int     `wbxml:"AirSyncBase:Type"`
	TruncationSize *uint32 `wbxml:"AirSyncBase:TruncationSize"`
	AllOrNone      bool    `wbxml:"AirSyncBase:AllOrNone,omitempty"`
	Preview        int     `wbxml:"AirSyncBase:Preview,omitempty"`
}

// SyncCommands holds the item operations of a collection: the client's in
// a request (Add, Change, Delete, Fetch), the server's in a response (Add,
// Change, Delete, SoftDelete). Operations are grouped by kind, so their
// interleaving in the document is not kept. MS-ASCMD 2.2.3.32.
type SyncCommands struct {
	Add        []SyncAdd        `wbxml:"AirSync:Add"`
	Change     []SyncChange     `wbxml:"AirSync:Change"`
	Delete     []SyncDelete     `wbxml:"AirSync:Delete"`
	SoftDelete []SyncSoftDelete `wbxml:"AirSync:SoftDelete"`
	Fetch      []SyncFetch      `wbxml:"AirSync:Fetch"`
}

// SyncAdd adds an item: from the client with a ClientID of its choosing,
// from the server with the item's ServerID. ApplicationData holds the
// item in the collection's class (see Email, Contact, Calendar…).
// MS-ASCMD 2.2.3.7.2.
type SyncAdd struct {
	Class           string `wbxml:"AirSync:Class,omitempty"`
	ClientID        string `wbxml:"AirSync:ClientId,omitempty"`
	ServerID        string `wbxml:"AirSync:ServerId,omitempty"`
	ApplicationData Raw    `wbxml:"AirSync:ApplicationData"`
}

// SyncChange replaces properties of the item ServerID. MS-ASCMD 2.2.3.24.
type SyncChange struct {
	Class           string `wbxml:"AirSync:Class,omitempty"`
	ServerID        string `wbxml:"AirSync:ServerId"`
	ApplicationData Raw    `wbxml:"AirSync:ApplicationData"`
}

// SyncDelete deletes the item ServerID. MS-ASCMD 2.2.3.42.2.
type SyncDelete struct {
	Class    string `wbxml:"AirSync:Class,omitempty"`
	ServerID string `wbxml:"AirSync:ServerId"`
}

// SyncSoftDelete tells the client to drop the item ServerID, which left
// the FilterType window but still exists on the server.
// MS-ASCMD 2.2.3.170.
type SyncSoftDelete struct {
	ServerID string `wbxml:"AirSync:ServerId"`
}

// SyncFetch asks for the whole item ServerID. MS-ASCMD 2.2.3.67.2.
type SyncFetch struct {
	ServerID string `wbxml:"AirSync:ServerId"`
}

// maxWindowSize is the largest WindowSize, MS-ASCMD 2.2.3.199.
const maxWindowSize = 512

// Validate checks r against the Sync request schema of version v.
func (r *SyncRequest) Validate(v ProtocolVersion) error {
	switch {
	case r.Wait != 0 && v < V121:
		return schemaErrorf("Sync", "Wait needs 12.1")
	case r.HeartbeatInterval != 0 && v < V140:
		return schemaErrorf("Sync", "HeartbeatInterval needs 14.0")
	case r.Wait != 0 && r.HeartbeatInterval != 0:
		return schemaErrorf("Sync", "both Wait and HeartbeatInterval")
	case r.Wait < 0 || r.HeartbeatInterval < 0:
		return schemaErrorf("Sync", "negative Wait or HeartbeatInterval")
	case r.Partial && v < V121:
		return schemaErrorf("Sync", "Partial needs 12.1")
	case r.WindowSize != 0 && v < V121:
		return schemaErrorf("Sync", "WindowSize of the request needs 12.1")
	}
	if err := checkWindowSize(r.WindowSize); err != nil {
		return err
	}
	if r.Collections == nil {
		if !r.Partial {
			return schemaErrorf("Sync", "neither Collections nor Partial")
		}
		if r.Wait == 0 && r.HeartbeatInterval == 0 && r.WindowSize == 0 {
			return schemaErrorf("Sync", "Partial alone")
		}
		return nil
	}
	if len(r.Collections.Collection) == 0 {
		return schemaErrorf("Sync", "Collections holds no Collection")
	}
	for i := range r.Collections.Collection {
		if err := r.Collections.Collection[i].validate(v); err != nil {
			return err
		}
	}
	return nil
}

// checkWindowSize enforces 1 to 512; 0 means absent. MS-ASCMD 2.2.3.199
// also says a server reads values above 512 as 512, but calls 512 the
// maximum, and no device we know sends more.
func checkWindowSize(n int) error {
	if n < 0 || n > maxWindowSize {
		return schemaErrorf("Sync", "WindowSize %d is not within 1 to %d", n, maxWindowSize)
	}
	return nil
}

func (c *SyncCollection) validate(v ProtocolVersion) error {
	switch {
	case c.SyncKey == "":
		return schemaErrorf("Sync", "Collection %q: SyncKey is missing", c.CollectionID)
	case c.CollectionID == "":
		return schemaErrorf("Sync", "Collection without CollectionId")
	case c.ConversationMode != nil && v < V140:
		return schemaErrorf("Sync", "Collection %q: ConversationMode needs 14.0", c.CollectionID)
	case len(c.Options) > 2:
		return schemaErrorf("Sync", "Collection %q: %d Options, at most 2", c.CollectionID, len(c.Options))
	case len(c.Options) == 2 && (v < V140 || c.Options[0].Class == c.Options[1].Class):
		return schemaErrorf("Sync", "Collection %q: two Options need 14.0 and different classes", c.CollectionID)
	}
	if err := checkWindowSize(c.WindowSize); err != nil {
		return err
	}
	for i := range c.Options {
		if err := c.Options[i].validate(v, c.CollectionID); err != nil {
			return err
		}
	}
	if c.Commands == nil {
		return nil
	}
	cmds := c.Commands
	if len(cmds.SoftDelete) > 0 {
		return schemaErrorf("Sync", "Collection %q: SoftDelete comes only from the server", c.CollectionID)
	}
	for _, a := range cmds.Add {
		if a.ClientID == "" {
			return schemaErrorf("Sync", "Collection %q: Add without ClientId", c.CollectionID)
		}
		if a.ApplicationData.IsZero() {
			return schemaErrorf("Sync", "Collection %q: Add %q without ApplicationData", c.CollectionID, a.ClientID)
		}
	}
	for _, ch := range cmds.Change {
		if ch.ServerID == "" {
			return schemaErrorf("Sync", "Collection %q: Change without ServerId", c.CollectionID)
		}
		if ch.ApplicationData.IsZero() {
			return schemaErrorf("Sync", "Collection %q: Change %q without ApplicationData", c.CollectionID, ch.ServerID)
		}
	}
	for _, d := range cmds.Delete {
		if d.ServerID == "" {
			return schemaErrorf("Sync", "Collection %q: Delete without ServerId", c.CollectionID)
		}
	}
	for _, f := range cmds.Fetch {
		if f.ServerID == "" {
			return schemaErrorf("Sync", "Collection %q: Fetch without ServerId", c.CollectionID)
		}
	}
	return nil
}

func (o *SyncOptions) validate(v ProtocolVersion, coll string) error {
	inRange := func(p *int, max int) bool { return p == nil || (*p >= 0 && *p <= max) }
	switch {
	case o.Class != "" && v < V140:
		return schemaErrorf("Sync", "Collection %q: Class in Options needs 14.0", coll)
	case o.FilterType < FilterNone || o.FilterType > FilterIncompleteTasks:
		return schemaErrorf("Sync", "Collection %q: FilterType %d is not within 0 to 8", coll, o.FilterType)
	case len(o.BodyPreference) > 0 && v < V120:
		return schemaErrorf("Sync", "Collection %q: BodyPreference needs 12.0", coll)
	case len(o.BodyPartPreference) > 0 && v < V141:
		return schemaErrorf("Sync", "Collection %q: BodyPartPreference needs 14.1", coll)
	case !inRange(o.Truncation, 9) || !inRange(o.RTFTruncation, 9):
		return schemaErrorf("Sync", "Collection %q: Truncation is not within 0 to 9", coll)
	case o.MIMESupport < 0 || o.MIMESupport > 2:
		return schemaErrorf("Sync", "Collection %q: MIMESupport %d is not within 0 to 2", coll, o.MIMESupport)
	case !inRange(o.MIMETruncation, 8):
		return schemaErrorf("Sync", "Collection %q: MIMETruncation %d is not within 0 to 8", coll, *o.MIMETruncation)
	case !inRange(o.Conflict, 1):
		return schemaErrorf("Sync", "Collection %q: Conflict %d is not 0 or 1", coll, *o.Conflict)
	case o.MaxItems != 0 && v < V140:
		return schemaErrorf("Sync", "Collection %q: MaxItems needs 14.0", coll)
	case o.MaxItems < 0:
		return schemaErrorf("Sync", "Collection %q: MaxItems %d is negative", coll, o.MaxItems)
	case o.RightsManagementSupport != nil && v < V141:
		return schemaErrorf("Sync", "Collection %q: RightsManagementSupport needs 14.1", coll)
	}
	seen := 0 // bit per body Type, each allowed once (MS-ASAIRS 2.2.2.12)
	for _, p := range o.BodyPreference {
		if err := checkBodyPreference(p.Type, p.Preview, v, coll); err != nil {
			return err
		}
		if seen&(1<<p.Type) != 0 {
			return schemaErrorf("Sync", "Collection %q: two BodyPreference of Type %d", coll, p.Type)
		}
		seen |= 1 << p.Type
	}
	for _, p := range o.BodyPartPreference {
		if err := checkBodyPreference(p.Type, p.Preview, v, coll); err != nil {
			return err
		}
	}
	return nil
}

func checkBodyPreference(typ, preview int, v ProtocolVersion, coll string) error {
	switch {
	case typ < 1 || typ > 4:
		return schemaErrorf("Sync", "Collection %q: body Type %d is not within 1 to 4", coll, typ)
	case preview != 0 && v < V140:
		return schemaErrorf("Sync", "Collection %q: Preview needs 14.0", coll)
	case preview < 0 || preview > 255:
		return schemaErrorf("Sync", "Collection %q: Preview %d is not within 0 to 255", coll, preview)
	}
	return nil
}

// SyncResponse answers a Sync request. Limit, with status 14 or 15, gives
// the allowed Wait/HeartbeatInterval bound or the most collections, and
// then Collections is absent. MS-ASCMD 2.2.1.21.
type SyncResponse struct {
	_           struct{}                 `wbxml:"AirSync:Sync"`
	Status      SyncStatus               `wbxml:"AirSync:Status,omitempty"`
	Limit       int                      `wbxml:"AirSync:Limit,omitempty"`
	Collections *SyncResponseCollections `wbxml:"AirSync:Collections"`
}

// SyncResponseCollections holds the collections of a Sync response.
// MS-ASCMD 2.2.3.31.2.
type SyncResponseCollections struct {
	Collection []SyncResponseCollection `wbxml:"AirSync:Collection"`
}

// SyncResponseCollection is one folder of a Sync response: its new
// SyncKey, the server's changes (Commands), the outcome of the client's
// (Responses), and MoreAvailable when changes remain beyond the window.
// Class is sent to clients before 14.0 only. MS-ASCMD 2.2.3.29.2.
type SyncResponseCollection struct {
	Class         string         `wbxml:"AirSync:Class,omitempty"`
	SyncKey       string         `wbxml:"AirSync:SyncKey"`
	CollectionID  string         `wbxml:"AirSync:CollectionId"`
	Status        SyncStatus     `wbxml:"AirSync:Status"`
	MoreAvailable bool           `wbxml:"AirSync:MoreAvailable,empty"`
	Commands      *SyncCommands  `wbxml:"AirSync:Commands"`
	Responses     *SyncResponses `wbxml:"AirSync:Responses"`
}

// SyncResponses reports on the client's operations of a Sync request; a
// successful Change or Delete is normally not reported. MS-ASCMD 2.2.3.154.
type SyncResponses struct {
	Add    []SyncAddResult    `wbxml:"AirSync:Add"`
	Change []SyncChangeResult `wbxml:"AirSync:Change"`
	Delete []SyncDeleteResult `wbxml:"AirSync:Delete"`
	Fetch  []SyncFetchResult  `wbxml:"AirSync:Fetch"`
}

// SyncAddResult gives the ServerID the server assigned to the client's
// item ClientID. MS-ASCMD 2.2.3.7.2.
type SyncAddResult struct {
	Class    string     `wbxml:"AirSync:Class,omitempty"`
	ClientID string     `wbxml:"AirSync:ClientId"`
	ServerID string     `wbxml:"AirSync:ServerId,omitempty"`
	Status   SyncStatus `wbxml:"AirSync:Status"`
}

// SyncChangeResult reports a failed Change. MS-ASCMD 2.2.3.24.
type SyncChangeResult struct {
	Class    string     `wbxml:"AirSync:Class,omitempty"`
	ServerID string     `wbxml:"AirSync:ServerId"`
	Status   SyncStatus `wbxml:"AirSync:Status"`
}

// SyncDeleteResult reports a failed Delete. MS-ASCMD 2.2.3.42.2.
type SyncDeleteResult struct {
	ServerID string     `wbxml:"AirSync:ServerId"`
	Status   SyncStatus `wbxml:"AirSync:Status"`
}

// SyncFetchResult carries a fetched item. MS-ASCMD 2.2.3.67.2.
type SyncFetchResult struct {
	ServerID        string     `wbxml:"AirSync:ServerId"`
	Status          SyncStatus `wbxml:"AirSync:Status"`
	ApplicationData Raw        `wbxml:"AirSync:ApplicationData"`
}

// SyncStatus is the Status of a Sync response, of a collection or of one
// item. MS-ASCMD 2.2.3.177.17.
type SyncStatus int

// The Sync status codes.
const (
	SyncStatusSuccess                SyncStatus = 1
	SyncStatusInvalidSyncKey         SyncStatus = 3  // key unknown or out of date; the client starts again at "0"
	SyncStatusProtocolError          SyncStatus = 4  // the request breaks the protocol
	SyncStatusServerError            SyncStatus = 5  // transient; the client retries
	SyncStatusConversionError        SyncStatus = 6  // the client's item is malformed
	SyncStatusConflict               SyncStatus = 7  // the item changed on both sides; the server's copy wins
	SyncStatusObjectNotFound         SyncStatus = 8  // no item has ServerId
	SyncStatusCannotComplete         SyncStatus = 9  // the mailbox is full, for example
	SyncStatusFolderHierarchyChanged SyncStatus = 12 // the client must FolderSync first
	SyncStatusIncompleteRequest      SyncStatus = 13 // empty or Partial request the server has no cache for; send it whole
	SyncStatusInvalidInterval        SyncStatus = 14 // Wait or HeartbeatInterval out of range; Limit gives the bound
	SyncStatusTooManyCollections     SyncStatus = 15 // Limit gives the most collections
	SyncStatusRetry                  SyncStatus = 16 // a transient condition; resend
)
