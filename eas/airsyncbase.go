package eas

import "strconv"

// BodyType is the format of a Body or BodyPart. MS-ASAIRS 2.2.2.41.
type BodyType uint8

// The body formats.
const (
	BodyPlainText BodyType = 1
	BodyHTML      BodyType = 2
	BodyRTF       BodyType = 3 // base64 compressed RTF
	BodyMIME      BodyType = 4
)

// Body is an item's body in 12.0 and later. MS-ASAIRS 2.2.2.9.
type Body struct {
	Type              BodyType `wbxml:"AirSyncBase:Type"`
	EstimatedDataSize *uint32  `wbxml:"AirSyncBase:EstimatedDataSize,omitempty"`
	Truncated         *bool    `wbxml:"AirSyncBase:Truncated,omitempty"`
	Data              *string  `wbxml:"AirSyncBase:Data,omitempty"` // empty Data on a client Add means no body
	Part              *uint32  `wbxml:"ItemOperations:Part,omitempty"`
	Preview           string   `wbxml:"AirSyncBase:Preview,omitempty"` // 14.0
}

func (b *Body) validate(v ProtocolVersion) error {
	if b == nil {
		return nil
	}
	if v < V120 {
		return schemaErrorf("Sync", "AirSyncBase:Body needs 12.0, have %s", v)
	}
	if b.Type < BodyPlainText || b.Type > BodyMIME {
		return schemaErrorf("Sync", "AirSyncBase:Body Type %d out of range", b.Type)
	}
	if b.Preview != "" && v < V140 {
		return schemaErrorf("Sync", "AirSyncBase:Preview needs 14.0, have %s", v)
	}
	return nil
}

// BodyPart is the conversation part of an email body, sent when a client
// asked for it with BodyPartPreference. MS-ASAIRS 2.2.2.10 (14.1).
type BodyPart struct {
	Status            uint8    `wbxml:"AirSyncBase:Status"`
	Type              BodyType `wbxml:"AirSyncBase:Type"`
	EstimatedDataSize uint32   `wbxml:"AirSyncBase:EstimatedDataSize"`
	Truncated         *bool    `wbxml:"AirSyncBase:Truncated,omitempty"`
	Data              *string  `wbxml:"AirSyncBase:Data,omitempty"`
	Preview           string   `wbxml:"AirSyncBase:Preview,omitempty"`
}

func (b *BodyPart) validate(v ProtocolVersion) error {
	if b == nil {
		return nil
	}
	if v < V141 {
		return schemaErrorf("Sync", "AirSyncBase:BodyPart needs 14.1, have %s", v)
	}
	if b.Type != BodyHTML && b.Type != BodyPlainText {
		return schemaErrorf("Sync", "AirSyncBase:BodyPart Type %d is not text or HTML", b.Type)
	}
	return nil
}

// AttachmentMethod says how an attachment is attached. MS-ASAIRS 2.2.2.31.
type AttachmentMethod uint8

// The attachment methods.
const (
	AttachByValue     AttachmentMethod = 1 // a regular file
	AttachEmbeddedMsg AttachmentMethod = 5 // an attached message
	AttachOLE         AttachmentMethod = 6
)

// Attachments lists an item's attachments in 12.0 and later. Servers
// send Attachment; 16.0 clients add and remove attachments of drafts and
// calendar items with Add and Delete. MS-ASAIRS 2.2.2.8.
type Attachments struct {
	Attachment []Attachment       `wbxml:"AirSyncBase:Attachment"`
	Add        []AttachmentAdd    `wbxml:"AirSyncBase:Add"`
	Delete     []AttachmentDelete `wbxml:"AirSyncBase:Delete"`
}

func (a *Attachments) validate(v ProtocolVersion) error {
	if a == nil {
		return nil
	}
	if v < V120 {
		return schemaErrorf("Sync", "AirSyncBase:Attachments needs 12.0, have %s", v)
	}
	if (len(a.Add) > 0 || len(a.Delete) > 0) && v < V160 {
		return schemaErrorf("Sync", "AirSyncBase:Attachments Add and Delete need 16.0, have %s", v)
	}
	for _, at := range a.Attachment {
		if at.Method < AttachByValue || at.Method > AttachOLE {
			return schemaErrorf("Sync", "AirSyncBase:Attachment Method %d out of range", at.Method)
		}
	}
	for _, at := range a.Add {
		if at.ClientID == "" {
			return schemaErrorf("Sync", "AirSyncBase:Add without ClientId")
		}
	}
	return nil
}

// Attachment describes one attachment the server holds; FileReference
// names it for ItemOperations Fetch. MS-ASAIRS 2.2.2.7.
type Attachment struct {
	ClientID          string           `wbxml:"AirSyncBase:ClientId,omitempty"` // 16.0: answers an Add
	DisplayName       string           `wbxml:"AirSyncBase:DisplayName,omitempty"`
	FileReference     string           `wbxml:"AirSyncBase:FileReference,omitempty"`
	Method            AttachmentMethod `wbxml:"AirSyncBase:Method,omitempty"`
	EstimatedDataSize uint32           `wbxml:"AirSyncBase:EstimatedDataSize"`
	ContentID         string           `wbxml:"AirSyncBase:ContentId,omitempty"`
	ContentLocation   string           `wbxml:"AirSyncBase:ContentLocation,omitempty"`
	IsInline          *bool            `wbxml:"AirSyncBase:IsInline,omitempty"`
	UmAttDuration     *uint32          `wbxml:"Email2:UmAttDuration,omitempty"` // voice mail, seconds
	UmAttOrder        *uint32          `wbxml:"Email2:UmAttOrder,omitempty"`
}

