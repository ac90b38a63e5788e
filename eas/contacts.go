package eas

// Contact is a contact item as it travels in Sync ApplicationData,
// ItemOperations and Search Properties, with the Contacts2 fields.
// Anniversary and Birthday use the extended date form. Picture holds the
// base64 photo; a non-nil empty Picture (Windows Mobile 6.1 sends one in
// every Add, testdata/devices/windows-mobile) removes the photo.
// MS-ASCNTC 2.2.2.
type Contact struct {
	Anniversary               *DateTime          `wbxml:"Contacts:Anniversary,omitempty"`
	AssistantName             string             `wbxml:"Contacts:AssistantName,omitempty"`
	AssistantPhoneNumber      string             `wbxml:"Contacts:AssistantPhoneNumber,omitempty"`
	Birthday                  *DateTime          `wbxml:"Contacts:Birthday,omitempty"`
	Body25                    *string            `wbxml:"Contacts:Body,omitempty"`          // 2.5
	BodySize25                *uint32            `wbxml:"Contacts:BodySize,omitempty"`      // 2.5
	BodyTruncated25           *bool              `wbxml:"Contacts:BodyTruncated,omitempty"` // 2.5
	Rtf25                     string             `wbxml:"Contacts:CompressedRTF,omitempty"` // 2.5, base64 compressed RTF
	Body                      *Body              `wbxml:"AirSyncBase:Body,omitempty"`
	Business2PhoneNumber      string             `wbxml:"Contacts:Business2PhoneNumber,omitempty"`
	BusinessAddressCity       string             `wbxml:"Contacts:BusinessAddressCity,omitempty"`
	BusinessAddressCountry    string             `wbxml:"Contacts:BusinessAddressCountry,omitempty"`
	BusinessAddressPostalCode string             `wbxml:"Contacts:BusinessAddressPostalCode,omitempty"`
	BusinessAddressState      string             `wbxml:"Contacts:BusinessAddressState,omitempty"`
	BusinessAddressStreet     string             `wbxml:"Contacts:BusinessAddressStreet,omitempty"`
	BusinessFaxNumber         string             `wbxml:"Contacts:BusinessFaxNumber,omitempty"`
	BusinessPhoneNumber       string             `wbxml:"Contacts:BusinessPhoneNumber,omitempty"`
	CarPhoneNumber            string             `wbxml:"Contacts:CarPhoneNumber,omitempty"`
	Categories                *ContactCategories `wbxml:"Contacts:Categories,omitempty"`
	Children                  *Children          `wbxml:"Contacts:Children,omitempty"`
	CompanyName               string             `wbxml:"Contacts:CompanyName,omitempty"`
	Department                string             `wbxml:"Contacts:Department,omitempty"`
	Email1Address             string             `wbxml:"Contacts:Email1Address,omitempty"`
	Email2Address             string             `wbxml:"Contacts:Email2Address,omitempty"`
	Email3Address             string             `wbxml:"Contacts:Email3Address,omitempty"`
	FileAs                    string             `wbxml:"Contacts:FileAs,omitempty"`
	FirstName                 string             `wbxml:"Contacts:FirstName,omitempty"`
	Home2PhoneNumber          string             `wbxml:"Contacts:Home2PhoneNumber,omitempty"`
	HomeAddressCity           string             `wbxml:"Contacts:HomeAddressCity,omitempty"`
	HomeAddressCountry        string             `wbxml:"Contacts:HomeAddressCountry,omitempty"`
	HomeAddressPostalCode     string             `wbxml:"Contacts:HomeAddressPostalCode,omitempty"`
	HomeAddressState          string             `wbxml:"Contacts:HomeAddressState,omitempty"`
	HomeAddressStreet         string             `wbxml:"Contacts:HomeAddressStreet,omitempty"`
	HomeFaxNumber             string             `wbxml:"Contacts:HomeFaxNumber,omitempty"`
	HomePhoneNumber           string             `wbxml:"Contacts:HomePhoneNumber,omitempty"`
	JobTitle                  string             `wbxml:"Contacts:JobTitle,omitempty"`
	LastName                  string             `wbxml:"Contacts:LastName,omitempty"`
	MiddleName                string             `wbxml:"Contacts:MiddleName,omitempty"`
	MobilePhoneNumber         string             `wbxml:"Contacts:MobilePhoneNumber,omitempty"`
	OfficeLocation            string             `wbxml:"Contacts:OfficeLocation,omitempty"`
	OtherAddressCity          string             `wbxml:"Contacts:OtherAddressCity,omitempty"`
	OtherAddressCountry       string             `wbxml:"Contacts:OtherAddressCountry,omitempty"`
	OtherAddressPostalCode    string             `wbxml:"Contacts:OtherAddressPostalCode,omitempty"`
	OtherAddressState         string             `wbxml:"Contacts:OtherAddressState,omitempty"`
	OtherAddressStreet        string             `wbxml:"Contacts:OtherAddressStreet,omitempty"`
	PagerNumber               string             `wbxml:"Contacts:PagerNumber,omitempty"`
	RadioPhoneNumber          string             `wbxml:"Contacts:RadioPhoneNumber,omitempty"`
	Spouse                    string             `wbxml:"Contacts:Spouse,omitempty"`
	Suffix                    string             `wbxml:"Contacts:Suffix,omitempty"`
	Title                     string             `wbxml:"Contacts:Title,omitempty"`
	WebPage                   string             `wbxml:"Contacts:WebPage,omitempty"`
	YomiCompanyName           string             `wbxml:"Contacts:YomiCompanyName,omitempty"`
	YomiFirstName             string             `wbxml:"Contacts:YomiFirstName,omitempty"`
	YomiLastName              string             `wbxml:"Contacts:YomiLastName,omitempty"`
	Picture                   *string            `wbxml:"Contacts:Picture,omitempty"`
	Alias                     string             `wbxml:"Contacts:Alias,omitempty"`        // 14.0
	WeightedRank              *int32             `wbxml:"Contacts:WeightedRank,omitempty"` // 14.0, recipient information cache only
	NativeBodyType            *BodyType          `wbxml:"AirSyncBase:NativeBodyType,omitempty"`
	CustomerID                string             `wbxml:"Contacts2:CustomerId,omitempty"`
	GovernmentID              string             `wbxml:"Contacts2:GovernmentId,omitempty"`
	IMAddress                 string             `wbxml:"Contacts2:IMAddress,omitempty"`
	IMAddress2                string             `wbxml:"Contacts2:IMAddress2,omitempty"`
	IMAddress3                string             `wbxml:"Contacts2:IMAddress3,omitempty"`
	ManagerName               string             `wbxml:"Contacts2:ManagerName,omitempty"`
	CompanyMainPhone          string             `wbxml:"Contacts2:CompanyMainPhone,omitempty"`
	AccountName               string             `wbxml:"Contacts2:AccountName,omitempty"`
	NickName                  string             `wbxml:"Contacts2:NickName,omitempty"`
	MMS                       string             `wbxml:"Contacts2:MMS,omitempty"`
}

