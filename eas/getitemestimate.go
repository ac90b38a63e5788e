package eas

// GetItemEstimateRequest asks how many items a Sync of each collection
// would return. MS-ASCMD 2.2.1.9.
type GetItemEstimateRequest struct {
	_           struct{}                    `wbxml:"GetItemEstimate:GetItemEstimate"`
	Collections *GetItemEstimateCollections `wbxml:"GetItemEstimate:Collections"`
}

// GetItemEstimateCollections holds the collections of a GetItemEstimate
// request. MS-ASCMD 2.2.3.31.1.
type GetItemEstimateCollections struct {
	Collection []GetItemEstimateCollection `wbxml:"GetItemEstimate:Collection"`
}

// GetItemEstimateCollection is one folder to estimate. MS-ASCMD 2.2.3.29.1.
//
// The layout depends on the version: up to 12.1 the class and filter sit
// in the collection (Class, FilterType); from 14.0 they sit in Options,
// and ConversationMode may be given.
type GetItemEstimateCollection struct {
	Class            string                   `wbxml:"GetItemEstimate:Class,omitempty"` // up to 12.1
	SyncKey          string                   `wbxml:"AirSync:SyncKey"`
	CollectionID     string                   `wbxml:"GetItemEstimate:CollectionId"`
	FilterType       FilterType               `wbxml:"AirSync:FilterType,omitempty"` // up to 12.1
	ConversationMode *bool                    `wbxml:"AirSync:ConversationMode"`     // 14.0 and later
	Options          []GetItemEstimateOptions `wbxml:"AirSync:Options"`              // 14.0 and later
}

// GetItemEstimateOptions selects the items to count: those of Class
// ("SMS", or the folder's own class when empty) within FilterType; MaxItems
// applies to the recipient information cache. MS-ASCMD 2.2.3.125.2.
type GetItemEstimateOptions struct {
	Class      string     `wbxml:"AirSync:Class,omitempty"`
	FilterType FilterType `wbxml:"AirSync:FilterType,omitempty"`
	MaxItems   int        `wbxml:"AirSync:MaxItems,omitempty"`
}

// Validate checks r against the GetItemEstimate request schema of version
// v, including which of the two layouts v uses.
func (r *GetItemEstimateRequest) Validate(v ProtocolVersion) error {
	if r.Collections == nil || len(r.Collections.Collection) == 0 {
		return schemaErrorf("GetItemEstimate", "no Collection")
	}
	for _, c := range r.Collections.Collection {
		if err := c.validate(v); err != nil {
			return err
		}
	}
	return nil
}

func (c *GetItemEstimateCollection) validate(v ProtocolVersion) error {
	const cmd = "GetItemEstimate"
	id := c.CollectionID
	switch {
	case id == "":
		return schemaErrorf(cmd, "Collection without CollectionId")
	case c.SyncKey == "":
		return schemaErrorf(cmd, "Collection %q: SyncKey is missing", id)
	case c.Class != "" && v >= V140:
		return schemaErrorf(cmd, "Collection %q: Class in Collection ended with 12.1; use Options", id)
	case c.FilterType != FilterNone && v >= V140:
		return schemaErrorf(cmd, "Collection %q: FilterType in Collection ended with 12.1; use Options", id)
	case c.ConversationMode != nil && v < V140:
		return schemaErrorf(cmd, "Collection %q: ConversationMode needs 14.0", id)
	case len(c.Options) > 0 && v < V140:
		return schemaErrorf(cmd, "Collection %q: Options needs 14.0", id)
	case len(c.Options) > 2:
		return schemaErrorf(cmd, "Collection %q: %d Options, at most 2", id, len(c.Options))
	case len(c.Options) == 2 && c.Options[0].Class == c.Options[1].Class:
		return schemaErrorf(cmd, "Collection %q: two Options of the same class", id)
	case c.FilterType < FilterNone || c.FilterType > FilterIncompleteTasks:
		return schemaErrorf(cmd, "Collection %q: FilterType %d is not within 0 to 8", id, c.FilterType)
	}
	for _, o := range c.Options {
		switch {
		case o.FilterType < FilterNone || o.FilterType > FilterIncompleteTasks:
			return schemaErrorf(cmd, "Collection %q: FilterType %d is not within 0 to 8", id, o.FilterType)
		case o.MaxItems < 0:
			return schemaErrorf(cmd, "Collection %q: MaxItems %d is negative", id, o.MaxItems)
		}
	}
	return nil
}

// GetItemEstimateResponse answers a GetItemEstimate request with one
// Response per collection. MS-ASCMD 2.2.1.9.
type GetItemEstimateResponse struct {
	_        struct{}                `wbxml:"GetItemEstimate:GetItemEstimate"`
	Response []GetItemEstimateResult `wbxml:"GetItemEstimate:Response"`
}

// GetItemEstimateResult is the estimate for one collection.
// MS-ASCMD 2.2.3.152.3.
type GetItemEstimateResult struct {
	Status     GetItemEstimateStatus `wbxml:"GetItemEstimate:Status"`
	Collection *GetItemEstimateCount `wbxml:"GetItemEstimate:Collection"`
}

// GetItemEstimateCount is the number of items (Estimate) a Sync of
// CollectionID would return. MS-ASCMD 2.2.3.29.1, 2.2.3.61.
type GetItemEstimateCount struct {
	Class        string `wbxml:"GetItemEstimate:Class,omitempty"` // up to 12.1
	CollectionID string `wbxml:"GetItemEstimate:CollectionId"`
	Estimate     int    `wbxml:"GetItemEstimate:Estimate"`
}

// GetItemEstimateStatus is the Status of a GetItemEstimate Response.
// MS-ASCMD 2.2.3.177.7.
type GetItemEstimateStatus int

// The GetItemEstimate status codes.
const (
	GetItemEstimateStatusSuccess           GetItemEstimateStatus = 1
	GetItemEstimateStatusInvalidCollection GetItemEstimateStatus = 2 // no such folder, or it cannot be synchronized
	GetItemEstimateStatusNotPrimed         GetItemEstimateStatus = 3 // the folder was never synced (SyncKey "0"); Sync first
	GetItemEstimateStatusInvalidSyncKey    GetItemEstimateStatus = 4 // the SyncKey does not match the server's
)