// AttachmentAdd is a 16.0 client's new attachment, its bytes inline.
// MS-ASAIRS 2.2.2.2.
type AttachmentAdd struct {
	ClientID        string           `wbxml:"AirSyncBase:ClientId"`
	Method          AttachmentMethod `wbxml:"AirSyncBase:Method"`
	Content         []byte           `wbxml:"AirSyncBase:Content,opaque"`
	DisplayName     string           `wbxml:"AirSyncBase:DisplayName,omitempty"`
	ContentID       string           `wbxml:"AirSyncBase:ContentId,omitempty"`
	ContentLocation string           `wbxml:"AirSyncBase:ContentLocation,omitempty"`
	ContentType     string           `wbxml:"AirSyncBase:ContentType,omitempty"`
	IsInline        *bool            `wbxml:"AirSyncBase:IsInline,omitempty"`
}

// AttachmentDelete removes an attachment by its FileReference (16.0).
// MS-ASAIRS 2.2.2.20.
type AttachmentDelete struct {
	FileReference string `wbxml:"AirSyncBase:FileReference"`
}

// Location is a 16.0 calendar item's place, structured. Coordinates are
// kept as the decimal text sent. An empty Location element (iOS 16.x, see
// testdata/devices/ios) decodes to a non-nil zero Location.
// MS-ASAIRS 2.2.2.27.
type Location struct {
	DisplayName      string `wbxml:"AirSyncBase:DisplayName,omitempty"`
	Annotation       string `wbxml:"AirSyncBase:Annotation,omitempty"`
	Street           string `wbxml:"AirSyncBase:Street,omitempty"`
	City             string `wbxml:"AirSyncBase:City,omitempty"`
	State            string `wbxml:"AirSyncBase:State,omitempty"`
	Country          string `wbxml:"AirSyncBase:Country,omitempty"`
	PostalCode       string `wbxml:"AirSyncBase:PostalCode,omitempty"`
	Latitude         string `wbxml:"AirSyncBase:Latitude,omitempty"`
	Longitude        string `wbxml:"AirSyncBase:Longitude,omitempty"`
	Accuracy         string `wbxml:"AirSyncBase:Accuracy,omitempty"`
	Altitude         string `wbxml:"AirSyncBase:Altitude,omitempty"`
	AltitudeAccuracy string `wbxml:"AirSyncBase:AltitudeAccuracy,omitempty"`
	LocationURI      string `wbxml:"AirSyncBase:LocationUri,omitempty"`
}

func (l *Location) validate(v ProtocolVersion) error {
	if l == nil {
		return nil
	}
	if v < V160 {
		return schemaErrorf("Sync", "AirSyncBase:Location needs 16.0, have %s", v)
	}
	for _, c := range []struct {
		name, val string
		lim       float64
	}{
		{"Latitude", l.Latitude, 90}, {"Longitude", l.Longitude, 180},
		{"Accuracy", l.Accuracy, 0}, {"Altitude", l.Altitude, 0}, {"AltitudeAccuracy", l.AltitudeAccuracy, 0},
	} {
		if c.val == "" {
			continue
		}
		f, err := strconv.ParseFloat(c.val, 64)
		if err != nil || (c.lim > 0 && (f < -c.lim || f > c.lim)) {
			return schemaErrorf("Sync", "AirSyncBase:%s %q is not a valid coordinate", c.name, c.val)
		}
	}
	return nil
}

// checkEnum reports a schema error if val is set and not among allowed.
func checkEnum[T ~uint8 | ~uint16 | ~uint32](tag string, val *T, allowed ...T) error {
	if val == nil {
		return nil
	}
	for _, a := range allowed {
		if *val == a {
			return nil
		}
	}
	return schemaErrorf("Sync", "%s %d out of range", tag, *val)
}

// checkRange reports a schema error if val is set and outside [lo, hi].
func checkRange[T ~uint8 | ~uint16 | ~uint32](tag string, val *T, lo, hi T) error {
	if val == nil || (*val >= lo && *val <= hi) {
		return nil
	}
	return schemaErrorf("Sync", "%s %d out of range %d–%d", tag, *val, lo, hi)
}

// needVersion reports a schema error if an element present in a payload
// is newer than v.
func needVersion(tag string, present bool, since, v ProtocolVersion) error {
	if present && v < since {
		return schemaErrorf("Sync", "%s needs %s, have %s", tag, since, v)
	}
	return nil
}

// dropVersion reports a schema error if an element present in a payload
// was removed before v.
func dropVersion(tag string, present bool, until, v ProtocolVersion) error {
	if present && v > until {
		return schemaErrorf("Sync", "%s was removed after %s, have %s", tag, until, v)
	}
	return nil
}

// firstError returns the first non-nil error.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
