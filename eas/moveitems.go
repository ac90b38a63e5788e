package eas

// MoveItemsRequest moves items from one folder to another.
// MS-ASCMD 2.2.1.12.
type MoveItemsRequest struct {
	_    struct{}   `wbxml:"Move:MoveItems"`
	Move []MoveItem `wbxml:"Move:Move"`
}

// MoveItem moves the item SrcMsgID from folder SrcFldID to DstFldID.
// MS-ASCMD 2.2.3.113.
type MoveItem struct {
	SrcMsgID string `wbxml:"Move:SrcMsgId"`
	SrcFldID string `wbxml:"Move:SrcFldId"`
	DstFldID string `wbxml:"Move:DstFldId"`
}

// Validate checks r against the MoveItems request schema of version v.
func (r *MoveItemsRequest) Validate(v ProtocolVersion) error {
	if len(r.Move) == 0 {
		return schemaErrorf("MoveItems", "no Move")
	}
	for i, m := range r.Move {
		switch {
		case m.SrcMsgID == "":
			return schemaErrorf("MoveItems", "Move %d: SrcMsgId is missing", i+1)
		case m.SrcFldID == "":
			return schemaErrorf("MoveItems", "Move %d: SrcFldId is missing", i+1)
		case m.DstFldID == "":
			return schemaErrorf("MoveItems", "Move %d: DstFldId is missing", i+1)
		}
	}
	return nil
}

// MoveItemsResponse answers a MoveItems request with one Response per
// Move. MS-ASCMD 2.2.1.12.
type MoveItemsResponse struct {
	_        struct{}          `wbxml:"Move:MoveItems"`
	Response []MoveItemsResult `wbxml:"Move:Response"`
}

// MoveItemsResult is the outcome of one Move: DstMsgID is the item's
// ServerId in the destination folder. MS-ASCMD 2.2.3.152.6.
type MoveItemsResult struct {
	SrcMsgID string          `wbxml:"Move:SrcMsgId"`
	Status   MoveItemsStatus `wbxml:"Move:Status"`
	DstMsgID string          `wbxml:"Move:DstMsgId,omitempty"`
}

// MoveItemsStatus is the Status of one MoveItems Response. Unlike most
// commands, success is 3. MS-ASCMD 2.2.3.177.9.
type MoveItemsStatus int

// The MoveItems status codes.
const (
	MoveItemsStatusInvalidSource      MoveItemsStatus = 1 // no such source folder, or no such item in it
	MoveItemsStatusInvalidDestination MoveItemsStatus = 2 // no such destination folder
	MoveItemsStatusSuccess            MoveItemsStatus = 3
	MoveItemsStatusSameFolder         MoveItemsStatus = 4 // source and destination are the same folder
	MoveItemsStatusFailure            MoveItemsStatus = 5 // the move failed; several destinations, or a store failure
	MoveItemsStatusLocked             MoveItemsStatus = 7 // the source or destination item is locked
)
