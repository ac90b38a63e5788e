package eas

import "time"

// ResolveRecipientsStatus is a Status of a ResolveRecipients response,
// MS-ASCMD 2.2.3.177.12. Which values may appear depends on the parent:
// the ResolveRecipients element (1, 5, 6), a Response (1 to 4) or
// Certificates (1, 7, 8). Availability and Picture use the common codes of
// Status (160 to 163, 173 to 175).
type ResolveRecipientsStatus int

// ResolveRecipients statuses.
const (
	ResolveRecipientsSuccess ResolveRecipientsStatus = 1

	// In a Response.
	ResolveRecipientsAmbiguous        ResolveRecipientsStatus = 2 // several matches; suggestions follow
	ResolveRecipientsAmbiguousPartial ResolveRecipientsStatus = 3 // several matches; only some suggestions follow
	ResolveRecipientsUnresolved       ResolveRecipientsStatus = 4 // no match

	// In the ResolveRecipients element.
	ResolveRecipientsProtocolError ResolveRecipientsStatus = 5 // bad parameter or limits exceeded
	ResolveRecipientsServerError   ResolveRecipientsStatus = 6 // the client may retry

	// In Certificates.
	ResolveRecipientsNoValidCertificate ResolveRecipientsStatus = 7 // the recipient has no valid certificate
	ResolveRecipientsCertificateLimit   ResolveRecipientsStatus = 8 // MaxCertificates was reached
)

// CertificateRetrieval values, MS-ASCMD 2.2.3.24.
const (
	CertificateRetrievalNone = 1 // no certificates
	CertificateRetrievalFull = 2 // full X.509 certificates
	CertificateRetrievalMini = 3 // mini certificates
)

// RecipientType says where a recipient was found, MS-ASCMD 2.2.3.186.3.
type RecipientType int

// Recipient types.
const (
	RecipientGAL     RecipientType = 1 // the global address list
	RecipientContact RecipientType = 2 // the user's contacts
)

// resolveRecipientsMaxTo is the most To elements a request may carry,
// MS-ASCMD 2.2.3.183.
const resolveRecipientsMaxTo = 100

// ResolveRecipientsRequest is the body of a ResolveRecipients request,
// MS-ASCMD 2.2.1.15. The schema allows To and Options in any order.
type ResolveRecipientsRequest struct {
	_       struct{}                  `wbxml:"ResolveRecipients:ResolveRecipients"`
	To      []string                  `wbxml:"ResolveRecipients:To"`
	Options *ResolveRecipientsOptions `wbxml:"ResolveRecipients:Options"`
}

// ResolveRecipientsOptions says what to return for each recipient,
// MS-ASCMD 2.2.3.125.4.
type ResolveRecipientsOptions struct {
	CertificateRetrieval   *int                                  `wbxml:"ResolveRecipients:CertificateRetrieval"`
	MaxCertificates        *int                                  `wbxml:"ResolveRecipients:MaxCertificates"`
	MaxAmbiguousRecipients *int                                  `wbxml:"ResolveRecipients:MaxAmbiguousRecipients"`
	Availability           *ResolveRecipientsAvailabilityRequest `wbxml:"ResolveRecipients:Availability"` // 14.0 and later
	Picture                *ResolveRecipientsPictureRequest      `wbxml:"ResolveRecipients:Picture"`      // 14.1 and later
}

// ResolveRecipientsAvailabilityRequest asks for free/busy data between
// StartTime and EndTime, MS-ASCMD 2.2.3.16.
type ResolveRecipientsAvailabilityRequest struct {
	StartTime string `wbxml:"ResolveRecipients:StartTime"`
	EndTime   string `wbxml:"ResolveRecipients:EndTime,omitempty"`
}

// ResolveRecipientsPictureRequest asks for contact photos, MS-ASCMD
// 2.2.3.135.2. It may be sent empty.
type ResolveRecipientsPictureRequest struct {
	MaxSize     *int `wbxml:"ResolveRecipients:MaxSize"`     // bytes
	MaxPictures *int `wbxml:"ResolveRecipients:MaxPictures"` // per To
}