// ContactCategories lists a contact's categories. MS-ASCNTC 2.2.2.14.
type ContactCategories struct {
	Category []string `wbxml:"Contacts:Category"`
}

// Children lists a contact's children by name. MS-ASCNTC 2.2.2.17.
type Children struct {
	Child []string `wbxml:"Contacts:Child"`
}

// Limits of MS-ASCNTC: categories and children per contact, picture size.
const (
	maxContactCategories = 300
	maxContactChildren   = 300
	maxPictureBase64     = 48 * 1024 * 4 / 3 // 48 KB of image, base64
)

// Validate checks c against protocol version v: elements the version
// lacks and values out of range.
func (c *Contact) Validate(v ProtocolVersion) error {
	if err := firstError(
		dropVersion("Contacts:Body", c.Body25 != nil || c.BodySize25 != nil || c.BodyTruncated25 != nil || c.Rtf25 != "", V25, v),
		c.Body.validate(v),
		needVersion("AirSyncBase:NativeBodyType", c.NativeBodyType != nil, V120, v),
		needVersion("Contacts:Alias", c.Alias != "", V140, v),
		needVersion("Contacts:WeightedRank", c.WeightedRank != nil, V140, v),
	); err != nil {
		return err
	}
	if c.Categories != nil && len(c.Categories.Category) > maxContactCategories {
		return schemaErrorf("Sync", "Contacts:Categories has %d categories, at most %d", len(c.Categories.Category), maxContactCategories)
	}
	if c.Children != nil && len(c.Children.Child) > maxContactChildren {
		return schemaErrorf("Sync", "Contacts:Children has %d children, at most %d", len(c.Children.Child), maxContactChildren)
	}
	if c.Picture != nil && len(*c.Picture) > maxPictureBase64 {
		return schemaErrorf("Sync", "Contacts:Picture is %d bytes of base64, at most %d", len(*c.Picture), maxPictureBase64)
	}
	return nil
}
