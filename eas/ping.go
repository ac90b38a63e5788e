package eas

// PingRequest asks the server to answer when one of Folders changes or
// HeartbeatInterval seconds pass. Both may be left out to reuse those of
// the previous Ping; the server then answers status 3 if it has none.
// MS-ASCMD 2.2.1.13.
type PingRequest struct {
	_                 struct{}     `wbxml:"Ping:Ping"`
	HeartbeatInterval int          `wbxml:"Ping:HeartbeatInterval,omitempty"`
	Folders           *PingFolders `wbxml:"Ping:Folders"`
}

// PingFolders holds the folders a Ping watches. MS-ASCMD 2.2.3.75.2.
type PingFolders struct {
	Folder []PingFolder `wbxml:"Ping:Folder"`
}

// PingFolder is a folder to watch: its ServerId and its class
// ("Email", "Calendar", "Contacts", "Tasks", "Notes", "SMS").
// MS-ASCMD 2.2.3.70.
type PingFolder struct {
	ID    string `wbxml:"Ping:Id"`
	Class string `wbxml:"Ping:Class"`
}

// Validate checks r against the Ping request schema of version v. The
// range of HeartbeatInterval is the server's to set (it answers status 5),
// so only a negative value is rejected here.
func (r *PingRequest) Validate(v ProtocolVersion) error {
	if r.HeartbeatInterval < 0 {
		return schemaErrorf("Ping", "HeartbeatInterval %d is negative", r.HeartbeatInterval)
	}
	if r.Folders == nil {
		return nil
	}
	if len(r.Folders.Folder) == 0 {
		return schemaErrorf("Ping", "Folders holds no Folder")
	}
	for _, f := range r.Folders.Folder {
		if f.ID == "" {
			return schemaErrorf("Ping", "Folder without Id")
		}
		switch f.Class {
		case "Email", "Calendar", "Contacts", "Tasks", "Notes":
		case "SMS":
			if v < V140 {
				return schemaErrorf("Ping", "Class SMS of folder %q needs 14.0", f.ID)
			}
		case "":
			return schemaErrorf("Ping", "Folder %q without Class", f.ID)
		default:
			return schemaErrorf("Ping", "Folder %q has unknown Class %q", f.ID, f.Class)
		}
	}
	return nil
}

// PingResponse answers a Ping request. Folders lists the ServerIds of the
// changed folders (status 2); MaxFolders comes with status 6 and
// HeartbeatInterval, the allowed minimum or maximum, with status 5.
// MS-ASCMD 2.2.1.13.
type PingResponse struct {
	_                 struct{}            `wbxml:"Ping:Ping"`
	Status            PingStatus          `wbxml:"Ping:Status"`
	Folders           *PingChangedFolders `wbxml:"Ping:Folders"`
	MaxFolders        int                 `wbxml:"Ping:MaxFolders,omitempty"`
	HeartbeatInterval int                 `wbxml:"Ping:HeartbeatInterval,omitempty"`
}

// PingChangedFolders lists the ServerIds of the folders that changed.
// MS-ASCMD 2.2.3.75.2, 2.2.3.70.
type PingChangedFolders struct {
	Folder []string `wbxml:"Ping:Folder"`
}

// PingStatus is the Status of a Ping response. MS-ASCMD 2.2.3.177.10.
type PingStatus int

// The Ping status codes.
const (
	PingStatusExpired                PingStatus = 1 // the heartbeat passed with no change
	PingStatusChanges                PingStatus = 2 // Folders lists the folders that changed
	PingStatusMissingParameters      PingStatus = 3 // the server has no interval or folders to reuse; send them
	PingStatusSyntaxError            PingStatus = 4 // the request does not follow the schema
	PingStatusInvalidHeartbeat       PingStatus = 5 // the interval is out of range; HeartbeatInterval gives the limit
	PingStatusTooManyFolders         PingStatus = 6 // MaxFolders gives the limit
	PingStatusFolderHierarchyChanged PingStatus = 7 // the client must FolderSync first
	PingStatusServerError            PingStatus = 8 // transient; the client retries
)