// Validate checks r against the ResolveRecipients request schema of
// version v.
func (r *ResolveRecipientsRequest) Validate(v ProtocolVersion) error {
	if len(r.To) == 0 {
		return schemaErrorf("ResolveRecipients", "no To")
	}
	if len(r.To) > resolveRecipientsMaxTo {
		return schemaErrorf("ResolveRecipients", "%d To elements, at most %d allowed", len(r.To), resolveRecipientsMaxTo)
	}
	for i, to := range r.To {
		if to == "" || len(to) > 256 {
			return schemaErrorf("ResolveRecipients", "To %d has %d bytes, want 1 to 256", i+1, len(to))
		}
	}
	o := r.Options
	if o == nil {
		return nil
	}
	if o.CertificateRetrieval != nil && (*o.CertificateRetrieval < CertificateRetrievalNone || *o.CertificateRetrieval > CertificateRetrievalMini) {
		return schemaErrorf("ResolveRecipients", "CertificateRetrieval %d is not 1 to 3", *o.CertificateRetrieval)
	}
	for _, f := range []struct {
		name string
		v    *int
	}{{"MaxCertificates", o.MaxCertificates}, {"MaxAmbiguousRecipients", o.MaxAmbiguousRecipients}} {
		if f.v != nil && (*f.v < 0 || *f.v > 9999) {
			return schemaErrorf("ResolveRecipients", "%s %d is not 0 to 9999", f.name, *f.v)
		}
	}
	if a := o.Availability; a != nil {
		if v < V140 {
			return schemaErrorf("ResolveRecipients", "Availability needs protocol 14.0, not %s", v)
		}
		start, err := parseResolveTime("StartTime", a.StartTime)
		if err != nil {
			return err
		}
		if a.EndTime != "" {
			end, err := parseResolveTime("EndTime", a.EndTime)
			if err != nil {
				return err
			}
			if end.Before(start) {
				return schemaErrorf("ResolveRecipients", "EndTime %s is before StartTime %s", a.EndTime, a.StartTime)
			}
		}
	}
	if p := o.Picture; p != nil {
		if v < V141 {
			return schemaErrorf("ResolveRecipients", "Picture needs protocol 14.1, not %s", v)
		}
		if (p.MaxSize != nil && *p.MaxSize < 0) || (p.MaxPictures != nil && *p.MaxPictures < 0) {
			return schemaErrorf("ResolveRecipients", "negative Picture limit")
		}
	}
	return nil
}

func parseResolveTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, schemaErrorf("ResolveRecipients", "Availability without %s", name)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, schemaErrorf("ResolveRecipients", "%s %q is not a date and time", name, s)
	}
	return t, nil
}

// ResolveRecipientsResponse is the body of a ResolveRecipients response,
// MS-ASCMD 2.2.1.15: one Response per To of the request.
type ResolveRecipientsResponse struct {
	_        struct{}                  `wbxml:"ResolveRecipients:ResolveRecipients"`
	Status   ResolveRecipientsStatus   `wbxml:"ResolveRecipients:Status"`
	Response []ResolveRecipientsResult `wbxml:"ResolveRecipients:Response"`
}

// ResolveRecipientsResult is the Response element for one To, MS-ASCMD
// 2.2.3.153.6.
type ResolveRecipientsResult struct {
	To             string                       `wbxml:"ResolveRecipients:To"`
	Status         ResolveRecipientsStatus      `wbxml:"ResolveRecipients:Status"`
	RecipientCount *int                         `wbxml:"ResolveRecipients:RecipientCount"`
	Recipient      []ResolveRecipientsRecipient `wbxml:"ResolveRecipients:Recipient"`
}

// ResolveRecipientsRecipient is one match, MS-ASCMD 2.2.3.145.
type ResolveRecipientsRecipient struct {
	Type         RecipientType                  `wbxml:"ResolveRecipients:Type"`
	DisplayName  string                         `wbxml:"ResolveRecipients:DisplayName"`
	EmailAddress string                         `wbxml:"ResolveRecipients:EmailAddress"`
	Availability *ResolveRecipientsAvailability `wbxml:"ResolveRecipients:Availability"` // 14.0 and later
	Certificates *ResolveRecipientsCertificates `wbxml:"ResolveRecipients:Certificates"`
	Picture      *ResolveRecipientsPicture      `wbxml:"ResolveRecipients:Picture"` // 14.1 and later
}

// ResolveRecipientsAvailability is a recipient's free/busy data, MS-ASCMD
// 2.2.3.16. MergedFreeBusy has one digit per 30 minutes from StartTime:
// 0 free, 1 tentative, 2 busy, 3 out of office, 4 no data.
type ResolveRecipientsAvailability struct {
	Status         Status `wbxml:"ResolveRecipients:Status"`
	MergedFreeBusy string `wbxml:"ResolveRecipients:MergedFreeBusy,omitempty"`
}

// ResolveRecipientsCertificates holds a recipient's S/MIME certificates,
// base64 text, full or mini as CertificateRetrieval asked, MS-ASCMD
// 2.2.3.23.1.
type ResolveRecipientsCertificates struct {
	Status           ResolveRecipientsStatus `wbxml:"ResolveRecipients:Status"`
	CertificateCount *int                    `wbxml:"ResolveRecipients:CertificateCount"`
	RecipientCount   *int                    `wbxml:"ResolveRecipients:RecipientCount"`
	Certificate      []string                `wbxml:"ResolveRecipients:Certificate"`
	MiniCertificate  []string                `wbxml:"ResolveRecipients:MiniCertificate"`
}

// ResolveRecipientsPicture is a recipient's photo, base64 text, MS-ASCMD
// 2.2.3.135.2.
type ResolveRecipientsPicture struct {
	Status Status `wbxml:"ResolveRecipients:Status"`
	Data   string `wbxml:"ResolveRecipients:Data,omitempty"`
}
